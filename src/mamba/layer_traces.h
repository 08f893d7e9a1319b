// LayerTraces: one layer's Trace at a time, recomputed when asked, instead of every layer's
// trace kept from one forward pass (issue 18: explaining 10^5–10^6-token prompts). Only block
// inputs are kept — the residual stream [B, L, D] fp32 — and a layer is recomputed from its input
// in chunks of positions, the conv history and SSM state carried from chunk to chunk
// (mixer_state.h), so the temporaries are O(B·chunk·E) beside the checkpoints and the one
// LayerTrace handed out. The values equal MambaModel::Forward's trace up to fp32 rounding (the
// projections see other matrix shapes; Mamba-2's SSD other chunk boundaries); tests compare them.
// Two orders: kIncreasing keeps only the stream at the next layer (memory O(B·L·D), layers asked
// in increasing order, each once); kAny runs the forward at once and keeps every layer's input
// (O(layers·B·L·D)), any layer any number of times. Not thread-safe (Layer advances the stream);
// holds a pointer to the model, which must outlive it. Forward only (no gradients).
#ifndef MAMBA_EXPLAIN_MAMBA_LAYER_TRACES_H_
#define MAMBA_EXPLAIN_MAMBA_LAYER_TRACES_H_

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "mamba/trace.h"
#include "model/config.h"

namespace mamba_explain {

class MambaModel;

struct LayerTracesOptions {
  enum class Order { kIncreasing, kAny };
  Order order = Order::kIncreasing;
  // Positions per chunk of a layer's recomputation; 0 = the largest whose temporaries fit
  // memory_budget_bytes (RecomputeChunkLength).
  int64_t chunk_len = 0;
  int64_t memory_budget_bytes = int64_t{256} << 20;
};

// fp32 bytes of one LayerTrace per (sequence, position) (every field the mixers fill).
int64_t LayerTraceBytesPerPosition(const ModelConfig& config);
// Estimated bytes of the temporaries of one block's forward per (sequence, position).
int64_t BlockTemporaryBytesPerPosition(const ModelConfig& config);
// Chunk length whose temporaries for `batch` sequences fit `budget_bytes`: in [1, seq_len], and a
// multiple of Mamba-2's SSD chunk when at least one.
int64_t RecomputeChunkLength(const ModelConfig& config, int64_t batch, int64_t seq_len,
                             int64_t budget_bytes);

class LayerTraces {
 public:
  // Embeds ids ([B, L] int64; lengths [B] int64 or undefined = all L, as MambaModel::Forward) and,
  // with kAny, runs every block keeping its input. Errors as MambaModel::Forward.
  static absl::StatusOr<LayerTraces> Create(const MambaModel& model, const torch::Tensor& ids,
                                            const torch::Tensor& lengths,
                                            const LayerTracesOptions& options);
  // Over the layers of an existing full trace (tests, callers that already have one): Layer(l)
  // hands out the traced layer, any order; NOT_FOUND for a layer it does not hold.
  static LayerTraces FromTrace(Trace trace);

  // The trace of `layer` ([B, L, ...] fp32, as in trace.h). INVALID_ARGUMENT for a layer out of
  // range; FAILED_PRECONDITION for a layer at or below the last one with kIncreasing. The tensors
  // handed out are never modified afterwards.
  absl::StatusOr<LayerTrace> Layer(int layer);

  int64_t batch() const { return batch_; }
  int64_t seq_len() const { return seq_len_; }
  torch::Device device() const { return device_; }
  int64_t chunk_len() const { return chunk_len_; }
  // Bytes held now between calls: checkpoints (kAny) or the residual stream (kIncreasing).
  int64_t HeldBytes() const;

 private:
  LayerTraces() = default;
  // Runs `layer` over `h` chunk by chunk: with `trace`, fills it (residual_in = h); without,
  // adds the mixer output to h in place.
  absl::Status RunLayer(int layer, const torch::Tensor& h, LayerTrace* trace) const;

  const MambaModel* model_ = nullptr;
  LayerTracesOptions options_;
  int64_t batch_ = 0, seq_len_ = 0, chunk_len_ = 0;
  torch::Device device_ = torch::kCPU;
  torch::Tensor lengths_;                   // [B] int64 on device_
  std::vector<torch::Tensor> checkpoints_;  // kAny: input of every layer, [B, L, D] each
  torch::Tensor stream_;                    // kIncreasing: input of layer next_layer_
  int next_layer_ = 0;
  torch::Tensor pending_mixer_out_;  // kIncreasing: layer next_layer_ was handed out
  bool from_trace_ = false;
  Trace full_;
};

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_MAMBA_LAYER_TRACES_H_
