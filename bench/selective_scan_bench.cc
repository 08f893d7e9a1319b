// Benchmark of SelectiveScan (the CUDA kernel when a GPU is present, else the CPU reference) on
// layer shapes of mamba-130m (E 1536, N 16, G 1) and Mamba-2 (E 1536, N 128, G 1, A broadcast
// over N), L 1024, Bt 1..8. Each shape is first checked against SelectiveScanReference (first
// and last sequence) and skipped with an error if it differs; timing uses CUDA events with L2
// flushed between repeats. Reports GB/s over the minimal bytes (x, Δ, B, C, A, D read once and
// y written once). Only the GPU numbers are meaningful; record them in docs/benchmarks.md.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include "kernels/selective_scan.h"
#include "kernels/selective_scan_ref.h"

#ifdef ME_WITH_CUDA
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#endif

namespace mamba_explain {
namespace {

enum class Variant { kMamba1, kMamba2 };

struct Shape {
  int64_t batch, seq_len, d_inner, n_groups, d_state;
  Variant variant;
};

std::string Describe(const Shape& s) {
  char text[160];
  std::snprintf(text, sizeof(text), "%s Bt=%ld L=%ld E=%ld G=%ld N=%ld",
                s.variant == Variant::kMamba1 ? "mamba1" : "mamba2", static_cast<long>(s.batch),
                static_cast<long>(s.seq_len), static_cast<long>(s.d_inner),
                static_cast<long>(s.n_groups), static_cast<long>(s.d_state));
  return text;
}

// Realistic values: Δ = softplus(N(0,1) − 2), A = −exp(N(0,1)); Mamba-2 A is one value per
// channel broadcast over N (state stride 0), as the mixer passes it.
SelectiveScanInputs MakeInputs(const Shape& s, torch::Device device) {
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat).device(device);
  SelectiveScanInputs in;
  in.x = torch::randn({s.batch, s.seq_len, s.d_inner}, f32);
  in.delta = torch::softplus(torch::randn({s.batch, s.seq_len, s.d_inner}, f32) - 2.0);
  in.A = s.variant == Variant::kMamba1
             ? -torch::exp(torch::randn({s.d_inner, s.d_state}, f32))
             : (-torch::exp(torch::randn({s.d_inner, 1}, f32))).expand({s.d_inner, s.d_state});
  in.B = torch::randn({s.batch, s.seq_len, s.n_groups, s.d_state}, f32);
  in.C = torch::randn({s.batch, s.seq_len, s.n_groups, s.d_state}, f32);
  in.D = torch::randn({s.d_inner}, f32);
  return in;
}

SelectiveScanInputs OneSequenceOnCpu(const SelectiveScanInputs& in, int64_t b) {
  const auto pick = [b](const torch::Tensor& t) { return t.narrow(0, b, 1).to(torch::kCPU); };
  return {pick(in.x), pick(in.delta),       in.A.to(torch::kCPU), pick(in.B),
          pick(in.C), in.D.to(torch::kCPU), torch::Tensor()};
}

// Max over elements of |y − ref| / (1e-4 + 1e-4·|ref|); ≤ 1 passes (the test's tolerance).
double WorstToleranceRatio(const torch::Tensor& y, const torch::Tensor& ref) {
  const torch::Tensor ratio = (y.to(torch::kCPU) - ref).abs() / (1e-4 + 1e-4 * ref.abs());
  return ratio.max().item<double>();
}

int64_t MinimalBytes(const Shape& s) {
  const int64_t activations = s.batch * s.seq_len * s.d_inner;        // x, Δ, y
  const int64_t rows = s.batch * s.seq_len * s.n_groups * s.d_state;  // B, C
  const int64_t weights = s.d_inner * s.d_state + s.d_inner;          // A, D
  return static_cast<int64_t>(sizeof(float)) * (3 * activations + 2 * rows + weights);
}

void BM_SelectiveScan(benchmark::State& state, Shape shape) {
  const bool on_gpu = torch::cuda::is_available();
  const torch::Device device = on_gpu ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  torch::manual_seed(42);
  const SelectiveScanInputs in = MakeInputs(shape, device);
  state.SetLabel(Describe(shape) + (on_gpu ? " cuda" : " cpu-reference"));

  // Refuse to time a wrong kernel.
  absl::StatusOr<torch::Tensor> y = SelectiveScan(in);
  if (!y.ok()) {
    state.SkipWithError(std::string(y.status().message()).c_str());
    return;
  }
  for (int64_t b : {int64_t{0}, shape.batch - 1}) {
    const torch::Tensor ref = SelectiveScanReference(OneSequenceOnCpu(in, b));
    const double worst = WorstToleranceRatio(y->narrow(0, b, 1), ref);
    if (!(worst <= 1.0)) {
      state.SkipWithError(("result differs from the reference: " + Describe(shape)).c_str());
      return;
    }
  }
  std::printf("All results match: %s\n", Describe(shape).c_str());

  torch::Tensor l2_flush;  // larger than H100/H200 L2 (50/60 MB)
  if (on_gpu) l2_flush = torch::empty({64 << 20}, torch::TensorOptions().device(device));
#ifdef ME_WITH_CUDA
  cudaEvent_t start_event = nullptr, stop_event = nullptr;
  if (on_gpu) {
    cudaEventCreate(&start_event);
    cudaEventCreate(&stop_event);
  }
#endif
  double total_seconds = 0;
  for (auto _ : state) {
    double seconds = 0;
#ifdef ME_WITH_CUDA
    if (on_gpu) {
      l2_flush.zero_();
      const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
      cudaEventRecord(start_event, stream);
      benchmark::DoNotOptimize(SelectiveScan(in));
      cudaEventRecord(stop_event, stream);
      cudaEventSynchronize(stop_event);
      float ms = 0;
      cudaEventElapsedTime(&ms, start_event, stop_event);
      seconds = ms * 1e-3;
    }
#endif
    if (!on_gpu) {
      const auto start = std::chrono::steady_clock::now();
      benchmark::DoNotOptimize(SelectiveScan(in));
      seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    state.SetIterationTime(seconds);
    total_seconds += seconds;
  }
#ifdef ME_WITH_CUDA
  if (on_gpu) {
    cudaEventDestroy(start_event);
    cudaEventDestroy(stop_event);
  }
#endif
  if (total_seconds > 0) {
    state.counters["GB/s"] = static_cast<double>(MinimalBytes(shape)) *
                             static_cast<double>(state.iterations()) / total_seconds * 1e-9;
  }
}

void RegisterShapes() {
  for (int64_t batch : {1, 2, 4, 8}) {
    const Shape shape{batch, 1024, 1536, 1, 16, Variant::kMamba1};
    benchmark::RegisterBenchmark(("SelectiveScan/" + Describe(shape)).c_str(), BM_SelectiveScan,
                                 shape)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  }
  for (int64_t batch : {1, 8}) {
    const Shape shape{batch, 1024, 1536, 1, 128, Variant::kMamba2};
    benchmark::RegisterBenchmark(("SelectiveScan/" + Describe(shape)).c_str(), BM_SelectiveScan,
                                 shape)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace
}  // namespace mamba_explain

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  mamba_explain::RegisterShapes();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
