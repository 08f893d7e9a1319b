// The GPT-2 pre-tokenizer split that HF's ByteLevel pre-tokenizer performs with Oniguruma,
// written as a scanner over code points (std::regex has no \p{L}, and Oniguruma's \s differs
// from other engines'):
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// Guarantees: the pieces are non-empty, in order, and concatenate to the input; case-sensitive
// contractions ("'S" is not one); \s is the White_Space property. Pure and thread-safe.
#ifndef MAMBA_EXPLAIN_MODEL_GPT2_PRETOKENIZER_H_
#define MAMBA_EXPLAIN_MODEL_GPT2_PRETOKENIZER_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "src/model/unicode.h"

namespace mamba_explain {

// End index (in code points) of the regex match that starts at `start` (< text.size()).
// Oniguruma tries the alternatives in order; every code point is a letter, a number, white space
// or "other", so some alternative always matches and the pieces tile the text.
inline size_t Gpt2MatchEnd(const std::u32string& text, size_t start) {
  const size_t n = text.size();
  const char32_t first = text[start];
  if (first == U'\'' && start + 1 < n) {
    const char32_t second = text[start + 1];
    if (second == U's' || second == U't' || second == U'm' || second == U'd') return start + 2;
    if (start + 2 < n) {
      const char32_t third = text[start + 2];
      if ((second == U'r' && third == U'e') || (second == U'v' && third == U'e') ||
          (second == U'l' && third == U'l')) {
        return start + 3;
      }
    }
  }
  // ` ?X+` for X = letter, number, other: the optional space only helps when X follows it, and
  // without the space the match would have to start on a space, which is none of the classes.
  const size_t body = (first == U' ' && start + 1 < n) ? start + 1 : start;
  const char32_t c = text[body];
  auto run_end = [&](auto in_class) {
    size_t end = body;
    while (end < n && in_class(text[end])) ++end;
    return end;
  };
  if (unicode::IsLetter(c)) return run_end(unicode::IsLetter);
  if (unicode::IsNumber(c)) return run_end(unicode::IsNumber);
  auto is_other = [](char32_t x) {
    return !unicode::IsWhiteSpace(x) && !unicode::IsLetter(x) && !unicode::IsNumber(x);
  };
  if (is_other(c)) return run_end(is_other);
  // Here text[start] is white space. `\s+(?!\S)` takes the whole run when it reaches the end of
  // the text; before a non-space it backtracks by one character, leaving that last space to
  // prefix the next word ("x\n\ny" -> "x", "\n", "\n", "y"). A single space before a non-space
  // fails the lookahead and falls to `\s+`.
  size_t end = start;
  while (end < n && unicode::IsWhiteSpace(text[end])) ++end;
  if (end == start) return start + 1;  // Unreachable: the classes cover every code point.
  if (end < n && end - start >= 2) return end - 1;
  return end;
}

// Splits well-formed UTF-8 `text` into pre-tokens (views into `text`). Ill-formed input gives no
// pieces; callers validate first.
inline std::vector<std::string_view> SplitGpt2PreTokens(std::string_view text) {
  std::vector<std::string_view> pieces;
  const auto code_points = unicode::DecodeUtf8(text);
  if (!code_points.ok()) return pieces;
  size_t byte_pos = 0;
  size_t start = 0;
  while (start < code_points->size()) {
    const size_t end = Gpt2MatchEnd(*code_points, start);
    size_t byte_end = byte_pos;
    for (size_t i = start; i < end; ++i) {
      const char32_t c = (*code_points)[i];
      byte_end += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    }
    pieces.push_back(text.substr(byte_pos, byte_end - byte_pos));
    byte_pos = byte_end;
    start = end;
  }
  return pieces;
}

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_MODEL_GPT2_PRETOKENIZER_H_
