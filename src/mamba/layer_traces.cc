#include "mamba/layer_traces.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/out_of_memory.h"
#include "mamba/block_forward.h"
#include "mamba/mamba_model.h"

namespace mamba_explain {
namespace {

// The chunk-shaped fields a chunk's LayerTrace gives and the full one collects (residual_in is
// the block input itself and is not copied).
constexpr torch::Tensor LayerTrace::*kChunkFields[] = {
    &LayerTrace::normed, &LayerTrace::conv_in,   &LayerTrace::conv_pre, &LayerTrace::x,
    &LayerTrace::delta,  &LayerTrace::B,         &LayerTrace::C,        &LayerTrace::gate,
    &LayerTrace::y,      &LayerTrace::norm_rstd, &LayerTrace::mixer_out};

int64_t Bytes(const torch::Tensor& t) {
  return t.defined() ? t.numel() * static_cast<int64_t>(t.element_size()) : 0;
}

}  // namespace

int64_t LayerTraceBytesPerPosition(const ModelConfig& c) {
  const int64_t D = c.d_model, E = c.d_inner, N = c.d_state;
  if (c.arch == Architecture::kMamba1) return 4 * (3 * D + 7 * E + 2 * N);
  const int64_t CD = c.conv_dim(), H = c.n_heads, G = c.n_groups;
  return 4 * (3 * D + 2 * CD + 3 * E + H + 2 * G * N + E / c.norm_group_size());
}

int64_t BlockTemporaryBytesPerPosition(const ModelConfig& c) {
  const int64_t D = c.d_model, E = c.d_inner, N = c.d_state;
  if (c.arch == Architecture::kMamba1) {
    // in_proj output (2E), conv, activation, Δ and its softplus, scan output, gate, gated product
    // (≈ 9E), x_proj (R + 2N) and B/C copies (2N), normed input, mixer output and a copy (3D).
    return 4 * (10 * E + 4 * D + c.dt_rank + 4 * N);
  }
  // Mamba-2: in_proj (E + CD + H), conv and activation (2·CD), SSD: Δx, B/C per head (2HN),
  // decay and scores per chunk position (3QH), chunk states (2EN/Q), y_diag, y_off, y, gate and
  // norm (≈ 6E), normed input and output (3D); ×1.5 for the einsum temporaries.
  const int64_t CD = c.conv_dim(), H = c.n_heads, Q = std::max<int64_t>(1, c.chunk_size);
  const int64_t per = E + CD + H + 2 * CD + 2 * H * N + 3 * Q * H + 2 * E * N / Q + 6 * E + 3 * D;
  return 4 * per * 3 / 2;
}

int64_t RecomputeChunkLength(const ModelConfig& config, int64_t batch, int64_t seq_len,
                             int64_t budget_bytes) {
  const int64_t per_position = std::max<int64_t>(1, batch * BlockTemporaryBytesPerPosition(config));
  int64_t chunk =
      std::clamp<int64_t>(budget_bytes / per_position, 1, std::max<int64_t>(1, seq_len));
  const int64_t Q = config.chunk_size;
  if (config.arch == Architecture::kMamba2 && Q > 0 && chunk >= Q && chunk < seq_len) {
    chunk = chunk / Q * Q;
  }
  return chunk;
}

absl::StatusOr<LayerTraces> LayerTraces::Create(const MambaModel& model, const torch::Tensor& ids,
                                                const torch::Tensor& lengths,
                                                const LayerTracesOptions& options) {
  try {
    RETURN_IF_ERROR(model.CheckIds(ids));
    if (options.chunk_len < 0 || options.memory_budget_bytes <= 0) {
      return absl::InvalidArgumentError("chunk length must be ≥ 0 and the memory budget > 0");
    }
    LayerTraces t;
    t.model_ = &model;
    t.options_ = options;
    t.batch_ = ids.size(0);
    t.seq_len_ = ids.size(1);
    t.device_ = model.device();
    ASSIGN_OR_RETURN(torch::Tensor lens, MambaModel::ResolveLengths(lengths, t.batch_, t.seq_len_));
    t.lengths_ = lens.to(t.device_);
    t.chunk_len_ = options.chunk_len > 0
                       ? std::min(options.chunk_len, t.seq_len_)
                       : RecomputeChunkLength(model.config(), t.batch_, t.seq_len_,
                                              options.memory_budget_bytes);
    torch::NoGradGuard no_grad;
    torch::Tensor h = model.Embed(ids);  // [B, L, D] fp32
    if (options.order == LayerTracesOptions::Order::kIncreasing) {
      t.stream_ = std::move(h);
      return t;
    }
    const int n_layers = static_cast<int>(model.config().n_layers);
    for (int l = 0; l < n_layers; ++l) {
      t.checkpoints_.push_back(h);
      if (l + 1 == n_layers) break;  // the last block's output is no layer's input
      h = h.clone();
      RETURN_IF_ERROR(t.RunLayer(l, h, nullptr));
    }
    return t;
  } catch (const c10::Error& e) {
    if (IsOutOfMemory(e)) throw;  // for the explain layer's boundary
    return absl::InternalError(absl::StrCat("checkpointed forward: ", e.what_without_backtrace()));
  }
}

LayerTraces LayerTraces::FromTrace(Trace trace) {
  LayerTraces t;
  t.from_trace_ = true;
  if (!trace.layers.empty()) {
    const torch::Tensor& any = trace.layers.front().mixer_out;
    t.batch_ = any.size(0);
    t.seq_len_ = any.size(1);
    t.chunk_len_ = t.seq_len_;
    t.device_ = any.device();
  }
  t.full_ = std::move(trace);
  return t;
}

int64_t LayerTraces::HeldBytes() const {
  int64_t bytes = Bytes(stream_);
  for (const torch::Tensor& c : checkpoints_) bytes += Bytes(c);
  return bytes;
}

absl::Status LayerTraces::RunLayer(int layer, const torch::Tensor& h, LayerTrace* trace) const {
  const ModelConfig& config = model_->config();
  MixerState state;
  for (int64_t t0 = 0; t0 < seq_len_; t0 += chunk_len_) {
    const int64_t len = std::min(chunk_len_, seq_len_ - t0);
    torch::Tensor h_chunk = h.narrow(1, t0, len);           // [B, len, D]
    torch::Tensor lengths = (lengths_ - t0).clamp(0, len);  // real positions of this chunk
    LayerTrace chunk;
    ASSIGN_OR_RETURN(torch::Tensor mixer_out,
                     BlockBranchForward(model_->weights(), config, layer, h_chunk, lengths,
                                        trace != nullptr ? &chunk : nullptr, &state));
    if (trace == nullptr) {
      h_chunk.add_(mixer_out);  // later chunks read only their own positions and `state`
      continue;
    }
    for (torch::Tensor LayerTrace::*field : kChunkFields) {
      torch::Tensor& part = chunk.*field;
      if (!part.defined()) continue;
      torch::Tensor& whole = (*trace).*field;
      if (len == seq_len_) {  // one chunk: its tensors are the whole layer's, nothing to copy
        whole = std::move(part);
        continue;
      }
      if (!whole.defined()) {
        std::vector<int64_t> shape = part.sizes().vec();
        shape[1] = seq_len_;
        whole = torch::empty(shape, part.options());
      }
      whole.narrow(1, t0, len).copy_(part);
    }
  }
  if (trace != nullptr) {
    trace->layer = layer;
    trace->residual_in = h;
  }
  return absl::OkStatus();
}

absl::StatusOr<LayerTrace> LayerTraces::Layer(int layer) {
  if (from_trace_) {
    const LayerTrace* t = full_.Find(layer);
    if (t == nullptr) return absl::NotFoundError(absl::StrCat("layer ", layer, " not traced"));
    return *t;
  }
  const int n_layers = static_cast<int>(model_->config().n_layers);
  if (layer < 0 || layer >= n_layers) {
    return absl::InvalidArgumentError(absl::StrCat("layer ", layer, " not in [0, ", n_layers, ")"));
  }
  try {
    torch::NoGradGuard no_grad;
    LayerTrace trace;
    if (options_.order == LayerTracesOptions::Order::kAny) {
      RETURN_IF_ERROR(RunLayer(layer, checkpoints_[layer], &trace));
      return trace;
    }
    if (layer < next_layer_ || (layer == next_layer_ && pending_mixer_out_.defined())) {
      return absl::FailedPreconditionError(absl::StrCat("layer ", layer, " asked after layer ",
                                                        next_layer_, " (increasing order only)"));
    }
    if (pending_mixer_out_.defined()) {
      // The stream was handed out in a trace: the next one is a new tensor.
      stream_ = stream_ + pending_mixer_out_;
      pending_mixer_out_ = torch::Tensor();
      ++next_layer_;
    }
    for (; next_layer_ < layer; ++next_layer_)
      RETURN_IF_ERROR(RunLayer(next_layer_, stream_, nullptr));
    RETURN_IF_ERROR(RunLayer(layer, stream_, &trace));
    pending_mixer_out_ = trace.mixer_out;
    return trace;
  } catch (const c10::Error& e) {
    if (IsOutOfMemory(e)) throw;  // for the explain layer's boundary
    return absl::InternalError(
        absl::StrCat("recomputing layer ", layer, ": ", e.what_without_backtrace()));
  }
}

}  // namespace mamba_explain
