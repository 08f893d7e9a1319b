// Explain validation against a synthetic backend over the committed fixture config (3 layers,
// vocabulary 96): every rejected field gets the documented code and a message naming it, and the
// defaults resolve to all layers / all rows. Method parameters are checked by name, every one is
// in the batching key, and the budgets count whole-model methods once and gradient passes.
#include "serving/request_validation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <set>

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
  ASSERT_OK_AND_ASSIGN(ValidatedExplain v, ValidateExplain(spec_, *backend_, limits_));
  EXPECT_EQ(v.options.layers, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(v.input.target_rows, (std::vector<int32_t>{0, 1, 2, 3}));
}

TEST_F(ValidationTest, SortsAndDeduplicates) {
  spec_.layers = {2, 0, 2};
  spec_.target_rows = {3, 1};
  ASSERT_OK_AND_ASSIGN(ValidatedExplain v, ValidateExplain(spec_, *backend_, limits_));
  EXPECT_EQ(v.options.layers, (std::vector<int32_t>{0, 2}));
  EXPECT_EQ(v.input.target_rows, (std::vector<int32_t>{1, 3}));
}

// One dense row goes in one message: longer rows must be sparsified (TOP_K, THRESHOLD, MASS).
TEST_F(ValidationTest, DenseRowsMustFitOneMessage) {
  limits_.max_dense_row = 3;  // the fixture input has 4 columns
  EXPECT_STATUS(Check(), absl::StatusCode::kInvalidArgument,
                "a dense row of 4 columns (method 'synthetic-decay') does not fit one message");
  spec_.sparsity.mode = SparsityMode::kTopK;
  spec_.sparsity.top_k = 2;
  EXPECT_OK(Check());
  limits_.max_dense_row = 4;
  spec_.sparsity.mode = SparsityMode::kDense;
  EXPECT_OK(Check());
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
  spec_.precision = Precision::kTf32;  // fp32 weights compute in fp32, tf32 or bf16
  ASSERT_OK_AND_ASSIGN(ValidatedExplain v, ValidateExplain(spec_, *backend_, limits_));
  EXPECT_EQ(v.options.precision, Precision::kTf32);
  spec_.precision.reset();  // the model's own
  ASSERT_OK_AND_ASSIGN(v, ValidateExplain(spec_, *backend_, limits_));
  EXPECT_EQ(v.options.precision, Precision::kFp32);
}

TEST_F(ValidationTest, LimitsAreResourceExhausted) {
  limits_.max_tokens = 3;
  spec_.token_ids = {1, 2, 3, 4};
  EXPECT_STATUS(Check(), absl::StatusCode::kResourceExhausted, "over the server limit of 3");
  limits_.max_tokens = 100;
  limits_.max_matrix_rows = 11;  // 1 method x 3 layers x 4 rows = 12
  EXPECT_STATUS(Check(), absl::StatusCode::kResourceExhausted, "12 matrix rows");
}

TEST_F(ValidationTest, RejectsBadMethodParameters) {
  using C = absl::StatusCode;
  spec_.params.ig_steps = 257;
  EXPECT_STATUS(Check(), C::kInvalidArgument, "parameters.ig_steps=257 not in [0, 256]");
  spec_.params.ig_steps = 0;
  spec_.params.smoothgrad_samples = 129;
  EXPECT_STATUS(Check(), C::kInvalidArgument, "parameters.smoothgrad_samples=129 not in [0, 128]");
  spec_.params.smoothgrad_samples = 0;
  spec_.params.smoothgrad_sigma = -0.5f;
  EXPECT_STATUS(Check(), C::kInvalidArgument, "parameters.smoothgrad_sigma=-0.5 not in [0, 1000]");
  spec_.params.smoothgrad_sigma = 0.f;  // explicit zero is valid
  EXPECT_OK(Check());
  spec_.params.ig_rule = "simpson";
  EXPECT_STATUS(Check(), C::kInvalidArgument,
                "parameters.ig_rule='simpson' unknown (riemann, gauss-legendre)");
  spec_.params.ig_rule = "riemann";
  spec_.params.smoothgrad_input = "both";
  EXPECT_STATUS(Check(), C::kInvalidArgument, "parameters.smoothgrad_input='both' unknown");
  spec_.params.smoothgrad_input = "clean";
  spec_.params.lrp_rules = "no-ssm,,no-gate";
  EXPECT_STATUS(Check(), C::kInvalidArgument, "has unknown rule ''");
  spec_.params.lrp_rules = "no-ssm,no-gate";
  spec_.params.attention_norm = "l2";
  EXPECT_STATUS(Check(), C::kInvalidArgument, "parameters.attention_norm='l2' unknown");
  spec_.params.attention_norm = "abs-minmax";
  spec_.params.start_layer = 3;
  EXPECT_STATUS(Check(), C::kInvalidArgument, "parameters.start_layer=3 not in [0, 3)");
  spec_.params.start_layer = 2;
  ASSERT_OK_AND_ASSIGN(ValidatedExplain v, ValidateExplain(spec_, *backend_, limits_));
  EXPECT_EQ(LrpRulesName(v.options.params.lrp_rules), "no-ssm,no-gate");
  EXPECT_EQ(v.options.params.ig_rule, IgQuadrature::kRiemannMidpoint);
  EXPECT_EQ(v.options.params.smoothgrad_input, SmoothGradInput::kClean);
  EXPECT_EQ(v.options.params.attention_norm, AttentionNorm::kAbsMinMax);
  EXPECT_EQ(v.options.params.start_layer, 2);
}

// A backend whose info has gradient and whole-model methods (as EngineBackend's), for the budget.
class GradientInfoBackend : public ExplainBackend {
 public:
  GradientInfoBackend() {
    info_.n_layers = 4;
    info_.vocab_size = 96;
    // synthetic-decay costs rows x layers; the gradient methods are whole-model (catalogue).
    info_.methods = {Method::kSyntheticDecay, Method::kIntegratedGradients, Method::kSmoothGrad,
                     Method::kGradientXInput};
  }
  const BackendInfo& info() const override { return info_; }
  absl::StatusOr<std::vector<int32_t>> Tokenize(const std::string&) const override {
    return absl::FailedPreconditionError("none");
  }
  std::string TokenText(int32_t) const override { return ""; }
  absl::Status Warmup() override { return absl::OkStatus(); }
  absl::Status ExplainBatch(const std::vector<BatchItem>&, BatchSink*) override {
    return absl::OkStatus();
  }

 private:
  BackendInfo info_;
};

// A backend whose tokenizer makes one id per byte and counts the ids it makes, to see how much
// tokenizer work a text costs validation.
class ByteTokenizerBackend : public GradientInfoBackend {
 public:
  ByteTokenizerBackend() {
    with_tokenizer_ = GradientInfoBackend::info();
    with_tokenizer_.has_tokenizer = true;
  }
  const BackendInfo& info() const override { return with_tokenizer_; }
  absl::StatusOr<std::vector<int32_t>> Tokenize(const std::string& text) const override {
    return TokenizeAtMost(text, text.size()).value().ids;
  }
  absl::StatusOr<EncodedPrefix> TokenizeAtMost(const std::string& text,
                                               size_t max_ids) const override {
    EncodedPrefix out;
    for (unsigned char c : text) {
      if (out.ids.size() > max_ids) break;
      out.ids.push_back(c % 96);
      ++ids_made;
    }
    out.truncated = out.ids.size() > max_ids;
    if (out.truncated) out.ids.resize(max_ids);
    return out;
  }
  mutable int64_t ids_made = 0;

 private:
  BackendInfo with_tokenizer_;
};

// A text over max_tokens is refused after at most max_tokens + 1 ids of tokenizer work, however
// long it is, with the same code and message as token ids over the limit; at the limit it passes.
TEST(TextLengthTest, RefusedAfterAtMostMaxTokensPlusOneIds) {
  ByteTokenizerBackend backend;
  ServingLimits limits;
  limits.max_tokens = 3;
  ExplainSpec spec;
  spec.model = "g";
  spec.methods = {"synthetic-decay"};
  spec.text = std::string(1 << 20, 'a');
  EXPECT_STATUS(ValidateExplain(spec, backend, limits).status(),
                absl::StatusCode::kResourceExhausted,
                "input text has more than 3 tokens, over the server limit of 3");
  EXPECT_LE(backend.ids_made, 4);
  spec.text = "abcd";
  EXPECT_STATUS(ValidateExplain(spec, backend, limits).status(),
                absl::StatusCode::kResourceExhausted, "over the server limit of 3");
  spec.text = "abc";
  ASSERT_OK_AND_ASSIGN(ValidatedExplain v, ValidateExplain(spec, backend, limits));
  EXPECT_EQ(v.input.ids, (std::vector<int32_t>{'a' % 96, 'b' % 96, 'c' % 96}));
  spec.text = "";
  EXPECT_STATUS(ValidateExplain(spec, backend, limits).status(), absl::StatusCode::kInvalidArgument,
                "text is empty after tokenization");
}

// The base class's TokenizeAtMost (for backends that do not stop early) cuts Tokenize's ids.
TEST(TextLengthTest, DefaultTokenizeAtMostCutsTheFullEncoding) {
  class AllAtOnce : public GradientInfoBackend {
   public:
    absl::StatusOr<std::vector<int32_t>> Tokenize(const std::string& text) const override {
      return std::vector<int32_t>(text.size(), 7);
    }
  } backend;
  ASSERT_OK_AND_ASSIGN(EncodedPrefix cut, backend.TokenizeAtMost("abcde", 2));
  EXPECT_EQ(cut.ids, (std::vector<int32_t>{7, 7}));
  EXPECT_TRUE(cut.truncated);
  ASSERT_OK_AND_ASSIGN(EncodedPrefix whole, backend.TokenizeAtMost("abcde", 5));
  EXPECT_EQ(whole.ids.size(), 5u);
  EXPECT_FALSE(whole.truncated);
}

TEST(BudgetTest, CountsWholeModelMethodsOnceAndGradientPasses) {
  GradientInfoBackend backend;
  ServingLimits limits;
  ExplainSpec spec;
  spec.model = "g";
  spec.token_ids = std::vector<int32_t>(10, 1);  // 10 rows
  spec.methods = {"synthetic-decay", "integrated-gradients", "smoothgrad", "grad-x-input"};
  // Matrix rows: 10 x 4 layers + 3 x 10 = 70.
  limits.max_matrix_rows = 69;
  EXPECT_STATUS(ValidateExplain(spec, backend, limits).status(),
                absl::StatusCode::kResourceExhausted, "request asks for 70 matrix rows");
  limits.max_matrix_rows = 70;
  // Gradient rows at the defaults: 10 x (30 + 30 + 1) = 610.
  limits.max_gradient_rows = 609;
  EXPECT_STATUS(ValidateExplain(spec, backend, limits).status(),
                absl::StatusCode::kResourceExhausted, "request asks for 610 gradient rows");
  limits.max_gradient_rows = 610;
  EXPECT_OK(ValidateExplain(spec, backend, limits).status());
  // With parameters: 10 x (5 + 2 + 1) = 80.
  spec.params.ig_steps = 5;
  spec.params.smoothgrad_samples = 2;
  limits.max_gradient_rows = 79;
  EXPECT_STATUS(ValidateExplain(spec, backend, limits).status(),
                absl::StatusCode::kResourceExhausted, "80 gradient rows");
  limits.max_gradient_rows = 80;
  EXPECT_OK(ValidateExplain(spec, backend, limits).status());
}

// Reliability audit defect 2d: the budget grows with the sequence length. Two IG requests with
// the same target rows x steps (one row, 8 steps, within the rows budget), one on a 4-token input
// and one on a 400-token input: the token budget refuses only the long one.
TEST(BudgetTest, LongInputsCostMoreThanShortOnes) {
  GradientInfoBackend backend;
  ServingLimits limits;
  limits.max_tokens = 1000;
  limits.max_gradient_rows = 16;
  limits.max_gradient_tokens = 1000;
  ExplainSpec spec;
  spec.model = "g";
  spec.methods = {"integrated-gradients"};
  spec.last_row = true;
  spec.params.ig_steps = 8;
  spec.token_ids = std::vector<int32_t>(4, 1);  // 4 x 8 = 32 tokens through backward passes
  EXPECT_OK(ValidateExplain(spec, backend, limits).status());
  spec.token_ids = std::vector<int32_t>(400, 1);  // 400 x 8 = 3200
  EXPECT_STATUS(ValidateExplain(spec, backend, limits).status(),
                absl::StatusCode::kResourceExhausted, "request asks for 3200 gradient tokens");
  // Rows count their causal length: rows 0 and 124 of the long input, 1 + 125 = 126 x 8 = 1008.
  spec.last_row = false;
  spec.target_rows = {0, 124};
  EXPECT_STATUS(ValidateExplain(spec, backend, limits).status(),
                absl::StatusCode::kResourceExhausted, "1008 gradient tokens");
  spec.target_rows = {0, 123};  // 1000
  EXPECT_OK(ValidateExplain(spec, backend, limits).status());

  // Matrix cells: a per-layer method (4 layers) on the last row of the long input is 400 x 4.
  spec.methods = {"synthetic-decay"};
  spec.target_rows.clear();
  spec.last_row = true;
  limits.max_matrix_cells = 1599;
  EXPECT_STATUS(ValidateExplain(spec, backend, limits).status(),
                absl::StatusCode::kResourceExhausted, "request asks for 1600 matrix cells");
  spec.token_ids = std::vector<int32_t>(4, 1);  // 16 cells: the same rows, a short input
  EXPECT_OK(ValidateExplain(spec, backend, limits).status());
}

}  // namespace
}  // namespace mamba_explain
