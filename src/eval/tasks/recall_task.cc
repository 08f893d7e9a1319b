#include "eval/tasks/recall_task.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"

namespace mamba_explain {

absl::StatusOr<RecallVocab> MakeRecallVocab(const RecallSpec& spec) {
  if (spec.keys < 1 || spec.context < 2 * spec.keys) {
    return absl::InvalidArgumentError(absl::StrCat("recall: keys=", spec.keys,
                                                   " and context=", spec.context,
                                                   " need keys ≥ 1 and context ≥ "
                                                   "2·keys"));
  }
  const int64_t m = spec.vocab - 2;
  RecallVocab v;
  v.key_first = 2;
  v.key_count = static_cast<int32_t>(std::max<int64_t>(0, m / 3));
  v.value_first = v.key_first + v.key_count;
  v.value_count = v.key_count;
  v.filler_first = v.value_first + v.value_count;
  v.filler_count = static_cast<int32_t>(std::max<int64_t>(0, m - 2 * v.key_count));
  if (v.key_count < spec.keys || v.filler_count < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "recall: vocab ", spec.vocab, " gives ", v.key_count, " key ids, ", v.value_count,
        " value ids and ", v.filler_count, " filler ids for ", spec.keys, " keys"));
  }
  return v;
}

absl::StatusOr<std::vector<RecallSample>> MakeRecallSamples(const RecallSpec& spec, int samples,
                                                            uint64_t seed) {
  absl::StatusOr<RecallVocab> vocab = MakeRecallVocab(spec);
  if (!vocab.ok()) return vocab.status();
  const RecallVocab& v = *vocab;
  const int k = spec.keys, n = spec.context;
  std::mt19937_64 rng(seed);
  std::vector<RecallSample> out;
  out.reserve(std::max(0, samples));
  std::vector<int32_t> key_ids(v.key_count), value_ids(v.value_count);
  for (int s = 0; s < samples; ++s) {
    RecallSample r;
    r.ids.resize(n + 4);
    r.ids[0] = kRecallBos;
    std::uniform_int_distribution<int32_t> filler(v.filler_first,
                                                  v.filler_first + v.filler_count - 1);
    for (int p = 1; p <= n; ++p) r.ids[p] = filler(rng);
    // k non-overlapping pair slots: choose k starts among the n − k free tokens (stars and bars),
    // then shift the i-th by i so that each pair takes two places.
    std::vector<int> free(n - k);
    std::iota(free.begin(), free.end(), 0);
    std::shuffle(free.begin(), free.end(), rng);
    std::vector<int> starts(free.begin(), free.begin() + k);
    std::sort(starts.begin(), starts.end());
    std::iota(key_ids.begin(), key_ids.end(), v.key_first);
    std::iota(value_ids.begin(), value_ids.end(), v.value_first);
    std::shuffle(key_ids.begin(), key_ids.end(), rng);
    std::shuffle(value_ids.begin(), value_ids.end(), rng);
    for (int i = 0; i < k; ++i) {
      const int64_t pos = 1 + starts[i] + i;
      r.key_pos.push_back(pos);
      r.ids[pos] = key_ids[i];
      r.ids[pos + 1] = value_ids[i];
    }
    r.gold = std::uniform_int_distribution<int>(0, k - 1)(rng);
    r.gold_key_pos = r.key_pos[r.gold];
    r.gold_value_pos = r.gold_key_pos + 1;
    r.gold_first = r.gold == 0;
    r.ids[n + 1] = kRecallSep;
    r.ids[n + 2] = r.ids[r.gold_key_pos];
    r.ids[n + 3] = r.ids[r.gold_value_pos];
    r.query_pos = n + 2;
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace mamba_explain
