#include "kernels/selective_scan.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "kernels/out_of_memory.h"
#include "kernels/selective_scan_ref.h"

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

absl::Status Invalid(const std::string& name, const torch::Tensor& t, const std::string& want) {
  return absl::InvalidArgumentError(
      absl::StrCat("SelectiveScan: ", name, " must be ", want, ", got ", ShapeOf(t)));
}

absl::Status CheckFloat(const std::string& name, const torch::Tensor& t, const torch::Device& dev,
                        const std::string& want) {
  if (!t.defined() || t.scalar_type() != torch::kFloat) return Invalid(name, t, want);
  if (t.device() != dev) {
    return absl::InvalidArgumentError(
        absl::StrCat("SelectiveScan: ", name, " is on ", t.device().str(), ", x on ", dev.str()));
  }
  return absl::OkStatus();
}

std::string ShapeSummary(const SelectiveScanInputs& in) {
  return absl::StrCat("x ", ShapeOf(in.x), ", B ", ShapeOf(in.B), ", A ", ShapeOf(in.A));
}

#ifdef ME_WITH_CUDA
absl::StatusOr<torch::Tensor> RunCuda(const SelectiveScanInputs& in,
                                      const torch::Tensor& initial_state,
                                      torch::Tensor* final_state) {
  const c10::cuda::CUDAGuard device_guard(in.x.device());
  torch::Tensor lengths;
  if (IsPresent(in.lengths)) lengths = in.lengths.to(in.x.device()).contiguous();
  torch::Tensor out = torch::empty(in.x.sizes(), in.x.options());  // [Bt, L, E]
  SelectiveScanParams params = MakeSelectiveScanParams(in, lengths, out);
  torch::Tensor initial = IsPresent(initial_state) ? initial_state.contiguous() : initial_state;
  if (final_state != nullptr) {
    *final_state = torch::empty({in.x.size(0), in.x.size(2), in.A.size(1)},
                                in.x.options());  // [Bt, E, N]
  }
  SetSelectiveScanState(initial, final_state, params);
  // Time splits when the channel blocks alone would leave SMs idle (scratch lives until the
  // kernels that read it have run: the caching allocator reuses it only in stream order).
  torch::Tensor split_state, split_delta;
  const int64_t splits = SelectiveScanSplits(params);
  if (splits > 1) {
    params.split_len = (params.seq_len + splits - 1) / splits;
    params.n_splits = (params.seq_len + params.split_len - 1) / params.split_len;
    split_state = torch::empty({params.n_splits - 1, params.batch, params.d_inner, params.d_state},
                               in.x.options());
    split_delta = torch::empty({params.n_splits - 1, params.batch, params.d_inner}, in.x.options());
    params.split_state = split_state.data_ptr<float>();
    params.split_delta = split_delta.data_ptr<float>();
  }
  const cudaError_t launched = LaunchSelectiveScan(params, c10::cuda::getCurrentCUDAStream());
  const cudaError_t last = cudaGetLastError();
  const cudaError_t err = launched != cudaSuccess ? launched : last;
  if (err != cudaSuccess) {
    return absl::InternalError(absl::StrCat("SelectiveScan CUDA launch failed (",
                                            cudaGetErrorString(err), ") for ", ShapeSummary(in)));
  }
  return out;
}
#endif

}  // namespace

absl::Status ValidateSelectiveScanInputs(const SelectiveScanInputs& in) {
  if (!in.x.defined() || in.x.scalar_type() != torch::kFloat || in.x.dim() != 3) {
    return Invalid("x", in.x, "float32 [Bt, L, E]");
  }
  const torch::Device dev = in.x.device();
  const int64_t batch = in.x.size(0), seq_len = in.x.size(1), d_inner = in.x.size(2);
  RETURN_IF_ERROR(CheckFloat("delta", in.delta, dev, "float32 [Bt, L, E] like x"));
  if (in.delta.sizes() != in.x.sizes()) return Invalid("delta", in.delta, "[Bt, L, E] like x");

  RETURN_IF_ERROR(CheckFloat("B", in.B, dev, "float32 [Bt, L, G, N]"));
  if (in.B.dim() != 4 || in.B.size(0) != batch || in.B.size(1) != seq_len || in.B.size(2) < 1) {
    return Invalid("B", in.B, absl::StrCat("[Bt, L, G, N] with Bt=", batch, ", L=", seq_len));
  }
  const int64_t n_groups = in.B.size(2), d_state = in.B.size(3);
  if (d_inner % n_groups != 0) {
    return Invalid("B", in.B, absl::StrCat("[Bt, L, G, N] with G dividing E=", d_inner));
  }
  RETURN_IF_ERROR(CheckFloat("C", in.C, dev, "float32 [Bt, L, G, N] like B"));
  if (in.C.sizes() != in.B.sizes()) return Invalid("C", in.C, "[Bt, L, G, N] like B");

  RETURN_IF_ERROR(CheckFloat("A", in.A, dev, "float32 [E, N]"));
  if (in.A.dim() != 2 || in.A.size(0) != d_inner || in.A.size(1) != d_state) {
    return Invalid("A", in.A, absl::StrCat("[E, N] = [", d_inner, ", ", d_state, "]"));
  }
  if (IsPresent(in.D)) {
    RETURN_IF_ERROR(CheckFloat("D", in.D, dev, "float32 [E]"));
    if (in.D.dim() != 1 || in.D.size(0) != d_inner) {
      return Invalid("D", in.D, absl::StrCat("[E] = [", d_inner, "]"));
    }
  }
  if (IsPresent(in.lengths)) {
    if (in.lengths.scalar_type() != torch::kLong || in.lengths.dim() != 1 ||
        in.lengths.size(0) != batch) {
      return Invalid("lengths", in.lengths, absl::StrCat("int64 [Bt] = [", batch, "]"));
    }
    if (!in.lengths.device().is_cpu() && in.lengths.device() != dev) {
      return absl::InvalidArgumentError(absl::StrCat(
          "SelectiveScan: lengths is on ", in.lengths.device().str(), ", x on ", dev.str()));
    }
    if (in.lengths.device().is_cpu()) {
      const auto lengths = in.lengths.accessor<int64_t, 1>();
      for (int64_t b = 0; b < batch; ++b) {
        if (lengths[b] < 0 || lengths[b] > seq_len) {
          return absl::InvalidArgumentError(absl::StrCat(
              "SelectiveScan: lengths[", b, "]=", lengths[b], " not in [0, ", seq_len, "]"));
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateSelectiveScanState(const SelectiveScanInputs& in,
                                        const torch::Tensor& initial_state) {
  if (!IsPresent(initial_state)) return absl::OkStatus();
  const int64_t batch = in.x.size(0), d_inner = in.x.size(2), d_state = in.A.size(1);
  RETURN_IF_ERROR(CheckFloat("initial_state", initial_state, in.x.device(), "float32 [Bt, E, N]"));
  if (initial_state.dim() != 3 || initial_state.size(0) != batch ||
      initial_state.size(1) != d_inner || initial_state.size(2) != d_state) {
    return Invalid("initial_state", initial_state,
                   absl::StrCat("[Bt, E, N] = [", batch, ", ", d_inner, ", ", d_state, "]"));
  }
  return absl::OkStatus();
}

void SetSelectiveScanState(const torch::Tensor& initial_state, torch::Tensor* final_state,
                           SelectiveScanParams& p) {
  if (IsPresent(initial_state)) {
    p.initial_state = initial_state.data_ptr<float>();
    p.initial_state_batch_stride = initial_state.stride(0);
    p.initial_state_dim_stride = initial_state.stride(1);
    p.initial_state_state_stride = initial_state.stride(2);
  }
  if (final_state != nullptr) {
    p.final_state = final_state->data_ptr<float>();
    p.final_state_batch_stride = final_state->stride(0);
    p.final_state_dim_stride = final_state->stride(1);
    p.final_state_state_stride = final_state->stride(2);
  }
}

SelectiveScanParams MakeSelectiveScanParams(const SelectiveScanInputs& in,
                                            const torch::Tensor& lengths, torch::Tensor& out) {
  SelectiveScanParams p;
  p.batch = in.x.size(0);
  p.seq_len = in.x.size(1);
  p.d_inner = in.x.size(2);
  p.n_groups = in.B.size(2);
  p.d_state = in.B.size(3);

  p.x_batch_stride = in.x.stride(0);
  p.x_seq_stride = in.x.stride(1);
  p.x_dim_stride = in.x.stride(2);
  p.delta_batch_stride = in.delta.stride(0);
  p.delta_seq_stride = in.delta.stride(1);
  p.delta_dim_stride = in.delta.stride(2);
  p.A_dim_stride = in.A.stride(0);
  p.A_state_stride = in.A.stride(1);
  p.B_batch_stride = in.B.stride(0);
  p.B_seq_stride = in.B.stride(1);
  p.B_group_stride = in.B.stride(2);
  p.B_state_stride = in.B.stride(3);
  p.C_batch_stride = in.C.stride(0);
  p.C_seq_stride = in.C.stride(1);
  p.C_group_stride = in.C.stride(2);
  p.C_state_stride = in.C.stride(3);
  p.out_batch_stride = out.stride(0);
  p.out_seq_stride = out.stride(1);
  p.out_dim_stride = out.stride(2);

  p.x = in.x.data_ptr<float>();
  p.delta = in.delta.data_ptr<float>();
  p.A = in.A.data_ptr<float>();
  p.B = in.B.data_ptr<float>();
  p.C = in.C.data_ptr<float>();
  if (IsPresent(in.D)) {
    p.D = in.D.data_ptr<float>();
    p.D_dim_stride = in.D.stride(0);
  }
  if (IsPresent(lengths)) {
    p.lengths = lengths.data_ptr<int64_t>();
    p.lengths_batch_stride = lengths.stride(0);
  }
  p.out = out.data_ptr<float>();
  return p;
}

absl::StatusOr<torch::Tensor> SelectiveScan(const SelectiveScanInputs& inputs) {
  return SelectiveScan(inputs, torch::Tensor(), nullptr);
}

absl::StatusOr<torch::Tensor> SelectiveScan(const SelectiveScanInputs& inputs,
                                            const torch::Tensor& initial_state,
                                            torch::Tensor* final_state) {
  RETURN_IF_ERROR(ValidateSelectiveScanInputs(inputs));
  RETURN_IF_ERROR(ValidateSelectiveScanState(inputs, initial_state));
  try {
    if (inputs.x.numel() == 0) {
      if (final_state != nullptr) {
        *final_state = IsPresent(initial_state)
                           ? initial_state.clone()
                           : torch::zeros({inputs.x.size(0), inputs.x.size(2), inputs.A.size(1)},
                                          inputs.x.options());
      }
      return torch::zeros(inputs.x.sizes(), inputs.x.options());
    }
    if (!inputs.x.is_cuda()) return SelectiveScanReference(inputs, initial_state, final_state);
#ifdef ME_WITH_CUDA
    if (SelectiveScanCudaSupports(inputs.B.size(3))) {
      return RunCuda(inputs, initial_state, final_state);
    }
#endif
    // CUDA inputs of a d_state without a kernel: the reference, through the CPU.
    const auto to_cpu = [](const torch::Tensor& t) { return t.defined() ? t.to(torch::kCPU) : t; };
    const SelectiveScanInputs on_cpu{to_cpu(inputs.x),      to_cpu(inputs.delta), to_cpu(inputs.A),
                                     to_cpu(inputs.B),      to_cpu(inputs.C),     to_cpu(inputs.D),
                                     to_cpu(inputs.lengths)};
    torch::Tensor y =
        SelectiveScanReference(on_cpu, to_cpu(initial_state), final_state).to(inputs.x.device());
    if (final_state != nullptr) *final_state = final_state->to(inputs.x.device());
    return y;
  } catch (const c10::Error& e) {
    if (IsOutOfMemory(e)) throw;  // for the explain layer's boundary
    return absl::InternalError(absl::StrCat("SelectiveScan failed for ", ShapeSummary(inputs), ": ",
                                            e.what_without_backtrace()));
  }
}

}  // namespace mamba_explain
