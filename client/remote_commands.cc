#include "client/remote_commands.h"

#include <grpcpp/grpcpp.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/client_flags.h"
#include "client/prompt_input.h"
#include "client/remote_connection.h"
#include "common/cli_args.h"
#include "common/status_macros.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "mamba_explain/v1/explain.grpc.pb.h"
#include "nlohmann/json.hpp"

namespace mamba_explain {
namespace {

namespace v1 = ::mamba_explain::v1;

}  // namespace

absl::Status RunRemoteModels(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(
      CliArgs args,
      CliArgs::Parse(argv, WithConnection(ClientFlagSpec("models", ClientMode::kRemote))));
  RETURN_IF_ERROR(CheckOutputPaths(args, {"json"}));
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
  return WriteJson(args, args.Has("model") ? out[0] : out);
}

absl::Status RunRemoteTokenize(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(
      CliArgs args,
      CliArgs::Parse(argv, WithConnection(ClientFlagSpec("tokenize", ClientMode::kRemote))));
  RETURN_IF_ERROR(CheckOutputPaths(args, {"json"}));
  ASSIGN_OR_RETURN(std::string model, args.Require("model"));
  ASSIGN_OR_RETURN(std::string text, ReadPromptText(args));
  ASSIGN_OR_RETURN(Connection connection, Connect(args));
  v1::TokenizeRequest request;
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
  return WriteJson(args, out);
}

absl::Status RunRemoteHealth(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(
      CliArgs args,
      CliArgs::Parse(argv, WithConnection(ClientFlagSpec("health", ClientMode::kRemote))));
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
