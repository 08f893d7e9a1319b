// Synthetic retrieval with known evidence (issue 16 item 2): multi-query associative recall
// (Arora et al. 2023, "Zoology", MQAR) shaped as LaTIM §4.3's passkey retrieval — k key–value
// pairs hidden among distractor tokens, then a query key whose value must be produced.
// Layout of one sample (T = context + 4 positions):
//   [BOS] c_1 … c_n [SEP] q v
// c: `context` tokens, distractors (filler ids) except for k adjacent pairs (key, value) at
// random non-overlapping places; q = the gold pair's key, v = its value. Position T−2 (q)
// predicts v: that is the explained prediction; its evidence is the gold pair's value (and key)
// position. Ids: 0 = BOS, 1 = SEP; the content ids 2..vocab−1 are split in three contiguous
// ranges — keys, values, fillers (sizes ⌊m/3⌋, ⌊m/3⌋, the rest, m = vocab − 2) — so a distractor
// never looks like a key or a value. Keys of a sample are distinct, and so are its values (the
// answer is unique). The gold pair is uniform among the k; `gold_first` says whether it is the
// first pair in the context (LaTIM Table 4's first-key split).
// Torch-free, deterministic for a seed (std::mt19937_64), thread-safe.
#ifndef MAMBA_EXPLAIN_EVAL_TASKS_RECALL_TASK_H_
#define MAMBA_EXPLAIN_EVAL_TASKS_RECALL_TASK_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace mamba_explain {

constexpr int32_t kRecallBos = 0;
constexpr int32_t kRecallSep = 1;

struct RecallSpec {
  int context = 64;    // distractor + pair tokens between BOS and SEP
  int keys = 1;        // k key–value pairs (1, 2, 4 in the paper)
  int64_t vocab = 32;  // model vocabulary
};

// The three id ranges [first, first + size) of a vocabulary.
struct RecallVocab {
  int32_t key_first = 0, key_count = 0;
  int32_t value_first = 0, value_count = 0;
  int32_t filler_first = 0, filler_count = 0;
};

struct RecallSample {
  std::vector<int32_t> ids;      // T = context + 4
  std::vector<int64_t> key_pos;  // position of each pair's key, in context order (ascending)
  int gold = 0;                  // index into key_pos of the queried pair
  int64_t query_pos = 0;         // T − 2: the position whose prediction is the answer
  int64_t gold_key_pos = 0;      // key_pos[gold]
  int64_t gold_value_pos = 0;    // key_pos[gold] + 1
  bool gold_first = false;       // gold == 0
};

// INVALID_ARGUMENT if keys < 1, context < 2·keys, or a range holds fewer than `keys` ids (keys)
// or values, or no filler id (vocab too small).
absl::StatusOr<RecallVocab> MakeRecallVocab(const RecallSpec& spec);

// `samples` samples from one generator seeded with `seed` (errors of MakeRecallVocab).
absl::StatusOr<std::vector<RecallSample>> MakeRecallSamples(const RecallSpec& spec, int samples,
                                                            uint64_t seed);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_EVAL_TASKS_RECALL_TASK_H_
