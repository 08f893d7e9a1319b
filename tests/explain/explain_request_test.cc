// The one Validate (explain/explain_request.h) and the method catalogue (attribution/methods.h),
// torch-free: defaults resolve (all layers, rows per sequence incl. "last", the model's
// precision); each bad field is INVALID_ARGUMENT naming it; compute precision follows the
// weights (fp32 weights: any mode; bf16 weights: bf16 only); the catalogue's parse/name pairs
// round-trip and reject unknown spellings with the accepted ones listed.
#include "explain/explain_request.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>

#include "tests/status_matchers.h"

namespace mamba_explain {
namespace {

ModelShape Shape(Precision weights = Precision::kFp32) {
  ModelShape shape;
  shape.n_layers = 3;
  shape.vocab_size = 96;
  shape.precision = weights;
  return shape;
}

TEST(ValidateTest, ResolvesDefaultsPerSequence) {
  ExplainRequest r;
  r.methods = {Method::kLatimL2, Method::kGradientXInput};
  r.rows.kind = RowSelection::Kind::kLast;
  ASSERT_OK_AND_ASSIGN(ValidatedRequest v, Validate(r, {{1, 2, 3}, {4, 5}}, Shape()));
  EXPECT_EQ(v.layers, (std::vector<int>{0, 1, 2}));
  ASSERT_EQ(v.sequences.size(), 2u);
  EXPECT_EQ(v.sequences[0].rows, std::vector<int64_t>{2});
  EXPECT_EQ(v.sequences[1].rows, std::vector<int64_t>{1});
  EXPECT_EQ(v.precision, Precision::kFp32);
  EXPECT_TRUE(v.NeedsTargets());
  EXPECT_TRUE(v.HasFamily(MethodFamily::kGradient));
  EXPECT_FALSE(v.HasFamily(MethodFamily::kMambaLrp));

  r.rows.kind = RowSelection::Kind::kList;
  r.rows.rows = {2, 0, 2};
  r.layers = {2, 0, 2};
  ASSERT_OK_AND_ASSIGN(v, Validate(r, {{1, 2, 3}}, Shape()));
  EXPECT_EQ(v.layers, (std::vector<int>{0, 2}));
  EXPECT_EQ(v.sequences[0].rows, (std::vector<int64_t>{0, 2}));
}

TEST(ValidateTest, RejectsEachBadField) {
  using C = absl::StatusCode;
  ExplainRequest r;
  const std::vector<std::vector<int32_t>> one = {{1, 2}};
  r.methods = {};
  EXPECT_STATUS(Validate(r, one, Shape()).status(), C::kInvalidArgument, "methods is empty");
  r.methods = {Method::kLatimL2, Method::kLatimL2};
  EXPECT_STATUS(Validate(r, one, Shape()).status(), C::kInvalidArgument,
                "methods[1]='latim-l2' is repeated");
  r.methods = {Method::kSyntheticDecay};
  EXPECT_STATUS(Validate(r, one, Shape()).status(), C::kInvalidArgument,
                "methods[0]='synthetic-decay' is not supported");
  r.methods = {Method::kLatimL2};
  r.layers = {0, 3};
  EXPECT_STATUS(Validate(r, one, Shape()).status(), C::kInvalidArgument,
                "layers[1]=3 not in [0, 3)");
  r.layers = {};
  EXPECT_STATUS(Validate(r, {{1, 96}}, Shape()).status(), C::kInvalidArgument,
                "token_ids[1]=96 not in [0, 96)");
  EXPECT_STATUS(Validate(r, {{1}, {}}, Shape()).status(), C::kInvalidArgument,
                "no token ids (sequence 1)");
  r.rows.kind = RowSelection::Kind::kList;
  EXPECT_STATUS(Validate(r, one, Shape()).status(), C::kInvalidArgument, "target_rows is empty");
  r.rows.rows = {2};
  EXPECT_STATUS(Validate(r, one, Shape()).status(), C::kInvalidArgument,
                "target_rows[0]=2 not in [0, 2)");
  r.rows.rows = {1};
  r.target_token = 96;
  EXPECT_STATUS(Validate(r, one, Shape()).status(), C::kInvalidArgument,
                "target_token=96 not in [0, 96)");
  r.target_token.reset();
  r.target_tokens = {5, 6};
  EXPECT_STATUS(Validate(r, one, Shape()).status(), C::kInvalidArgument,
                "target_tokens has 2 entries but there are 1 target rows");
  r.target_tokens = {5};
  EXPECT_STATUS(Validate(r, {{1, 2}, {1, 2}}, Shape()).status(), C::kInvalidArgument,
                "target_tokens needs exactly one sequence");
  r.target_tokens = {};
  r.params.start_layer = 3;
  EXPECT_STATUS(Validate(r, one, Shape()).status(), C::kInvalidArgument,
                "parameters.start_layer=3 not in [0, 3)");
  r.params.start_layer = 0;
  r.params.ig_steps = 0;
  EXPECT_STATUS(Validate(r, one, Shape()).status(), C::kInvalidArgument,
                "parameters.ig_steps=0 must be >= 1");
  r.params.ig_steps = 1;
  r.params.smoothgrad_sigma = -1;
  EXPECT_STATUS(Validate(r, one, Shape()).status(), C::kInvalidArgument,
                "parameters.smoothgrad_sigma=-1");
  r.params.smoothgrad_sigma = 0;
  r.memory_budget_bytes = 0;
  EXPECT_STATUS(Validate(r, one, Shape()).status(), C::kInvalidArgument,
                "memory_budget_bytes=0 must be > 0");
  r.memory_budget_bytes = 1;
  EXPECT_OK(Validate(r, one, Shape()).status());
}

// CheckValidated (the Engine's entry check) accepts what Validate makes and refuses a hand-made or
// merged request that breaks one of its guarantees, naming the field and the sequence.
TEST(CheckValidatedTest, RefusesEachBrokenGuarantee) {
  using C = absl::StatusCode;
  ExplainRequest r;
  r.methods = {Method::kLatimAltiLogit};
  r.rows.kind = RowSelection::Kind::kList;
  r.rows.rows = {2, 0};
  r.target_tokens = {7, 8};
  ASSERT_OK_AND_ASSIGN(const ValidatedRequest good, Validate(r, {{1, 2, 3}}, Shape()));
  EXPECT_OK(CheckValidated(good, Shape()));
  auto check = [&](const std::function<void(ValidatedRequest&)>& edit) {
    ValidatedRequest v = good;
    edit(v);
    return CheckValidated(v, Shape());
  };
  EXPECT_STATUS(check([](ValidatedRequest& v) { v.methods = {Method::kSyntheticDecay}; }),
                C::kInvalidArgument, "methods[0]='synthetic-decay' is not supported");
  EXPECT_STATUS(check([](ValidatedRequest& v) {
                  v.layers = {0, 3};
                }),
                C::kInvalidArgument, "layers[1]=3 not in [0, 3)");
  EXPECT_STATUS(check([](ValidatedRequest& v) {
                  v.layers = {1, 0};
                }),
                C::kInvalidArgument, "layers must be ascending and unique");
  EXPECT_STATUS(check([](ValidatedRequest& v) { v.sequences.clear(); }), C::kInvalidArgument,
                "no sequences");
  EXPECT_STATUS(check([](ValidatedRequest& v) {
                  v.sequences[0].ids = {1, 96, 3};
                }),
                C::kInvalidArgument, "token_ids[1]=96 not in [0, 96) (sequence 0)");
  EXPECT_STATUS(check([](ValidatedRequest& v) {
                  v.sequences[0].rows = {0, 3};
                }),
                C::kInvalidArgument, "target_rows[1]=3 not in [0, 3) (sequence 0)");
  EXPECT_STATUS(check([](ValidatedRequest& v) {
                  v.sequences[0].rows = {2, 0};
                }),
                C::kInvalidArgument, "target rows must be ascending and unique (sequence 0)");
  EXPECT_STATUS(check([](ValidatedRequest& v) { v.sequences[0].rows = {}; }), C::kInvalidArgument,
                "target_rows is empty (sequence 0)");
  EXPECT_STATUS(check([](ValidatedRequest& v) { v.sequences[0].targets = {7}; }),
                C::kInvalidArgument, "target_tokens has 1 entries but there are 2 target rows");
  EXPECT_STATUS(check([](ValidatedRequest& v) {
                  v.sequences[0].targets = {7, 96};
                }),
                C::kInvalidArgument, "target_tokens[1]=96 not in [0, 96) (sequence 0)");
  EXPECT_STATUS(check([](ValidatedRequest& v) { v.target_token = -1; }), C::kInvalidArgument,
                "target_token=-1 not in [0, 96)");
  EXPECT_STATUS(check([](ValidatedRequest& v) { v.params.start_layer = 3; }), C::kInvalidArgument,
                "parameters.start_layer=3 not in [0, 3)");
  EXPECT_STATUS(check([](ValidatedRequest& v) { v.params.ig_steps = 0; }), C::kInvalidArgument,
                "parameters.ig_steps=0 must be >= 1");
  EXPECT_STATUS(check([](ValidatedRequest& v) { v.memory_budget_bytes = 0; }), C::kInvalidArgument,
                "memory_budget_bytes=0 must be > 0");
  EXPECT_OK(check([](ValidatedRequest& v) { v.precision = Precision::kBf16; }));
  EXPECT_STATUS(CheckValidated(good, Shape(Precision::kBf16)), C::kInvalidArgument,
                "precision=fp32 but the model's weights are bf16");
}

// Per-row targets are kept only where an output-dependent method uses them.
TEST(ValidateTest, KeepsTargetsOnlyForOutputDependentMethods) {
  ExplainRequest r;
  r.methods = {Method::kLatimL2};
  r.rows.kind = RowSelection::Kind::kList;
  r.rows.rows = {0, 1};
  r.target_tokens = {7, 8};
  ASSERT_OK_AND_ASSIGN(ValidatedRequest v, Validate(r, {{1, 2}}, Shape()));
  EXPECT_TRUE(v.sequences[0].targets.empty());
  r.methods = {Method::kLatimL2, Method::kLatimAltiLogit};
  ASSERT_OK_AND_ASSIGN(v, Validate(r, {{1, 2}}, Shape()));
  EXPECT_EQ(v.sequences[0].targets, (std::vector<int64_t>{7, 8}));
}

TEST(ValidateTest, ComputePrecisionFollowsTheWeights) {
  ExplainRequest r;
  for (Precision p : {Precision::kFp32, Precision::kTf32, Precision::kBf16}) {
    r.precision = p;
    ASSERT_OK_AND_ASSIGN(ValidatedRequest v, Validate(r, {{1}}, Shape(Precision::kFp32)));
    EXPECT_EQ(v.precision, p);
  }
  r.precision = Precision::kBf16;
  EXPECT_OK(Validate(r, {{1}}, Shape(Precision::kBf16)).status());
  r.precision = Precision::kFp32;
  EXPECT_STATUS(Validate(r, {{1}}, Shape(Precision::kBf16)).status(),
                absl::StatusCode::kInvalidArgument,
                "precision=fp32 but the model's weights are bf16");
  r.precision = Precision::kTf32;
  EXPECT_STATUS(Validate(r, {{1}}, Shape(Precision::kBf16)).status(),
                absl::StatusCode::kInvalidArgument, "precision=tf32");
  r.precision.reset();
  ASSERT_OK_AND_ASSIGN(ValidatedRequest v, Validate(r, {{1}}, Shape(Precision::kBf16)));
  EXPECT_EQ(v.precision, Precision::kBf16);
}

TEST(MethodCatalogueTest, NamesRoundTripAndUnknownsListTheChoices) {
  for (const MethodInfo& info : MethodCatalogue()) {
    ASSERT_OK_AND_ASSIGN(Method m, ParseMethod(info.name));
    EXPECT_EQ(m, info.id);
    EXPECT_STREQ(MethodName(m), info.name);
  }
  EXPECT_EQ(EngineMethods().size(), 11u);
  EXPECT_STATUS(ParseMethod("latim-l3").status(), absl::StatusCode::kInvalidArgument,
                "unknown method 'latim-l3' (latim-l1, latim-l2, latim-alti, latim-alti-logit, "
                "grad-x-input, integrated-gradients, smoothgrad, mamba-lrp, mamba-attention, "
                "rollout, mamba-attribution)");
  // Token scores are exactly the methods that explain a logit per row without a matrix.
  for (Method m : {Method::kGradientXInput, Method::kIntegratedGradients, Method::kSmoothGrad,
                   Method::kMambaLrp, Method::kMambaAttribution}) {
    EXPECT_EQ(GetMethodInfo(m).result_kind, ResultKind::kTokenScores) << MethodName(m);
  }
  EXPECT_EQ(GetMethodInfo(Method::kLatimAltiLogit).result_kind, ResultKind::kMatrix);
  EXPECT_EQ(GetMethodInfo(Method::kLatimAltiLogit).scope, MethodScope::kWholeModel);
  EXPECT_TRUE(GetMethodInfo(Method::kLatimAltiLogit).cost.rows_per_layer);
}

TEST(MethodCatalogueTest, ParameterChoicesRoundTrip) {
  for (const std::string& c : ActivationChoices()) {
    ASSERT_OK_AND_ASSIGN(Activation a, ParseActivation(c));
    EXPECT_EQ(ActivationName(a), c);
  }
  for (const std::string& c : IgQuadratureChoices()) {
    ASSERT_OK_AND_ASSIGN(IgQuadrature q, ParseIgQuadrature(c));
    EXPECT_EQ(IgQuadratureName(q), c);
  }
  for (const std::string& c : SmoothGradInputChoices()) {
    ASSERT_OK_AND_ASSIGN(SmoothGradInput i, ParseSmoothGradInput(c));
    EXPECT_EQ(SmoothGradInputName(i), c);
  }
  for (const std::string& c : AttentionNormChoices()) {
    ASSERT_OK_AND_ASSIGN(AttentionNorm n, ParseAttentionNorm(c));
    EXPECT_EQ(AttentionNormName(n), c);
  }
  for (Precision p : {Precision::kFp32, Precision::kTf32, Precision::kBf16}) {
    ASSERT_OK_AND_ASSIGN(Precision q, ParsePrecision(PrecisionName(p)));
    EXPECT_EQ(q, p);
  }
  EXPECT_STATUS(ParseActivation("gelu").status(), absl::StatusCode::kInvalidArgument,
                "unknown activation 'gelu' (silu, identity, relu)");
  EXPECT_STATUS(ParsePrecision("fp8").status(), absl::StatusCode::kInvalidArgument,
                "unknown precision 'fp8' (fp32, tf32, bf16)");
  // LrpRules: the canonical name parses back to the same rules.
  for (const char* text : {"all", "none", "no-ssm", "no-silu,no-norm", "no-gate,no-ssm"}) {
    ASSERT_OK_AND_ASSIGN(LrpRules rules, ParseLrpRules(text));
    ASSERT_OK_AND_ASSIGN(LrpRules back, ParseLrpRules(LrpRulesName(rules)));
    EXPECT_EQ(back, rules) << text;
  }
  ASSERT_OK_AND_ASSIGN(LrpRules r, ParseLrpRules("no-gate,no-ssm"));
  EXPECT_EQ(LrpRulesName(r), "no-ssm,no-gate");
  EXPECT_STATUS(ParseLrpRules("no-conv").status(), absl::StatusCode::kInvalidArgument,
                "unknown lrp rule 'no-conv'");
}

// docs/methods.md carries the catalogue's table verbatim (between its two markers), so a method
// added to the catalogue shows up in the docs, and a stale table fails here with the new one.
TEST(MethodCatalogueTest, DocsTableIsTheCatalogue) {
  const char* root = std::getenv("ME_SOURCE_DIR");
  ASSERT_NE(root, nullptr) << "ME_SOURCE_DIR is set by ctest";
  std::ifstream in(std::string(root) + "/docs/methods.md");
  ASSERT_TRUE(in) << "docs/methods.md";
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  const std::string begin = "<!-- methods table: generated from src/attribution/methods.cc -->\n";
  const std::string end = "<!-- end of the generated methods table -->";
  const size_t b = doc.find(begin), e = doc.find(end);
  ASSERT_NE(b, std::string::npos);
  ASSERT_NE(e, std::string::npos);
  EXPECT_EQ(doc.substr(b + begin.size(), e - b - begin.size()), MethodTableMarkdown())
      << "replace the table in docs/methods.md with the one above";
}

}  // namespace
}  // namespace mamba_explain
