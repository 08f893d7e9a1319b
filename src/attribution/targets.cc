#include "attribution/targets.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "mamba/checkpointed_forward.h"
#include "mamba/layer_check.h"
#include "mamba/mamba_ops.h"

namespace mamba_explain {

absl::StatusOr<std::vector<SequenceTargets>> ResolveTargets(const MambaModel& model,
                                                            const torch::Tensor& ids,
                                                            const torch::Tensor& lengths,
                                                            const RowSelection& selection,
                                                            std::optional<int64_t> target_token) {
  return ResolveTargets(model, ids, lengths, std::vector<RowSelection>{selection}, target_token);
}

absl::StatusOr<std::vector<SequenceTargets>> ResolveTargets(
    const MambaModel& model, const torch::Tensor& ids, const torch::Tensor& lengths,
    const std::vector<RowSelection>& selections, std::optional<int64_t> target_token) {
  // Target tokens and rows were checked once, at the Engine's entry (explain CheckValidated).
  TORCH_INTERNAL_ASSERT_DEBUG_ONLY(ids.dim() == 2 && ids.size(1) > 0, "ids must be [B, L], L >= 1");
  const int64_t batch = ids.size(0), L = ids.size(1);
  TORCH_INTERNAL_ASSERT_DEBUG_ONLY(
      selections.size() == 1 || static_cast<int64_t>(selections.size()) == batch,
      "one row selection, or one per sequence");
  ForwardOptions fwd;
  fwd.compute_logits = false;
  torch::NoGradGuard no_grad;
  ASSIGN_OR_RETURN(ForwardOutput out, model.Forward(ids, lengths, fwd));
  torch::Tensor lens = lengths.defined() ? lengths.to(torch::kCPU, torch::kLong)
                                         : torch::full({batch}, L, torch::kLong);
  std::vector<SequenceTargets> result(batch);
  for (int64_t b = 0; b < batch; ++b) {
    SequenceTargets& st = result[b];
    const RowSelection& selection = selections.size() == 1 ? selections[0] : selections[b];
    st.length = lens[b].item<int64_t>();
    ASSIGN_OR_RETURN(st.rows, ResolveRows(selection, st.length, b));
    torch::Tensor index = torch::tensor(st.rows, torch::kLong).to(model.device());
    torch::Tensor logits =
        Project(out.final_hidden[b].index_select(0, index), model.weights().lm_head,
                torch::Tensor());  // [Q, V]
    torch::Tensor tokens;
    if (!selection.tokens.empty()) {
      TORCH_INTERNAL_ASSERT_DEBUG_ONLY(selection.tokens.size() == st.rows.size(),
                                       "one target token per row");
      tokens = torch::tensor(selection.tokens, torch::kLong).to(model.device());
    } else if (target_token.has_value()) {
      tokens = torch::full({index.size(0)}, *target_token, index.options());
    } else {
      tokens = logits.argmax(-1);
    }
    torch::Tensor values = logits.gather(1, tokens.unsqueeze(1)).squeeze(1).to(torch::kCPU);
    tokens = tokens.to(torch::kCPU);
    st.tokens.assign(tokens.data_ptr<int64_t>(), tokens.data_ptr<int64_t>() + tokens.numel());
    st.logits.assign(values.data_ptr<float>(), values.data_ptr<float>() + values.numel());
  }
  return result;
}

absl::Status GradientsOfTargets(const EmbeddingLogitFn& fn, const GradientItems& items,
                                int64_t max_batch_tokens, const GradientSink& sink,
                                const Cancellation& cancel, const GradientProgress& progress) {
  torch::AutoGradMode grad_mode(true);
  const size_t count_all = items.lengths.size();
  auto sequence_of = [&](size_t i) -> int64_t {
    return items.sequences.empty() ? 0 : items.sequences[i];
  };
  int64_t done = 0;
  for (size_t i0 = 0; i0 < count_all;) {
    // Greedy packing of the items still wanted: grow the batch while (items × longest) stays
    // within the budget. The check runs once per batch, so cancelling costs at most one batch.
    std::vector<size_t> chosen;
    int64_t longest = 0;
    size_t i1 = i0;
    for (; i1 < count_all; ++i1) {
      if (cancel.IsCancelled(sequence_of(i1))) continue;
      const int64_t next = std::max(longest, items.lengths[i1]);
      if (!chosen.empty() && static_cast<int64_t>(chosen.size() + 1) * next > max_batch_tokens) {
        break;
      }
      longest = next;
      chosen.push_back(i1);
    }
    i0 = i1;
    if (chosen.empty()) break;
    const int64_t count = static_cast<int64_t>(chosen.size());
    torch::Tensor x;  // [count, longest, D], zero padding (never reaches real positions)
    std::vector<int64_t> lens(count), toks(count);
    for (int64_t k = 0; k < count; ++k) {
      torch::Tensor in = items.input(chosen[k]).detach();
      if (!x.defined()) x = torch::zeros({count, longest, in.size(1)}, in.options());
      x[k].narrow(0, 0, in.size(0)).copy_(in);
      lens[k] = items.lengths[chosen[k]];
      toks[k] = items.tokens[chosen[k]];
    }
    x.requires_grad_(true);
    // The batch's sequences (items are in sequence order): the batch goes on while one is wanted.
    std::vector<int64_t> batch_sequences;
    for (size_t item : chosen) {
      if (batch_sequences.empty() || batch_sequences.back() != sequence_of(item)) {
        batch_sequences.push_back(sequence_of(item));
      }
    }
    auto batch_cancelled = [&cancel, &batch_sequences] {
      for (int64_t s : batch_sequences) {
        if (!cancel.IsCancelled(s)) return false;
      }
      return true;
    };
    const LayerCheck check = [&batch_cancelled]() {
      return batch_cancelled()
                 ? absl::CancelledError("every sequence of the gradient batch was cancelled")
                 : absl::OkStatus();
    };
    absl::StatusOr<torch::Tensor> logits =
        fn(x, torch::tensor(lens, torch::kLong), check);  // [count, V]
    if (!logits.ok()) {
      if (batch_cancelled()) continue;  // stopped in the forward: the next batch skips them
      return logits.status();
    }
    torch::Tensor index = torch::tensor(toks, torch::kLong).to(logits->device()).unsqueeze(1);
    torch::Tensor selected = logits->gather(1, index).squeeze(1);  // [count]
    // Items are independent, so d(Σ_k f_k)/dx[k] = df_k/dx[k]: one backward for the batch.
    // Stopped in the backward: the next batch skips them (the graph is freed with the tensors
    // above).
    std::optional<std::vector<torch::Tensor>> grads =
        GradUnlessStopped({selected.sum()}, {x}, batch_cancelled);
    if (!grads.has_value()) continue;
    const torch::Tensor& grad = (*grads)[0];
    torch::Tensor values = selected.detach().to(torch::kCPU);
    for (int64_t k = 0; k < count; ++k) {
      sink(chosen[k], grad[k].narrow(0, 0, lens[k]), values[k].item<float>());
    }
    done += count;
    if (progress) progress(done, static_cast<int64_t>(count_all));
  }
  for (size_t i = 0; i < count_all; ++i) {
    if (!cancel.IsCancelled(sequence_of(i))) return absl::OkStatus();
  }
  return count_all == 0 ? absl::OkStatus()
                        : absl::CancelledError("every sequence of the gradient items cancelled");
}

EmbeddingLogitFn ModelLogitFn(const MambaModel& model) {
  return [&model](const torch::Tensor& x, const torch::Tensor& lengths,
                  const LayerCheck& check) -> absl::StatusOr<torch::Tensor> {
    // Long inputs keep only each block's input and recompute the block in the backward
    // (checkpointed_forward.h): the same gradients for one more forward pass.
    if (DifferentiableForwardBytes(model.config(), x.size(0) * x.size(1)) > kCheckpointAboveBytes) {
      return CheckpointedLogits(model, x, lengths, /*last_position_logits_only=*/true, check);
    }
    ForwardOptions fwd;
    fwd.last_position_logits_only = true;
    fwd.layer_check = check;
    ASSIGN_OR_RETURN(ForwardOutput out, model.ForwardFromEmbeddings(x, lengths, fwd));
    return out.logits;
  };
}

}  // namespace mamba_explain
