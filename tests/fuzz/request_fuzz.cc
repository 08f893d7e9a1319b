// libFuzzer target: arbitrary bytes as an Explain request, the path the server takes from the wire
// to the queue (server/explain_service.cc Admit): ParseFromArray into
// mamba_explain.v1.ExplainRequest, SpecFromProto, ValidateExplain against a backend that serves
// every catalogue method and has a byte-level BPE tokenizer (so text requests are tokenized), then
// the status the client would see (ToGrpcStatus). Beyond "no crash, no sanitizer report" it checks:
//   - a refused request gets INVALID_ARGUMENT, RESOURCE_EXHAUSTED or FAILED_PRECONDITION (never
//     INTERNAL/UNKNOWN/OK-with-garbage), and the message the client sees is <= 1 KiB however long
//     the client's strings were (issue 12, defect 5);
//   - an accepted request is within every limit: 1..max_tokens ids, each < vocab; methods
//     supported and unique; layers increasing in [0, n_layers); target rows increasing in
//     [0, length); target tokens empty or one per row, each < vocab; priority in range;
//   - the accepted sparsity policy turns a matrix of those rows into LayerResult messages that
//     tile the rows and end with last_block (the CSR path the stream then takes).
// Also ConstantTimeEquals against std::string equality on the request's strings (defect 6).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "attribution/methods.h"
#include "mamba_explain/v1/explain.pb.h"
#include "model/tokenizer.h"
#include "nlohmann/json.hpp"
#include "server/auth.h"
#include "server/proto_convert.h"
#include "server/status_mapping.h"
#include "serving/batch_plan.h"
#include "serving/explain_backend.h"
#include "serving/request_validation.h"
#include "serving/synthetic_backend.h"

namespace me = mamba_explain;

namespace {

// A tiny byte-level BPE: every byte is a token (GPT-2 byte symbols), plus a few merges.
std::string ByteSymbol(int b) {
  auto printable = [](int x) {
    return (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255);
  };
  int cp = b;
  if (!printable(b)) {
    int n = 0;
    for (int x = 0; x < b; ++x) n += printable(x) ? 0 : 1;
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

std::unique_ptr<me::Tokenizer> MakeTokenizer() {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[ByteSymbol(b)] = b;
  const std::string g = ByteSymbol(' ');
  vocab["ab"] = 256;
  vocab[g + "a"] = 257;
  nlohmann::json json = {
      {"version", "1.0"},
      {"added_tokens", nlohmann::json::array()},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"vocab", vocab},
        {"merges", nlohmann::json::array({"a b", g + " a"})}}},
  };
  auto t = me::Tokenizer::FromJson(json.dump(), "fuzz/tokenizer.json");
  if (!t.ok()) __builtin_trap();
  return std::move(t).value();
}

// Serves every method of the catalogue (engine and synthetic), 6 layers, a 258-token vocabulary
// (its tokenizer's), no compute.
class FuzzBackend : public me::ExplainBackend {
 public:
  FuzzBackend() : tokenizer_(MakeTokenizer()) {
    info_.backend = "fuzz";
    info_.architecture = "mamba1";
    info_.n_layers = 6;
    info_.d_model = 16;
    info_.vocab_size = tokenizer_->vocab_size();
    info_.has_tokenizer = true;
    info_.methods = me::EngineMethods();
    for (me::Method m : me::MethodsOf(me::MethodFamily::kSynthetic)) info_.methods.push_back(m);
  }
  const me::BackendInfo& info() const override { return info_; }
  absl::StatusOr<std::vector<int32_t>> Tokenize(const std::string& text) const override {
    return tokenizer_->Encode(text);
  }
  absl::StatusOr<me::EncodedPrefix> TokenizeAtMost(const std::string& text,
                                                   size_t max_ids) const override {
    return tokenizer_->EncodeAtMost(text, max_ids);
  }
  std::string TokenText(int32_t id) const override { return tokenizer_->TokenText(id); }
  absl::Status Warmup() override { return absl::OkStatus(); }
  absl::Status ExplainBatch(const std::vector<me::BatchItem>&, me::BatchSink*) override {
    return absl::OkStatus();
  }

 private:
  me::BackendInfo info_;
  std::unique_ptr<me::Tokenizer> tokenizer_;
};

void CheckRefusal(const absl::Status& status, bool from_conversion) {
  const auto code = status.code();
  const bool expected = code == absl::StatusCode::kInvalidArgument ||
                        (!from_conversion && (code == absl::StatusCode::kResourceExhausted ||
                                              code == absl::StatusCode::kFailedPrecondition));
  if (!expected) __builtin_trap();
  const grpc::Status wire = me::ToGrpcStatus(status);
  if (wire.error_message().size() > me::kMaxStatusMessageBytes) __builtin_trap();
  if (static_cast<int>(wire.error_code()) != static_cast<int>(code)) __builtin_trap();
}

bool Increasing(const std::vector<int32_t>& v, int32_t lo, int32_t hi) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] < lo || v[i] >= hi) return false;
    if (i > 0 && v[i] <= v[i - 1]) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static FuzzBackend* backend = new FuzzBackend();
  me::ServingLimits limits;  // the server's defaults, with a short input so budgets are reachable
  limits.max_tokens = 64;
  limits.max_matrix_rows = 512;
  limits.max_gradient_rows = 512;

  me::v1::ExplainRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;

  // The token comparison must agree with plain equality, whatever the lengths.
  if (me::ConstantTimeEquals(request.model(), request.request_id()) !=
      (request.model() == request.request_id())) {
    __builtin_trap();
  }
  if (!me::ConstantTimeEquals(request.model(), request.model())) __builtin_trap();
  if (me::TruncateUtf8(request.request_id(), 128).size() > 128) __builtin_trap();

  absl::StatusOr<me::ExplainSpec> spec = me::SpecFromProto(request);
  if (!spec.ok()) {
    CheckRefusal(spec.status(), /*from_conversion=*/true);
    return 0;
  }
  absl::StatusOr<me::ValidatedExplain> v = me::ValidateExplain(*spec, *backend, limits);
  if (!v.ok()) {
    CheckRefusal(v.status(), /*from_conversion=*/false);
    return 0;
  }

  const me::BackendInfo& info = backend->info();
  const std::vector<int32_t>& ids = v->input.ids;
  const int32_t length = static_cast<int32_t>(ids.size());
  if (length < 1 || length > limits.max_tokens) __builtin_trap();
  for (int32_t id : ids) {
    if (id < 0 || id >= info.vocab_size) __builtin_trap();
  }
  if (v->options.methods.empty()) __builtin_trap();
  std::set<me::Method> seen;
  for (me::Method m : v->options.methods) {
    if (!seen.insert(m).second) __builtin_trap();
    bool supported = false;
    for (me::Method s : info.methods) supported |= s == m;
    if (!supported) __builtin_trap();
  }
  if (!Increasing(v->options.layers, 0, info.n_layers)) __builtin_trap();
  const std::vector<int32_t>& rows = v->input.target_rows;
  if (rows.empty() || !Increasing(rows, 0, length)) __builtin_trap();
  const std::vector<int32_t>& targets = v->input.target_tokens;
  if (!targets.empty() && targets.size() != rows.size()) __builtin_trap();
  for (int32_t t : targets) {
    if (t < 0 || t >= info.vocab_size) __builtin_trap();
  }
  if (v->priority < 0 || v->priority > limits.max_priority) __builtin_trap();
  (void)v->options.Key();
  for (me::Method m : v->options.methods) (void)me::FamilyCallKey(v->options, m);

  // What the stream would send for one layer of these rows under the accepted sparsity.
  me::LayerMatrix matrix;
  matrix.method = "synthetic-decay";
  matrix.layer = v->options.layers.empty() ? 0 : v->options.layers[0];
  matrix.rows = rows;
  matrix.cols = length;
  for (int32_t r : rows) {
    for (int32_t c = 0; c < length; ++c) {
      matrix.values.push_back(me::SyntheticBackend::Value(matrix.method, matrix.layer, ids, r, c));
    }
  }
  me::LayerSendStats stats;
  const std::vector<me::v1::ExplainResponse> messages =
      me::LayerMessages(matrix, v->sparsity, /*max_bytes=*/2048, &stats);
  if (messages.empty() || !messages.back().layer_result().last_block()) __builtin_trap();
  int32_t next_row = 0;
  for (const me::v1::ExplainResponse& m : messages) {
    if (!m.has_layer_result()) __builtin_trap();
    const me::v1::LayerResult& block = m.layer_result();
    if (block.row_begin() != next_row || block.row_end() < block.row_begin()) __builtin_trap();
    const int64_t block_rows = block.row_end() - block.row_begin();
    if (block.dense_values_size() > 0 || block.row_offsets_size() == 0) {
      if (block.dense_values_size() != block_rows * length) __builtin_trap();
    } else if (block.row_offsets_size() != block_rows + 1 ||
               block.col_indices_size() != block.values_size()) {
      __builtin_trap();
    }
    next_row = block.row_end();
  }
  if (next_row != static_cast<int32_t>(rows.size())) __builtin_trap();
  return 0;
}
