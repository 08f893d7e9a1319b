// Hidden-attention baselines: the unit-averaged α (blocked, any memory budget) equals the mean of
// the full [n, n, U] tensor and, with D on the diagonal, reproduces the scan output; every
// normalisation variant matches its definition; rollout and Mamba-Attribution equal a naive
// full-matrix product (per-row gradients from plain autograd on the whole sequence); rollout and
// attribution rows are distributions; selected rows equal full rows; unknown choices fail.
#include "attribution/mamba_attention.h"

#include <gtest/gtest.h>

#include "attribution/hidden_attention.h"
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

torch::Tensor Ids(const std::string& name) {
  auto ref = me_testing::LoadHfReference(name);
  EXPECT_TRUE(ref.ok()) << ref.status();
  return ref->input_ids;  // [2, 21]
}

// Full α [n, n, U] of every layer of sequence 0, from a traced forward.
std::vector<torch::Tensor> FullAlpha(const MambaModel& model, const torch::Tensor& ids,
                                     Trace* trace_out = nullptr) {
  ForwardOptions fwd;
  fwd.trace = ForwardOptions::TraceLayers::kAll;
  auto out = model.Forward(ids, torch::Tensor(), fwd);
  EXPECT_TRUE(out.ok()) << out.status();
  std::vector<torch::Tensor> alpha;
  const int64_t n = ids.size(1);
  for (int l = 0; l < model.config().n_layers; ++l) {
    SsmParams p =
        SsmParamsFromTrace(*out->trace.Find(l), model.weights().layers[l], model.config(), 0, n);
    alpha.push_back(HiddenAttention(p, 0, n, 0, p.units(), /*with_skip=*/false));
  }
  if (trace_out != nullptr) *trace_out = out->trace;
  return alpha;
}

torch::Tensor NaiveMinMax(const torch::Tensor& alpha) {  // mean_u minmax(α_u), causal
  const int64_t n = alpha.size(0);
  torch::Tensor causal = torch::ones({n, n}).tril().to(torch::kBool).unsqueeze(-1).expand_as(alpha);
  torch::Tensor vals = alpha.masked_select(causal);
  torch::Tensor lo = vals.min(), hi = vals.max();
  return ((alpha - lo) / (hi - lo)).mean(-1).tril();
}

// rownorm(m + I), row by row; a row whose sum is ≤ 0 becomes the identity row (the guard).
torch::Tensor NaiveFactor(const torch::Tensor& m) {
  torch::Tensor a = m + torch::eye(m.size(0));
  for (int64_t i = 0; i < a.size(0); ++i) {
    const float sum = a[i].sum().item<float>();
    if (sum > 0) {
      a[i] /= sum;
    } else {
      a[i].zero_();
      a[i][i] = 1;
    }
  }
  return a;
}

class MambaAttentionTest : public ::testing::TestWithParam<std::string> {};

TEST_P(MambaAttentionTest, AlphaWithSkipReproducesTheScan) {
  auto model = Load(GetParam());
  ASSERT_NE(model, nullptr);
  torch::Tensor ids = Ids(GetParam()).narrow(0, 0, 1);
  Trace trace;
  std::vector<torch::Tensor> alpha = FullAlpha(*model, ids, &trace);
  const ModelConfig& cfg = model->config();
  const int64_t P = cfg.arch == Architecture::kMamba1 ? 1 : cfg.head_dim;
  for (int l = 0; l < cfg.n_layers; ++l) {
    const LayerTrace& tr = *trace.Find(l);
    const int64_t n = ids.size(1), U = alpha[l].size(2);
    torch::Tensor d = model->weights().layers[l].D.to(torch::kFloat32);
    torch::Tensor m = alpha[l] + torch::eye(n).unsqueeze(-1) * d;  // [n, n, U]
    torch::Tensor x = tr.x[0].view({n, U, P});
    torch::Tensor y = torch::einsum("tsu,sup->tup", {m, x}).reshape({n, U * P});
    EXPECT_TRUE(AllClose(y, tr.y[0], 1e-4, 1e-3)) << "layer " << l;
  }
}

TEST_P(MambaAttentionTest, NormalisationVariantsAndBudgets) {
  auto model = Load(GetParam());
  ASSERT_NE(model, nullptr);
  torch::Tensor ids = Ids(GetParam()).narrow(0, 0, 1);
  std::vector<torch::Tensor> alpha = FullAlpha(*model, ids);
  for (int64_t budget : {int64_t{256} << 20, int64_t{1}}) {
    for (AttentionNorm norm :
         {AttentionNorm::kRaw, AttentionNorm::kMinMax, AttentionNorm::kAbsMinMax}) {
      MambaAttentionOptions o;
      o.attention_norm = norm;
      o.memory_budget_bytes = budget;
      ASSERT_OK_AND_ASSIGN(auto results, ExplainHiddenAttention(*model, ids, torch::Tensor(), o));
      ASSERT_EQ(results.size(), alpha.size());
      for (size_t l = 0; l < alpha.size(); ++l) {
        EXPECT_EQ(results[l].layer, static_cast<int>(l));
        torch::Tensor want = norm == AttentionNorm::kRaw      ? alpha[l].mean(-1)
                             : norm == AttentionNorm::kMinMax ? NaiveMinMax(alpha[l])
                                                              : NaiveMinMax(alpha[l].abs());
        EXPECT_TRUE(AllClose(Matrix(results[l]), want, 1e-6, 1e-4))
            << "layer " << l << " norm " << static_cast<int>(norm) << " budget " << budget;
      }
    }
  }
}

TEST_P(MambaAttentionTest, RolloutAndAttributionEqualNaiveProducts) {
  auto model = Load(GetParam());
  ASSERT_NE(model, nullptr);
  torch::Tensor ids = Ids(GetParam()).narrow(0, 0, 1);
  const int64_t n = ids.size(1);
  const int L = static_cast<int>(model->config().n_layers);
  std::vector<torch::Tensor> alpha = FullAlpha(*model, ids);
  for (int start : {0, L - 1}) {
    MambaAttentionOptions o;
    o.methods = {HiddenAttentionMethod::kRollout, HiddenAttentionMethod::kMambaAttribution};
    o.start_layer = start;
    o.max_batch_tokens = 50;
    ASSERT_OK_AND_ASSIGN(auto results, ExplainHiddenAttention(*model, ids, torch::Tensor(), o));
    ASSERT_EQ(results.size(), 2u);
    EXPECT_EQ(results[0].method, Method::kRollout);
    EXPECT_EQ(results[1].method, Method::kMambaAttribution);
    // Rollout: P = M̂_{L−1} ··· M̂_start, clamped and renormalised.
    int64_t guarded = 0;
    for (int l = start; l < L; ++l) {
      guarded += ((alpha[l].mean(-1) + torch::eye(n)).sum(-1) <= 0).sum().item<int64_t>();
    }
    std::cout << GetParam() << " start " << start << ": " << guarded
              << " rows with a non-positive sum (identity fallback)\n";
    torch::Tensor p = torch::eye(n);
    for (int l = L - 1; l >= start; --l) p = torch::matmul(p, NaiveFactor(alpha[l].mean(-1)));
    p = p.clamp_min(0);
    p = p / p.sum(-1, true);
    torch::Tensor rollout = Matrix(results[0]);
    EXPECT_TRUE(AllClose(rollout, p, 1e-5, 1e-4)) << "start " << start;
    // Attribution, row by row, with gradients of the whole sequence.
    torch::Tensor e = model->Embed(ids).detach().requires_grad_(true);
    ForwardOptions fwd;
    fwd.keep_hidden_states = true;
    ASSERT_OK_AND_ASSIGN(ForwardOutput out, model->ForwardFromEmbeddings(e, torch::Tensor(), fwd));
    torch::Tensor attribution = Matrix(results[1]);
    for (int64_t t = 0; t < n; ++t) {
      const int64_t w = out.logits[0][t].argmax().item<int64_t>();
      EXPECT_EQ(results[1].targets[t], w);
      std::vector<torch::Tensor> streams;
      for (int l = start; l < L; ++l) streams.push_back(l == 0 ? e : out.hidden_states[l - 1]);
      auto grads = torch::autograd::grad({out.logits[0][t][w]}, streams, {}, /*retain_graph=*/true);
      torch::Tensor v = torch::zeros({t + 1});
      v[t] = 1;
      for (int l = L - 1; l >= start; --l) {
        torch::Tensor s = grads[l - start][0].narrow(0, 0, t + 1).clamp_min(0).amax(-1);
        s = s.max().item<float>() > s.min().item<float>() ? (s - s.min()) / (s.max() - s.min())
                                                          : torch::ones_like(s);
        torch::Tensor a =
            NaiveMinMax(alpha[l].clamp_min(0)).narrow(0, 0, t + 1).narrow(1, 0, t + 1);
        v = torch::matmul(v, NaiveFactor(a * s.unsqueeze(0)));
      }
      EXPECT_TRUE(AllClose(attribution[t].narrow(0, 0, t + 1), v, 1e-5, 1e-4)) << "row " << t;
    }
    for (const torch::Tensor& m : {rollout, attribution}) {
      EXPECT_GE(m.min().item<float>(), 0.0f);
      EXPECT_TRUE(AllClose(m.sum(-1), torch::ones({n}), 1e-5, 0));
      EXPECT_TRUE(torch::equal(m.triu(1), torch::zeros_like(m)));
    }
  }
}

TEST_P(MambaAttentionTest, SelectedRowsEqualFullRows) {
  auto model = Load(GetParam());
  ASSERT_NE(model, nullptr);
  torch::Tensor ids = Ids(GetParam());
  torch::Tensor lengths = torch::tensor({21, 13}, torch::kLong);
  MambaAttentionOptions o;
  o.methods = {HiddenAttentionMethod::kMambaAttention, HiddenAttentionMethod::kRollout,
               HiddenAttentionMethod::kMambaAttribution};
  o.start_layer = 1;
  ASSERT_OK_AND_ASSIGN(auto full, ExplainHiddenAttention(*model, ids, lengths, o));
  o.rows.kind = RowSelection::Kind::kLast;
  ASSERT_OK_AND_ASSIGN(auto last, ExplainHiddenAttention(*model, ids, lengths, o));
  ASSERT_EQ(full.size(), last.size());
  for (size_t i = 0; i < full.size(); ++i) {
    const int64_t n = full[i].columns;
    EXPECT_EQ(last[i].rows, std::vector<int64_t>{n - 1});
    EXPECT_TRUE(AllClose(Matrix(last[i]), Matrix(full[i]).narrow(0, n - 1, 1), 1e-5, 1e-4))
        << MethodName(full[i].method) << " layer " << full[i].layer << " seq " << full[i].sequence;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, MambaAttentionTest,
                         ::testing::Values("mamba1_bias_tied", "mamba2_g1", "mamba2_g2_bias"));

// Layers and the start layer are checked once, at the Engine's entry (engine_batch_test,
// explain_request_test); the family only parses its choices.
TEST(MambaAttentionOptionsTest, UnknownChoices) {
  EXPECT_STATUS(ParseAttentionNorm("softmax").status(), absl::StatusCode::kInvalidArgument,
                "unknown attention norm 'softmax'");
  EXPECT_STATUS(ParseMethod("attn").status(), absl::StatusCode::kInvalidArgument,
                "unknown method 'attn'");
}

}  // namespace
}  // namespace mamba_explain
