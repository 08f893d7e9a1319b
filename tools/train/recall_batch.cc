#include "tools/train/recall_batch.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace mamba_explain {

uint64_t RecallTrainSeed(uint64_t seed, int64_t step, int group) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(step) * 0xBF58476D1CE4E5B9ULL +
               static_cast<uint64_t>(group) * 0x94D049BB133111EBULL + 0x632BE59BD9B4E019ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

CopyBatch RecallSamplesToBatch(const std::vector<RecallSample>& samples) {
  const int64_t B = static_cast<int64_t>(samples.size());
  const int64_t T = B == 0 ? 0 : static_cast<int64_t>(samples[0].ids.size());
  CopyBatch b;
  b.ids = torch::empty({B, T}, torch::kInt64);
  b.targets = torch::full({B, T}, -100, torch::kInt64);
  int64_t* ids = b.ids.data_ptr<int64_t>();
  int64_t* targets = b.targets.data_ptr<int64_t>();
  for (int64_t s = 0; s < B; ++s) {
    const RecallSample& r = samples[s];
    for (int64_t p = 0; p < T; ++p) ids[s * T + p] = r.ids[p];
    targets[s * T + r.query_pos] = r.ids[r.query_pos + 1];
  }
  return b;
}

absl::StatusOr<CopyBatch> MakeRecallBatch(int64_t batch, int context, const std::vector<int>& keys,
                                          int64_t vocab, int64_t step, uint64_t seed) {
  if (keys.empty() || batch < 1) {
    return absl::InvalidArgumentError("recall batch: keys must be non-empty and batch ≥ 1");
  }
  const int groups = static_cast<int>(keys.size());
  std::vector<std::vector<RecallSample>> per_group(groups);
  for (int g = 0; g < groups; ++g) {
    const int count = static_cast<int>((batch - g + groups - 1) / groups);  // b ≡ g (mod groups)
    if (count <= 0) continue;
    ASSIGN_OR_RETURN(per_group[g], MakeRecallSamples(RecallSpec{context, keys[g], vocab}, count,
                                                     RecallTrainSeed(seed, step, g)));
  }
  std::vector<RecallSample> samples;
  samples.reserve(batch);
  for (int64_t b = 0; b < batch; ++b) {
    samples.push_back(std::move(per_group[b % groups][b / groups]));
  }
  return RecallSamplesToBatch(samples);
}

}  // namespace mamba_explain
