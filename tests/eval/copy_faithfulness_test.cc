// The copy-task faithfulness evaluation on the committed small models (models/README.md), CPU.
// Stated facts, not recomputations: the models copy; LaTIM(ℓ2) finds the copy diagonal at the
// copying layer, better than Mamba-Attention on Mamba-2 (LaTIM §4.1, Table 2); LaTIM with f =
// identity is exact on identity-trained models and SiLU is not (LaTIM §3.3 / §4.4); the accuracy
// equals the trainer's independent batched evaluation on the same samples.
#include "eval/copy_faithfulness.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "tests/status_matchers.h"
#include "tests/tensor_testing.h"
#include "tools/train/copy_trainer.h"

namespace mamba_explain {
namespace {

std::unique_ptr<Engine> LoadModel(const std::string& name) {
  auto engine = Engine::Load(me_testing::SourceDir() + "/models/" + name, EngineOptions{});
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? std::move(engine).value() : nullptr;
}

const MethodFaithfulness& Find(const CopyFaithfulnessReport& r, const std::string& method) {
  auto it = std::find_if(r.methods.begin(), r.methods.end(),
                         [&](const MethodFaithfulness& m) { return m.method == method; });
  EXPECT_NE(it, r.methods.end()) << method;
  return *it;
}

const LayerFaithfulness& AtLayer(const MethodFaithfulness& m, int layer) {
  auto it = std::find_if(m.layers.begin(), m.layers.end(),
                         [&](const LayerFaithfulness& l) { return l.layer == layer; });
  EXPECT_NE(it, m.layers.end()) << m.method << " layer " << layer;
  return *it;
}

// LaTIM(ℓ2) and Mamba-Attention, per layer, on the copy rows of `samples` held-out samples.
CopyFaithfulnessReport LatimAndAttention(const std::string& model, int samples) {
  std::unique_ptr<Engine> engine = LoadModel(model);
  if (engine == nullptr) return {};
  CopyFaithfulnessOptions o;
  o.samples = samples;
  o.methods = {"latim-l2", "mamba-attention"};
  o.error_activations = {};
  absl::StatusOr<CopyFaithfulnessReport> r = EvaluateCopyFaithfulness(*engine, o);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : CopyFaithfulnessReport{};
}

class SiluModelTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SiluModelTest, CopiesAndLatimL2FindsTheDiagonalAtTheCopyingLayer) {
  const CopyFaithfulnessReport r = LatimAndAttention(GetParam(), 24);
  ASSERT_EQ(r.methods.size(), 2u);
  EXPECT_GE(r.token_accuracy, 0.99);
  const MethodFaithfulness& latim = Find(r, "latim-l2");
  const LayerFaithfulness& best = latim.layers[latim.best];
  // Layer 1 is the mimetically initialised layer that learns to copy (models/README.md); layer 0
  // is near chance (AP ≈ the base rate 46/256 = 0.18).
  EXPECT_EQ(best.layer, 1);
  EXPECT_EQ(best.ap.count, 24);
  EXPECT_GT(best.auc.mean, 0.85);
  EXPECT_GT(best.ap.mean, 0.6);
  EXPECT_GT(best.recall_at_k.mean, 0.55);
  EXPECT_LT(AtLayer(latim, 0).ap.mean, 0.25);
}

INSTANTIATE_TEST_SUITE_P(Models, SiluModelTest,
                         ::testing::Values("copy-mamba1-silu", "copy-mamba2-silu"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// LaTIM Table 2 (Mamba-2: AP 0.86 vs 0.49, R@K 0.74 vs 0.39). On the small Mamba-1 model the two
// are on par (Mamba-Attention slightly ahead, docs/faithfulness.md), so only Mamba-2 is asserted.
TEST(CopyFaithfulnessTest, Mamba2LatimL2BeatsMambaAttentionAtTheCopyingLayer) {
  const CopyFaithfulnessReport r = LatimAndAttention("copy-mamba2-silu", 24);
  ASSERT_EQ(r.methods.size(), 2u);
  const MethodFaithfulness& latim = Find(r, "latim-l2");
  const LayerFaithfulness& best = latim.layers[latim.best];
  const LayerFaithfulness& attention = AtLayer(Find(r, "mamba-attention"), best.layer);
  EXPECT_GT(best.ap.mean, attention.ap.mean + 0.05);
  EXPECT_GT(best.recall_at_k.mean, attention.recall_at_k.mean + 0.05);
  EXPECT_GT(best.auc.mean, attention.auc.mean);
}

class IdentityModelTest : public ::testing::TestWithParam<std::string> {};

TEST_P(IdentityModelTest, IdentityDecompositionIsExactAndSiluIsNot) {
  std::unique_ptr<Engine> engine = LoadModel(GetParam());
  ASSERT_NE(engine, nullptr);
  CopyFaithfulnessOptions o;
  o.samples = 8;
  o.methods = {"latim-l2"};
  ASSERT_OK_AND_ASSIGN(CopyFaithfulnessReport r, EvaluateCopyFaithfulness(*engine, o));
  EXPECT_GE(r.token_accuracy, 0.99);
  ASSERT_EQ(r.decomposition_error.at("identity").size(), 2u);
  for (int layer = 0; layer < 2; ++layer) {
    EXPECT_LT(r.decomposition_error.at("identity")[layer], 1e-5) << "layer " << layer;
    EXPECT_GT(r.decomposition_error.at("silu")[layer], 1e-3) << "layer " << layer;
    EXPECT_GT(r.decomposition_error.at("relu")[layer], 1e-3) << "layer " << layer;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, IdentityModelTest,
                         ::testing::Values("copy-mamba1-identity", "copy-mamba2-identity"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(CopyFaithfulnessTest, AccuracyEqualsTheTrainersEvaluation) {
  const std::string dir = me_testing::SourceDir() + "/models/copy-mamba2-silu";
  std::unique_ptr<Engine> engine = LoadModel("copy-mamba2-silu");
  ASSERT_NE(engine, nullptr);
  CopyFaithfulnessOptions o;
  o.samples = 64;
  o.seed = 99;
  o.methods = {"latim-l2"};
  o.error_activations = {};
  ASSERT_OK_AND_ASSIGN(CopyFaithfulnessReport r, EvaluateCopyFaithfulness(*engine, o));
  ASSERT_OK_AND_ASSIGN(CopyEvalResult trainer, EvaluateCopyModel(dir, 16, 64, 99, "cpu"));
  EXPECT_NEAR(r.token_accuracy, trainer.token_accuracy, 1e-12);
  EXPECT_NEAR(r.sequence_accuracy, trainer.sequence_accuracy, 1e-12);
}

TEST(CopyFaithfulnessTest, EveryMethodReportsItsLayersAndGradSamplesCapsTheCostlyOnes) {
  std::unique_ptr<Engine> engine = LoadModel("copy-mamba1-silu");
  ASSERT_NE(engine, nullptr);
  CopyFaithfulnessOptions o;
  o.samples = 3;
  o.grad_samples = 1;
  o.ig_steps = 2;
  o.sg_samples = 2;
  o.error_activations = {};
  ASSERT_OK_AND_ASSIGN(CopyFaithfulnessReport r, EvaluateCopyFaithfulness(*engine, o));
  ASSERT_EQ(r.methods.size(), AllFaithfulnessMethods().size());
  for (const MethodFaithfulness& m : r.methods) {
    const bool per_layer = m.method == "latim-l1" || m.method == "latim-l2" ||
                           m.method == "latim-alti" || m.method == "mamba-attention";
    ASSERT_EQ(m.layers.size(), per_layer ? 2u : 1u) << m.method;
    if (!per_layer) EXPECT_EQ(m.layers[0].layer, -1) << m.method;
    const bool capped = m.method == "integrated-gradients" || m.method == "smoothgrad";
    EXPECT_EQ(m.samples, capped ? 1 : 3) << m.method;
    for (const LayerFaithfulness& l : m.layers) {
      EXPECT_EQ(l.ap.count, m.samples) << m.method;
      EXPECT_GE(l.auc.mean, 0.0);
      EXPECT_LE(l.auc.mean, 1.0);
    }
  }
}

TEST(CopyFaithfulnessTest, RejectsBadOptions) {
  std::unique_ptr<Engine> engine = LoadModel("copy-mamba1-silu");
  ASSERT_NE(engine, nullptr);
  CopyFaithfulnessOptions o;
  o.methods = {"latim-l3"};
  EXPECT_EQ(EvaluateCopyFaithfulness(*engine, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = CopyFaithfulnessOptions{};
  o.samples = 0;
  EXPECT_EQ(EvaluateCopyFaithfulness(*engine, o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mamba_explain
