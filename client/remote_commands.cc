#include "client/remote_commands.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <type_traits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "attribution/methods.h"
#include "client/html_report.h"
#include "common/cli_args.h"
#include "common/file_io.h"
#include "common/status_macros.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "mamba_explain/v1/explain.grpc.pb.h"
#include "nlohmann/json.hpp"

namespace mamba_explain {
namespace {

namespace v1 = ::mamba_explain::v1;

const std::set<std::string> kConnectionFlags = {
    "server", "tls-ca", "tls-cert", "tls-key", "token-file", "timeout", "tls-server-name"};

FlagSpec WithConnection(FlagSpec spec) {
  spec.valued.insert(kConnectionFlags.begin(), kConnectionFlags.end());
  return spec;
}

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

struct Connection {
  std::shared_ptr<grpc::Channel> channel;
  std::string token;
  double timeout_s = 300;

  void Prepare(grpc::ClientContext* context) const {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000)));
    if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
  }
};

absl::StatusOr<Connection> Connect(const CliArgs& args) {
  Connection c;
  ASSIGN_OR_RETURN(std::string server, args.Require("server"));
  if (args.Has("timeout") && !absl::SimpleAtod(args.Get("timeout"), &c.timeout_s)) {
    return absl::InvalidArgumentError(absl::StrCat("bad --timeout '", args.Get("timeout"), "'"));
  }
  if (args.Has("token-file")) {
    ASSIGN_OR_RETURN(std::string token, ReadFile(args.Get("token-file")));
    c.token = std::string(absl::StripAsciiWhitespace(token));
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (args.Has("tls-ca")) {
    grpc::SslCredentialsOptions options;
    ASSIGN_OR_RETURN(options.pem_root_certs, ReadFile(args.Get("tls-ca")));
    if (args.Has("tls-cert") != args.Has("tls-key")) {
      return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
    }
    if (args.Has("tls-cert")) {
      ASSIGN_OR_RETURN(options.pem_cert_chain, ReadFile(args.Get("tls-cert")));
      ASSIGN_OR_RETURN(options.pem_private_key, ReadFile(args.Get("tls-key")));
    }
    credentials = grpc::SslCredentials(options);
  } else {
    if (args.Has("tls-cert")) return absl::InvalidArgumentError("--tls-cert needs --tls-ca");
    credentials = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments channel_args;
  channel_args.SetMaxReceiveMessageSize(16 << 20);
  if (args.Has("tls-server-name")) {
    channel_args.SetSslTargetNameOverride(args.Get("tls-server-name"));
  }
  c.channel = grpc::CreateCustomChannel(server, credentials, channel_args);
  return c;
}

absl::Status WriteOutput(const CliArgs& args, const nlohmann::json& out) {
  const std::string text = out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (args.Has("json")) {
    std::ofstream f(args.Get("json"));
    if (!f)
      return absl::PermissionDeniedError(absl::StrCat("cannot write '", args.Get("json"), "'"));
    f << text << "\n";
  } else {
    std::cout << text << "\n";
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int32_t>> IntList(const CliArgs& args, const std::string& flag) {
  std::vector<int32_t> out;
  if (!args.Has(flag)) return out;
  for (absl::string_view piece : absl::StrSplit(args.Get(flag), ',', absl::SkipEmpty())) {
    int32_t v = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(piece), &v)) {
      return absl::InvalidArgumentError(absl::StrCat("bad value '", piece, "' in --", flag));
    }
    out.push_back(v);
  }
  return out;
}

template <typename T>
absl::Status ParseNumber(const CliArgs& args, const std::string& flag, T* out) {
  if (!args.Has(flag)) return absl::OkStatus();
  bool ok = false;
  if constexpr (std::is_floating_point_v<T>) {
    double v = 0;
    ok = absl::SimpleAtod(args.Get(flag), &v);
    *out = static_cast<T>(v);
  } else {
    ok = absl::SimpleAtoi(args.Get(flag), out);
  }
  if (!ok)
    return absl::InvalidArgumentError(absl::StrCat("bad --", flag, " '", args.Get(flag), "'"));
  return absl::OkStatus();
}

// The value of `flag` or of its older spelling `alias` (not both).
absl::StatusOr<std::string> FlagOrAlias(const CliArgs& args, const std::string& flag,
                                        const std::string& alias, const std::string& fallback) {
  if (args.Has(flag) && args.Has(alias)) {
    return absl::InvalidArgumentError(absl::StrCat("give --", flag, " or --", alias, ", not both"));
  }
  if (args.Has(alias)) return args.Get(alias);
  return args.Get(flag, fallback);
}

// Builds the request with the offline `explain` flags, in one message (no Tokenize round trip).
absl::StatusOr<v1::ExplainRequest> BuildRequest(const CliArgs& args) {
  v1::ExplainRequest r;
  ASSIGN_OR_RETURN(std::string model, args.Require("model"));
  r.set_model(model);
  if (args.Has("ids") == args.Has("text")) {
    return absl::InvalidArgumentError("give exactly one of --text and --ids");
  }
  ASSIGN_OR_RETURN(std::string methods,
                   FlagOrAlias(args, "method", "methods", MethodName(Method::kLatimL2)));
  for (absl::string_view m : absl::StrSplit(methods, ',', absl::SkipEmpty())) {
    r.add_methods(std::string(absl::StripAsciiWhitespace(m)));
  }
  ASSIGN_OR_RETURN(std::vector<int32_t> layers, ParseLayerSpec(args.Get("layers", "all")));
  r.mutable_layers()->Add(layers.begin(), layers.end());
  ASSIGN_OR_RETURN(std::string rows_text, FlagOrAlias(args, "rows", "targets", "all"));
  ASSIGN_OR_RETURN(RowSpec rows, ParseRowSpec(rows_text));
  if (args.Has("target") && args.Has("target-tokens")) {
    return absl::InvalidArgumentError("give --target or --target-tokens, not both");
  }
  // The last row and a single target are sent as such (row_selection, target_token): the server
  // resolves them against the tokenized input, so text needs no Tokenize round trip.
  if (args.Has("ids")) {
    ASSIGN_OR_RETURN(std::vector<int32_t> ids, ParseIdList(args.Get("ids")));
    r.mutable_token_ids()->Add(ids.begin(), ids.end());
  } else {
    r.set_text(args.Get("text"));
  }
  if (rows.kind == RowSpec::Kind::kLast) {
    r.set_row_selection(v1::ROW_SELECTION_LAST);
  } else if (rows.kind == RowSpec::Kind::kList) {
    r.mutable_target_rows()->Add(rows.rows.begin(), rows.rows.end());
  }
  if (args.Has("target")) {
    int32_t token = 0;
    if (!absl::SimpleAtoi(args.Get("target"), &token) || token < 0) {
      return absl::InvalidArgumentError(absl::StrCat("bad --target '", args.Get("target"), "'"));
    }
    r.set_target_token(token);
  }
  ASSIGN_OR_RETURN(std::vector<int32_t> target_tokens, IntList(args, "target-tokens"));
  r.mutable_target_tokens()->Add(target_tokens.begin(), target_tokens.end());
  if (args.Has("memory-budget-mib")) {
    int32_t mib = 0;
    if (!absl::SimpleAtoi(args.Get("memory-budget-mib"), &mib) || mib <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad --memory-budget-mib '", args.Get("memory-budget-mib"), "'"));
    }
    r.mutable_parameters()->set_memory_budget_mib(mib);
  }
  const std::string activation = args.Get("activation", "silu");
  if (activation == "silu")
    r.set_activation(v1::ACTIVATION_SILU);
  else if (activation == "identity")
    r.set_activation(v1::ACTIVATION_IDENTITY);
  else if (activation == "relu")
    r.set_activation(v1::ACTIVATION_RELU);
  else
    return absl::InvalidArgumentError(absl::StrCat("bad --activation '", activation, "'"));
  const std::string dtype = args.Get("dtype", "");
  if (dtype == "fp32")
    r.set_precision(v1::PRECISION_FP32);
  else if (dtype == "tf32")
    r.set_precision(v1::PRECISION_TF32);
  else if (dtype == "bf16")
    r.set_precision(v1::PRECISION_BF16);
  else if (!dtype.empty())
    return absl::InvalidArgumentError(absl::StrCat("bad --dtype '", dtype, "'"));
  const int modes =
      args.Has("top-k") + args.Has("threshold") + args.Has("mass") + args.Has("dense");
  if (modes > 1) {
    return absl::InvalidArgumentError("give at most one of --top-k, --threshold, --mass, --dense");
  }
  v1::Sparsity* s = r.mutable_sparsity();
  s->set_mode(v1::Sparsity::DENSE);
  if (args.Has("top-k")) {
    s->set_mode(v1::Sparsity::TOP_K);
    int32_t k = 0;
    RETURN_IF_ERROR(ParseNumber(args, "top-k", &k));
    s->set_top_k(k);
  } else if (args.Has("threshold")) {
    s->set_mode(v1::Sparsity::THRESHOLD);
    float t = 0;
    RETURN_IF_ERROR(ParseNumber(args, "threshold", &t));
    s->set_threshold(t);
  } else if (args.Has("mass")) {
    s->set_mode(v1::Sparsity::MASS);
    float m = 0;
    RETURN_IF_ERROR(ParseNumber(args, "mass", &m));
    s->set_mass(m);
  }
  int32_t priority = 0;
  RETURN_IF_ERROR(ParseNumber(args, "priority", &priority));
  r.set_priority(priority);
  // The baseline flags of offline `explain`, by the same names; unset ones stay unset on the wire
  // (the server's defaults are the offline defaults). The server validates the values.
  v1::MethodParameters* p = r.mutable_parameters();
  int32_t ig_steps = 0, sg_samples = 0, start_layer = 0;
  float sg_sigma = 0;
  uint64_t seed = 0;
  RETURN_IF_ERROR(ParseNumber(args, "ig-steps", &ig_steps));
  RETURN_IF_ERROR(ParseNumber(args, "sg-samples", &sg_samples));
  RETURN_IF_ERROR(ParseNumber(args, "seed", &seed));
  RETURN_IF_ERROR(ParseNumber(args, "start-layer", &start_layer));
  p->set_ig_steps(ig_steps);
  p->set_smoothgrad_samples(sg_samples);
  p->set_seed(seed);
  p->set_start_layer(start_layer);
  if (args.Has("sg-sigma")) {
    RETURN_IF_ERROR(ParseNumber(args, "sg-sigma", &sg_sigma));
    p->set_smoothgrad_sigma(sg_sigma);
  }
  p->set_ig_rule(args.Get("ig-rule"));
  p->set_smoothgrad_input(args.Get("sg-input"));
  p->set_lrp_rules(args.Get("lrp-rules"));
  p->set_attention_norm(args.Get("attention-norm"));
  r.set_request_id(args.Get("request-id"));
  return r;
}

const char* PayloadName(const v1::ExplainResponse& r) {
  switch (r.payload_case()) {
    case v1::ExplainResponse::kHeader:
      return "header";
    case v1::ExplainResponse::kLayerResult:
      return "layer_result";
    case v1::ExplainResponse::kTokenScores:
      return "token_scores";
    case v1::ExplainResponse::kSummary:
      return "summary";
    default:
      return "unknown";
  }
}

// Assembles the stream into the offline-mode JSON shape: sparse blocks are expanded back into
// dense `matrix` rows (zeros where entries were dropped).
class ExplanationBuilder {
 public:
  absl::Status Add(const v1::ExplainResponse& r) {
    switch (r.payload_case()) {
      case v1::ExplainResponse::kHeader: {
        if (have_header_) return absl::DataLossError("second header in the stream");
        have_header_ = true;
        header_ = r.header();
        out_["model"] = header_.model();
        out_["request_id"] = header_.request_id();
        out_["architecture"] = header_.architecture();
        out_["ids"] = std::vector<int32_t>(header_.token_ids().begin(), header_.token_ids().end());
        out_["tokens"] = std::vector<std::string>(header_.tokens().begin(), header_.tokens().end());
        out_["methods"] =
            std::vector<std::string>(header_.methods().begin(), header_.methods().end());
        out_["layers"] = std::vector<int32_t>(header_.layers().begin(), header_.layers().end());
        out_["precision"] = v1::Precision_Name(header_.precision());
        out_["target_rows"] =
            std::vector<int32_t>(header_.target_rows().begin(), header_.target_rows().end());
        out_["results"] = nlohmann::json::array();
        return absl::OkStatus();
      }
      case v1::ExplainResponse::kLayerResult:
        return AddLayer(r.layer_result());
      case v1::ExplainResponse::kTokenScores:
        return AddTokenScores(r.token_scores());
      case v1::ExplainResponse::kSummary: {
        if (!have_header_) return absl::DataLossError("summary before the header");
        const v1::Summary& s = r.summary();
        nlohmann::json j;
        j["queue_ms"] = s.queue_ms();
        j["compute_ms"] = s.compute_ms();
        j["stream_ms"] = s.stream_ms();
        j["total_ms"] = s.total_ms();
        j["batch_size"] = s.batch_size();
        j["batch_tokens"] = s.batch_tokens();
        j["layer_results"] = s.layer_results();
        j["nnz"] = s.nnz();
        j["kept_mass"] = s.kept_mass();
        j["max_approx_error"] = s.max_approx_error();
        out_["summary"] = j;
        have_summary_ = true;
        return absl::OkStatus();
      }
      default:
        return absl::DataLossError("empty message in the stream");
    }
  }

  int done() const { return done_; }
  bool complete() const { return have_header_ && have_summary_; }
  // Puts the results in the offline order: increasing layer (results arrive top-down when
  // latim-alti-logit is asked), whole-model results (layer -1) last, request order within a layer.
  void Finalize() {
    nlohmann::json& results = out_["results"];
    auto key = [](const nlohmann::json& r) {
      const int layer = r["layer"].get<int>();
      return layer < 0 ? std::numeric_limits<int>::max() : layer;
    };
    std::stable_sort(
        results.begin(), results.end(),
        [&](const nlohmann::json& a, const nlohmann::json& b) { return key(a) < key(b); });
  }
  nlohmann::json& json() { return out_; }

 private:
  absl::Status AddLayer(const v1::LayerResult& l) {
    if (!have_header_) return absl::DataLossError("layer result before the header");
    const std::string key = absl::StrCat(l.method(), "/", l.layer());
    auto it = index_.find(key);
    if (it == index_.end()) {
      nlohmann::json j;
      j["method"] = l.method();
      j["layer"] = l.layer();
      j["rows"] = out_["target_rows"];
      j["matrix"] = nlohmann::json::array();
      for (int k = 0; k < header_.target_rows_size(); ++k) {
        j["matrix"].push_back(std::vector<float>(l.num_columns(), 0.f));
      }
      out_["results"].push_back(j);
      it = index_.emplace(key, out_["results"].size() - 1).first;
    }
    nlohmann::json& entry = out_["results"][it->second];
    const int rows = l.row_end() - l.row_begin();
    if (l.row_begin() < 0 || l.row_end() > header_.target_rows_size() || rows < 0) {
      return absl::DataLossError(absl::StrCat("block rows [", l.row_begin(), ", ", l.row_end(),
                                              ") outside the header's target rows"));
    }
    if (l.dense_values_size() > 0) {
      if (l.dense_values_size() != rows * l.num_columns()) {
        return absl::DataLossError("dense block has the wrong size");
      }
      for (int k = 0; k < rows; ++k) {
        for (int c = 0; c < l.num_columns(); ++c) {
          entry["matrix"][l.row_begin() + k][c] = l.dense_values(k * l.num_columns() + c);
        }
      }
    } else if (l.row_offsets_size() > 0) {
      if (l.row_offsets_size() != rows + 1) return absl::DataLossError("bad CSR row_offsets");
      for (int k = 0; k < rows; ++k) {
        for (int e = l.row_offsets(k); e < l.row_offsets(k + 1); ++e) {
          if (e >= l.col_indices_size() || l.col_indices(e) >= l.num_columns()) {
            return absl::DataLossError("CSR index out of range");
          }
          entry["matrix"][l.row_begin() + k][l.col_indices(e)] = l.values(e);
        }
      }
    }
    if (l.last_block()) {
      entry["approx_error"] = l.approx_error();
      entry["kept_mass"] = l.kept_mass();
      if (l.target_tokens_size() > 0) {
        entry["targets"] = std::vector<int32_t>(l.target_tokens().begin(), l.target_tokens().end());
      }
      ++done_;
    }
    return absl::OkStatus();
  }

  // Per-target scores, in the offline shape of per-target methods: {"method", "layer", "rows",
  // "scores", "explained_logit", "targets", "approx_error"}; a method's rows may come in several
  // messages, appended in order.
  absl::Status AddTokenScores(const v1::TokenScores& t) {
    if (!have_header_) return absl::DataLossError("token scores before the header");
    const int rows = t.target_rows_size();
    if (t.scores_size() != rows * t.num_columns() ||
        (t.target_tokens_size() != 0 && t.target_tokens_size() != rows) ||
        (t.explained_logits_size() != 0 && t.explained_logits_size() != rows)) {
      return absl::DataLossError(absl::StrCat("token scores of ", t.method(), " have wrong sizes"));
    }
    const std::string key = absl::StrCat(t.method(), "/", t.layer());
    auto it = index_.find(key);
    if (it == index_.end()) {
      nlohmann::json j;
      j["method"] = t.method();
      j["layer"] = t.layer();
      j["rows"] = nlohmann::json::array();
      j["scores"] = nlohmann::json::array();
      j["explained_logit"] = nlohmann::json::array();
      j["targets"] = nlohmann::json::array();
      j["approx_error"] = t.approx_error();
      out_["results"].push_back(j);
      it = index_.emplace(key, out_["results"].size() - 1).first;
    }
    nlohmann::json& entry = out_["results"][it->second];
    for (int k = 0; k < rows; ++k) {
      entry["rows"].push_back(t.target_rows(k));
      entry["scores"].push_back(std::vector<float>(t.scores().begin() + k * t.num_columns(),
                                                   t.scores().begin() + (k + 1) * t.num_columns()));
      if (t.explained_logits_size() > 0) entry["explained_logit"].push_back(t.explained_logits(k));
      if (t.target_tokens_size() > 0) entry["targets"].push_back(t.target_tokens(k));
    }
    entry["approx_error"] = t.approx_error();
    ++done_;
    return absl::OkStatus();
  }

  bool have_header_ = false;
  bool have_summary_ = false;
  v1::Header header_;
  nlohmann::json out_;
  std::map<std::string, size_t> index_;
  int done_ = 0;
};

}  // namespace

absl::Status RunRemoteExplain(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(CliArgs args,
                   CliArgs::Parse(argv, WithConnection(FlagSpec{{"model",
                                                                 "text",
                                                                 "ids",
                                                                 "method",
                                                                 "methods",
                                                                 "layers",
                                                                 "rows",
                                                                 "targets",
                                                                 "target",
                                                                 "target-tokens",
                                                                 "activation",
                                                                 "dtype",
                                                                 "memory-budget-mib",
                                                                 "top-k",
                                                                 "threshold",
                                                                 "mass",
                                                                 "priority",
                                                                 "ig-steps",
                                                                 "ig-rule",
                                                                 "sg-samples",
                                                                 "sg-sigma",
                                                                 "sg-input",
                                                                 "seed",
                                                                 "lrp-rules",
                                                                 "attention-norm",
                                                                 "start-layer",
                                                                 "json",
                                                                 "html",
                                                                 "stream-log",
                                                                 "request-id"},
                                                                {"dense", "quiet"}})));
  ASSIGN_OR_RETURN(Connection connection, Connect(args));
  auto stub = v1::Explainer::NewStub(connection.channel);
  ASSIGN_OR_RETURN(v1::ExplainRequest request, BuildRequest(args));
  grpc::ClientContext context;
  connection.Prepare(&context);
  std::unique_ptr<std::ofstream> stream_log;
  if (args.Has("stream-log")) stream_log = std::make_unique<std::ofstream>(args.Get("stream-log"));
  const bool progress = !args.Has("quiet");
  std::unique_ptr<grpc::ClientReader<v1::ExplainResponse>> reader =
      stub->Explain(&context, request);
  ExplanationBuilder builder;
  v1::ExplainResponse response;
  absl::Status local;
  while (reader->Read(&response)) {
    if (stream_log) {
      nlohmann::json line;
      line["kind"] = PayloadName(response);
      line["bytes"] = response.ByteSizeLong();
      if (response.has_layer_result()) {
        line["method"] = response.layer_result().method();
        line["layer"] = response.layer_result().layer();
        line["row_begin"] = response.layer_result().row_begin();
        line["row_end"] = response.layer_result().row_end();
        line["last_block"] = response.layer_result().last_block();
        line["encoding"] = response.layer_result().dense_values_size() > 0 ? "dense" : "csr";
      }
      if (response.has_token_scores()) {
        line["method"] = response.token_scores().method();
        line["layer"] = response.token_scores().layer();
        line["rows"] = response.token_scores().target_rows_size();
      }
      if (response.has_summary()) line["batch_size"] = response.summary().batch_size();
      *stream_log << line.dump() << "\n" << std::flush;
    }
    local = builder.Add(response);
    if (!local.ok()) {
      context.TryCancel();
      break;
    }
    if (progress && response.has_layer_result() && response.layer_result().last_block()) {
      std::cerr << "\rmamba-explain: " << builder.done() << " results ("
                << response.layer_result().method() << ", layer " << response.layer_result().layer()
                << ")   " << std::flush;
    }
  }
  const grpc::Status status = reader->Finish();
  if (progress) std::cerr << "\n";
  RETURN_IF_ERROR(local);
  RETURN_IF_ERROR(FromGrpc(status));
  if (!builder.complete()) return absl::DataLossError("stream ended without a summary");
  builder.Finalize();
  RETURN_IF_ERROR(WriteOutput(args, builder.json()));
  if (args.Has("html")) {
    std::ofstream f(args.Get("html"));
    if (!f)
      return absl::PermissionDeniedError(absl::StrCat("cannot write '", args.Get("html"), "'"));
    f << RenderHtmlReport(builder.json());
  }
  return absl::OkStatus();
}

absl::Status RunRemoteModels(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(CliArgs args,
                   CliArgs::Parse(argv, WithConnection(FlagSpec{{"model", "json"}, {}})));
  ASSIGN_OR_RETURN(Connection connection, Connect(args));
  auto stub = v1::Explainer::NewStub(connection.channel);
  grpc::ClientContext context;
  connection.Prepare(&context);
  std::vector<v1::ModelInfo> infos;
  if (args.Has("model")) {
    v1::GetModelRequest request;
    request.set_name(args.Get("model"));
    v1::ModelInfo info;
    RETURN_IF_ERROR(FromGrpc(stub->GetModel(&context, request, &info)));
    infos.push_back(info);
  } else {
    v1::ListModelsResponse response;
    RETURN_IF_ERROR(FromGrpc(stub->ListModels(&context, v1::ListModelsRequest(), &response)));
    infos.assign(response.models().begin(), response.models().end());
  }
  nlohmann::json out = nlohmann::json::array();
  for (const v1::ModelInfo& m : infos) {
    nlohmann::json j;
    j["name"] = m.name();
    j["state"] = v1::ModelInfo::State_Name(m.state());
    if (!m.error().empty()) j["error"] = m.error();
    j["architecture"] = m.architecture();
    j["n_layers"] = m.n_layers();
    j["d_model"] = m.d_model();
    j["vocab_size"] = m.vocab_size();
    j["has_tokenizer"] = m.has_tokenizer();
    j["methods"] = std::vector<std::string>(m.methods().begin(), m.methods().end());
    j["device"] = m.device();
    j["precision"] = v1::Precision_Name(m.precision());
    j["max_tokens"] = m.max_tokens();
    j["backend"] = m.backend();
    out.push_back(j);
  }
  return WriteOutput(args, args.Has("model") ? out[0] : out);
}

absl::Status RunRemoteTokenize(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(CliArgs args,
                   CliArgs::Parse(argv, WithConnection(FlagSpec{{"model", "text", "json"}, {}})));
  ASSIGN_OR_RETURN(Connection connection, Connect(args));
  v1::TokenizeRequest request;
  ASSIGN_OR_RETURN(std::string model, args.Require("model"));
  ASSIGN_OR_RETURN(std::string text, args.Require("text"));
  request.set_model(model);
  request.set_text(text);
  auto stub = v1::Explainer::NewStub(connection.channel);
  grpc::ClientContext context;
  connection.Prepare(&context);
  v1::TokenizeResponse response;
  RETURN_IF_ERROR(FromGrpc(stub->Tokenize(&context, request, &response)));
  nlohmann::json out;
  out["ids"] = std::vector<int32_t>(response.token_ids().begin(), response.token_ids().end());
  out["tokens"] = std::vector<std::string>(response.tokens().begin(), response.tokens().end());
  return WriteOutput(args, out);
}

absl::Status RunRemoteHealth(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(CliArgs args, CliArgs::Parse(argv, WithConnection(FlagSpec{{"service"}, {}})));
  ASSIGN_OR_RETURN(Connection connection, Connect(args));
  auto stub = grpc::health::v1::Health::NewStub(connection.channel);
  grpc::ClientContext context;
  connection.Prepare(&context);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(args.Get("service"));
  grpc::health::v1::HealthCheckResponse response;
  RETURN_IF_ERROR(FromGrpc(stub->Check(&context, request, &response)));
  const std::string name =
      grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
  std::cout << name << "\n";
  if (response.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    return absl::UnavailableError(absl::StrCat("service '", args.Get("service"), "' is ", name));
  }
  return absl::OkStatus();
}

}  // namespace mamba_explain
