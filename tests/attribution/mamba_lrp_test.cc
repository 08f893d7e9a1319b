// MambaLRP: the relevance forward reproduces the model's logits under every rule set; with every
// rule off its Gradient×Input equals plain GI (same gradient graph); with the conv and projection
// biases zeroed Σ_s R_s equals the explained logit to 1e-4 relative (Mamba-1, and Mamba-2 with
// n_groups 1 and 2) while GI misses it by far; switching off any single rule changes the
// relevances; selected rows equal full rows; rule lists parse.
#include "attribution/mamba_lrp.h"

#include <gtest/gtest.h>

#include "attribution/gradient_methods.h"
#include "tests/mamba/fixture_reference.h"
#include "tests/status_matchers.h"
#include "tests/tensor_testing.h"

namespace mamba_explain {
namespace {

using me_testing::AllClose;
using me_testing::FixtureDir;

torch::Tensor Matrix(const AttributionResult& r) {
  return torch::tensor(r.matrix, torch::kFloat32)
      .view({static_cast<int64_t>(r.rows.size()), r.columns});
}

std::unique_ptr<MambaModel> Load(const std::string& name) {
  auto model = MambaModel::Load(FixtureDir(name), LoadOptions());
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? std::move(model).value() : nullptr;
}

// The same model with every bias that is not attributable zeroed (conv, in/out_proj; Δ's bias
// is harmless under the SSM rule and stays). The LM head has no bias.
std::unique_ptr<MambaModel> WithoutBiases(const MambaModel& model) {
  ModelWeights w = model.weights();
  for (LayerWeights& l : w.layers) {
    if (l.conv_b.defined()) l.conv_b = torch::zeros_like(l.conv_b);
    if (l.in_proj_b.defined()) l.in_proj_b = torch::zeros_like(l.in_proj_b);
    if (l.out_proj_b.defined()) l.out_proj_b = torch::zeros_like(l.out_proj_b);
  }
  return MambaModel::FromWeights(model.config(), std::move(w));
}

torch::Tensor Ids(const std::string& name) {
  auto ref = me_testing::LoadHfReference(name);
  EXPECT_TRUE(ref.ok()) << ref.status();
  return ref->input_ids;  // [2, 21]
}

const std::vector<LrpRules> kRuleSets = {LrpRules(),
                                         LrpRules{false, true, true, true},
                                         LrpRules{true, false, true, true},
                                         LrpRules{true, true, false, true},
                                         LrpRules{true, true, true, false},
                                         LrpRules{false, false, false, false}};

class MambaLrpTest : public ::testing::TestWithParam<std::string> {};

TEST_P(MambaLrpTest, RelevanceForwardValuesEqualTheModel) {
  auto model = Load(GetParam());
  ASSERT_NE(model, nullptr);
  torch::Tensor ids = Ids(GetParam());
  torch::Tensor lengths = torch::tensor({21, 13}, torch::kLong);
  ForwardOptions fwd;
  fwd.last_position_logits_only = true;
  ASSERT_OK_AND_ASSIGN(ForwardOutput want, model->Forward(ids, lengths, fwd));
  torch::NoGradGuard no_grad;
  for (const LrpRules& rules : kRuleSets) {
    ASSERT_OK_AND_ASSIGN(torch::Tensor got,
                         RelevanceForward(*model, model->Embed(ids), lengths, rules));
    EXPECT_TRUE(AllClose(got, want.logits, 1e-5, 1e-4));
  }
}

TEST_P(MambaLrpTest, NoRulesEqualsGradientXInput) {
  auto model = Load(GetParam());
  ASSERT_NE(model, nullptr);
  torch::Tensor ids = Ids(GetParam());
  MambaLrpOptions o;
  o.rules = LrpRules{false, false, false, false};
  ASSERT_OK_AND_ASSIGN(auto lrp, ExplainMambaLrp(*model, ids, torch::Tensor(), o));
  ASSERT_OK_AND_ASSIGN(auto gi,
                       ExplainGradients(*model, ids, torch::Tensor(), GradientMethodOptions()));
  ASSERT_EQ(lrp.size(), 2u);
  for (size_t b = 0; b < 2; ++b) {
    EXPECT_EQ(lrp[b].method, Method::kMambaLrp);
    EXPECT_EQ(lrp[b].targets, gi[b].targets);
    EXPECT_TRUE(AllClose(Matrix(lrp[b]), Matrix(gi[b]), 1e-5, 1e-4));
  }
}

TEST_P(MambaLrpTest, ConservationWithoutBiases) {
  auto loaded = Load(GetParam());
  ASSERT_NE(loaded, nullptr);
  auto model = WithoutBiases(*loaded);
  torch::Tensor ids = Ids(GetParam());
  torch::Tensor lengths = torch::tensor({21, 13}, torch::kLong);
  MambaLrpOptions o;
  ASSERT_OK_AND_ASSIGN(auto lrp, ExplainMambaLrp(*model, ids, lengths, o));
  GradientMethodOptions g;
  ASSERT_OK_AND_ASSIGN(auto gi, ExplainGradients(*model, ids, lengths, g));
  for (size_t b = 0; b < 2; ++b) {
    torch::Tensor f = torch::tensor(lrp[b].explained_logits, torch::kFloat64);
    torch::Tensor sum_lrp = Matrix(lrp[b]).to(torch::kFloat64).sum(1);
    torch::Tensor sum_gi = Matrix(gi[b]).to(torch::kFloat64).sum(1);
    const double lrp_gap = ((sum_lrp - f).abs() / f.abs()).max().item<double>();
    const double gi_gap = ((sum_gi - f).abs() / f.abs()).max().item<double>();
    EXPECT_LE(lrp_gap, 1e-4) << "sequence " << b;
    EXPECT_NEAR(lrp[b].approx_error, lrp_gap, 1e-6);
    EXPECT_GT(gi_gap, 1e-2) << "GI should not conserve (sequence " << b << ")";
    std::cout << GetParam() << " seq " << b << ": max |ΣR − f|/|f| MambaLRP " << lrp_gap
              << ", Gradient×Input " << gi_gap << "\n";
  }
}

TEST_P(MambaLrpTest, EachRuleChangesTheRelevances) {
  auto model = Load(GetParam());
  ASSERT_NE(model, nullptr);
  torch::Tensor ids = Ids(GetParam()).narrow(0, 0, 1);
  MambaLrpOptions o;
  ASSERT_OK_AND_ASSIGN(auto all, ExplainMambaLrp(*model, ids, torch::Tensor(), o));
  const torch::Tensor ref = Matrix(all[0]);
  for (const char* off : {"no-silu", "no-ssm", "no-gate", "no-norm"}) {
    ASSERT_OK_AND_ASSIGN(o.rules, ParseLrpRules(off));
    ASSERT_OK_AND_ASSIGN(auto r, ExplainMambaLrp(*model, ids, torch::Tensor(), o));
    const double rel = me_testing::RelativeError(Matrix(r[0]), ref);
    EXPECT_GT(rel, 1e-3) << off;
    std::cout << GetParam() << " " << off << ": relative change " << rel << "\n";
  }
}

TEST_P(MambaLrpTest, SelectedRowsEqualFullRows) {
  auto model = Load(GetParam());
  ASSERT_NE(model, nullptr);
  torch::Tensor ids = Ids(GetParam());
  MambaLrpOptions o;
  ASSERT_OK_AND_ASSIGN(auto full, ExplainMambaLrp(*model, ids, torch::Tensor(), o));
  o.rows.kind = RowSelection::Kind::kLast;
  o.max_batch_tokens = 1;
  ASSERT_OK_AND_ASSIGN(auto last, ExplainMambaLrp(*model, ids, torch::Tensor(), o));
  for (size_t b = 0; b < 2; ++b) {
    EXPECT_EQ(last[b].rows, std::vector<int64_t>{20});
    EXPECT_TRUE(AllClose(Matrix(last[b]), Matrix(full[b]).narrow(0, 20, 1), 1e-5, 1e-4));
  }
}

// Activation checkpointing (what ExplainMambaLrp switches to at long N) changes neither the
// logits nor the relevances: Gradient×Input of each sequence's explained logit, every rule set,
// a right-padded batch, against the plain relevance forward's graph.
TEST_P(MambaLrpTest, CheckpointedEqualsPlain) {
  auto model = Load(GetParam());
  ASSERT_NE(model, nullptr);
  torch::Tensor ids = Ids(GetParam());
  torch::Tensor lengths = torch::tensor({21, 13}, torch::kLong);
  for (const LrpRules& rules : kRuleSets) {
    torch::Tensor relevance[2], logits[2];
    for (int checkpointed = 0; checkpointed < 2; ++checkpointed) {
      torch::Tensor x = model->Embed(ids).detach().requires_grad_(true);
      ASSERT_OK_AND_ASSIGN(torch::Tensor out,
                           checkpointed ? CheckpointedRelevanceForward(*model, x, lengths, rules)
                                        : RelevanceForward(*model, x, lengths, rules));
      torch::Tensor target = out.detach().argmax(1, /*keepdim=*/true);
      out.gather(1, target).sum().backward();
      relevance[checkpointed] = (x.grad() * x).sum(-1).detach();
      logits[checkpointed] = out.detach();
    }
    EXPECT_TRUE(AllClose(logits[1], logits[0], 1e-5, 1e-4)) << LrpRulesName(rules);
    EXPECT_TRUE(AllClose(relevance[1], relevance[0], 1e-5, 1e-4)) << LrpRulesName(rules);
    EXPECT_GT(relevance[0].abs().max().item<double>(), 0.0);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, MambaLrpTest,
                         ::testing::Values("mamba1_bias_tied", "mamba1_nobias_untied", "mamba2_g1",
                                           "mamba2_g2_bias"));

TEST(MambaLrpRulesTest, Parse) {
  ASSERT_OK_AND_ASSIGN(LrpRules r, ParseLrpRules("all"));
  EXPECT_TRUE(r.silu_identity && r.ssm_constant && r.gate_half && r.norm_constant);
  ASSERT_OK_AND_ASSIGN(r, ParseLrpRules("no-ssm,no-gate"));
  EXPECT_TRUE(r.silu_identity && !r.ssm_constant && !r.gate_half && r.norm_constant);
  ASSERT_OK_AND_ASSIGN(r, ParseLrpRules("none"));
  EXPECT_FALSE(r.silu_identity || r.ssm_constant || r.gate_half || r.norm_constant);
  EXPECT_STATUS(ParseLrpRules("no-conv").status(), absl::StatusCode::kInvalidArgument,
                "unknown lrp rule 'no-conv'");
}

}  // namespace
}  // namespace mamba_explain
