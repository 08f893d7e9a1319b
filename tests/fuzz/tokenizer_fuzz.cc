// libFuzzer target for the tokenizer. The first input byte picks the mode:
//   even: the rest is a tokenizer.json (Tokenizer::FromJson); a loaded tokenizer then encodes
//         and decodes a fixed text, and its ids must decode.
//   odd:  the rest is text for a fixed byte-level BPE without normalizer (built once): Encode
//         must succeed exactly on valid UTF-8, every id must be in the vocabulary, and
//         Decode(Encode(text)) must give the text back (byte-level BPE is lossless).
// Any crash, sanitizer report or __builtin_trap is a bug.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "model/tokenizer.h"
#include "nlohmann/json.hpp"

namespace {

// GPT-2 byte-to-unicode map, as the ByteLevel pre-tokenizer spells bytes.
std::string ByteSymbol(int b) {
  int cp = b;
  const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  if (!printable) {
    int n = 0;
    for (int x = 0; x < b; ++x) {
      if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) ++n;
    }
    cp = 256 + n;
  }
  std::string out;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

const mamba_explain::Tokenizer& FixedTokenizer() {
  static const mamba_explain::Tokenizer* tokenizer = [] {
    nlohmann::json vocab = nlohmann::json::object();
    for (int b = 0; b < 256; ++b) vocab[ByteSymbol(b)] = b;
    const std::string g = ByteSymbol(' ');
    vocab["ab"] = 256;
    vocab[g + "a"] = 257;
    vocab["abc"] = 258;
    vocab["b" + g] = 259;
    nlohmann::json json = {
        {"version", "1.0"},
        {"added_tokens",
         nlohmann::json::array(
             {{{"id", 260}, {"content", "<s>"}, {"special", true}, {"normalized", false}}})},
        {"normalizer", nullptr},
        {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
        {"post_processor", nullptr},
        {"decoder", {{"type", "ByteLevel"}}},
        {"model",
         {{"type", "BPE"},
          {"dropout", nullptr},
          {"vocab", vocab},
          {"merges", nlohmann::json::array({"b " + g, "a b", g + " a", "ab c"})}}},
    };
    auto t = mamba_explain::Tokenizer::FromJson(json.dump(), "fixed.json");
    if (!t.ok()) __builtin_trap();
    return t->release();
  }();
  return *tokenizer;
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    int n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (int k = 1; k <= n; ++k) {
      const unsigned char d = s[i + k];
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    auto loaded = mamba_explain::Tokenizer::FromJson(rest, "fuzz/tokenizer.json");
    if (!loaded.ok()) return 0;
    auto ids = (*loaded)->Encode("Hello world, 123 abc \xc3\xa9\xe2\x82\xac!");
    if (ids.ok()) {
      for (int32_t id : *ids) (void)(*loaded)->TokenText(id);
      (void)(*loaded)->Decode(*ids);
    }
    return 0;
  }
  const mamba_explain::Tokenizer& tokenizer = FixedTokenizer();
  auto ids = tokenizer.Encode(rest);
  if (ids.ok() != IsValidUtf8(rest)) __builtin_trap();
  if (!ids.ok()) return 0;
  for (int32_t id : *ids) {
    if (id < 0 || id >= tokenizer.vocab_size()) __builtin_trap();
  }
  auto text = tokenizer.Decode(*ids);
  if (!text.ok() || *text != rest) __builtin_trap();
  return 0;
}
