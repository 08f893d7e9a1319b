// MambaLRP and Gradient×Input timing on a random 130m-shaped Mamba-1 model (24 layers, D 768,
// E 1536, N 16, R 48, K 4, V 50280, conv biases, tied head; mamba_ssm-like init), built in memory
// on CUDA (CPU when absent), fp32 with TF32 off, batch 1, the last row explained (the MambaLRP
// paper's setting, Tables 10–11). Before timing, each length is validated: MambaLRP with every
// rule off must equal Gradient×Input (rel. error < 1e-3) and all relevances must be finite. Each
// timing is the median of --repeats calls after one warm-up, including the target forward pass;
// peak = CUDA caching-allocator peak of allocated bytes (weights included). Results go to
// docs/benchmarks.md; bytes/token = that peak over N (long N: --seq-lens 65536).
// usage: gradient_bench [--quick] [--seq-lens 512] [--repeats 10]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "attribution/gradient_methods.h"
#include "attribution/mamba_lrp.h"
#include "mamba/mamba_model.h"

#ifdef ME_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace mamba_explain {
namespace {

std::unique_ptr<MambaModel> RandomMamba1(int64_t layers, int64_t D, int64_t vocab,
                                         torch::Device device) {
  torch::manual_seed(0);
  ModelConfig c;
  c.arch = Architecture::kMamba1;
  c.d_model = D;
  c.n_layers = layers;
  c.vocab_size = vocab;
  c.d_state = 16;
  c.d_conv = 4;
  c.expand = 2;
  c.d_inner = 2 * D;
  c.dt_rank = (D + 15) / 16;
  c.use_bias = false;
  c.use_conv_bias = true;
  const int64_t E = c.d_inner, N = c.d_state, R = c.dt_rank, K = c.d_conv;
  auto on = [&](torch::Tensor t) { return t.to(device, torch::kFloat32).contiguous(); };
  ModelWeights w;
  w.device = device;
  w.embedding = on(torch::randn({vocab, D}) * 0.02);
  w.lm_head = w.embedding;
  w.norm_f = on(torch::ones({D}));
  for (int64_t l = 0; l < layers; ++l) {
    LayerWeights lw;
    torch::Tensor dt =
        torch::exp(torch::rand({E}) * (std::log(0.1) - std::log(0.001)) + std::log(0.001));
    lw.norm = on(torch::ones({D}));
    lw.in_proj_w = on(torch::randn({2 * E, D}) * 0.02);
    lw.conv_w = on(torch::rand({E, K}) - 0.5);
    lw.conv_b = on(torch::rand({E}) - 0.5);
    lw.x_proj_w = on(torch::randn({R + 2 * N, E}) * 0.02);
    lw.dt_proj_w = on(torch::randn({E, R}) * std::pow(R, -0.5));
    lw.dt_bias = on(dt + torch::log(-torch::expm1(-dt)));  // softplus⁻¹
    lw.A_log = on(torch::log(torch::arange(1, N + 1, torch::kFloat32)).unsqueeze(0).expand({E, N}));
    lw.D = on(torch::ones({E}));
    lw.out_proj_w = on(torch::randn({D, E}) * (0.02 / std::sqrt(2.0 * layers)));
    w.layers.push_back(std::move(lw));
  }
  return MambaModel::FromWeights(c, std::move(w));
}

void Sync(torch::Device device) {
#ifdef ME_WITH_CUDA
  if (device.is_cuda()) torch::cuda::synchronize();
#endif
}

void ResetPeak(torch::Device device) {
#ifdef ME_WITH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(0);
#endif
}

double PeakMiB(torch::Device device) {
#ifdef ME_WITH_CUDA
  if (device.is_cuda()) {
    return c10::cuda::CUDACachingAllocator::getDeviceStats(0).allocated_bytes[0].peak / 1048576.0;
  }
#endif
  return std::nan("");
}

template <typename F>
std::vector<AttributionResult> MustRun(const char* what, F f) {
  auto r = f();
  if (!r.ok()) {
    std::fprintf(stderr, "%s failed: %s\n", what, r.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

int Main(int argc, char** argv) {
  bool quick = false;
  int repeats = 10;
  std::vector<int64_t> lens = {512};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      quick = true;
    } else if (a == "--repeats" && i + 1 < argc) {
      repeats = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--seq-lens" && i + 1 < argc) {
      lens.clear();
      const std::string v = argv[++i];
      for (size_t p = 0; p < v.size();) {
        const size_t q = v.find(',', p);
        lens.push_back(std::stoll(v.substr(p, q - p)));
        p = q == std::string::npos ? v.size() : q + 1;
      }
    }
  }
  const bool cuda = torch::cuda::is_available();
  const torch::Device device = cuda ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  const int64_t layers = quick ? 2 : 24, D = quick ? 64 : 768, V = quick ? 512 : 50280;
  auto model = RandomMamba1(layers, D, V, device);
  std::printf("device %s%s; Mamba-1 L=%ld D=%ld E=%ld N=16 V=%ld, rows=last, batch 1\n",
              cuda ? "cuda:0" : "cpu", quick ? " (quick)" : "", (long)layers, (long)D,
              (long)(2 * D), (long)V);
  std::printf("%-14s %6s %10s %10s %10s %11s %11s\n", "method", "N", "median_s", "min_s", "max_s",
              "peak_MiB", "bytes/token");
  for (int64_t n : lens) {
    torch::manual_seed(1);
    torch::Tensor ids = torch::randint(0, V, {1, n}, torch::kLong);
    GradientMethodOptions gi;
    gi.rows.kind = RowSelection::Kind::kLast;
    MambaLrpOptions lrp;
    lrp.rows.kind = RowSelection::Kind::kLast;
    MambaLrpOptions none = lrp;
    none.rules = LrpRules{false, false, false, false};
    // Validate before timing.
    auto a = MustRun("gi", [&] { return ExplainGradients(*model, ids, torch::Tensor(), gi); });
    auto b =
        MustRun("lrp-none", [&] { return ExplainMambaLrp(*model, ids, torch::Tensor(), none); });
    auto c = MustRun("lrp", [&] { return ExplainMambaLrp(*model, ids, torch::Tensor(), lrp); });
    torch::Tensor ta = torch::tensor(a[0].matrix), tb = torch::tensor(b[0].matrix);
    const double rel = ((ta - tb).norm() / ta.norm()).item<double>();
    if (!(rel < 1e-3) || !torch::isfinite(torch::tensor(c[0].matrix)).all().item<bool>()) {
      std::fprintf(stderr, "validation failed at N=%ld: GI vs rules-off rel err %g\n", (long)n,
                   rel);
      return 1;
    }
    std::printf(
        "validated N=%ld: rules-off vs GI rel err %.2e; MambaLRP |ΣR−f|/|f| %.3e "
        "(conv biases on)\n",
        (long)n, rel, c[0].approx_error);
    auto time = [&](const char* name, auto call) {
      call();  // warm-up
      std::vector<double> s;
      ResetPeak(device);
      for (int r = 0; r < repeats; ++r) {
        Sync(device);
        auto t0 = std::chrono::steady_clock::now();
        call();
        Sync(device);
        s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
      std::sort(s.begin(), s.end());
      std::printf("%-14s %6ld %10.4f %10.4f %10.4f %11.1f %11.0f\n", name, (long)n, s[s.size() / 2],
                  s.front(), s.back(), PeakMiB(device), PeakMiB(device) * 1048576.0 / n);
    };
    time(MethodName(Method::kGradientXInput), [&] {
      MustRun("gi", [&] { return ExplainGradients(*model, ids, torch::Tensor(), gi); });
    });
    time(MethodName(Method::kMambaLrp), [&] {
      MustRun("lrp", [&] { return ExplainMambaLrp(*model, ids, torch::Tensor(), lrp); });
    });
  }
  return 0;
}

}  // namespace
}  // namespace mamba_explain

int main(int argc, char** argv) { return mamba_explain::Main(argc, argv); }
