// UTF-8 coding by hand (the ill-formed cases must match Rust's from_utf8_lossy byte for byte);
// NFC and character properties from ICU.
#include "src/model/unicode.h"

#include <unicode/errorcode.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <cstdint>

#include "absl/strings/str_cat.h"

namespace mamba_explain::unicode {
namespace {

bool IsContinuation(uint8_t byte) { return (byte & 0xC0) == 0x80; }

}  // namespace

bool DecodeUtf8At(std::string_view text, size_t pos, char32_t* code_point, size_t* length) {
  const uint8_t lead = static_cast<uint8_t>(text[pos]);
  if (lead < 0x80) {
    *code_point = lead;
    *length = 1;
    return true;
  }
  // Table 3-7 of the Unicode standard: the lead byte fixes the sequence length and the allowed
  // range of the second byte (which excludes overlongs, surrogates and values above U+10FFFF).
  size_t need;
  uint8_t second_lo = 0x80, second_hi = 0xBF;
  char32_t value;
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 2;
    value = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    need = 3;
    value = lead & 0x0F;
    if (lead == 0xE0) second_lo = 0xA0;
    if (lead == 0xED) second_hi = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    need = 4;
    value = lead & 0x07;
    if (lead == 0xF0) second_lo = 0x90;
    if (lead == 0xF4) second_hi = 0x8F;
  } else {
    *length = 1;  // A stray continuation byte, C0, C1 or F5..FF.
    return false;
  }
  for (size_t i = 1; i < need; ++i) {
    if (pos + i >= text.size()) {
      *length = i;
      return false;
    }
    const uint8_t byte = static_cast<uint8_t>(text[pos + i]);
    const bool ok = i == 1 ? (byte >= second_lo && byte <= second_hi) : IsContinuation(byte);
    if (!ok) {
      *length = i;
      return false;
    }
    value = (value << 6) | (byte & 0x3F);
  }
  *code_point = value;
  *length = need;
  return true;
}

absl::Status ValidateUtf8(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    char32_t code_point;
    size_t length;
    if (!DecodeUtf8At(text, pos, &code_point, &length)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid UTF-8 at byte ", pos, " (0x",
                       absl::Hex(static_cast<uint8_t>(text[pos]), absl::kZeroPad2), ")"));
    }
    pos += length;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::u32string> DecodeUtf8(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    char32_t code_point;
    size_t length;
    if (!DecodeUtf8At(text, pos, &code_point, &length)) return ValidateUtf8(text);
    out.push_back(code_point);
    pos += length;
  }
  return out;
}

std::string DecodeUtf8Lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t pos = 0;
  while (pos < bytes.size()) {
    char32_t code_point;
    size_t length;
    if (DecodeUtf8At(bytes, pos, &code_point, &length)) {
      out.append(bytes.substr(pos, length));
    } else {
      AppendUtf8(0xFFFD, &out);
    }
    pos += length;
  }
  return out;
}

void AppendUtf8(char32_t code_point, std::string* out) {
  if (code_point < 0x80) {
    out->push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

absl::StatusOr<std::string> NormalizeNfc(std::string_view utf8) {
  icu::ErrorCode error;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(error);
  if (error.isFailure()) {
    return absl::InternalError(absl::StrCat("ICU NFC normalizer unavailable: ", error.errorName()));
  }
  const icu::UnicodeString source = icu::UnicodeString::fromUTF8(
      icu::StringPiece(utf8.data(), static_cast<int32_t>(utf8.size())));
  // Most text is already NFC; the quick check avoids a copy through UTF-16 and back.
  if (nfc->isNormalized(source, error) && error.isSuccess()) return std::string(utf8);
  error.reset();
  const icu::UnicodeString normalized = nfc->normalize(source, error);
  if (error.isFailure()) {
    return absl::InternalError(absl::StrCat("ICU NFC normalization failed: ", error.errorName()));
  }
  std::string out;
  normalized.toUTF8String(out);
  return out;
}

bool IsLetter(char32_t code_point) {
  return (U_GET_GC_MASK(static_cast<UChar32>(code_point)) & U_GC_L_MASK) != 0;
}

bool IsNumber(char32_t code_point) {
  return (U_GET_GC_MASK(static_cast<UChar32>(code_point)) & U_GC_N_MASK) != 0;
}

bool IsWhiteSpace(char32_t code_point) {
  return u_isUWhiteSpace(static_cast<UChar32>(code_point)) != 0;
}

}  // namespace mamba_explain::unicode
