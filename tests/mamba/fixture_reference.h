// Loads tests/fixtures/<name>/reference.safetensors (written by tools/make_hf_fixtures.py with HF
// transformers): input ids, logits and the residual stream after every block.
#ifndef MAMBA_EXPLAIN_TESTS_MAMBA_FIXTURE_REFERENCE_H_
#define MAMBA_EXPLAIN_TESTS_MAMBA_FIXTURE_REFERENCE_H_

#include <torch/torch.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "model/safetensors.h"
#include "mamba/weights.h"
#include "tests/tensor_testing.h"

namespace me_testing {

struct HfReference {
  torch::Tensor input_ids;            // [B, L] int64
  torch::Tensor logits;               // [B, L, V]
  std::vector<torch::Tensor> hidden;  // per layer [B, L, D]
};

inline absl::StatusOr<HfReference> LoadHfReference(const std::string& fixture) {
  using mamba_explain::SafetensorsFile;
  ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file,
                   SafetensorsFile::Open(FixtureDir(fixture) + "/reference.safetensors"));
  auto get = [&](const std::string& name) -> absl::StatusOr<torch::Tensor> {
    const mamba_explain::TensorView* view = file->Find(name);
    if (view == nullptr) return absl::NotFoundError(absl::StrCat("reference lacks ", name));
    return mamba_explain::TensorFromView(*view);
  };
  HfReference ref;
  ASSIGN_OR_RETURN(ref.input_ids, get("input_ids"));
  ASSIGN_OR_RETURN(ref.logits, get("logits"));
  for (int i = 0; file->Find(absl::StrCat("hidden.", i)) != nullptr; ++i) {
    ASSIGN_OR_RETURN(torch::Tensor h, get(absl::StrCat("hidden.", i)));
    ref.hidden.push_back(h);
  }
  return ref;
}

inline const std::vector<std::string>& Fp32Fixtures() {
  static const std::vector<std::string> kNames = {"mamba1_bias_tied", "mamba1_nobias_untied",
                                                  "mamba2_g1",        "mamba2_g2_bias",
                                                  "mamba1_sharded",   "mamba2_bf16"};
  return kNames;
}

}  // namespace me_testing

#endif  // MAMBA_EXPLAIN_TESTS_MAMBA_FIXTURE_REFERENCE_H_
