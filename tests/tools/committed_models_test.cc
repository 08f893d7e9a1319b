// The committed copy models (models/) copy: ≥ 99 % teacher-forced token accuracy on fresh
// held-out samples, on the CPU, in fp32 — they are what the demo and the attribution tests use.
#include <gtest/gtest.h>

#include "tests/status_matchers.h"
#include "tests/tensor_testing.h"
#include "tools/train/copy_trainer.h"

namespace mamba_explain {
namespace {

class CommittedModelTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CommittedModelTest, CopiesAtLeast99PercentOfTokens) {
  const std::string dir = me_testing::SourceDir() + "/models/" + GetParam();
  ASSERT_OK_AND_ASSIGN(CopyEvalResult r, EvaluateCopyModel(dir, 16, 256, 777, "cpu"));
  EXPECT_GE(r.token_accuracy, 0.99) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Models, CommittedModelTest,
                         ::testing::Values("copy-mamba1-silu", "copy-mamba1-identity",
                                           "copy-mamba2-silu", "copy-mamba2-identity"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& ch : name) if (ch == '-') ch = '_';
                           return name;
                         });

}  // namespace
}  // namespace mamba_explain
