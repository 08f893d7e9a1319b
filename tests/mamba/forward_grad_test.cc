// Gradients through our forward pass (autograd; Mamba-1's scan via the adjoint-scan backward,
// Mamba-2's chunked SSD via LibTorch ops) equal central finite differences of the same forward,
// for parameters before and after the scan and for the input embeddings.
#include <gtest/gtest.h>

#include "mamba/mamba_model.h"
#include "tests/status_matchers.h"
#include "tests/tensor_testing.h"

namespace mamba_explain {
namespace {

class ForwardGradTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ForwardGradTest, AutogradMatchesFiniteDifferences) {
  ASSERT_OK_AND_ASSIGN(auto model,
                       MambaModel::Load(me_testing::FixtureDir(GetParam()), LoadOptions()));
  torch::manual_seed(0);
  torch::Tensor ids = torch::randint(0, 96, {2, 9}, torch::kInt64);
  torch::Tensor probe = torch::randn({2, 9, 96});
  ModelWeights& w = const_cast<ModelWeights&>(model->weights());
  // Parameters on both sides of the scan, and the scan's own A_log and D.
  std::vector<torch::Tensor*> params = {&w.layers[0].in_proj_w, &w.layers[1].A_log,
                                        &w.layers[1].D, &w.layers[2].out_proj_w,
                                        &w.layers[0].conv_w};
  for (torch::Tensor* p : params) p->set_requires_grad(true);
  auto objective = [&]() -> torch::Tensor {
    auto out = model->ForwardFromEmbeddings(model->Embed(ids), torch::Tensor(), ForwardOptions());
    EXPECT_TRUE(out.ok()) << out.status();
    return (out->logits * probe).sum();
  };
  torch::Tensor value = objective();
  std::vector<torch::Tensor> inputs;
  for (torch::Tensor* p : params) inputs.push_back(*p);
  std::vector<torch::Tensor> grads = torch::autograd::grad({value}, inputs);
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i) {
    torch::Tensor flat = params[i]->view({-1});
    for (int64_t k : {int64_t{0}, flat.numel() / 2, flat.numel() - 1}) {
      const float saved = flat[k].item<float>();
      const float h = 1e-2f * std::max(1.0f, std::abs(saved));
      flat[k] = saved + h;
      const double up = objective().item<double>();
      flat[k] = saved - h;
      const double down = objective().item<double>();
      flat[k] = saved;
      const double fd = (up - down) / (2 * h);
      const double ad = grads[i].view({-1})[k].item<double>();
      EXPECT_NEAR(ad, fd, 2e-2 * std::max(1.0, std::abs(fd))) << "param " << i << " entry " << k;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ForwardGradTest,
                         ::testing::Values("mamba1_bias_tied", "mamba2_g2_bias"));

}  // namespace
}  // namespace mamba_explain
