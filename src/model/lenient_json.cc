// Lenient JSON: a pre-scan replaces the bare tokens Infinity / -Infinity / NaN (outside string
// literals) by sentinel strings, nlohmann parses the result strictly, and a tree walk turns the
// sentinels and {"__float__": "..."} boxes into doubles. Byte offsets in error messages refer to
// the original text.
#include "model/lenient_json.h"

#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace mamba_explain {
namespace {

// Sentinels start with an escaped NUL, which no real config string contains.
constexpr char kPosInfSentinel[] = "\\u0000me-lenient:+inf";
constexpr char kNegInfSentinel[] = "\\u0000me-lenient:-inf";
constexpr char kNanSentinel[] = "\\u0000me-lenient:nan";

// One substitution made by the pre-scan, for mapping offsets back to the original text.
struct Substitution {
  size_t original_offset;
  size_t original_length;
  size_t new_offset;
  size_t new_length;
};

bool IsIdentifierChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// True when `word` starts at text[pos] and is not followed by an identifier character.
bool WordAt(const std::string& text, size_t pos, const char* word) {
  const size_t n = std::strlen(word);
  if (text.compare(pos, n, word) != 0) return false;
  return pos + n >= text.size() || !IsIdentifierChar(text[pos + n]);
}

std::string Substitute(const std::string& text, std::vector<Substitution>* subs) {
  std::string out;
  out.reserve(text.size() + 16);
  bool in_string = false;
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < text.size()) {
        out.push_back(text[i + 1]);
        i += 2;
        continue;
      }
      if (c == '"') in_string = false;
      ++i;
      continue;
    }
    if (c == '"') {
      in_string = true;
      out.push_back(c);
      ++i;
      continue;
    }
    const bool preceded_by_word = i > 0 && IsIdentifierChar(text[i - 1]);
    const char* sentinel = nullptr;
    size_t length = 0;
    if (!preceded_by_word) {
      if (WordAt(text, i, "Infinity")) {
        sentinel = kPosInfSentinel;
        length = 8;
      } else if (c == '-' && WordAt(text, i + 1, "Infinity")) {
        sentinel = kNegInfSentinel;
        length = 9;
      } else if (WordAt(text, i, "NaN")) {
        sentinel = kNanSentinel;
        length = 3;
      }
    }
    if (sentinel != nullptr) {
      const std::string quoted = absl::StrCat("\"", sentinel, "\"");
      subs->push_back({i, length, out.size(), quoted.size()});
      out += quoted;
      i += length;
      continue;
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

size_t OriginalOffset(size_t new_offset, const std::vector<Substitution>& subs) {
  // Shift by the accumulated length difference of all substitutions that end before the offset;
  // an offset inside a substitution maps to its start.
  long long delta = 0;
  for (const Substitution& s : subs) {
    if (new_offset < s.new_offset) break;
    if (new_offset < s.new_offset + s.new_length) return s.original_offset;
    delta += static_cast<long long>(s.new_length) - static_cast<long long>(s.original_length);
  }
  const long long original = static_cast<long long>(new_offset) - delta;
  return original < 0 ? 0 : static_cast<size_t>(original);
}

// The unescaped form of a sentinel (as nlohmann stores the string value).
std::string Unescaped(const char* sentinel) {
  // "\\u0000" (6 chars) becomes one NUL byte.
  return std::string(1, '\0') + std::string(sentinel + 6);
}

// Deeper documents are rejected rather than risking the stack in the recursive walk.
constexpr int kMaxDepth = 256;

absl::Status ConvertNonFinite(nlohmann::json* node, const std::string& source,
                              const std::string& path, int depth) {
  if (depth > kMaxDepth) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": JSON nested deeper than ", kMaxDepth, " levels at ", path));
  }
  static const std::string* const kPosInf = new std::string(Unescaped(kPosInfSentinel));
  static const std::string* const kNegInf = new std::string(Unescaped(kNegInfSentinel));
  static const std::string* const kNan = new std::string(Unescaped(kNanSentinel));
  if (node->is_string()) {
    const std::string& s = node->get_ref<const std::string&>();
    if (s == *kPosInf) {
      *node = std::numeric_limits<double>::infinity();
    } else if (s == *kNegInf) {
      *node = -std::numeric_limits<double>::infinity();
    } else if (s == *kNan) {
      *node = std::numeric_limits<double>::quiet_NaN();
    }
    return absl::OkStatus();
  }
  if (node->is_array()) {
    for (size_t i = 0; i < node->size(); ++i) {
      RETURN_IF_ERROR(
          ConvertNonFinite(&(*node)[i], source, absl::StrCat(path, "[", i, "]"), depth + 1));
    }
    return absl::OkStatus();
  }
  if (!node->is_object()) return absl::OkStatus();
  if (node->size() == 1 && node->contains("__float__")) {
    const nlohmann::json& boxed = (*node)["__float__"];
    if (!boxed.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": ", path.empty() ? "<root>" : path,
                                                     ": \"__float__\" must hold a string, got ",
                                                     boxed.dump()));
    }
    const std::string& s = boxed.get_ref<const std::string&>();
    if (s == "Infinity" || s == "inf") {
      *node = std::numeric_limits<double>::infinity();
    } else if (s == "-Infinity" || s == "-inf") {
      *node = -std::numeric_limits<double>::infinity();
    } else if (s == "NaN" || s == "nan") {
      *node = std::numeric_limits<double>::quiet_NaN();
    } else {
      return absl::InvalidArgumentError(absl::StrCat(source, ": ", path.empty() ? "<root>" : path,
                                                     ": unsupported \"__float__\" value '", s,
                                                     "' (expected Infinity, -Infinity or NaN)"));
    }
    return absl::OkStatus();
  }
  for (auto it = node->begin(); it != node->end(); ++it) {
    RETURN_IF_ERROR(ConvertNonFinite(&it.value(), source,
                                     path.empty() ? it.key() : absl::StrCat(path, ".", it.key()),
                                     depth + 1));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<nlohmann::json> ParseLenientJson(const std::string& text,
                                                const std::string& source) {
  std::vector<Substitution> subs;
  const std::string strict = Substitute(text, &subs);
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(strict);
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is 1-based (the position after the offending character).
    const size_t new_offset = e.byte > 0 ? e.byte - 1 : 0;
    return absl::InvalidArgumentError(absl::StrCat(source, ": invalid JSON at byte offset ",
                                                   OriginalOffset(new_offset, subs), ": ",
                                                   e.what()));
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": invalid JSON: ", e.what()));
  }
  RETURN_IF_ERROR(ConvertNonFinite(&root, source, "", 0));
  return root;
}

}  // namespace mamba_explain
