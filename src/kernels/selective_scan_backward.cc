#include "kernels/selective_scan_backward.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "kernels/out_of_memory.h"
#include "kernels/selective_scan_backward_ref.h"

#ifdef ME_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#endif

namespace mamba_explain {

namespace {

std::string ShapeOf(const torch::Tensor& t) {
  if (!t.defined()) return "undefined";
  return absl::StrCat(c10::toString(t.scalar_type()), " [", absl::StrJoin(t.sizes(), ", "), "]");
}

bool IsPresent(const torch::Tensor& t) { return t.defined() && t.numel() > 0; }

std::string ShapeSummary(const SelectiveScanInputs& in, const torch::Tensor& dout) {
  return absl::StrCat("x ", ShapeOf(in.x), ", B ", ShapeOf(in.B), ", A ", ShapeOf(in.A), ", dout ",
                      ShapeOf(dout));
}

#ifdef ME_WITH_CUDA
absl::StatusOr<SelectiveScanGrads> RunCuda(const SelectiveScanInputs& in, const torch::Tensor& dout,
                                           SsmGradMode mode) {
  const c10::cuda::CUDAGuard device_guard(in.x.device());
  torch::Tensor lengths;
  if (IsPresent(in.lengths)) lengths = in.lengths.to(in.x.device()).contiguous();
  const int64_t seq_len = in.x.size(1);
  const int64_t chunk = SelectiveScanBackwardCudaChunk(in.B.size(3));
  const int64_t n_chunks = mode == SsmGradMode::kFull ? (seq_len + chunk - 1) / chunk : 0;
  SelectiveScanBackwardBuffers buffers = AllocateSelectiveScanBackwardBuffers(in, mode, n_chunks);
  const SelectiveScanBackwardParams params =
      MakeSelectiveScanBackwardParams(in, lengths, dout, buffers);
  const cudaError_t launched =
      LaunchSelectiveScanBackward(params, mode, c10::cuda::getCurrentCUDAStream());
  const cudaError_t last = cudaGetLastError();
  const cudaError_t err = launched != cudaSuccess ? launched : last;
  if (err != cudaSuccess) {
    return absl::InternalError(absl::StrCat("SelectiveScanBackward CUDA launch failed (",
                                            cudaGetErrorString(err), ") for ",
                                            ShapeSummary(in, dout)));
  }
  return FinishSelectiveScanBackward(buffers);
}
#endif

}  // namespace

absl::Status ValidateSelectiveScanBackwardInputs(const SelectiveScanInputs& inputs,
                                                 const torch::Tensor& dout) {
  RETURN_IF_ERROR(ValidateSelectiveScanInputs(inputs));
  if (!dout.defined() || dout.scalar_type() != torch::kFloat || dout.sizes() != inputs.x.sizes()) {
    return absl::InvalidArgumentError(
        absl::StrCat("SelectiveScanBackward: dout must be float32 [Bt, L, E] like x ",
                     ShapeOf(inputs.x), ", got ", ShapeOf(dout)));
  }
  if (dout.device() != inputs.x.device()) {
    return absl::InvalidArgumentError(absl::StrCat("SelectiveScanBackward: dout is on ",
                                                   dout.device().str(), ", x on ",
                                                   inputs.x.device().str()));
  }
  return absl::OkStatus();
}

SelectiveScanBackwardBuffers AllocateSelectiveScanBackwardBuffers(const SelectiveScanInputs& in,
                                                                  SsmGradMode mode,
                                                                  int64_t n_chunks) {
  const int64_t batch = in.x.size(0), d_inner = in.x.size(2);
  const int64_t d_state = in.B.size(3);
  SelectiveScanBackwardBuffers buffers;
  const auto f32 = in.x.options().dtype(torch::kFloat);
  buffers.dx = torch::empty(in.x.sizes(), f32);  // [Bt, L, E]
  if (mode == SsmGradMode::kInputOnly) return buffers;
  buffers.ddelta = torch::empty(in.x.sizes(), f32);                             // [Bt, L, E]
  buffers.dA_parts = torch::zeros({batch, d_inner, d_state}, f32);              // [Bt, E, N]
  if (IsPresent(in.D)) buffers.dD_parts = torch::zeros({batch, d_inner}, f32);  // [Bt, E]
  buffers.dB = torch::zeros(in.B.sizes(), f32);                                 // [Bt, L, G, N]
  buffers.dC = torch::zeros(in.B.sizes(), f32);                                 // [Bt, L, G, N]
  if (n_chunks > 0) {
    buffers.chunk_states = torch::empty({batch, d_inner, n_chunks, d_state}, f32);
  }
  return buffers;
}

SelectiveScanBackwardParams MakeSelectiveScanBackwardParams(const SelectiveScanInputs& inputs,
                                                            const torch::Tensor& lengths,
                                                            const torch::Tensor& dout,
                                                            SelectiveScanBackwardBuffers& buffers) {
  SelectiveScanBackwardParams p;
  p.fwd = MakeSelectiveScanParams(inputs, lengths, buffers.dx);
  p.fwd.out = nullptr;  // the forward's output is not an input of the backward
  p.fwd.out_batch_stride = p.fwd.out_seq_stride = p.fwd.out_dim_stride = 0;

  p.dout_batch_stride = dout.stride(0);
  p.dout_seq_stride = dout.stride(1);
  p.dout_dim_stride = dout.stride(2);
  p.dout = dout.data_ptr<float>();
  p.dx_batch_stride = buffers.dx.stride(0);
  p.dx_seq_stride = buffers.dx.stride(1);
  p.dx_dim_stride = buffers.dx.stride(2);
  p.dx = buffers.dx.data_ptr<float>();
  if (buffers.ddelta.defined()) {
    p.ddelta_batch_stride = buffers.ddelta.stride(0);
    p.ddelta_seq_stride = buffers.ddelta.stride(1);
    p.ddelta_dim_stride = buffers.ddelta.stride(2);
    p.ddelta = buffers.ddelta.data_ptr<float>();
    p.dA = buffers.dA_parts.data_ptr<float>();
    p.dB = buffers.dB.data_ptr<float>();
    p.dC = buffers.dC.data_ptr<float>();
  }
  if (buffers.dD_parts.defined()) p.dD = buffers.dD_parts.data_ptr<float>();
  if (buffers.chunk_states.defined()) p.chunk_states = buffers.chunk_states.data_ptr<float>();
  return p;
}

SelectiveScanGrads FinishSelectiveScanBackward(const SelectiveScanBackwardBuffers& buffers) {
  SelectiveScanGrads grads;
  grads.dx = buffers.dx;
  grads.ddelta = buffers.ddelta;
  grads.dB = buffers.dB;
  grads.dC = buffers.dC;
  if (buffers.dA_parts.defined()) {
    grads.dA = buffers.dA_parts.sum(0, /*keepdim=*/false, torch::kDouble).to(torch::kFloat);
  }
  if (buffers.dD_parts.defined()) {
    grads.dD = buffers.dD_parts.sum(0, /*keepdim=*/false, torch::kDouble).to(torch::kFloat);
  }
  return grads;
}

absl::StatusOr<SelectiveScanGrads> SelectiveScanBackward(const SelectiveScanInputs& inputs,
                                                         const torch::Tensor& dout,
                                                         SsmGradMode mode) {
  RETURN_IF_ERROR(ValidateSelectiveScanBackwardInputs(inputs, dout));
  try {
    if (!inputs.x.is_cuda()) return SelectiveScanBackwardReference(inputs, dout, mode);
#ifdef ME_WITH_CUDA
    if (inputs.x.numel() > 0 && SelectiveScanBackwardCudaSupports(inputs.B.size(3))) {
      return RunCuda(inputs, dout, mode);
    }
#endif
    // CUDA inputs of a d_state without a kernel (or empty): the reference, through the CPU.
    const auto to_cpu = [](const torch::Tensor& t) { return t.defined() ? t.to(torch::kCPU) : t; };
    const SelectiveScanInputs on_cpu{to_cpu(inputs.x),      to_cpu(inputs.delta), to_cpu(inputs.A),
                                     to_cpu(inputs.B),      to_cpu(inputs.C),     to_cpu(inputs.D),
                                     to_cpu(inputs.lengths)};
    const SelectiveScanGrads on_host = SelectiveScanBackwardReference(on_cpu, to_cpu(dout), mode);
    const auto to_device = [&](const torch::Tensor& t) {
      return t.defined() ? t.to(inputs.x.device()) : t;
    };
    return SelectiveScanGrads{to_device(on_host.dx), to_device(on_host.ddelta),
                              to_device(on_host.dA), to_device(on_host.dB),
                              to_device(on_host.dC), to_device(on_host.dD)};
  } catch (const c10::Error& e) {
    if (IsOutOfMemory(e)) throw;  // for the explain layer's boundary
    return absl::InternalError(absl::StrCat("SelectiveScanBackward failed for ",
                                            ShapeSummary(inputs, dout), ": ",
                                            e.what_without_backtrace()));
  }
}

}  // namespace mamba_explain
