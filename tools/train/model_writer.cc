#include "tools/train/model_writer.h"

#include <filesystem>
#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "model/safetensors.h"

namespace mamba_explain {

nlohmann::json HfConfigJson(const ModelConfig& c, const nlohmann::json& extra) {
  nlohmann::json j;
  const bool m1 = c.arch == Architecture::kMamba1;
  j["model_type"] = m1 ? "mamba" : "mamba2";
  j["architectures"] = {m1 ? "MambaForCausalLM" : "Mamba2ForCausalLM"};
  j["hidden_size"] = c.d_model;
  j["num_hidden_layers"] = c.n_layers;
  j["vocab_size"] = c.vocab_size;
  j["state_size"] = c.d_state;
  j["conv_kernel"] = c.d_conv;
  j["expand"] = c.expand;
  j["use_bias"] = c.use_bias;
  j["use_conv_bias"] = c.use_conv_bias;
  j["layer_norm_epsilon"] = c.norm_eps;
  j["residual_in_fp32"] = true;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["pad_token_id"] = 0;
  j["bos_token_id"] = 0;
  j["eos_token_id"] = 0;
  if (m1) {
    j["time_step_rank"] = c.dt_rank;
  } else {
    j["num_heads"] = c.n_heads;
    j["head_dim"] = c.head_dim;
    j["n_groups"] = c.n_groups;
    j["chunk_size"] = c.chunk_size;
    j["gated_norm"] = c.gated_norm == GatedNormMode::kFull ? "full" : "per_group";
  }
  j["ssm_activation"] = c.ssm_activation == SsmActivation::kIdentity ? "identity" : "silu";
  for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = it.value();
  return j;
}

absl::Status WriteModelDirectory(const std::string& dir, const ModelConfig& c,
                                 const ModelWeights& w, const nlohmann::json& extra) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  std::vector<torch::Tensor> keep;  // owns the CPU copies while writing
  std::vector<TensorToWrite> tensors;
  auto add = [&](const std::string& name, const torch::Tensor& t) {
    if (!t.defined()) return;
    torch::Tensor cpu = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    keep.push_back(cpu);
    tensors.push_back({name, DType::kF32, cpu.sizes().vec(), cpu.data_ptr(), cpu.nbytes()});
  };
  add("backbone.embeddings.weight", w.embedding);
  add("backbone.norm_f.weight", w.norm_f);
  if (!w.lm_head_tied) add("lm_head.weight", w.lm_head);
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const LayerWeights& lw = w.layers[l];
    const std::string p = absl::StrCat("backbone.layers.", l, ".");
    add(p + "norm.weight", lw.norm);
    add(p + "mixer.in_proj.weight", lw.in_proj_w);
    add(p + "mixer.in_proj.bias", lw.in_proj_b);
    add(p + "mixer.conv1d.weight", lw.conv_w.unsqueeze(1));
    add(p + "mixer.conv1d.bias", lw.conv_b);
    add(p + "mixer.out_proj.weight", lw.out_proj_w);
    add(p + "mixer.out_proj.bias", lw.out_proj_b);
    add(p + "mixer.A_log", lw.A_log);
    add(p + "mixer.D", lw.D);
    if (c.arch == Architecture::kMamba1) {
      add(p + "mixer.x_proj.weight", lw.x_proj_w);
      add(p + "mixer.dt_proj.weight", lw.dt_proj_w);
      add(p + "mixer.dt_proj.bias", lw.dt_bias);
    } else {
      add(p + "mixer.dt_bias", lw.dt_bias);
      add(p + "mixer.norm.weight", lw.gated_norm);
    }
  }
  absl::Status st = WriteSafetensors(dir + "/model.safetensors", tensors, {{"format", "pt"}});
  if (!st.ok()) return st;
  std::ofstream out(dir + "/config.json");
  out << HfConfigJson(c, extra).dump(2) << "\n";
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", dir, "/config.json"));
  return absl::OkStatus();
}

}  // namespace mamba_explain
