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
#include "client/explanation_json.h"
#include "client/html_report.h"
#include "client/remote_connection.h"
#include "client/remote_request.h"
#include "common/cli_args.h"
#include "common/file_io.h"
#include "common/status_macros.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "mamba_explain/v1/explain.grpc.pb.h"
#include "nlohmann/json.hpp"

namespace mamba_explain {
namespace {

namespace v1 = ::mamba_explain::v1;

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
