// Tokenizer tests. The GPT-NeoX ids are the test vectors of research/mamba_reference.md §4
// (cross-checked with @huggingface/tokenizers); the broad corpus comparison lives in
// tests/tokenizer/run_parity.sh. Small hand-built tokenizer.json files pin the loader's options
// and error paths, with expected ids worked out by hand from their merge lists.
#include "src/model/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "src/model/gpt2_pretokenizer.h"
#include "tests/status_matchers.h"

namespace mamba_explain {
namespace {

using Json = nlohmann::json;
using Ids = std::vector<int32_t>;

// Like EXPECT_STATUS of tests/status_matchers.h, whose parameter named `code` also replaces the
// `.code()` call inside that macro, so it does not compile with a qualified enum argument.
#define EXPECT_ERROR(expr, expected_code, substr)                                \
  do {                                                                           \
    const ::absl::Status me_status_ = ::me_testing::ToStatus(expr);              \
    EXPECT_EQ(me_status_.code(), expected_code) << me_status_;                   \
    EXPECT_NE(std::string(me_status_.message()).find(substr), std::string::npos) \
        << "message '" << me_status_.message() << "' lacks '" << substr << "'";  \
  } while (0)

std::string NeoxTokenizerPath() {
  const char* source = std::getenv("ME_SOURCE_DIR");
  return std::string(source != nullptr ? source : ".") + "/data/gpt-neox-20b-tokenizer.json";
}

class NeoxTokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto loaded = Tokenizer::FromFile(NeoxTokenizerPath());
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    tokenizer_ = loaded->release();
  }
  void SetUp() override {
    ASSERT_NE(tokenizer_, nullptr) << "could not load " << NeoxTokenizerPath();
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    tokenizer_ = nullptr;
  }
  static Tokenizer* tokenizer_;
};
Tokenizer* NeoxTokenizerTest::tokenizer_ = nullptr;

struct Vector {
  std::string text;
  Ids ids;
};

TEST_F(NeoxTokenizerTest, MatchesReferenceVectors) {
  const std::vector<Vector> vectors = {
      {"Hello my name is", {12092, 619, 1416, 310}},
      {"Hey how are you doing?", {8262, 849, 403, 368, 2509, 32}},
      {"Hello world", {12092, 1533}},
      {" Hello", {24387}},
      {"a  b", {66, 50276, 67}},
      {"x\n\ny", {89, 187, 187, 90}},
      {"x\n\n\ny", {89, 535, 187, 90}},
      {"I'm don't 12345 3.14", {42, 1353, 1053, 626, 1249, 16767, 495, 15, 1047}},
      {"THE'S 's", {9707, 8, 52, 686, 84}},
      {"na\xC3\xAFve caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E",
       {2072, 30180, 36241, 209, 49868, 19119, 241}},
      {"e\xCC\x81", {860}},  // e + U+0301 composes to U+00E9.
      {"<|endoftext|>The", {0, 510}},
      {"    def f(x):\n        return x", {50274, 1545, 269, 9, 89, 2262, 187, 50270, 2309, 1269}},
      {"tab\there", {8476, 186, 1568}},
      {"emoji \xF0\x9F\x99\x82 ok", {43208, 8020, 42908, 8718}},
      {"  leading", {50276, 16378}},
      {"trailing  ", {7604, 4837, 50276}},
      {"\xC2\xA0nbsp", {575, 6732}},
      {"Hello there       dear", {12092, 627, 50271, 69, 613}},
      {"", {}},
  };
  for (const Vector& v : vectors) {
    ASSERT_OK_AND_ASSIGN(const Ids ids, tokenizer_->Encode(v.text));
    EXPECT_EQ(ids, v.ids) << "text: \"" << v.text << "\"";
  }
}

TEST_F(NeoxTokenizerTest, WhitespaceRunsUseLongestAddedTokensFirst) {
  // 26 spaces: the 24-space token (50254), then the 2-space one (50276).
  ASSERT_OK_AND_ASSIGN(const Ids ids, tokenizer_->Encode("a" + std::string(26, ' ') + "b"));
  EXPECT_EQ(ids, (Ids{66, 50254, 50276, 67}));
}

TEST_F(NeoxTokenizerTest, SpecialTokensSplitAnywhere) {
  ASSERT_OK_AND_ASSIGN(const Ids ids, tokenizer_->Encode("x<|unk|>y<|endoftext|>"));
  EXPECT_EQ(ids, (Ids{89, 1, 90, 0}));
  ASSERT_OK_AND_ASSIGN(const Ids partial, tokenizer_->Encode("<|endof"));
  EXPECT_EQ(std::count(partial.begin(), partial.end(), 0), 0) << "a prefix is not the token";
}

TEST_F(NeoxTokenizerTest, DecodeRoundTripsNfcText) {
  const std::vector<std::string> texts = {
      "Hello my name is",
      "    def f(x):\n        return x",
      "<|endoftext|>The end",
      "a" + std::string(30, ' ') + "b\n\n\t",
      "na\xC3\xAFve caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E "
      "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD",
      "\xC2\xA0\xE3\x80\x80 unicode spaces",
  };
  for (const std::string& text : texts) {
    ASSERT_OK_AND_ASSIGN(const Ids ids, tokenizer_->Encode(text));
    ASSERT_OK_AND_ASSIGN(const std::string decoded, tokenizer_->Decode(ids));
    EXPECT_EQ(decoded, text);
  }
  // Decoding gives the normalized text: e + U+0301 comes back as U+00E9.
  ASSERT_OK_AND_ASSIGN(const std::string composed, tokenizer_->Decode({860}));
  EXPECT_EQ(composed, "\xC3\xA9");
}

TEST_F(NeoxTokenizerTest, DecodeIsLossyOnPartialCharacters) {
  const std::string replacement = "\xEF\xBF\xBD";
  // 19119 holds the first two bytes of U+8A9E (E8 AA), 241 its last byte (9E).
  ASSERT_OK_AND_ASSIGN(const std::string whole, tokenizer_->Decode({19119, 241}));
  EXPECT_EQ(whole, "\xE8\xAA\x9E");
  ASSERT_OK_AND_ASSIGN(const std::string head, tokenizer_->Decode({19119}));
  EXPECT_EQ(head, replacement);  // One U+FFFD per maximal ill-formed subpart, as Rust does.
  ASSERT_OK_AND_ASSIGN(const std::string tail, tokenizer_->Decode({241}));
  EXPECT_EQ(tail, replacement);
  ASSERT_OK_AND_ASSIGN(const std::string twice, tokenizer_->Decode({19119, 19119}));
  EXPECT_EQ(twice, replacement + replacement);
}

TEST_F(NeoxTokenizerTest, DecodeRejectsUnknownIds) {
  EXPECT_EQ(tokenizer_->vocab_size(), 50277);
  EXPECT_ERROR(tokenizer_->Decode({12092, 50277}), absl::StatusCode::kInvalidArgument, "50277");
  EXPECT_ERROR(tokenizer_->Decode({-1}), absl::StatusCode::kInvalidArgument, "-1");
}

TEST_F(NeoxTokenizerTest, EncodeRejectsInvalidUtf8) {
  const std::vector<std::string> invalid = {
      "\xFF",              // Never valid.
      "abc\xC3",           // Truncated two-byte sequence.
      "\xC0\xAF",          // Overlong '/'.
      "\xED\xA0\x80",      // UTF-16 surrogate U+D800.
      "\xF4\x90\x80\x80",  // Above U+10FFFF.
      "ok\x80",            // Stray continuation byte.
  };
  for (const std::string& text : invalid) {
    EXPECT_ERROR(tokenizer_->Encode(text), absl::StatusCode::kInvalidArgument, "UTF-8");
  }
}

// EncodeAtMost(text, k) is the first min(n, k) ids of Encode(text) and says whether there are
// more, for every k (special tokens, whitespace runs, multi-byte characters, words that BPE
// splits into several ids: the last word before the limit may overshoot and is cut).
TEST_F(NeoxTokenizerTest, EncodeAtMostIsThePrefixOfEncode) {
  const std::string text =
      "Hello world<|endoftext|>  indentation\n\n\tcaf\xC3\xA9 supercalifragilistic 12345 "
      "\xE4\xBD\xA0\xE5\xA5\xBD!";
  ASSERT_OK_AND_ASSIGN(const Ids all, tokenizer_->Encode(text));
  ASSERT_GT(all.size(), 10u);
  for (size_t k = 0; k <= all.size() + 1; ++k) {
    SCOPED_TRACE(k);
    ASSERT_OK_AND_ASSIGN(const EncodedPrefix prefix, tokenizer_->EncodeAtMost(text, k));
    EXPECT_EQ(prefix.ids, Ids(all.begin(), all.begin() + std::min(k, all.size())));
    EXPECT_EQ(prefix.truncated, all.size() > k);
  }
  EXPECT_ERROR(tokenizer_->EncodeAtMost("ok\x80", 1), absl::StatusCode::kInvalidArgument, "UTF-8");
}

// The costly step (BPE per word) stops at the limit: a text of 20 000 long words takes less than
// half the full encoding's time to refuse (best of 3 runs each, against machine noise). Measured
// here: 15 ms against 100 ms; what remains are the linear passes over the whole text (UTF-8
// check, NFC, pre-token split), which the server's --max_text_bytes bounds.
TEST_F(NeoxTokenizerTest, EncodeAtMostStopsWorkAtTheLimit) {
  std::string text;
  uint32_t state = 12345;
  for (int w = 0; w < 20000; ++w) {
    text += ' ';
    for (int c = 0; c < 40; ++c) {
      state = state * 1103515245u + 12345u;
      text += static_cast<char>('a' + (state >> 16) % 26);
    }
  }
  auto best_of_3 = [&](const std::function<void()>& f) {
    double best = 1e30;
    for (int i = 0; i < 3; ++i) {
      const auto start = std::chrono::steady_clock::now();
      f();
      best = std::min(
          best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    return best;
  };
  size_t full = 0;
  const double full_s = best_of_3([&] { full = tokenizer_->Encode(text)->size(); });
  bool truncated = false;
  const double cut_s = best_of_3([&] { truncated = tokenizer_->EncodeAtMost(text, 8)->truncated; });
  std::printf("EncodeAtMost(text, 8): %.4f s, Encode: %.4f s (%zu ids)\n", cut_s, full_s, full);
  EXPECT_GT(full, 40000u);
  EXPECT_TRUE(truncated);
  EXPECT_LT(cut_s * 2, full_s) << "cut " << cut_s << " s, full " << full_s << " s";
}

TEST_F(NeoxTokenizerTest, TokenText) {
  EXPECT_EQ(tokenizer_->TokenText(12092), "Hello");
  EXPECT_EQ(tokenizer_->TokenText(24387), " Hello");
  EXPECT_EQ(tokenizer_->TokenText(187), "\n");
  EXPECT_EQ(tokenizer_->TokenText(50276), "  ");
  EXPECT_EQ(tokenizer_->TokenText(0), "<|endoftext|>");
  EXPECT_EQ(tokenizer_->TokenText(1), "<|unk|>");
  EXPECT_EQ(tokenizer_->TokenText(241), "\xEF\xBF\xBD");
  EXPECT_EQ(tokenizer_->TokenText(50277), "<|id:50277|>");
  EXPECT_EQ(tokenizer_->TokenText(-3), "<|id:-3|>");
}

// The regex cases where engines differ; each expectation follows Oniguruma's documented
// semantics (alternatives in order, backtracking, \s = U+0009..U+000D, U+0085, Zs, Zl, Zp).
TEST(Gpt2PreTokenizerTest, SplitsLikeOniguruma) {
  using Pieces = std::vector<std::string_view>;
  EXPECT_EQ(SplitGpt2PreTokens("x\n\ny"), (Pieces{"x", "\n", "\n", "y"}));
  EXPECT_EQ(SplitGpt2PreTokens("a  b"), (Pieces{"a", " ", " b"}));
  EXPECT_EQ(SplitGpt2PreTokens("end  "), (Pieces{"end", "  "}));
  EXPECT_EQ(SplitGpt2PreTokens("THE'S 's"), (Pieces{"THE", "'", "S", " '", "s"}));
  EXPECT_EQ(SplitGpt2PreTokens("we'll 2024!?"), (Pieces{"we", "'ll", " 2024", "!?"}));
  EXPECT_EQ(SplitGpt2PreTokens("x\xC2\xB2 \xD9\xA1"), (Pieces{"x", "\xC2\xB2", " \xD9\xA1"}));
  // U+0085 (NEL) is white space: the run " NEL" leaves NEL alone before "b".
  EXPECT_EQ(SplitGpt2PreTokens("a \xC2\x85"
                               "b"),
            (Pieces{"a", " ", "\xC2\x85", "b"}));
  // U+FEFF (format char) is not, so the space takes it as punctuation-like "other".
  EXPECT_EQ(SplitGpt2PreTokens("x \xEF\xBB\xBFy"), (Pieces{"x", " \xEF\xBB\xBF", "y"}));
  EXPECT_EQ(SplitGpt2PreTokens(""), Pieces{});
}

TEST(TokenizerFileTest, MissingFileIsNotFound) {
  EXPECT_ERROR(Tokenizer::FromFile("/nonexistent/tokenizer.json"), absl::StatusCode::kNotFound,
               "/nonexistent/tokenizer.json");
}

// --- Hand-built tokenizers ------------------------------------------------------------------

// GPT-2's byte-to-unicode map, written out independently of the code under test: printable
// Latin-1 bytes stand for themselves, the rest count up from U+0100 (all below U+0800).
bool IsPrintableByte(int byte) {
  return (byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) || byte >= 0xAE;
}

std::string ByteSymbol(int byte) {
  int code_point = byte;
  if (!IsPrintableByte(byte)) {
    code_point = 0x100;
    for (int b = 0; b < byte; ++b) code_point += IsPrintableByte(b) ? 0 : 1;
  }
  if (code_point < 0x80) return std::string(1, static_cast<char>(code_point));
  return {static_cast<char>(0xC0 | (code_point >> 6)),
          static_cast<char>(0x80 | (code_point & 0x3F))};
}

// A tiny byte-level BPE: byte b has id b; 256 "ab", 257 "Ġa", 258 "abc", 259 "bĠ".
// Merge ranks: 0 "b Ġ", 1 "a b", 2 "Ġ a", 3 "ab c".
enum class MergeFormat { kStrings, kPairs };

Json TinyTokenizer(MergeFormat format) {
  Json vocab = Json::object();
  for (int byte = 0; byte < 256; ++byte) vocab[ByteSymbol(byte)] = byte;
  const std::string g = ByteSymbol(' ');
  vocab["ab"] = 256;
  vocab[g + "a"] = 257;
  vocab["abc"] = 258;
  vocab["b" + g] = 259;
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"b", g}, {"a", "b"}, {g, "a"}, {"ab", "c"}};
  Json merge_list = Json::array();
  for (const auto& [left, right] : merges) {
    if (format == MergeFormat::kStrings) {
      merge_list.push_back(left + " " + right);
    } else {
      merge_list.push_back(Json::array({left, right}));
    }
  }
  return Json{
      {"version", "1.0"},
      {"added_tokens",
       Json::array({
           {{"id", 300}, {"content", "<s>"}, {"special", true}, {"normalized", false}},
           {{"id", 301}, {"content", "e\xCC\x81"}, {"special", false}, {"normalized", true}},
           {{"id", 302}, {"content", "a\xCC\x81"}, {"special", false}, {"normalized", false}},
           {{"id", 303}, {"content", "<s>x"}, {"special", false}, {"normalized", false}},
       })},
      {"normalizer", {{"type", "NFC"}}},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"vocab", vocab}, {"merges", merge_list}}},
  };
}

std::unique_ptr<Tokenizer> Load(const Json& json) {
  auto loaded = Tokenizer::FromJson(json.dump(), "tiny.json");
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  return loaded.ok() ? std::move(loaded).value() : nullptr;
}

Ids EncodeOrDie(const Tokenizer& tokenizer, const std::string& text) {
  auto ids = tokenizer.Encode(text);
  EXPECT_TRUE(ids.ok()) << ids.status();
  return ids.ok() ? *ids : Ids{};
}

TEST(TinyTokenizerTest, BothMergeFormatsEncodeByRank) {
  for (MergeFormat format : {MergeFormat::kStrings, MergeFormat::kPairs}) {
    SCOPED_TRACE(format == MergeFormat::kStrings ? "\"a b\" merges" : "[a, b] merges");
    const auto tokenizer = Load(TinyTokenizer(format));
    ASSERT_NE(tokenizer, nullptr);
    EXPECT_EQ(EncodeOrDie(*tokenizer, "abc"), (Ids{258}));
    EXPECT_EQ(EncodeOrDie(*tokenizer, " a"), (Ids{257}));
    // "a b" (rank 1) beats "Ġ a" (rank 2), and then Ġ + ab has no merge.
    EXPECT_EQ(EncodeOrDie(*tokenizer, " ab"), (Ids{32, 256}));
    // The regex splits before the space, so "b Ġ" (rank 0) never sees both sides.
    EXPECT_EQ(EncodeOrDie(*tokenizer, "ab ab"), (Ids{256, 32, 256}));
    EXPECT_EQ(tokenizer->vocab_size(), 304);
  }
}

TEST(TinyTokenizerTest, AddedTokensRawFirstThenNormalized) {
  const auto tokenizer = Load(TinyTokenizer(MergeFormat::kStrings));
  ASSERT_NE(tokenizer, nullptr);
  // Leftmost-longest on raw text: "<s>x" wins over "<s>".
  EXPECT_EQ(EncodeOrDie(*tokenizer, "<s>x<s>"), (Ids{303, 300}));
  // A non-normalized token matches only its raw (decomposed) spelling...
  EXPECT_EQ(EncodeOrDie(*tokenizer, "a\xCC\x81"), (Ids{302}));
  EXPECT_EQ(EncodeOrDie(*tokenizer, "\xC3\xA1"), (Ids{0xC3, 0xA1}));
  // ...while a normalized one matches after NFC, whichever spelling the input uses.
  EXPECT_EQ(EncodeOrDie(*tokenizer, "e\xCC\x81"), (Ids{301}));
  EXPECT_EQ(EncodeOrDie(*tokenizer,
                        "c\xC3\xA9"
                        "c"),
            (Ids{'c', 301, 'c'}));
  ASSERT_OK_AND_ASSIGN(const std::string decoded, tokenizer->Decode({303, 301, 258}));
  EXPECT_EQ(decoded,
            "<s>xe\xCC\x81"
            "abc");
}

TEST(TinyTokenizerTest, PreTokenizerOptions) {
  Json json = TinyTokenizer(MergeFormat::kPairs);
  json["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       Json::array({{{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}}})}};
  json["normalizer"] = nullptr;
  auto tokenizer = Load(json);
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(EncodeOrDie(*tokenizer, "abc"), (Ids{32, 258}));  // " abc": Ġ + abc.
  EXPECT_EQ(EncodeOrDie(*tokenizer, " a"), (Ids{257}));       // Already starts with a space.
  // Without NFC the decomposed input reaches the normalized token's raw spelling.
  EXPECT_EQ(EncodeOrDie(*tokenizer, "e\xCC\x81"), (Ids{301}));

  json["pre_tokenizer"] = {
      {"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
  tokenizer = Load(json);
  ASSERT_NE(tokenizer, nullptr);
  // One word: "b Ġ" (rank 0) merges across the space before "a b" (rank 1).
  EXPECT_EQ(EncodeOrDie(*tokenizer, "ab ab"), (Ids{'a', 259, 256}));
}

struct BadCase {
  const char* name;
  std::function<void(Json&)> corrupt;
  const char* field;  // Expected in the message.
};

TEST(TinyTokenizerTest, MalformedFilesAreInvalidArgument) {
  const std::vector<BadCase> cases = {
      {"missing model", [](Json& j) { j.erase("model"); }, "model"},
      {"wrong model type", [](Json& j) { j["model"]["type"] = "WordPiece"; }, "model.type"},
      {"model not an object", [](Json& j) { j["model"] = 3; }, "model"},
      {"vocab missing", [](Json& j) { j["model"].erase("vocab"); }, "model.vocab"},
      {"vocab id not integer", [](Json& j) { j["model"]["vocab"]["ab"] = "x"; }, "model.vocab"},
      {"byte symbol missing", [](Json& j) { j["model"]["vocab"].erase("a"); }, "model.vocab"},
      {"merges missing", [](Json& j) { j["model"].erase("merges"); }, "model.merges"},
      {"merge without space", [](Json& j) { j["model"]["merges"][1] = "ab"; }, "model.merges[1]"},
      {"merge not a string", [](Json& j) { j["model"]["merges"][2] = 7; }, "model.merges[2]"},
      {"merge pair of 3",
       [](Json& j) {
         j["model"]["merges"][0] = {"a", "b", "c"};
       },
       "model.merges[0]"},
      {"merged token unknown", [](Json& j) { j["model"]["merges"].push_back("c a"); },
       "model.merges[4]"},
      {"dropout", [](Json& j) { j["model"]["dropout"] = 0.1; }, "model.dropout"},
      // Found by tokenizer_fuzz: one huge id made a 2^31-entry id table.
      {"sparse vocab ids", [](Json& j) { j["model"]["vocab"]["zz"] = 2000000000; }, "not dense"},
      {"subword prefix", [](Json& j) { j["model"]["continuing_subword_prefix"] = "##"; },
       "model.continuing_subword_prefix"},
      {"normalizer",
       [](Json& j) {
         j["normalizer"] = {{"type", "Lowercase"}};
       },
       "normalizer.type"},
      {"no pre_tokenizer", [](Json& j) { j["pre_tokenizer"] = nullptr; }, "pre_tokenizer"},
      {"pre_tokenizer type",
       [](Json& j) {
         j["pre_tokenizer"] = {{"type", "Whitespace"}};
       },
       "pre_tokenizer.type"},
      {"add_prefix_space missing", [](Json& j) { j["pre_tokenizer"].erase("add_prefix_space"); },
       "pre_tokenizer.add_prefix_space"},
      {"decoder",
       [](Json& j) {
         j["decoder"] = {{"type", "WordPiece"}};
       },
       "decoder.type"},
      {"added token id", [](Json& j) { j["added_tokens"][0]["id"] = -5; }, "added_tokens[0].id"},
      {"added token lstrip", [](Json& j) { j["added_tokens"][1]["lstrip"] = true; },
       "added_tokens[1].lstrip"},
      {"added token content", [](Json& j) { j["added_tokens"][2]["content"] = ""; },
       "added_tokens[2].content"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    Json json = TinyTokenizer(MergeFormat::kStrings);
    c.corrupt(json);
    const auto loaded = Tokenizer::FromJson(json.dump(), "tiny.json");
    EXPECT_ERROR(loaded, absl::StatusCode::kInvalidArgument, "tiny.json");
    EXPECT_ERROR(loaded, absl::StatusCode::kInvalidArgument, c.field);
  }
  EXPECT_ERROR(Tokenizer::FromJson("{not json", "broken.json"), absl::StatusCode::kInvalidArgument,
               "broken.json");
  EXPECT_ERROR(Tokenizer::FromJson("[]", "array.json"), absl::StatusCode::kInvalidArgument,
               "array.json");
}

}  // namespace
}  // namespace mamba_explain
