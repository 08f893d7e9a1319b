// The few Unicode operations the tokenizer needs: strict and lossy UTF-8 decoding, UTF-8
// encoding, NFC normalization (ICU), and the character classes of the GPT-2 pre-tokenizer regex
// (\p{L}, \p{N} and Oniguruma's Unicode \s, which is the White_Space property).
// Lossy decoding replaces each maximal ill-formed subpart with one U+FFFD, the rule of Unicode
// §3.9 that Rust's String::from_utf8_lossy (and so HF tokenizers' decode) follows.
// Character data comes from the system ICU; all functions are pure and thread-safe.
#ifndef MAMBA_EXPLAIN_MODEL_UNICODE_H_
#define MAMBA_EXPLAIN_MODEL_UNICODE_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mamba_explain::unicode {

// Decodes the UTF-8 sequence that starts at text[pos] (pos < text.size()). On success sets
// *code_point and *length (1..4) and returns true. On an ill-formed sequence returns false and sets
// *length to the length of its maximal subpart (>= 1), the bytes one U+FFFD stands for.
bool DecodeUtf8At(std::string_view text, size_t pos, char32_t* code_point, size_t* length);

// OK when `text` is well-formed UTF-8 (no surrogates, overlongs or code points > U+10FFFF);
// otherwise INVALID_ARGUMENT naming the offending byte offset.
absl::Status ValidateUtf8(std::string_view text);

// Code points of well-formed UTF-8 `text`; INVALID_ARGUMENT as ValidateUtf8 otherwise.
absl::StatusOr<std::u32string> DecodeUtf8(std::string_view text);

// Well-formed UTF-8 from arbitrary bytes; each maximal ill-formed subpart becomes U+FFFD.
std::string DecodeUtf8Lossy(std::string_view bytes);

// Appends the UTF-8 encoding of a scalar value (callers pass code points <= U+10FFFF).
void AppendUtf8(char32_t code_point, std::string* out);

// Canonical composition (NFC) of well-formed UTF-8 text. INTERNAL only if ICU's data is unusable.
absl::StatusOr<std::string> NormalizeNfc(std::string_view utf8);

// General category L (Lu, Ll, Lt, Lm, Lo): regex \p{L}.
bool IsLetter(char32_t code_point);
// General category N (Nd, Nl, No): regex \p{N}.
bool IsNumber(char32_t code_point);
// White_Space property: Oniguruma's \s for Unicode strings (includes U+0085, U+00A0, U+3000;
// excludes U+200B and U+FEFF).
bool IsWhiteSpace(char32_t code_point);

}  // namespace mamba_explain::unicode

#endif  // MAMBA_EXPLAIN_MODEL_UNICODE_H_
