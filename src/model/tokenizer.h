// Byte-level BPE tokenizer for HF tokenizer.json files of the GPT-NeoX family (the tokenizer of
// the public Mamba checkpoints), research/mamba_reference.md §4: added tokens (non-normalized ones
// split first, normalized ones after NFC), NFC normalization, the GPT-2 pre-tokenizer regex with
// Unicode categories, the byte-to-unicode map, BPE merges (both "a b" and ["a","b"] formats).
// Encode matches HF tokenizers id for id; Decode is lossy on invalid UTF-8 like HF.
// Immutable after construction; thread-safe.
#ifndef MAMBA_EXPLAIN_MODEL_TOKENIZER_H_
#define MAMBA_EXPLAIN_MODEL_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace mamba_explain {

// The start of an encoding: at most a caller's number of ids, and whether the text has more.
struct EncodedPrefix {
  std::vector<int32_t> ids;  // the first ids of Encode(text)
  bool truncated = false;    // Encode(text) has more ids than these
};

class Tokenizer {
 public:
  // INVALID_ARGUMENT naming the file and field for unsupported or malformed tokenizer.json
  // (e.g. model.type != "BPE"); NOT_FOUND when the file is missing.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromFile(const std::string& path);
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromJson(const std::string& json_text,
                                                             const std::string& source);
  ~Tokenizer();

  // INVALID_ARGUMENT on invalid UTF-8 input.
  absl::StatusOr<std::vector<int32_t>> Encode(std::string_view text) const;
  // The first min(n, max_ids) ids of Encode(text) (n its length) and whether n > max_ids, for a
  // caller that refuses texts over a token limit: BPE, the costly step, stops once more than
  // max_ids ids are made (pieces are encoded independently, so earlier ids never change). The
  // linear passes over the whole text remain (UTF-8 check, added-token split, NFC, pre-token
  // split). INVALID_ARGUMENT on invalid UTF-8 anywhere in the text, as Encode.
  absl::StatusOr<EncodedPrefix> EncodeAtMost(std::string_view text, size_t max_ids) const;
  // Concatenates token bytes and decodes as UTF-8 (invalid sequences -> U+FFFD).
  // INVALID_ARGUMENT for ids outside [0, vocab_size()).
  absl::StatusOr<std::string> Decode(const std::vector<int32_t>& ids) const;
  // Human-readable text of one token (its bytes decoded lossily), for display next to scores.
  // Ids the tokenizer does not know (e.g. vocab padding rows) give "<|id:N|>".
  std::string TokenText(int32_t id) const;
  // Number of ids (max id + 1 over vocab and added tokens).
  int32_t vocab_size() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_MODEL_TOKENIZER_H_
