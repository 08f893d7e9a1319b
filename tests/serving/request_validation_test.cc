// Explain validation against a synthetic backend over the committed fixture config (3 layers,
// vocabulary 96): every rejected field gets the documented code and a message naming it, and the
// defaults resolve to all layers / all rows.
#include "serving/request_validation.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "serving/synthetic_backend.h"
#include "tests/status_matchers.h"

namespace mamba_explain {
namespace {

class ValidationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* src = std::getenv("ME_SOURCE_DIR");
    ASSERT_NE(src, nullptr);
    auto b = SyntheticBackend::Create(std::string(src) + "/tests/fixtures/mamba1_bias_tied", {});
    ASSERT_TRUE(b.ok()) << b.status();
    backend_ = *std::move(b);
    spec_.model = "m";
    spec_.token_ids = {1, 2, 3, 4};
    spec_.methods = {"synthetic-decay"};
  }
  absl::Status Check() { return ValidateExplain(spec_, *backend_, limits_).status(); }
  std::unique_ptr<ExplainBackend> backend_;
  ExplainSpec spec_;
  ServingLimits limits_;
};

TEST_F(ValidationTest, DefaultsResolveToAllLayersAndRows) {
  ASSERT_OK_AND_ASSIGN(ValidatedRequest v, ValidateExplain(spec_, *backend_, limits_));
  EXPECT_EQ(v.options.layers, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(v.input.target_rows, (std::vector<int32_t>{0, 1, 2, 3}));
}

TEST_F(ValidationTest, SortsAndDeduplicates) {
  spec_.layers = {2, 0, 2};
  spec_.target_rows = {3, 1};
  ASSERT_OK_AND_ASSIGN(ValidatedRequest v, ValidateExplain(spec_, *backend_, limits_));
  EXPECT_EQ(v.options.layers, (std::vector<int32_t>{0, 2}));
  EXPECT_EQ(v.input.target_rows, (std::vector<int32_t>{1, 3}));
}

TEST_F(ValidationTest, RejectsEachBadField) {
  using C = absl::StatusCode;
  spec_.text = "hi";
  EXPECT_STATUS(Check(), C::kInvalidArgument, "exactly one of text and token_ids");
  spec_.token_ids.clear();
  EXPECT_STATUS(Check(), C::kFailedPrecondition, "has no tokenizer");
  spec_.text.reset();
  EXPECT_STATUS(Check(), C::kInvalidArgument, "exactly one of text and token_ids");
  spec_.token_ids = {1, 96};
  EXPECT_STATUS(Check(), C::kInvalidArgument, "token_ids[1]=96 not in [0, 96)");
  spec_.token_ids = {1, 2};
  spec_.methods = {"nope"};
  EXPECT_STATUS(Check(), C::kInvalidArgument, "methods[0]='nope' is not supported");
  spec_.methods = {"synthetic-decay", "synthetic-decay"};
  EXPECT_STATUS(Check(), C::kInvalidArgument, "methods[1]='synthetic-decay' is repeated");
  spec_.methods = {};
  EXPECT_STATUS(Check(), C::kInvalidArgument, "methods is empty");
  spec_.methods = {"synthetic-decay"};
  spec_.layers = {0, 3};
  EXPECT_STATUS(Check(), C::kInvalidArgument, "layers[1]=3 not in [0, 3)");
  spec_.layers = {};
  spec_.target_rows = {-1};
  EXPECT_STATUS(Check(), C::kInvalidArgument, "target_rows[0]=-1 not in [0, 2)");
  spec_.target_rows = {1};
  spec_.target_tokens = {5, 6};
  EXPECT_STATUS(Check(), C::kInvalidArgument, "target_tokens has 2 entries");
  spec_.target_tokens = {};
  spec_.sparsity = {SparsityMode::kTopK, 0, 0, 1};
  EXPECT_STATUS(Check(), C::kInvalidArgument, "sparsity.top_k=0");
  spec_.sparsity = {};
  spec_.priority = 10;
  EXPECT_STATUS(Check(), C::kInvalidArgument, "priority=10 not in [0, 9]");
  spec_.priority = 0;
  spec_.precision = Precision::kBf16;
  EXPECT_STATUS(Check(), C::kInvalidArgument, "precision=bf16");
  spec_.precision = Precision::kDefault;
  EXPECT_OK(Check());
}

TEST_F(ValidationTest, LimitsAreResourceExhausted) {
  limits_.max_tokens = 3;
  spec_.token_ids = {1, 2, 3, 4};
  EXPECT_STATUS(Check(), absl::StatusCode::kResourceExhausted, "over the server limit of 3");
  limits_.max_tokens = 100;
  limits_.max_matrix_rows = 11;  // 1 method x 3 layers x 4 rows = 12
  EXPECT_STATUS(Check(), absl::StatusCode::kResourceExhausted, "12 matrix rows");
}

}  // namespace
}  // namespace mamba_explain
