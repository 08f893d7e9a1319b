// Weight loading against the config: every missing tensor, wrong shape, tie mismatch and layer
// count mismatch is an INVALID_ARGUMENT naming the tensor; dtypes and bias detection are right.
#include "mamba/weights.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "mamba/mamba_model.h"
#include "model/checkpoint.h"
#include "model/safetensors.h"
#include "tests/status_matchers.h"
#include "tests/tensor_testing.h"

namespace mamba_explain {
namespace {

namespace fs = std::filesystem;

// Copies a fixture's config and tensors into a temp dir after `edit` changed the tensor map.
std::string EditedCopy(const std::string& fixture, const std::string& tag,
                       const std::function<void(std::map<std::string, torch::Tensor>&)>& edit) {
  const std::string src = me_testing::FixtureDir(fixture);
  const std::string dst = ::testing::TempDir() + "/weights_" + tag;
  fs::remove_all(dst);
  fs::create_directories(dst);
  fs::copy_file(src + "/config.json", dst + "/config.json");
  auto checkpoint = Checkpoint::Open(src);
  EXPECT_TRUE(checkpoint.ok()) << checkpoint.status();
  std::map<std::string, torch::Tensor> tensors;
  for (const std::string& name : (*checkpoint)->TensorNames()) {
    tensors[name] = *TensorFromView(*(*checkpoint)->Find(name));
  }
  edit(tensors);
  std::vector<TensorToWrite> out;
  for (auto& [name, t] : tensors) {
    t = t.contiguous();
    DType dtype = t.scalar_type() == torch::kBFloat16  ? DType::kBF16
                  : t.scalar_type() == torch::kFloat16 ? DType::kF16
                                                       : DType::kF32;
    out.push_back({name, dtype, t.sizes().vec(), t.data_ptr(), t.nbytes()});
  }
  EXPECT_TRUE(WriteSafetensors(dst + "/model.safetensors", out).ok());
  return dst;
}

TEST(WeightsTest, LoadsFixtureWithDetectedBiasesAndDtypes) {
  ASSERT_OK_AND_ASSIGN(auto model,
                       MambaModel::Load(me_testing::FixtureDir("mamba1_bias_tied"), LoadOptions()));
  EXPECT_TRUE(model->config().use_bias);
  EXPECT_TRUE(model->weights().lm_head_tied);
  EXPECT_EQ(model->weights().layers.size(), 3u);
  EXPECT_EQ(model->weights().layers[0].conv_w.sizes(), torch::IntArrayRef({64, 4}));
  ASSERT_OK_AND_ASSIGN(
      auto untied, MambaModel::Load(me_testing::FixtureDir("mamba1_nobias_untied"), LoadOptions()));
  EXPECT_FALSE(untied->config().use_bias);
  EXPECT_FALSE(untied->config().use_conv_bias);
  EXPECT_FALSE(untied->weights().lm_head_tied);
  LoadOptions bf16;
  bf16.precision = Precision::kBf16;
  ASSERT_OK_AND_ASSIGN(auto m2, MambaModel::Load(me_testing::FixtureDir("mamba2_bf16"), bf16));
  EXPECT_EQ(m2->weights().layers[0].in_proj_w.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(m2->weights().layers[0].A_log.scalar_type(), torch::kFloat32);
  EXPECT_EQ(m2->weights().layers[0].D.scalar_type(), torch::kFloat32);
  EXPECT_EQ(m2->weights().norm_f.scalar_type(), torch::kFloat32);
}

TEST(WeightsTest, MissingTensorIsNamed) {
  const std::string dir = EditedCopy("mamba1_bias_tied", "missing", [](auto& t) {
    t.erase("backbone.layers.1.mixer.x_proj.weight");
  });
  EXPECT_STATUS(MambaModel::Load(dir, LoadOptions()), absl::StatusCode::kInvalidArgument,
                "backbone.layers.1.mixer.x_proj.weight");
}

TEST(WeightsTest, WrongShapeIsNamedWithBothShapes) {
  const std::string dir = EditedCopy("mamba2_g1", "shape", [](auto& t) {
    t["backbone.layers.2.mixer.A_log"] = torch::zeros({7});
  });
  EXPECT_STATUS(MambaModel::Load(dir, LoadOptions()), absl::StatusCode::kInvalidArgument,
                "'backbone.layers.2.mixer.A_log' has shape [7], expected [8]");
}

TEST(WeightsTest, UntiedConfigWithoutLmHeadFails) {
  const std::string dir =
      EditedCopy("mamba1_nobias_untied", "nohead", [](auto& t) { t.erase("lm_head.weight"); });
  EXPECT_STATUS(MambaModel::Load(dir, LoadOptions()), absl::StatusCode::kInvalidArgument,
                "lm_head.weight");
}

TEST(WeightsTest, InconsistentBiasesAcrossLayersFail) {
  const std::string dir = EditedCopy(
      "mamba1_bias_tied", "bias", [](auto& t) { t.erase("backbone.layers.2.mixer.conv1d.bias"); });
  EXPECT_STATUS(MambaModel::Load(dir, LoadOptions()), absl::StatusCode::kInvalidArgument,
                "layer 2");
}

TEST(WeightsTest, ExtraLayerBeyondConfigFails) {
  const std::string dir = EditedCopy("mamba1_bias_tied", "extra", [](auto& t) {
    t["backbone.layers.3.norm.weight"] = torch::ones({32});
  });
  EXPECT_STATUS(MambaModel::Load(dir, LoadOptions()), absl::StatusCode::kInvalidArgument,
                "backbone.layers.3.norm.weight");
}

TEST(WeightsTest, F16WeightsAreConverted) {
  const std::string dir = EditedCopy("mamba1_bias_tied", "int", [](auto& t) {
    t["backbone.norm_f.weight"] = torch::ones({32}, torch::kFloat16);
  });
  // F16 is accepted and converted.
  EXPECT_OK(MambaModel::Load(dir, LoadOptions()));
}

}  // namespace
}  // namespace mamba_explain
