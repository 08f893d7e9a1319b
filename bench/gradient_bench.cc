// MambaLRP and Gradient×Input timing on a random 130m-shaped Mamba-1 model (24 layers, D 768,
// E 1536, N 16, R 48, K 4, V 50280, conv biases, tied head; mamba_ssm-like init), built in memory
// on CUDA (CPU when absent), fp32 with TF32 off, batch 1, the last row explained (the MambaLRP
// paper's setting, Tables 10–11). Before timing, each length is validated: MambaLRP with every
// rule off must equal Gradient×Input (rel. error < 1e-3) and all relevances must be finite. Each
// timing is the median of --repeats calls after one warm-up, including the target forward pass;
// peak = CUDA caching-allocator peak of allocated bytes (weights included). Results go to
// docs/benchmarks.md; bytes/token = that peak over N (long N: --seq-lens 65536).
// --cancel-latency (issue 12, defect 2a; docs/reliability.md): instead, for IG, SmoothGrad (last
// row, 32 steps / samples: one packed pass of 32 × N tokens), Gradient×Input and MambaLRP (every
// row: passes of up to 8 192 tokens), the time one uncancelled call takes, then `repeats` calls
// cancelled by a timer thread half-way through: the time from the cancel to the call's return is
// the work left running (the engine checks before every block of a pass's forward and backward).
// --layers / --d-model / --vocab shrink the model for the CPU.
// usage: gradient_bench [--quick] [--seq-lens 512] [--repeats 10]
//        gradient_bench --cancel-latency [--layers 24 --d-model 256 --vocab 8192] [--seq-lens 128]
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>
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

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// One method call, cancelled `after_s` into it when after_s ≥ 0: returns (call seconds, seconds
// from the cancel to the return; NaN when the call ended first).
std::pair<double, double> CancelledCall(const MambaModel& model, Method method,
                                        const torch::Tensor& ids, double after_s) {
  std::atomic<bool> cancelled{false};
  const Cancellation cancel([&](int64_t) { return cancelled.load(); });
  std::chrono::steady_clock::time_point cancel_at;
  std::atomic<bool> done{false};
  const auto t0 = std::chrono::steady_clock::now();
  std::thread timer;
  if (after_s >= 0) {
    timer = std::thread([&] {
      while (!done.load() && Seconds(t0) < after_s)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      if (done.load()) return;
      cancel_at = std::chrono::steady_clock::now();
      cancelled.store(true);
    });
  }
  const ResultCallback drop = [](AttributionResult) { return true; };
  absl::Status status;
  if (method == Method::kMambaLrp || method == Method::kGradientXInput) {
    RowSelection all;
    all.kind = RowSelection::Kind::kAll;
    if (method == Method::kMambaLrp) {
      MambaLrpOptions o;
      o.rows = all;
      o.cancel = cancel;
      status = ExplainMambaLrp(model, ids, torch::Tensor(), o, drop);
    } else {
      GradientMethodOptions o;
      o.methods = {GradientMethod::kGradientXInput};
      o.rows = all;
      o.cancel = cancel;
      status = ExplainGradients(model, ids, torch::Tensor(), o, drop);
    }
  } else {
    GradientMethodOptions o;
    o.methods = {*GradientMethodOf(method)};
    o.rows.kind = RowSelection::Kind::kLast;
    o.ig_steps = 32;
    o.smoothgrad_samples = 32;
    o.cancel = cancel;
    status = ExplainGradients(model, ids, torch::Tensor(), o, drop);
  }
  const auto end = std::chrono::steady_clock::now();
  done.store(true);
  if (timer.joinable()) timer.join();
  const double total = std::chrono::duration<double>(end - t0).count();
  if (!cancelled.load()) {
    if (!status.ok()) {
      std::fprintf(stderr, "%s failed: %s\n", MethodName(method), status.ToString().c_str());
      std::exit(1);
    }
    return {total, std::nan("")};
  }
  if (!absl::IsCancelled(status)) {
    std::fprintf(stderr, "%s cancelled but returned %s\n", MethodName(method),
                 status.ToString().c_str());
    std::exit(1);
  }
  return {total, std::chrono::duration<double>(end - cancel_at).count()};
}

int CancelLatency(const MambaModel& model, const std::vector<int64_t>& lens, int repeats) {
  std::printf("%-22s %6s %10s %12s %12s %12s\n", "method", "N", "call_s", "stop_med_ms",
              "stop_max_ms", "cancel_at_s");
  for (int64_t n : lens) {
    torch::manual_seed(1);
    torch::Tensor ids = torch::randint(0, model.config().vocab_size, {1, n}, torch::kLong);
    for (Method m : {Method::kIntegratedGradients, Method::kSmoothGrad, Method::kGradientXInput,
                     Method::kMambaLrp}) {
      const double full = CancelledCall(model, m, ids, -1).first;
      std::vector<double> stop;
      for (int r = 0; r < repeats; ++r) {
        const double s = CancelledCall(model, m, ids, full / 2).second;
        if (!std::isnan(s)) stop.push_back(s * 1000);
      }
      std::sort(stop.begin(), stop.end());
      std::printf("%-22s %6ld %10.3f %12.1f %12.1f %12.3f\n", MethodName(m), (long)n, full,
                  stop.empty() ? std::nan("") : stop[stop.size() / 2],
                  stop.empty() ? std::nan("") : stop.back(), full / 2);
    }
  }
  return 0;
}

int Main(int argc, char** argv) {
  bool quick = false, cancel_latency = false;
  int64_t layers_flag = 0, d_flag = 0, vocab_flag = 0;
  int repeats = 10;
  std::vector<int64_t> lens = {512};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      quick = true;
    } else if (a == "--cancel-latency") {
      cancel_latency = true;
    } else if (a == "--layers" && i + 1 < argc) {
      layers_flag = std::atoll(argv[++i]);
    } else if (a == "--d-model" && i + 1 < argc) {
      d_flag = std::atoll(argv[++i]);
    } else if (a == "--vocab" && i + 1 < argc) {
      vocab_flag = std::atoll(argv[++i]);
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
  const int64_t layers = layers_flag > 0 ? layers_flag : quick ? 2 : 24;
  const int64_t D = d_flag > 0 ? d_flag : quick ? 64 : 768;
  const int64_t V = vocab_flag > 0 ? vocab_flag : quick ? 512 : 50280;
  auto model = RandomMamba1(layers, D, V, device);
  std::printf("device %s%s; Mamba-1 L=%ld D=%ld E=%ld N=16 V=%ld, rows=last, batch 1\n",
              cuda ? "cuda:0" : "cpu", quick ? " (quick)" : "", (long)layers, (long)D,
              (long)(2 * D), (long)V);
  if (cancel_latency) return CancelLatency(*model, lens, repeats);
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
