// Byte-level BPE as HF tokenizers runs it for GPT-NeoX (research/mamba_reference.md §4). The order
// of the steps in Encode is the contract: added tokens on raw text, NFC, normalized added tokens,
// GPT-2 regex split, byte-to-unicode map, BPE by merge rank. Each step mirrors the HF component of
// the same name so that ids match exactly, including on whitespace runs and odd Unicode.
#include "src/model/tokenizer.h"

#include <algorithm>
#include <array>
#include <fstream>
#include <limits>
#include <queue>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "src/common/file_io.h"
#include "src/common/status_macros.h"
#include "src/model/gpt2_pretokenizer.h"
#include "src/model/unicode.h"

namespace mamba_explain {
namespace {

using Json = nlohmann::json;

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes take
// U+0100 onwards in increasing byte order, so every byte string becomes printable text.
std::array<char32_t, 256> BuildByteToChar() {
  std::array<char32_t, 256> table{};
  char32_t next = 0x100;
  for (int byte = 0; byte < 256; ++byte) {
    const bool printable = (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) ||
                           (byte >= 0xAE && byte <= 0xFF);
    table[byte] = printable ? static_cast<char32_t>(byte) : next++;
  }
  return table;
}

struct AddedToken {
  std::string content;
  int32_t id;
};

// Splits text on a small set of literal tokens with leftmost-longest matching (the semantics of
// Aho-Corasick's LeftmostLongest that HF uses): scanning left to right, the first position where
// any token matches wins, and there the longest token. Patterns are valid UTF-8, so a match can
// only start on a character boundary.
class LiteralSplitter {
 public:
  LiteralSplitter() = default;
  explicit LiteralSplitter(std::vector<AddedToken> tokens) : tokens_(std::move(tokens)) {
    // Stable sort keeps the first of two identical contents, as the first added one wins in HF.
    std::stable_sort(tokens_.begin(), tokens_.end(), [](const AddedToken& a, const AddedToken& b) {
      return a.content.size() > b.content.size();
    });
    for (size_t i = 0; i < tokens_.size(); ++i) {
      by_first_byte_[static_cast<uint8_t>(tokens_[i].content[0])].push_back(i);
    }
  }

  // Appends to `pieces` the unmatched text runs (id -1) and the matched tokens, in order. Empty
  // runs are dropped.
  void Split(std::string_view text,
             std::vector<std::pair<std::string_view, int32_t>>* pieces) const {
    size_t run_start = 0;
    size_t pos = 0;
    while (pos < text.size()) {
      const AddedToken* match = nullptr;
      for (size_t index : by_first_byte_[static_cast<uint8_t>(text[pos])]) {
        if (text.compare(pos, tokens_[index].content.size(), tokens_[index].content) == 0) {
          match = &tokens_[index];
          break;  // Sorted longest first.
        }
      }
      if (match == nullptr) {
        ++pos;
        continue;
      }
      if (pos > run_start) pieces->emplace_back(text.substr(run_start, pos - run_start), -1);
      pieces->emplace_back(text.substr(pos, match->content.size()), match->id);
      pos += match->content.size();
      run_start = pos;
    }
    if (pos > run_start) pieces->emplace_back(text.substr(run_start, pos - run_start), -1);
  }

 private:
  std::vector<AddedToken> tokens_;
  std::array<std::vector<size_t>, 256> by_first_byte_;
};

absl::Status InvalidField(const std::string& source, absl::string_view field,
                          absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", field, ": ", problem));
}

// Type name of a JSON value, for error messages.
std::string TypeOf(const Json& value) { return value.type_name(); }

absl::StatusOr<bool> OptionalBool(const Json& object, const char* key, bool default_value,
                                  const std::string& source, const std::string& path) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return default_value;
  if (!it->is_boolean()) {
    return InvalidField(source, absl::StrCat(path, ".", key),
                        absl::StrCat("expected a boolean, got ", TypeOf(*it)));
  }
  return it->get<bool>();
}

// Type string of a component object ("NFC", "ByteLevel", ...), or "" for null.
absl::StatusOr<std::string> ComponentType(const Json& component, const std::string& source,
                                          const std::string& path) {
  if (component.is_null()) return std::string();
  if (!component.is_object()) {
    return InvalidField(source, path, absl::StrCat("expected an object, got ", TypeOf(component)));
  }
  const auto it = component.find("type");
  if (it == component.end() || !it->is_string()) {
    return InvalidField(source, absl::StrCat(path, ".type"), "missing or not a string");
  }
  return it->get<std::string>();
}

}  // namespace

struct Tokenizer::Impl {
  std::string source;
  bool normalize_nfc = false;
  bool add_prefix_space = false;
  bool use_regex = true;
  bool ignore_merges = false;

  absl::flat_hash_map<std::string, int32_t> vocab;  // Byte-mapped token string -> id.
  // (left id << 32 | right id) -> rank and merged id. Rank = index in model.merges.
  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  absl::flat_hash_map<uint64_t, Merge> merges;
  std::array<char32_t, 256> byte_to_char{};
  absl::flat_hash_map<char32_t, uint8_t> char_to_byte;
  std::array<int32_t, 256> byte_id{};  // Vocab id of each single-byte symbol.

  LiteralSplitter raw_added;             // normalized=false: matched on the raw input.
  LiteralSplitter normalized_added;      // normalized=true: matched after NFC, content normalized.
  std::vector<std::string> id_to_token;  // "" for ids nobody defines.
  std::vector<bool> id_known;

  static uint64_t PairKey(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }

  absl::Status Load(const Json& root);
  absl::Status LoadModel(const Json& model);
  absl::Status LoadPreTokenizer(const Json& pre_tokenizer);
  absl::Status LoadNormalizer(const Json& normalizer);
  absl::Status LoadAddedTokens(const Json& added_tokens);

  // Both append ids of `piece` and stop between words once ids holds more than `limit`.
  absl::Status EncodeNormalizedPiece(std::string_view piece, size_t limit,
                                     std::vector<int32_t>* ids) const;
  void EncodePreTokenized(std::string_view piece, size_t limit, std::vector<int32_t>* ids) const;
  void Bpe(std::string_view word, std::vector<int32_t>* ids) const;
  std::string TokenBytes(int32_t id) const;
};

absl::Status Tokenizer::Impl::Load(const Json& root) {
  if (!root.is_object()) return InvalidField(source, "(root)", "expected a JSON object");
  byte_to_char = BuildByteToChar();
  for (int byte = 0; byte < 256; ++byte) char_to_byte[byte_to_char[byte]] = byte;

  const auto model = root.find("model");
  if (model == root.end()) return InvalidField(source, "model", "missing");
  RETURN_IF_ERROR(LoadModel(*model));
  RETURN_IF_ERROR(LoadNormalizer(root.value("normalizer", Json())));
  const auto pre_tokenizer = root.find("pre_tokenizer");
  if (pre_tokenizer == root.end() || pre_tokenizer->is_null()) {
    return InvalidField(source, "pre_tokenizer", "missing; only ByteLevel is supported");
  }
  RETURN_IF_ERROR(LoadPreTokenizer(*pre_tokenizer));
  ASSIGN_OR_RETURN(const std::string decoder,
                   ComponentType(root.value("decoder", Json()), source, "decoder"));
  if (!decoder.empty() && decoder != "ByteLevel") {
    return InvalidField(source, "decoder.type",
                        absl::StrCat("\"", decoder, "\" is unsupported (only ByteLevel)"));
  }
  // The post-processor is not consulted: Encode returns the raw encoding and never adds tokens.
  return LoadAddedTokens(root.value("added_tokens", Json()));
}

absl::Status Tokenizer::Impl::LoadModel(const Json& model) {
  ASSIGN_OR_RETURN(const std::string type, ComponentType(model, source, "model"));
  if (type != "BPE") {
    return InvalidField(source, "model.type",
                        absl::StrCat("\"", type, "\" is unsupported (only BPE)"));
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const auto it = model.find(key);
    if (it != model.end() && !it->is_null() &&
        !(it->is_string() && it->get<std::string>().empty())) {
      return InvalidField(source, absl::StrCat("model.", key), "only null is supported");
    }
  }
  const auto dropout = model.find("dropout");
  if (dropout != model.end() && !dropout->is_null() &&
      !(dropout->is_number() && dropout->get<double>() == 0.0)) {
    return InvalidField(source, "model.dropout",
                        "only null is supported (encoding is deterministic)");
  }
  ASSIGN_OR_RETURN(ignore_merges, OptionalBool(model, "ignore_merges", false, source, "model"));

  const auto vocab_it = model.find("vocab");
  if (vocab_it == model.end() || !vocab_it->is_object()) {
    return InvalidField(source, "model.vocab", "missing or not an object");
  }
  int32_t max_id = -1;
  for (const auto& [token, id] : vocab_it->items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
      return InvalidField(source, absl::StrCat("model.vocab[\"", token, "\"]"),
                          "expected a non-negative 32-bit integer id");
    }
    vocab[token] = static_cast<int32_t>(id.get<int64_t>());
    max_id = std::max(max_id, vocab[token]);
  }
  // The id → token table is dense: ids that leave gaps far larger than the vocabulary would make
  // a huge table from a small file (real vocabularies number their tokens 0..n−1).
  if (static_cast<int64_t>(max_id) >= static_cast<int64_t>(vocab.size()) + 65536) {
    return InvalidField(
        source, "model.vocab",
        absl::StrCat("ids are not dense: largest id ", max_id, " for ", vocab.size(), " tokens"));
  }
  id_to_token.assign(max_id + 1, std::string());
  id_known.assign(max_id + 1, false);
  for (const auto& [token, id] : vocab) {
    if (!id_known[id]) id_to_token[id] = token;
    id_known[id] = true;
  }
  // Every byte that well-formed UTF-8 can contain must have its symbol: BPE starts from bytes,
  // and an unknown one has no id (HF would silently drop it, which no GPT-NeoX-style file relies
  // on). C0, C1 and F5..FF never occur in encoded text, and the NeoX vocab indeed lacks them.
  byte_id.fill(-1);
  for (int byte = 0; byte < 256; ++byte) {
    if (byte == 0xC0 || byte == 0xC1 || byte >= 0xF5) continue;
    std::string symbol;
    unicode::AppendUtf8(byte_to_char[byte], &symbol);
    const auto it = vocab.find(symbol);
    if (it == vocab.end()) {
      return InvalidField(
          source, "model.vocab",
          absl::StrFormat("lacks the byte-level symbol \"%s\" for byte 0x%02X", symbol, byte));
    }
    byte_id[byte] = it->second;
  }

  const auto merges_it = model.find("merges");
  if (merges_it == model.end() || !merges_it->is_array()) {
    return InvalidField(source, "model.merges", "missing or not an array");
  }
  const Json& merge_list = *merges_it;
  merges.reserve(merge_list.size());
  for (size_t rank = 0; rank < merge_list.size(); ++rank) {
    const Json& entry = merge_list[rank];
    const std::string field = absl::StrCat("model.merges[", rank, "]");
    std::string left, right;
    if (entry.is_string()) {  // Format of tokenizers < 0.20: "left right".
      const std::string& text = entry.get_ref<const std::string&>();
      const size_t space = text.find(' ');
      if (space == std::string::npos) {
        return InvalidField(source, field, absl::StrCat("\"", text, "\" is not \"left right\""));
      }
      left = text.substr(0, space);
      right = text.substr(space + 1);
    } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() &&
               entry[1].is_string()) {  // Format of tokenizers >= 0.20: ["left", "right"].
      left = entry[0].get<std::string>();
      right = entry[1].get<std::string>();
    } else {
      return InvalidField(source, field, "expected \"left right\" or [\"left\", \"right\"]");
    }
    const auto left_id = vocab.find(left);
    const auto right_id = vocab.find(right);
    const auto merged_id = vocab.find(left + right);
    if (left_id == vocab.end() || right_id == vocab.end() || merged_id == vocab.end()) {
      return InvalidField(source, field,
                          absl::StrCat("\"", left, "\" + \"", right,
                                       "\": a part or the merged token is not in model.vocab"));
    }
    // A repeated pair takes its last rank, as HF's map built from the list does.
    merges[PairKey(left_id->second, right_id->second)] =
        Merge{static_cast<int32_t>(rank), merged_id->second};
  }
  return absl::OkStatus();
}

absl::Status Tokenizer::Impl::LoadNormalizer(const Json& normalizer) {
  ASSIGN_OR_RETURN(const std::string type, ComponentType(normalizer, source, "normalizer"));
  if (type.empty()) return absl::OkStatus();
  if (type == "NFC") {
    normalize_nfc = true;
    return absl::OkStatus();
  }
  return InvalidField(source, "normalizer.type",
                      absl::StrCat("\"", type, "\" is unsupported (only NFC or null)"));
}

absl::Status Tokenizer::Impl::LoadPreTokenizer(const Json& pre_tokenizer) {
  ASSIGN_OR_RETURN(std::string type, ComponentType(pre_tokenizer, source, "pre_tokenizer"));
  const Json* byte_level = &pre_tokenizer;
  std::string path = "pre_tokenizer";
  if (type == "Sequence") {
    const auto list = pre_tokenizer.find("pretokenizers");
    if (list == pre_tokenizer.end() || !list->is_array() || list->size() != 1) {
      return InvalidField(source, "pre_tokenizer.pretokenizers",
                          "only a Sequence holding exactly one ByteLevel is supported");
    }
    byte_level = &(*list)[0];
    path = "pre_tokenizer.pretokenizers[0]";
    ASSIGN_OR_RETURN(type, ComponentType(*byte_level, source, path));
  }
  if (type != "ByteLevel") {
    return InvalidField(source, absl::StrCat(path, ".type"),
                        absl::StrCat("\"", type, "\" is unsupported (only ByteLevel)"));
  }
  const auto prefix = byte_level->find("add_prefix_space");
  if (prefix == byte_level->end() || !prefix->is_boolean()) {
    return InvalidField(source, absl::StrCat(path, ".add_prefix_space"),
                        "missing or not a boolean");
  }
  add_prefix_space = prefix->get<bool>();
  ASSIGN_OR_RETURN(use_regex, OptionalBool(*byte_level, "use_regex", true, source, path));
  return absl::OkStatus();
}

absl::Status Tokenizer::Impl::LoadAddedTokens(const Json& added_tokens) {
  if (added_tokens.is_null()) return absl::OkStatus();
  if (!added_tokens.is_array()) {
    return InvalidField(source, "added_tokens",
                        absl::StrCat("expected an array, got ", TypeOf(added_tokens)));
  }
  std::vector<AddedToken> raw, normalized;
  for (size_t i = 0; i < added_tokens.size(); ++i) {
    const Json& token = added_tokens[i];
    const std::string path = absl::StrCat("added_tokens[", i, "]");
    if (!token.is_object()) return InvalidField(source, path, "expected an object");
    const auto id = token.find("id");
    if (id == token.end() || !id->is_number_integer() || id->get<int64_t>() < 0 ||
        id->get<int64_t>() > INT32_MAX) {
      return InvalidField(source, path + ".id", "missing or not a non-negative 32-bit integer");
    }
    const auto content = token.find("content");
    if (content == token.end() || !content->is_string() || content->get<std::string>().empty()) {
      return InvalidField(source, path + ".content", "missing, empty or not a string");
    }
    for (const char* flag : {"single_word", "lstrip", "rstrip"}) {
      ASSIGN_OR_RETURN(const bool set, OptionalBool(token, flag, false, source, path));
      if (set) return InvalidField(source, absl::StrCat(path, ".", flag), "true is unsupported");
    }
    // HF's default: special tokens match raw text, others match normalized text.
    ASSIGN_OR_RETURN(const bool is_special, OptionalBool(token, "special", false, source, path));
    ASSIGN_OR_RETURN(const bool is_normalized,
                     OptionalBool(token, "normalized", !is_special, source, path));
    AddedToken added{content->get<std::string>(), static_cast<int32_t>(id->get<int64_t>())};
    if (added.id >= static_cast<int32_t>(id_to_token.size())) {
      id_to_token.resize(added.id + 1);
      id_known.resize(added.id + 1, false);
    }
    // HF looks added tokens up before the model vocab when turning ids back into strings.
    id_to_token[added.id] = added.content;
    id_known[added.id] = true;
    if (is_normalized) {
      // The normalized trie holds normalized contents, since it runs on normalized text.
      if (normalize_nfc) {
        ASSIGN_OR_RETURN(added.content, unicode::NormalizeNfc(added.content));
      }
      normalized.push_back(std::move(added));
    } else {
      raw.push_back(std::move(added));
    }
  }
  raw_added = LiteralSplitter(std::move(raw));
  normalized_added = LiteralSplitter(std::move(normalized));
  return absl::OkStatus();
}

absl::Status Tokenizer::Impl::EncodeNormalizedPiece(std::string_view piece, size_t limit,
                                                    std::vector<int32_t>* ids) const {
  std::string normalized_storage;
  std::string_view normalized = piece;
  if (normalize_nfc) {
    ASSIGN_OR_RETURN(normalized_storage, unicode::NormalizeNfc(piece));
    normalized = normalized_storage;
  }
  std::vector<std::pair<std::string_view, int32_t>> pieces;
  normalized_added.Split(normalized, &pieces);
  for (const auto& [text, id] : pieces) {
    if (ids->size() > limit) break;
    if (id >= 0) {
      ids->push_back(id);
    } else {
      EncodePreTokenized(text, limit, ids);
    }
  }
  return absl::OkStatus();
}

void Tokenizer::Impl::EncodePreTokenized(std::string_view piece, size_t limit,
                                         std::vector<int32_t>* ids) const {
  if (piece.empty()) return;
  std::string prefixed_storage;
  // HF's ByteLevel prepends the space to each piece between added tokens, unless it already
  // starts with one (a literal U+0020, not any white space).
  if (add_prefix_space && piece[0] != ' ') {
    prefixed_storage = std::string(" ").append(piece);
    piece = prefixed_storage;
  }
  if (!use_regex) {
    Bpe(piece, ids);
    return;
  }
  for (const std::string_view pre_token : SplitGpt2PreTokens(piece)) {
    if (ids->size() > limit) return;
    Bpe(pre_token, ids);
  }
}

// HF's BPE word merge: a heap of candidate pairs ordered by (rank, position); stale entries (a
// side already merged away, or the pair changed) are skipped when popped. Positions index the
// initial byte symbols, so "leftmost among equal ranks" is the position order.
void Tokenizer::Impl::Bpe(std::string_view word, std::vector<int32_t>* ids) const {
  if (word.empty()) return;
  if (ignore_merges) {
    std::string mapped;
    for (char byte : word) unicode::AppendUtf8(byte_to_char[static_cast<uint8_t>(byte)], &mapped);
    const auto it = vocab.find(mapped);
    if (it != vocab.end()) {
      ids->push_back(it->second);
      return;
    }
  }
  struct Symbol {
    int32_t id;
    int prev;
    int next;
    bool alive;
  };
  const int n = static_cast<int>(word.size());
  std::vector<Symbol> symbols(n);
  for (int i = 0; i < n; ++i) {
    symbols[i] =
        Symbol{byte_id[static_cast<uint8_t>(word[i])], i - 1, i + 1 < n ? i + 1 : -1, true};
  }
  struct Candidate {
    int32_t rank;
    int pos;
    int32_t new_id;
    bool operator>(const Candidate& other) const {
      return rank != other.rank ? rank > other.rank : pos > other.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto push_pair = [&](int pos) {
    const int next = symbols[pos].next;
    if (next < 0) return;
    const auto it = merges.find(PairKey(symbols[pos].id, symbols[next].id));
    if (it != merges.end()) queue.push(Candidate{it->second.rank, pos, it->second.new_id});
  };
  for (int i = 0; i + 1 < n; ++i) push_pair(i);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    const auto it = merges.find(PairKey(left.id, right.id));
    if (it == merges.end() || it->second.new_id != top.new_id) continue;
    left.id = top.new_id;
    right.alive = false;
    left.next = right.next;
    if (left.next >= 0) symbols[left.next].prev = top.pos;
    if (left.prev >= 0) push_pair(left.prev);
    push_pair(top.pos);
  }
  for (int i = 0; i >= 0; i = symbols[i].next) ids->push_back(symbols[i].id);
}

// Bytes of one token, as HF's ByteLevel decoder gives them: the inverse byte map when every
// character of the token string is in it, else the string's own UTF-8 (e.g. the added tokens made
// of plain spaces, which are not byte-mapped).
std::string Tokenizer::Impl::TokenBytes(int32_t id) const {
  const std::string& token = id_to_token[id];
  std::string bytes;
  size_t pos = 0;
  while (pos < token.size()) {
    char32_t c;
    size_t length;
    if (!unicode::DecodeUtf8At(token, pos, &c, &length)) return token;
    const auto it = char_to_byte.find(c);
    if (it == char_to_byte.end()) return token;
    bytes.push_back(static_cast<char>(it->second));
    pos += length;
  }
  return bytes;
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string contents, ReadFile(path));
  return FromJson(contents, path);
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(const std::string& json_text,
                                                               const std::string& source) {
  Json root;
  try {
    root = Json::parse(json_text);
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not valid JSON: ", e.what()));
  }
  auto impl = std::make_unique<Impl>();
  impl->source = source;
  try {
    RETURN_IF_ERROR(impl->Load(root));
  } catch (const Json::exception& e) {  // A shape the checks above did not anticipate.
    return absl::InvalidArgumentError(absl::StrCat(source, ": unexpected JSON shape: ", e.what()));
  }
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

absl::StatusOr<std::vector<int32_t>> Tokenizer::Encode(std::string_view text) const {
  ASSIGN_OR_RETURN(EncodedPrefix all, EncodeAtMost(text, std::numeric_limits<size_t>::max() - 1));
  return std::move(all.ids);
}

absl::StatusOr<EncodedPrefix> Tokenizer::EncodeAtMost(std::string_view text, size_t max_ids) const {
  RETURN_IF_ERROR(unicode::ValidateUtf8(text));
  EncodedPrefix out;
  std::vector<int32_t>& ids = out.ids;
  std::vector<std::pair<std::string_view, int32_t>> pieces;
  impl_->raw_added.Split(text, &pieces);
  for (const auto& [piece, id] : pieces) {
    if (ids.size() > max_ids) break;
    if (id >= 0) {
      ids.push_back(id);
    } else {
      RETURN_IF_ERROR(impl_->EncodeNormalizedPiece(piece, max_ids, &ids));
    }
  }
  // One word may have added several ids past the limit; ids are a prefix of the full encoding.
  out.truncated = ids.size() > max_ids;
  if (out.truncated) ids.resize(max_ids);
  return out;
}

absl::StatusOr<std::string> Tokenizer::Decode(const std::vector<int32_t>& ids) const {
  std::string bytes;
  for (const int32_t id : ids) {
    if (id < 0 || id >= vocab_size() || !impl_->id_known[id]) {
      return absl::InvalidArgumentError(
          absl::StrCat("token id ", id, " is not in the vocabulary [0, ", vocab_size(), ")"));
    }
    bytes += impl_->TokenBytes(id);
  }
  return unicode::DecodeUtf8Lossy(bytes);
}

std::string Tokenizer::TokenText(int32_t id) const {
  if (id < 0 || id >= vocab_size() || !impl_->id_known[id]) return absl::StrCat("<|id:", id, "|>");
  return unicode::DecodeUtf8Lossy(impl_->TokenBytes(id));
}

int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(impl_->id_to_token.size()); }

}  // namespace mamba_explain
