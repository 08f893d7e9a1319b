// Dispatch of the LaTIM kernels: CUDA tensors with supported shapes go to latim_kernels.cu (and
// cuBLAS for the contraction); everything else to the references in latim_kernels_ref.cc.
#include "kernels/latim_kernels.h"

#include <string>

#ifdef ME_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cublas_v2.h>
#endif

namespace mamba_explain {
namespace {

#ifdef ME_WITH_CUDA
void Check(cudaError_t err, const char* what) {
  TORCH_CHECK(err == cudaSuccess, what, " failed: ", cudaGetErrorString(err));
}

const float* F32(const torch::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }

// Whether the kernels read `t` as it is (fp32 or bf16; other types are cast to fp32 first).
bool KernelReadable(const torch::Tensor& t) {
  return t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kBFloat16;
}
// Element type code (LatimOutType) of a tensor the kernels read.
int TypeCode(const torch::Tensor& t) {
  return t.scalar_type() == torch::kBFloat16 ? kLatimOutBf16 : kLatimOutF32;
}
// A [Bt, L, C] view with unit channel stride (a copy when the channels are strided).
torch::Tensor UnitChannelStride(const torch::Tensor& t) {
  torch::Tensor v = KernelReadable(t) ? t : t.to(torch::kFloat32);
  return v.stride(2) == 1 ? v : v.contiguous();
}
#endif

}  // namespace

torch::Tensor LatimContributions(const LatimLayerTensors& in, const LatimRowBlock& block,
                                 torch::ScalarType dtype, torch::Tensor* u_sum) {
#ifdef ME_WITH_CUDA
  const int64_t N = in.B.size(3), K = in.conv_w.size(1);
  if (in.gain.is_cuda() && LatimContribCudaSupports(in.mamba2, N, K)) {
    const c10::cuda::CUDAGuard guard(in.gain.device());
    const int64_t Rb = block.row_pos.size(0), E = in.gain.size(2);
    TORCH_CHECK(Rb % kLatimRowTile == 0, "LatimContributions: rows not a multiple of the tile");
    // The kernel reads x_in as rows of x_in_row_stride floats with unit channel stride.
    torch::Tensor x_in = in.x_in;
    if (x_in.stride(2) != 1 || x_in.stride(0) != x_in.size(1) * x_in.stride(1)) {
      x_in = x_in.contiguous();
    }
    torch::Tensor delta = in.delta.contiguous(), cum = in.cum_delta.contiguous();
    torch::Tensor cum_lo = in.cum_delta_lo.contiguous();
    torch::Tensor A = in.A.contiguous(), B = in.B.contiguous(), C = in.C.contiguous();
    torch::Tensor D = in.D.contiguous(), w = in.conv_w.contiguous(), gain = in.gain.contiguous();
    TORCH_CHECK(in.taps.defined(), "LatimContributions: taps not made (MakeTaps)");
    torch::Tensor taps = in.taps.contiguous();
    torch::Tensor bias = in.conv_b.defined() ? in.conv_b.contiguous() : torch::Tensor();
    torch::Tensor seq = block.row_seq.to(in.gain.device(), torch::kInt).contiguous();
    torch::Tensor pos = block.row_pos.to(in.gain.device(), torch::kInt).contiguous();
    TORCH_CHECK(dtype == torch::kFloat || dtype == torch::kBFloat16,
                "LatimContributions: dtype must be float32 or bfloat16");
    torch::Tensor out = torch::empty({Rb, block.n_src, E}, gain.options().dtype(dtype));
    LatimContribParams p;
    p.mamba2 = in.mamba2;
    p.batch = gain.size(0);
    p.seq_len = gain.size(1);
    p.d_inner = E;
    p.units = delta.size(2);
    p.head_dim = in.head_dim;
    p.n_groups = B.size(2);
    p.d_state = N;
    p.d_conv = K;
    p.activation = in.activation;
    p.delta = F32(delta);
    p.cum_delta = F32(cum);
    p.cum_delta_lo = F32(cum_lo);
    p.A = F32(A);
    p.B = F32(B);
    p.C = F32(C);
    p.D = F32(D);
    p.x_in = F32(x_in);
    p.x_in_row_stride = x_in.stride(1);
    p.conv_w = F32(w);
    p.conv_b = F32(bias);
    p.gain = F32(gain);
    p.taps = F32(taps);
    p.rows = Rb;
    p.src_begin = block.src_begin;
    p.n_src = block.n_src;
    p.row_seq = seq.data_ptr<int32_t>();
    p.row_pos = pos.data_ptr<int32_t>();
    p.out = out.data_ptr();
    p.out_type = dtype == torch::kBFloat16 ? kLatimOutBf16 : kLatimOutF32;
    if (u_sum != nullptr) {
      *u_sum = torch::zeros({Rb, E}, gain.options());
      p.u_sum = u_sum->data_ptr<float>();
    }
    Check(LaunchLatimContributions(p, c10::cuda::getCurrentCUDAStream()), "LatimContributions");
    return out;
  }
#endif
  return LatimContributionsRef(in, block, dtype, u_sum);
}

void MakeLatimInputs(const LatimTraceTensors& tr, LatimLayerTensors& layer) {
#ifdef ME_WITH_CUDA
  if (tr.gate.is_cuda()) {
    const c10::cuda::CUDAGuard guard(tr.gate.device());
    const int64_t Bt = tr.gate.size(0), L = tr.gate.size(1), E = tr.gate.size(2);
    const int64_t U = tr.delta.size(2), K = tr.conv_w.size(1);
    torch::Tensor delta = UnitChannelStride(tr.delta), x = UnitChannelStride(tr.x_in);
    torch::Tensor gate = UnitChannelStride(tr.gate);
    torch::Tensor rstd = tr.norm_rstd.defined() ? UnitChannelStride(tr.norm_rstd) : torch::Tensor();
    torch::Tensor gamma =
        tr.gated_norm.defined() ? tr.gated_norm.to(torch::kFloat32).contiguous() : torch::Tensor();
    layer.conv_w = tr.conv_w.to(torch::kFloat32).contiguous();
    layer.conv_b =
        tr.conv_b.defined() ? tr.conv_b.to(torch::kFloat32).contiguous() : torch::Tensor();
    layer.x_in = x;  // the reference contributions (fallback shapes) cast it themselves
    // The fp64 prefix sum of Δ; the kernel splits it into hi + lo floats.
    torch::Tensor cum = torch::cumsum(delta, 1, torch::kFloat64).contiguous();
    auto f32 = gate.options().dtype(torch::kFloat32);
    layer.delta = torch::empty({Bt, L, U}, f32);
    layer.cum_delta = torch::empty({Bt, L, U}, f32);
    layer.cum_delta_lo = torch::empty({Bt, L, U}, f32);
    layer.taps = torch::empty({Bt, L, K, E}, f32);
    layer.gain = torch::empty({Bt, L, E}, f32);
    if (Bt * L == 0) return;
    LatimPrepareParams p;
    p.batch = Bt;
    p.seq_len = L;
    p.d_inner = E;
    p.units = U;
    p.d_conv = K;
    p.activation = layer.activation;
    p.delta = delta.data_ptr();
    p.delta_type = TypeCode(delta);
    p.delta_sb = delta.stride(0);
    p.delta_sl = delta.stride(1);
    p.cum = cum.data_ptr<double>();
    p.x_in = x.data_ptr();
    p.x_type = TypeCode(x);
    p.x_sb = x.stride(0);
    p.x_sl = x.stride(1);
    p.gate = gate.data_ptr();
    p.gate_type = TypeCode(gate);
    p.gate_sb = gate.stride(0);
    p.gate_sl = gate.stride(1);
    if (rstd.defined()) {
      p.rstd = rstd.data_ptr();
      p.rstd_type = TypeCode(rstd);
      p.rstd_sb = rstd.stride(0);
      p.rstd_sl = rstd.stride(1);
      p.norm_group = E / rstd.size(2);
      p.gamma = gamma.data_ptr<float>();
    }
    p.conv_w = layer.conv_w.data_ptr<float>();
    p.conv_b = F32(layer.conv_b);
    p.delta_out = layer.delta.data_ptr<float>();
    p.cum_hi = layer.cum_delta.data_ptr<float>();
    p.cum_lo = layer.cum_delta_lo.data_ptr<float>();
    p.taps = layer.taps.data_ptr<float>();
    p.gain = layer.gain.data_ptr<float>();
    Check(LaunchLatimPrepare(p, c10::cuda::getCurrentCUDAStream()), "MakeLatimInputs");
    return;
  }
#endif
  MakeLatimInputsRef(tr, layer);
}

torch::Tensor LatimRowErrors(const torch::Tensor& sum_t, const torch::Tensor& slot_b,
                             const torch::Tensor& slot_t, const torch::Tensor& y,
                             const torch::Tensor& bias) {
#ifdef ME_WITH_CUDA
  if (y.is_cuda() && y.size(0) > 0 && y.size(2) > 0) {
    const c10::cuda::CUDAGuard guard(y.device());
    const int64_t slots = sum_t.size(0), D = y.size(2);
    torch::Tensor out = torch::empty({2, slots}, sum_t.options().dtype(torch::kFloat32));
    if (slots == 0) return out;
    torch::Tensor yv = UnitChannelStride(y), st = sum_t.to(torch::kFloat32).contiguous();
    torch::Tensor sb = slot_b.to(y.device(), torch::kLong).contiguous();
    torch::Tensor stt = slot_t.to(y.device(), torch::kLong).contiguous();
    torch::Tensor b = bias.defined() ? bias.to(torch::kFloat32).contiguous() : torch::Tensor();
    LatimRowErrorParams p;
    p.slots = slots;
    p.batch = yv.size(0);
    p.d_model = D;
    p.sum_t = st.data_ptr<float>();
    p.slot_b = sb.data_ptr<int64_t>();
    p.slot_t = stt.data_ptr<int64_t>();
    p.y = yv.data_ptr();
    p.y_type = TypeCode(yv);
    p.y_sb = yv.stride(0);
    p.y_sl = yv.stride(1);
    p.bias = F32(b);
    p.err = out.data_ptr<float>();
    Check(LaunchLatimRowErrors(p, c10::cuda::getCurrentCUDAStream()), "LatimRowErrors");
    return out;
  }
#endif
  return LatimRowErrorsRef(sum_t, slot_b, slot_t, y, bias);
}

torch::Tensor LatimGemm(const torch::Tensor& x, const torch::Tensor& w, Precision precision,
                        c10::optional<torch::ScalarType> out_dtype) {
  TORCH_CHECK(x.dim() == 2 && w.dim() == 2 && x.size(1) == w.size(1), "LatimGemm: shapes");
#ifdef ME_WITH_CUDA
  if (x.is_cuda()) {
    const c10::cuda::CUDAGuard guard(x.device());
    torch::Tensor a = x.contiguous(), b = w.to(x.scalar_type()).contiguous();
    const int64_t M = a.size(0), Kd = a.size(1), Nn = b.size(0);
    const torch::ScalarType out_type = out_dtype.value_or(a.scalar_type());
    TORCH_CHECK(out_type == a.scalar_type() || out_type == torch::kFloat,
                "LatimGemm: output dtype must be the input's or float32");
    torch::Tensor out = torch::empty({M, Nn}, a.options().dtype(out_type));
    if (M == 0) return out;
    const bool bf16 = a.scalar_type() == torch::kBFloat16;
    TORCH_CHECK(bf16 || a.scalar_type() == torch::kFloat, "LatimGemm: float32 or bfloat16");
    cublasHandle_t handle = at::cuda::getCurrentCUDABlasHandle();
    const cudaDataType_t type = bf16 ? CUDA_R_16BF : CUDA_R_32F;
    const cublasComputeType_t compute =
        bf16 ? CUBLAS_COMPUTE_32F
             : (precision == Precision::kFp32 ? CUBLAS_COMPUTE_32F_PEDANTIC
                                              : CUBLAS_COMPUTE_32F_FAST_TF32);
    const float alpha = 1.0f, beta = 0.0f;
    // Row-major out[M, N] = a[M, K]·b[N, K]ᵀ is column-major outᵀ = b·aᵀ.
    const cublasStatus_t st =
        cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(Nn), static_cast<int>(M),
                     static_cast<int>(Kd), &alpha, b.data_ptr(), type, static_cast<int>(Kd),
                     a.data_ptr(), type, static_cast<int>(Kd), &beta, out.data_ptr(),
                     out_type == torch::kFloat ? CUDA_R_32F : CUDA_R_16BF, static_cast<int>(Nn),
                     compute, CUBLAS_GEMM_DEFAULT);
    TORCH_CHECK(st == CUBLAS_STATUS_SUCCESS, "LatimGemm: cublasGemmEx failed with status ",
                static_cast<int>(st));
    return out;
  }
#endif
  return torch::matmul(x.to(torch::kFloat32), w.to(torch::kFloat32).t())
      .to(out_dtype.value_or(x.scalar_type()));
}

LatimPairScores ComputeLatimPairScores(const torch::Tensor& T, const torch::Tensor& row_pos,
                                       const torch::Tensor& y, const torch::Tensor& resid,
                                       bool want_l1, bool want_l2, bool want_dist,
                                       int64_t src_begin, const LatimScoreSink* sink) {
#ifdef ME_WITH_CUDA
  if (T.is_cuda() && (T.scalar_type() == torch::kFloat || T.scalar_type() == torch::kBFloat16)) {
    const c10::cuda::CUDAGuard guard(T.device());
    const int64_t Rb = T.size(0), S = T.size(1), D = T.size(2);
    torch::Tensor t = T.contiguous();
    torch::Tensor pos = row_pos.to(T.device(), torch::kInt).contiguous();
    auto f32 = T.options().dtype(torch::kFloat32);
    LatimPairScores out;
    torch::Tensor slot;
    if (sink != nullptr) {
      slot = sink->slot.to(T.device(), torch::kLong).contiguous();
      TORCH_CHECK((!want_l1 || sink->l1.is_contiguous()) && (!want_l2 || sink->l2.is_contiguous()),
                  "ComputeLatimPairScores: sink matrices must be contiguous");
      TORCH_CHECK(!want_l1 || !want_l2 || sink->l1.size(1) == sink->l2.size(1),
                  "ComputeLatimPairScores: sink matrices of different widths");
    } else {
      if (want_l1) out.l1 = torch::empty({Rb, S}, f32);
      if (want_l2) out.l2 = torch::empty({Rb, S}, f32);
    }
    float* l1 = !want_l1          ? nullptr
                : sink != nullptr ? sink->l1.data_ptr<float>()
                                  : out.l1.data_ptr<float>();
    float* l2 = !want_l2          ? nullptr
                : sink != nullptr ? sink->l2.data_ptr<float>()
                                  : out.l2.data_ptr<float>();
    torch::Tensor yc, rc;
    if (want_dist) {
      out.dist = torch::empty({Rb, S}, f32);
      yc = y.to(torch::kFloat32).contiguous();
      rc = resid.to(torch::kFloat32).contiguous();
    }
    if (Rb == 0 || S == 0) return out;
    LatimPairScoreParams p;
    p.rows = Rb;
    p.n_src = S;
    p.src_begin = src_begin;
    p.d_model = D;
    p.T = t.data_ptr();
    p.t_type = T.scalar_type() == torch::kBFloat16 ? kLatimOutBf16 : kLatimOutF32;
    p.row_pos = pos.data_ptr<int32_t>();
    p.y = want_dist ? yc.data_ptr<float>() : nullptr;
    p.resid = want_dist ? rc.data_ptr<float>() : nullptr;
    p.l1 = l1;
    p.l2 = l2;
    if (sink != nullptr) {
      p.out_slot = slot.data_ptr<int64_t>();
      p.out_ld = want_l1 ? sink->l1.size(1) : want_l2 ? sink->l2.size(1) : 0;
    }
    p.dist = want_dist ? out.dist.data_ptr<float>() : nullptr;
    Check(LaunchLatimPairScores(p, c10::cuda::getCurrentCUDAStream()), "LatimPairScores");
    return out;
  }
#endif
  return ComputeLatimPairScoresRef(T, row_pos, y, resid, want_l1, want_l2, want_dist, src_begin,
                                   sink);
}

}  // namespace mamba_explain
