// HeaderMessages (server/proto_convert): the first messages of an Explain stream. A short input
// gives the one Header the server always sent, byte for byte; a long one a Header and InputTokens
// messages that each stay within the bound and reassemble to the input; what cannot fit is
// RESOURCE_EXHAUSTED.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server/proto_convert.h"

namespace mamba_explain {
namespace {

v1::Header BaseHeader() {
  v1::Header h;
  h.set_request_id("req-1");
  h.set_model("m");
  h.set_architecture("mamba2");
  h.set_n_layers(2);
  h.add_methods("latim-l2");
  h.add_layers(0);
  h.add_layers(1);
  h.set_precision(v1::PRECISION_FP32);
  h.mutable_sparsity()->set_mode(v1::Sparsity::TOP_K);
  h.mutable_sparsity()->set_top_k(4);
  return h;
}

// n ids whose varint sizes vary (1 to 3 bytes) and token strings of 0 to 9 bytes.
void Input(int n, std::vector<int32_t>* ids, std::vector<std::string>* tokens) {
  for (int i = 0; i < n; ++i) {
    ids->push_back((i * 7919) % 50000);
    tokens->push_back(std::string(i % 10, static_cast<char>('a' + i % 26)));
  }
}

TEST(HeaderMessagesTest, ShortInputIsTheSingleHeaderOfBefore) {
  std::vector<int32_t> ids;
  std::vector<std::string> tokens;
  Input(100, &ids, &tokens);
  v1::Header h = BaseHeader();
  h.add_target_rows(99);
  h.set_num_columns(100);
  v1::ExplainResponse before;  // what the server built before InputTokens existed
  *before.mutable_header() = h;
  for (int i = 0; i < 100; ++i) {
    before.mutable_header()->add_token_ids(ids[i]);
    before.mutable_header()->add_tokens(tokens[i]);
  }
  absl::StatusOr<std::vector<v1::ExplainResponse>> got = HeaderMessages(h, ids, tokens, 960 * 1024);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].SerializeAsString(), before.SerializeAsString());
}

// Every bound from "the Header's fixed part plus one token" upwards, including the bound the
// server uses: every message fits, the first is the Header, the rest InputTokens at contiguous
// offsets, and the concatenation is the input.
TEST(HeaderMessagesTest, LongInputIsSplitWithinTheBoundAndReassembles) {
  std::vector<int32_t> ids;
  std::vector<std::string> tokens;
  Input(3000, &ids, &tokens);
  v1::Header h = BaseHeader();
  h.add_target_rows(2999);
  h.set_num_columns(3000);
  for (size_t max_bytes : {80, 81, 97, 128, 200, 1000, 4096, 20000}) {
    SCOPED_TRACE(max_bytes);
    absl::StatusOr<std::vector<v1::ExplainResponse>> got =
        HeaderMessages(h, ids, tokens, max_bytes);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_GE(got->size(), 2u);
    ASSERT_TRUE((*got)[0].has_header());
    std::vector<int32_t> all_ids((*got)[0].header().token_ids().begin(),
                                 (*got)[0].header().token_ids().end());
    std::vector<std::string> all_tokens((*got)[0].header().tokens().begin(),
                                        (*got)[0].header().tokens().end());
    EXPECT_EQ((*got)[0].header().num_columns(), 3000);
    EXPECT_EQ((*got)[0].header().target_rows_size(), 1);
    size_t largest = 0;
    for (size_t k = 0; k < got->size(); ++k) {
      const v1::ExplainResponse& m = (*got)[k];
      EXPECT_LE(m.ByteSizeLong(), max_bytes) << "message " << k;
      largest = std::max(largest, m.ByteSizeLong());
      if (k == 0) continue;
      ASSERT_TRUE(m.has_input_tokens()) << "message " << k;
      const v1::InputTokens& t = m.input_tokens();
      EXPECT_EQ(t.offset(), static_cast<int32_t>(all_ids.size()));
      EXPECT_EQ(t.token_ids_size(), t.tokens_size());
      EXPECT_GT(t.token_ids_size(), 0);
      all_ids.insert(all_ids.end(), t.token_ids().begin(), t.token_ids().end());
      all_tokens.insert(all_tokens.end(), t.tokens().begin(), t.tokens().end());
    }
    EXPECT_EQ(all_ids, ids);
    EXPECT_EQ(all_tokens, tokens);
    // The split is not wasteful: the messages are filled to near the bound.
    if (max_bytes >= 1000) EXPECT_GE(largest + 40, max_bytes);
  }
}

TEST(HeaderMessagesTest, WhatCannotFitIsResourceExhausted) {
  std::vector<int32_t> ids = {1, 2, 3};
  std::vector<std::string> tokens = {"a", std::string(500, 'x'), "c"};
  v1::Header h = BaseHeader();
  h.set_num_columns(3);
  absl::StatusOr<std::vector<v1::ExplainResponse>> got = HeaderMessages(h, ids, tokens, 200);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(got.status().message().find("position 1"), std::string::npos) << got.status();

  v1::Header rows = BaseHeader();
  for (int i = 0; i < 1000; ++i) rows.add_target_rows(i);
  got = HeaderMessages(rows, {1}, {"a"}, 1000);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(got.status().message().find("target_rows"), std::string::npos) << got.status();
}

}  // namespace
}  // namespace mamba_explain
