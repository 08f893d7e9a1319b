// Activation checkpointing per block (mamba/checkpointed_forward.h): the logits and their
// gradients with respect to the embeddings equal those of the plain differentiable forward, for
// Mamba-1 (autograd scan recomputed in the backward) and Mamba-2, right-padded batches included.
#include "mamba/checkpointed_forward.h"

#include <gtest/gtest.h>

#include "mamba/mamba_model.h"
#include "tests/status_matchers.h"
#include "tests/tensor_testing.h"

namespace mamba_explain {
namespace {

using me_testing::AllClose;

class CheckpointedForwardTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CheckpointedForwardTest, SameLogitsAndGradientsAsThePlainForward) {
  ASSERT_OK_AND_ASSIGN(auto model,
                       MambaModel::Load(me_testing::FixtureDir(GetParam()), LoadOptions()));
  torch::manual_seed(8);
  torch::Tensor ids = torch::randint(0, model->config().vocab_size, {2, 37}, torch::kInt64);
  torch::Tensor lengths = torch::tensor({37, 12}, torch::kInt64);
  torch::Tensor tokens = torch::tensor({{5}, {17}}, torch::kInt64);
  for (bool last_only : {true, false}) {
    torch::AutoGradMode grad_mode(true);
    torch::Tensor x1 = model->Embed(ids).detach().requires_grad_(true);
    ForwardOptions fwd;
    fwd.last_position_logits_only = last_only;
    ASSERT_OK_AND_ASSIGN(ForwardOutput plain, model->ForwardFromEmbeddings(x1, lengths, fwd));
    torch::Tensor x2 = x1.detach().clone().requires_grad_(true);
    ASSERT_OK_AND_ASSIGN(torch::Tensor logits, CheckpointedLogits(*model, x2, lengths, last_only));
    EXPECT_TRUE(AllClose(logits, plain.logits, 1e-5, 1e-5));
    // A target per sequence: its last position's logit (last_only), or a sum over positions.
    auto target = [&](const torch::Tensor& l) {
      return last_only ? l.gather(1, tokens).sum() : l.select(2, 5).sum();
    };
    torch::Tensor g1 = torch::autograd::grad({target(plain.logits)}, {x1})[0];
    torch::Tensor g2 = torch::autograd::grad({target(logits)}, {x2})[0];
    EXPECT_GT(g1.abs().max().item<double>(), 0.0);
    EXPECT_TRUE(AllClose(g2, g1, 1e-6, 1e-4)) << "last_only=" << last_only;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CheckpointedForwardTest,
                         ::testing::Values("mamba1_bias_tied", "mamba2_g2_bias"));

}  // namespace
}  // namespace mamba_explain
