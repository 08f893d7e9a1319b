// LaTIM benchmark: a random 130m-shaped model (Mamba-1: 24 layers, D 768, E 1536, N 16, R 48;
// Mamba-2: 24 layers, D 768, H 24 × P 64, N 128, G 1), written as an HF model directory and loaded
// on CUDA (CPU when absent). It first measures the ceilings in the same run (dense bf16 / tf32 /
// fp32 GEMM through cuBLAS, device copy bandwidth), then per length times, as medians after a
// warm-up and including the traced forward pass: the last row (ℓ2, bf16 and fp32) and all rows
// (ℓ2 in bf16 / tf32 / fp32, ℓ1, ALTI and all four scores in bf16), each printed beside its FLOP
// bound (the W_out contraction over every causal pair at the measured peak of its precision) and
// the peak CUDA memory; then the W_out contraction alone at the shape of one block. Nothing is
// timed before it is validated: the last row of every all-rows ℓ2 run must equal the last-row run,
// and with --reference the kernels must equal the per-sequence LibTorch reference (timed too, for
// the speed-up column). Long lengths (--seq-lens 65536,262144,1048576) run the last row only and
// also print its peak bytes per token. Record GPU results in docs/benchmarks.md.
// usage: latim_bench [--quick] [--reference] [--arch mamba1|mamba2|both] [--seq-lens 1024,4096]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "attribution/latim.h"
#include "attribution/latim_batched.h"
#include "kernels/latim_kernels.h"
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

// Median of `reps` timed runs after one warm-up (device synchronised around each).
Run Time(const MambaModel& model, const torch::Tensor& ids, const LatimOptions& o, int reps) {
  const torch::Device device = model.device();
  std::vector<double> times;
  Run run;
  for (int r = 0; r <= reps; ++r) {
    Sync(device);
    ResetPeak(device);
    auto t0 = std::chrono::steady_clock::now();
    auto results = ExplainLatim(model, ids, torch::Tensor(), o);
    Sync(device);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!results.ok()) {
      std::fprintf(stderr, "latim failed: %s\n", results.status().ToString().c_str());
      std::exit(1);
    }
    if (r == 0) continue;  // warm-up
    times.push_back(s);
    run.peak_mib = PeakMiB(device);
    run.results = std::move(results).value();
  }
  std::sort(times.begin(), times.end());
  run.seconds = times[times.size() / 2];
  return run;
}

// Median seconds of fn() over reps runs after a warm-up.
template <typename Fn>
double TimeFn(torch::Device device, int reps, Fn fn) {
  fn();
  Sync(device);
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    Sync(device);
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Worst relative difference between two result lists (same order), over every entry.
double WorstDiff(const std::vector<AttributionResult>& a, const std::vector<AttributionResult>& b) {
  if (a.size() != b.size()) return INFINITY;
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].matrix.size() != b[i].matrix.size()) return INFINITY;
    double scale = 1e-30;
    for (float v : b[i].matrix) scale = std::max(scale, std::abs(static_cast<double>(v)));
    for (size_t k = 0; k < a[i].matrix.size(); ++k) {
      worst = std::max(worst, std::abs(a[i].matrix[k] - b[i].matrix[k]) / scale);
    }
  }
  return worst;
}

double MaxErr(const Run& r) {
  double e = 0;
  for (const auto& x : r.results) e = std::max(e, x.approx_error);
  return e;
}

std::vector<int64_t> ParseList(const std::string& v) {
  std::vector<int64_t> out;
  for (size_t p = 0; p < v.size();) {
    size_t q = v.find(',', p);
    out.push_back(std::stoll(v.substr(p, q - p)));
    p = q == std::string::npos ? v.size() : q + 1;
  }
  return out;
}

// A random traced layer of shape `s` (one sequence of n positions) for timing the kernels.
LatimLayerTensors RandomContribLayer(const Shape& s, int64_t n, torch::Device device) {
  auto o = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  const int64_t E = 2 * s.d_model, U = s.mamba2 ? s.heads : E;
  LatimLayerTensors in;
  in.mamba2 = s.mamba2;
  in.head_dim = s.mamba2 ? s.head_dim : 1;
  in.delta = torch::softplus(torch::randn({1, n, U}, o) - 3.0);
  in.A = s.mamba2 ? -(torch::rand({U}, o) * 8 + 0.5) : -(torch::rand({E, s.d_state}, o) * 8 + 0.5);
  in.B = torch::randn({1, n, 1, s.d_state}, o);
  in.C = torch::randn({1, n, 1, s.d_state}, o);
  in.D = torch::randn({U}, o);
  in.x_in = torch::randn({1, n, E}, o);
  in.conv_w = torch::randn({E, 4}, o);
  in.conv_b = torch::randn({E}, o);
  in.gain = torch::randn({1, n, E}, o);
  MakeCumDelta(in);
  MakeTaps(in);
  return in;
}

// Every row of one sequence of n positions, padded to whole tiles.
LatimRowBlock AllRowsBlock(int64_t n, torch::Device device) {
  const int64_t rb = (n + kLatimRowTile - 1) / kLatimRowTile * kLatimRowTile;
  torch::Tensor pos = torch::arange(rb, torch::kInt);
  pos.masked_fill_(pos >= n, -1);
  LatimRowBlock block;
  block.row_seq = torch::zeros({rb}, torch::kInt).to(device);
  block.row_pos = pos.to(device);
  block.n_src = n;
  return block;
}

int Main(int argc, char** argv) {
  bool quick = false, reference = false, contrib_only = false, model_bf16 = false;
  std::string arch = "both";
  std::vector<int64_t> lens = {1024, 4096};
  int reps = 3;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") {
      quick = true;
    } else if (a == "--reference") {
      reference = true;
    } else if (a == "--contrib-only") {
      contrib_only = true;
    } else if (a == "--arch" && i + 1 < argc) {
      arch = argv[++i];
    } else if (a == "--reps" && i + 1 < argc) {
      reps = std::stoi(argv[++i]);
    } else if (a == "--model-precision" && i + 1 < argc) {
      const std::string v = argv[++i];
      if (v != "fp32" && v != "bf16") {
        std::fprintf(stderr, "--model-precision takes fp32 or bf16\n");
        return 2;
      }
      model_bf16 = v == "bf16";
    } else if (a == "--seq-lens" && i + 1 < argc) {
      lens = ParseList(argv[++i]);
    } else {
      std::fprintf(
          stderr,
          "usage: latim_bench [--quick] [--reference] [--arch mamba1|mamba2|both] "
          "[--seq-lens 1024,4096] [--reps 3] [--contrib-only] [--model-precision fp32|bf16]\n");
      return 2;
    }
  }
  const bool cuda = torch::cuda::is_available();
  const torch::Device device = cuda ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  std::printf("device %s%s\n", cuda ? "cuda:0" : "cpu", quick ? " (quick: 2 layers, D 64)" : "");

  // Ceilings measured in this run: dense bf16 and fp32 GEMM through cuBLAS, device copy.
  const int64_t G = quick ? 1024 : 8192;
  torch::Tensor ga = torch::randn({G, G}, torch::TensorOptions().device(device));
  torch::Tensor gb = torch::randn({G, G}, ga.options());
  const double gemm_flop = 2.0 * G * G * G;
  torch::Tensor ga16 = ga.to(torch::kBFloat16), gb16 = gb.to(torch::kBFloat16);
  const double peak_bf16 =
      gemm_flop / TimeFn(device, 5, [&] { LatimGemm(ga16, gb16, Precision::kBf16); });
  const double peak_tf32 =
      gemm_flop / TimeFn(device, 5, [&] { LatimGemm(ga, gb, Precision::kTf32); });
  const double peak_fp32 =
      gemm_flop / TimeFn(device, 3, [&] { LatimGemm(ga, gb, Precision::kFp32); });
  torch::Tensor big = torch::empty({int64_t{1} << 28}, ga.options()), big2 = torch::empty_like(big);
  const double copy_bw = 2.0 * big.numel() * 4 / TimeFn(device, 5, [&] { big2.copy_(big); });
  big = big2 = ga = gb = ga16 = gb16 = torch::Tensor();
  std::printf("measured peaks: bf16 GEMM %.0f TFLOP/s, tf32 %.0f, fp32 %.1f; copy %.0f GB/s\n",
              peak_bf16 / 1e12, peak_tf32 / 1e12, peak_fp32 / 1e12, copy_bw / 1e9);
  std::printf("model weights: %s\n", model_bf16 ? "bf16" : "fp32");
  std::printf("%-7s %5s %-5s %-13s %-5s %9s %9s %9s %7s %9s %9s  %s\n", "arch", "N", "rows",
              "scores", "prec", "time_ms", "bound_ms", "x_bound", "peakGiB", "max_err", "vs_ref",
              "shape");

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
    // The weights' precision decides the forward's GEMMs (TF32 stays off for fp32 weights); the
    // prec column is LaTIM's own precision.
    lo.precision = model_bf16 ? Precision::kBf16 : Precision::kFp32;
    auto model = MambaModel::Load(dir, lo);
    std::system(("rm -rf " + dir).c_str());
    if (!model.ok()) {
      std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
      return 1;
    }
    const int64_t D = s.d_model, E = 2 * D;
    char shape[160];
    std::snprintf(shape, sizeof(shape), "L=%ld D=%ld E=%ld N=%ld%s", (long)s.layers, (long)D,
                  (long)E, (long)s.d_state, m2 ? (" H=" + std::to_string(s.heads)).c_str() : "");
    const char* name = m2 ? "mamba2" : "mamba1";
    for (int64_t n0 : lens) {
      const int64_t n = quick ? std::min<int64_t>(n0, 128) : n0;
      torch::Tensor ids = torch::randint(0, s.vocab, {1, n}, torch::kLong).to(device);
      if (cuda && n <= 4096) {  // the block holds n²·E bf16 values
        // The contribution kernel alone on one random layer of this shape, every row of one
        // sequence in one block: time per layer and its bound (bf16 stores of u over the square
        // block at the measured copy bandwidth, and the FMAs of M at the fp32 FMA peak).
        LatimLayerTensors in = RandomContribLayer(s, n, device);
        LatimRowBlock block = AllRowsBlock(n, device);
        const int64_t rb = block.row_pos.size(0);
        torch::Tensor sum;
        const double t =
            TimeFn(device, 3, [&] { LatimContributions(in, block, torch::kBFloat16, &sum); });
        const double store_bound = 2.0 * rb * n * E / copy_bw;
        const double fma = 0.5 * n * (n + 1) * E * (m2 ? 4.0 : s.d_state + 4.0);
        const double fma_bound = fma / (peak_fp32 / 2);
        std::printf(
            "%-7s %5ld contribution kernel [%ld x %ld x %ld] bf16: %.2f ms per layer "
            "(x%.1f of the store bound %.2f ms, x%.1f of the FMA bound %.2f ms)\n",
            name, (long)n, (long)rb, (long)n, (long)E, t * 1e3, t / store_bound, store_bound * 1e3,
            t / fma_bound, fma_bound * 1e3);
        std::fflush(stdout);
      }
      if (contrib_only) continue;
      // FLOP bound of all rows: the W_out contraction over every causal pair (eqs. 22/25).
      const double pairs = 0.5 * n * (n + 1);
      const double flop_all = 2.0 * pairs * E * D * s.layers;
      auto row = [&](const char* rows, const char* scores, const char* prec, const Run& r,
                     double bound_s, double ref_s) {
        std::printf(
            "%-7s %5ld %-5s %-13s %-5s %9.2f %9.2f %9.2f %7.2f %9.2e %9s  %s\n", name, (long)n,
            rows, scores, prec, r.seconds * 1e3, bound_s * 1e3,
            bound_s > 0 ? r.seconds / bound_s : 0.0, r.peak_mib / 1024, MaxErr(r),
            ref_s > 0 ? (std::to_string(static_cast<int>(ref_s / r.seconds)) + "x").c_str() : "-",
            shape);
        std::fflush(stdout);
      };
      // The forward pass alone, untraced and with every layer's trace kept (the old LaTIM path;
      // ≈ 1 MB per token at this shape, so only up to 64k tokens); LaTIM itself recomputes one
      // layer's trace at a time (mamba/layer_traces.h).
      for (bool traced : {false, true}) {
        if (traced && n > 65536) continue;
        ForwardOptions fo;
        fo.compute_logits = false;
        fo.trace = traced ? ForwardOptions::TraceLayers::kAll : ForwardOptions::TraceLayers::kNone;
        torch::NoGradGuard no_grad;
        const double t =
            TimeFn(device, 5, [&] { (void)(*model)->Forward(ids, torch::Tensor(), fo); });
        std::printf("%-7s %5ld forward%s: %.2f ms\n", name, (long)n, traced ? " (trace all)" : "",
                    t * 1e3);
      }
      LatimOptions base;
      base.scores = {LatimScore::kL2};
      base.memory_budget_bytes = int64_t{2048} << 20;
      // Last row, including the traced forward pass.
      LatimOptions last = base;
      last.rows.kind = RowSelection::Kind::kLast;
      for (Precision p : {Precision::kBf16, Precision::kFp32}) {
        last.precision = p;
        Run r = Time(**model, ids, last, reps);
        row("last", "l2", p == Precision::kBf16 ? "bf16" : "fp32", r, 0, 0);
        std::printf("%-7s %5ld last-row peak: %.0f bytes/token (weights included)\n", name, (long)n,
                    r.peak_mib * 1048576.0 / n);
        const std::string profile = LatimBatchedProfile();
        if (!profile.empty()) std::printf("    stages (all runs): %s\n", profile.c_str());
      }
      if (n > 4096) continue;  // O(N²) output: all rows only at moderate N
      // All rows: validate first (kernels == reference at this length for every score, when
      // asked; the last row of the all-rows run == the last-row run), then time.
      Run ref_run;
      if (reference && n <= 1024) {
        LatimOptions r = base;
        r.backend = LatimOptions::Backend::kReference;
        ref_run = Time(**model, ids, r, 1);
        row("all", "l2", "ref32", ref_run, flop_all / peak_fp32, 0);
      }
      struct Variant {
        const char* label;
        std::vector<LatimScore> scores;
        Precision precision;
      };
      const std::vector<Variant> variants = {
          {"l2", {LatimScore::kL2}, Precision::kBf16},
          {"l2", {LatimScore::kL2}, Precision::kTf32},
          {"l2", {LatimScore::kL2}, Precision::kFp32},
          {"l1", {LatimScore::kL1}, Precision::kBf16},
          {"alti", {LatimScore::kAlti}, Precision::kBf16},
          {"all-four",
           {LatimScore::kL1, LatimScore::kL2, LatimScore::kAlti, LatimScore::kAltiLogit},
           Precision::kBf16},
      };
      for (const Variant& v : variants) {
        // Past N = 2048 only bf16 ℓ2 (the long-context target); the rest scale as at 1024.
        if (n > 2048 && (v.precision != Precision::kBf16 || v.scores.size() > 1 ||
                         v.scores[0] != LatimScore::kL2)) {
          continue;
        }
        LatimOptions f = base;
        f.scores = v.scores;
        f.precision = v.precision;
        Run r = Time(**model, ids, f, reps);
        const char* prec = v.precision == Precision::kBf16   ? "bf16"
                           : v.precision == Precision::kTf32 ? "tf32"
                                                             : "fp32";
        const double peak = v.precision == Precision::kBf16   ? peak_bf16
                            : v.precision == Precision::kTf32 ? peak_tf32
                                                              : peak_fp32;
        double ref_s = 0;
        if (v.scores.size() == 1 && v.scores[0] == LatimScore::kL2) {
          // Last row of the all-rows run == the last-row run of the same precision.
          LatimOptions l = last;
          l.precision = v.precision;
          Run lr = Time(**model, ids, l, 1);
          for (size_t i = 0; i < r.results.size(); ++i) {
            double worst = 0;
            for (int64_t c = 0; c < n; ++c) {
              const double x = r.results[i].at(n - 1, c), y = lr.results[i].at(0, c);
              worst = std::max(worst, std::abs(x - y) / (1e-6 + std::abs(x)));
            }
            if (worst > 2e-2 || !std::isfinite(r.results[i].approx_error)) {
              std::fprintf(stderr, "MISMATCH all-rows vs last-row layer %d: rel %.3g\n",
                           r.results[i].layer, worst);
              return 1;
            }
          }
          if (ref_run.seconds > 0) {
            const double diff = WorstDiff(r.results, ref_run.results);
            const double tol = v.precision == Precision::kFp32 ? 1e-4 : 3e-2;
            if (diff > tol) {
              std::fprintf(stderr, "MISMATCH kernels vs reference (%s): %.3g\n", prec, diff);
              return 1;
            }
            ref_s = ref_run.seconds;
          }
        }
        row("all", v.label, prec, r, flop_all / peak, ref_s);
        const std::string profile = LatimBatchedProfile();
        if (!profile.empty()) std::printf("    stages (all runs): %s\n", profile.c_str());
      }
      // The W_out contraction alone, at the shape of one 2 GiB block: achieved vs peak.
      const int64_t block_pairs = std::min<int64_t>((int64_t{2048} << 20) / (2 * E + 4 * D + 32),
                                                    static_cast<int64_t>(pairs));
      torch::Tensor u = torch::randn({block_pairs, E}, torch::TensorOptions().device(device))
                            .to(torch::kBFloat16);
      torch::Tensor w = torch::randn({D, E}, u.options());
      const double t_gemm =
          TimeFn(device, 5, [&] { LatimGemm(u, w, Precision::kBf16, torch::kFloat32); });
      const double achieved = 2.0 * block_pairs * E * D / t_gemm;
      std::printf(
          "%-7s %5ld W_out contraction [%ld x %ld] x [%ld x %ld] bf16 -> fp32: %.0f TFLOP/s = "
          "%.0f%% of the measured bf16 peak\n",
          name, (long)n, (long)block_pairs, (long)E, (long)E, (long)D, achieved / 1e12,
          100 * achieved / peak_bf16);
    }
  }
  std::printf("All results match (all rows vs last row%s)\n",
              reference ? "; kernels vs reference at N <= 1024" : "");
  return 0;
}

}  // namespace
}  // namespace mamba_explain

int main(int argc, char** argv) { return mamba_explain::Main(argc, argv); }
