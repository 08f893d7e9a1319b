// LaTIM benchmark: a random 130m-shaped model (Mamba-1: 24 layers, D 768, E 1536, N 16, R 48;
// Mamba-2: 24 layers, D 768, H 24 × P 64, N 128, G 1), written as an HF model directory
// (config.json
// + model.safetensors) and loaded on CUDA (CPU when absent), times LaTIM(ℓ2) over all layers with
// all rows and with the last row only, at several lengths and memory budgets, and reports the peak
// CUDA memory (caching-allocator stats). Before timing, each configuration is validated: the last
// row of the all-rows run must equal the last-row run, and every approximation error must be
// finite. Timings include the traced forward pass. Record GPU results in docs/benchmarks.md.
// usage: latim_bench [--quick] [--arch mamba1|mamba2|both] [--seq-lens 1024,8192]
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "attribution/latim.h"
#include "mamba/mamba_model.h"
#include "model/safetensors.h"

#ifdef ME_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace mamba_explain {
namespace {

struct Shape {
  bool mamba2 = false;
  int64_t layers = 24, d_model = 768, d_state = 16, vocab = 50280, heads = 24, head_dim = 64;
};

// Writes config.json and model.safetensors for `s` with HF names and mamba_ssm-like init.
bool WriteRandomModel(const Shape& s, const std::string& dir) {
  torch::manual_seed(0);
  const int64_t D = s.d_model, E = 2 * D, N = s.d_state, K = 4, R = (D + 15) / 16;
  const int64_t H = s.heads, G = 1, CD = s.mamba2 ? E + 2 * G * N : E;
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  auto add = [&](const std::string& name, torch::Tensor t) {
    tensors.emplace_back(name, t.to(torch::kFloat32).contiguous());
  };
  add("backbone.embeddings.weight", torch::randn({s.vocab, D}) * 0.02);
  add("backbone.norm_f.weight", torch::ones({D}));
  const int64_t units = s.mamba2 ? H : E;
  for (int64_t l = 0; l < s.layers; ++l) {
    const std::string p = "backbone.layers." + std::to_string(l) + ".";
    torch::Tensor dt =
        torch::exp(torch::rand({units}) * (std::log(0.1) - std::log(0.001)) + std::log(0.001));
    torch::Tensor dt_bias = dt + torch::log(-torch::expm1(-dt));  // softplus⁻¹
    add(p + "norm.weight", torch::ones({D}));
    add(p + "mixer.conv1d.weight", (torch::rand({CD, 1, K}) - 0.5));
    add(p + "mixer.conv1d.bias", (torch::rand({CD}) - 0.5));
    add(p + "mixer.out_proj.weight", torch::randn({D, E}) * (0.02 / std::sqrt(2.0 * s.layers)));
    if (!s.mamba2) {
      add(p + "mixer.in_proj.weight", torch::randn({2 * E, D}) * 0.02);
      add(p + "mixer.x_proj.weight", torch::randn({R + 2 * N, E}) * 0.02);
      add(p + "mixer.dt_proj.weight", torch::randn({E, R}) * std::pow(R, -0.5));
      add(p + "mixer.dt_proj.bias", dt_bias);
      add(p + "mixer.A_log",
          torch::log(torch::arange(1, N + 1, torch::kFloat32)).unsqueeze(0).expand({E, N}));
      add(p + "mixer.D", torch::ones({E}));
    } else {
      add(p + "mixer.in_proj.weight", torch::randn({2 * E + 2 * G * N + H, D}) * 0.02);
      add(p + "mixer.dt_bias", dt_bias);
      add(p + "mixer.A_log", torch::log(torch::rand({H}) * 15 + 1));
      add(p + "mixer.D", torch::ones({H}));
      add(p + "mixer.norm.weight", torch::ones({E}));
    }
  }
  std::vector<TensorToWrite> out;
  for (const auto& [name, t] : tensors) {
    out.push_back(
        {name, DType::kF32, t.sizes().vec(), t.data_ptr(), static_cast<size_t>(t.numel()) * 4});
  }
  if (!WriteSafetensors(dir + "/model.safetensors", out).ok()) return false;
  std::ofstream config(dir + "/config.json");
  if (!s.mamba2) {
    config << "{\"model_type\": \"mamba\", \"hidden_size\": " << D
           << ", \"num_hidden_layers\": " << s.layers << ", \"vocab_size\": " << s.vocab
           << ", \"state_size\": " << N
           << ", \"conv_kernel\": 4, \"expand\": 2, \"time_step_rank\": " << R
           << ", \"use_bias\": false, \"use_conv_bias\": true, \"tie_word_embeddings\": true}\n";
  } else {
    config << "{\"model_type\": \"mamba2\", \"hidden_size\": " << D
           << ", \"num_hidden_layers\": " << s.layers << ", \"vocab_size\": " << s.vocab
           << ", \"state_size\": " << N << ", \"num_heads\": " << H
           << ", \"head_dim\": " << s.head_dim
           << ", \"n_groups\": 1, \"conv_kernel\": 4, \"expand\": 2, \"chunk_size\": 256"
           << ", \"use_bias\": false, \"use_conv_bias\": true, \"tie_word_embeddings\": true}\n";
  }
  return static_cast<bool>(config);
}

void Sync(torch::Device device) {
#ifdef ME_WITH_CUDA
  if (device.is_cuda()) torch::cuda::synchronize();
#endif
}

void ResetPeak(torch::Device device) {
#ifdef ME_WITH_CUDA
  if (device.is_cuda())
    c10::cuda::CUDACachingAllocator::resetPeakStats(device.index() < 0 ? 0 : device.index());
#endif
}

double PeakMiB(torch::Device device) {
#ifdef ME_WITH_CUDA
  if (device.is_cuda()) {
    auto stats =
        c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index());
    return stats.allocated_bytes[0].peak / 1048576.0;  // [0] = StatType::AGGREGATE
  }
#endif
  return std::nan("");
}

struct Run {
  std::vector<AttributionResult> results;
  double seconds = 0, peak_mib = 0;
};

Run Time(const MambaModel& model, const torch::Tensor& ids, const LatimOptions& o) {
  Run run;
  const torch::Device device = model.device();
  Sync(device);
  ResetPeak(device);
  auto t0 = std::chrono::steady_clock::now();
  auto results = ExplainLatim(model, ids, torch::Tensor(), o);
  Sync(device);
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  run.peak_mib = PeakMiB(device);
  if (!results.ok()) {
    std::fprintf(stderr, "latim failed: %s\n", results.status().ToString().c_str());
    std::exit(1);
  }
  run.results = std::move(results).value();
  return run;
}

int Main(int argc, char** argv) {
  bool quick = false;
  std::string arch = "both";
  std::vector<int64_t> lens = {1024, 8192};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick")
      quick = true;
    else if (a == "--arch" && i + 1 < argc)
      arch = argv[++i];
    else if (a == "--seq-lens" && i + 1 < argc) {
      lens.clear();
      std::string v = argv[++i];
      for (size_t p = 0; p < v.size();) {
        size_t q = v.find(',', p);
        lens.push_back(std::stoll(v.substr(p, q - p)));
        p = q == std::string::npos ? v.size() : q + 1;
      }
    }
  }
  const bool cuda = torch::cuda::is_available();
  const torch::Device device = cuda ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  std::printf("device %s%s\n", cuda ? "cuda:0" : "cpu", quick ? " (quick: 2 layers, D 64)" : "");
  std::printf("%-7s %6s %-5s %9s %9s %11s %10s  %s\n", "arch", "N", "rows", "budget", "time_s",
              "peak_MiB", "max_err", "shape");
  for (bool m2 : {false, true}) {
    if ((m2 && arch == "mamba1") || (!m2 && arch == "mamba2")) continue;
    Shape s;
    s.mamba2 = m2;
    if (m2) {
      s.d_state = 128;
      s.vocab = 50288;
    }
    if (quick) {
      s.layers = 2;
      s.d_model = 64;
      s.heads = 2;
      s.vocab = 512;
    }
    char tmpl[] = "/tmp/latim_bench_XXXXXX";
    const std::string dir = mkdtemp(tmpl);
    if (!WriteRandomModel(s, dir)) {
      std::fprintf(stderr, "cannot write model\n");
      return 1;
    }
    LoadOptions lo;
    lo.device = device;
    auto model = MambaModel::Load(dir, lo);
    std::system(("rm -rf " + dir).c_str());
    if (!model.ok()) {
      std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
      return 1;
    }
    char shape[160];
    std::snprintf(shape, sizeof(shape), "L=%ld D=%ld E=%ld N=%ld%s", (long)s.layers,
                  (long)s.d_model, (long)(2 * s.d_model), (long)s.d_state,
                  m2 ? (" H=" + std::to_string(s.heads)).c_str() : "");
    for (int64_t n : lens) {
      if (quick) n = std::min<int64_t>(n, 64);
      torch::Tensor ids = torch::randint(0, s.vocab, {1, n}, torch::kLong).to(device);
      LatimOptions o;
      o.scores = {LatimScore::kL2};
      o.rows.kind = RowSelection::Kind::kLast;
      Time(**model, ids, o);  // warm-up
      Run last = Time(**model, ids, o);
      const bool all_rows = n <= 4096;  // O(N²) output: only at moderate N
      std::vector<std::pair<int64_t, Run>> full_runs;
      if (all_rows) {
        for (int64_t budget : {int64_t{256} << 20, int64_t{2048} << 20}) {
          LatimOptions f = o;
          f.rows.kind = RowSelection::Kind::kAll;
          f.memory_budget_bytes = budget;
          full_runs.emplace_back(budget, Time(**model, ids, f));
        }
        // Validate before reporting: last row of the full run == the last-row run.
        for (auto& [budget, full] : full_runs) {
          for (size_t i = 0; i < full.results.size(); ++i) {
            const auto& a = full.results[i];
            const auto& b = last.results[i];
            double worst = 0;
            for (int64_t c = 0; c < n; ++c) {
              const double x = a.at(n - 1, c), y = b.at(0, c);
              worst = std::max(worst, std::abs(x - y) / (1e-6 + std::abs(x)));
            }
            if (worst > 1e-3 || !std::isfinite(a.approx_error)) {
              std::fprintf(stderr, "MISMATCH %s layer %d: rel %.3g\n", MethodName(a.method),
                           a.layer, worst);
              return 1;
            }
          }
        }
      }
      auto max_err = [](const Run& r) {
        double e = 0;
        for (const auto& x : r.results) e = std::max(e, x.approx_error);
        return e;
      };
      const char* name = m2 ? "mamba2" : "mamba1";
      std::printf("%-7s %6ld %-5s %7ldMi %9.3f %11.1f %10.4f  %s\n", name, (long)n, "last", 256L,
                  last.seconds, last.peak_mib, max_err(last), shape);
      for (auto& [budget, full] : full_runs) {
        std::printf("%-7s %6ld %-5s %7ldMi %9.3f %11.1f %10.4f  %s\n", name, (long)n, "all",
                    (long)(budget >> 20), full.seconds, full.peak_mib, max_err(full), shape);
      }
      std::fflush(stdout);
    }
  }
  std::printf("All results match (last row of every all-rows run == the last-row run)\n");
  return 0;
}

}  // namespace
}  // namespace mamba_explain

int main(int argc, char** argv) { return mamba_explain::Main(argc, argv); }
