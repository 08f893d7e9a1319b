// Remote `explain` (remote_commands.h): the flags -> one ExplainRequest message (remote_request.h),
// the Explain stream -> explain's JSON (explanation_json.h) with its meta, the hooks that let the
// shared driver (explain_command.h, token_refs.h) tokenize and generate over the RPCs, and the
// command itself.
#include <grpcpp/grpcpp.h>

#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "attribution/methods.h"
#include "client/client_flags.h"
#include "client/dataset.h"
#include "client/explain_command.h"
#include "client/explanation_json.h"
#include "client/explanation_meta.h"
#include "client/html_report.h"
#include "client/progress.h"
#include "client/prompt_input.h"
#include "client/remote_commands.h"
#include "client/remote_connection.h"
#include "client/remote_request.h"
#include "client/token_refs.h"
#include "common/cli_args.h"
#include "common/status_macros.h"
#include "explain/explain_request.h"
#include "mamba_explain/v1/explain.grpc.pb.h"
#include "nlohmann/json.hpp"

namespace mamba_explain {
namespace {

namespace v1 = ::mamba_explain::v1;

// The wire enum's name without its prefix, lower case: PRECISION_BF16 -> "bf16".
std::string EnumWord(const std::string& name, const std::string& prefix) {
  return absl::AsciiStrToLower(absl::StripPrefix(name, prefix));
}

// explanation_meta.h: the offline keys, from the header (what the server resolved) and the flags.
nlohmann::json RemoteMeta(const CliArgs& args, const v1::ExplainRequest& request,
                          const v1::Header& header) {
  ExplainParameters params;
  nlohmann::json parameters = nullptr;
  if (ParseMethodParameters(args, &params).ok()) parameters = ParametersJson(params);
  std::vector<int32_t> rows(header.target_rows().begin(), header.target_rows().end());
  nlohmann::json target = nullptr;
  if (request.has_target_token()) target = request.target_token();
  return {
      {"version", ClientVersion()},
      {"mode", "remote"},
      {"server", args.Get("server")},
      {"model",
       {{"name", header.model()},
        {"architecture", header.architecture()},
        {"n_layers", header.n_layers()}}},
      {"precision", EnumWord(v1::Precision_Name(header.precision()), "PRECISION_")},
      {"activation", EnumWord(v1::Activation_Name(header.activation()), "ACTIVATION_")},
      {"methods", std::vector<std::string>(header.methods().begin(), header.methods().end())},
      {"layers", std::vector<int32_t>(header.layers().begin(), header.layers().end())},
      {"rows", rows},
      {"target", std::move(target)},
      {"memory_budget_mib", request.parameters().memory_budget_mib() > 0
                                ? request.parameters().memory_budget_mib()
                                : static_cast<int32_t>(ExplainRequest().memory_budget_bytes >> 20)},
      {"parameters", std::move(parameters)}};
}

// One Explain call for the prompt in `args` (token strings and --generate already applied,
// token_refs.h), as explain's JSON with its meta.
absl::StatusOr<nlohmann::json> RemoteExplainJson(const CliArgs& args,
                                                 const Connection& connection) {
  auto stub = v1::Explainer::NewStub(connection.channel);
  ASSIGN_OR_RETURN(v1::ExplainRequest request, BuildRequest(args));
  grpc::ClientContext context;
  connection.Prepare(&context);
  std::unique_ptr<std::ofstream> stream_log;
  if (args.Has("stream-log")) stream_log = std::make_unique<std::ofstream>(args.Get("stream-log"));
  ProgressReporter progress(args);
  // Step messages only when there is a bar to show them (advice; older servers ignore the field).
  request.set_progress(progress.enabled());
  std::set<std::string> scored;
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
      if (response.has_input_tokens()) {
        line["offset"] = response.input_tokens().offset();
        line["ids"] = response.input_tokens().token_ids_size();
      }
      if (response.has_progress()) {
        line["method"] = response.progress().method();
        line["done"] = response.progress().done();
        line["total"] = response.progress().total();
      }
      if (response.has_summary()) line["batch_size"] = response.summary().batch_size();
      *stream_log << line.dump() << "\n" << std::flush;
    }
    local = builder.Add(response);
    if (!local.ok()) {
      context.TryCancel();
      break;
    }
    if (response.has_header()) {
      const v1::Header& h = response.header();
      progress.Start(ExpectedResults({h.methods().begin(), h.methods().end()}, h.layers_size()),
                     "started");
    } else if (response.has_layer_result() && response.layer_result().last_block()) {
      progress.ResultDone(response.layer_result().method(), response.layer_result().layer());
    } else if (response.has_progress()) {
      const v1::Progress& p = response.progress();
      progress.Step(p.method(), p.done(), p.total());
    } else if (response.has_token_scores()) {
      // A method's token scores may span several messages; it counts once, at its first.
      const v1::TokenScores& t = response.token_scores();
      if (scored.insert(absl::StrCat(t.method(), "/", t.layer())).second) {
        progress.ResultDone(t.method(), t.layer());
      }
    }
  }
  const grpc::Status status = reader->Finish();
  progress.Finish();
  RETURN_IF_ERROR(local);
  RETURN_IF_ERROR(FromGrpc(status));
  if (!builder.complete()) return absl::DataLossError("stream ended without a summary");
  builder.Finalize();
  const int ig_steps = request.parameters().ig_steps() > 0 ? request.parameters().ig_steps()
                                                           : ExplainParameters().ig_steps;
  for (const nlohmann::json& r : builder.json()["results"]) {
    if (r["approx_error"].is_number()) {
      WarnIfIncomplete(r["method"].get<std::string>(), r["approx_error"].get<double>(), ig_steps);
    }
  }
  builder.json()["meta"] = RemoteMeta(args, request, builder.header());
  return std::move(builder.json());
}

// The Tokenize RPC on --model.
absl::StatusOr<Tokenized> RemoteTokenize(const CliArgs& args, const Connection& connection,
                                         const std::string& text) {
  v1::TokenizeRequest request;
  request.set_model(args.Get("model"));
  request.set_text(text);
  auto stub = v1::Explainer::NewStub(connection.channel);
  grpc::ClientContext context;
  connection.Prepare(&context);
  v1::TokenizeResponse response;
  RETURN_IF_ERROR(FromGrpc(stub->Tokenize(&context, request, &response)));
  return Tokenized{{response.token_ids().begin(), response.token_ids().end()},
                   {response.tokens().begin(), response.tokens().end()}};
}

// token_refs.h's hooks over the existing RPCs. The greedy next token: the proto has no logits
// RPC, so one Explain of grad-x-input on the last row without a target reports the predicted
// token (its TokenScores' target) — one forward and backward pass per generated token.
ExplainHooks RemoteHooks(const CliArgs& base, const Connection& connection) {
  ExplainHooks hooks;
  hooks.explain_one = [&connection](const CliArgs& a) { return RemoteExplainJson(a, connection); };
  hooks.tokenize = [&base, &connection](const std::string& text) {
    return RemoteTokenize(base, connection, text);
  };
  hooks.next_token = [&base,
                      &connection](const std::vector<int32_t>& ids) -> absl::StatusOr<int32_t> {
    // The command's model, activation and precision; the prompt, method and rows replaced.
    CliArgs a = base;
    for (const char* f : {"text", "text-file", "ids-file", "input", "methods", "targets", "target",
                          "target-tokens", "contrast-target", "generate", "layers", "top-k",
                          "threshold", "mass", "dense", "ig-steps", "sg-samples"}) {
      a.Erase(f);
    }
    a.Set("ids", absl::StrJoin(ids, ","));
    a.Set("method", MethodName(Method::kGradientXInput));
    a.Set("rows", "last");
    ASSIGN_OR_RETURN(v1::ExplainRequest request, BuildRequest(a));
    auto stub = v1::Explainer::NewStub(connection.channel);
    grpc::ClientContext context;
    connection.Prepare(&context);
    std::unique_ptr<grpc::ClientReader<v1::ExplainResponse>> reader =
        stub->Explain(&context, request);
    v1::ExplainResponse response;
    std::optional<int32_t> next;
    while (reader->Read(&response)) {
      if (response.has_token_scores() && response.token_scores().target_tokens_size() > 0) {
        next = response.token_scores().target_tokens(0);
      }
    }
    RETURN_IF_ERROR(FromGrpc(reader->Finish()));
    if (!next.has_value()) return absl::DataLossError("the server reported no predicted token");
    return *next;
  };
  hooks.prompt_ids = [&base,
                      &connection](const CliArgs& a) -> absl::StatusOr<std::vector<int32_t>> {
    ASSIGN_OR_RETURN(PromptInput prompt, ReadPrompt(a));
    if (!prompt.text.has_value()) return prompt.ids;
    ASSIGN_OR_RETURN(Tokenized t, RemoteTokenize(base, connection, *prompt.text));
    return t.ids;
  };
  // No detokenizing RPC: ExplainWithOptions takes the generated tokens' text from the
  // explanation's "tokens"; this is only its fallback.
  hooks.token_text = [](int32_t id) { return absl::StrCat("<", id, ">"); };
  return hooks;
}

}  // namespace

absl::Status RunRemoteExplain(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(
      CliArgs args,
      CliArgs::Parse(argv, WithConnection(ClientFlagSpec("explain", ClientMode::kRemote))));
  RETURN_IF_ERROR(CheckOutputPaths(args, {"stream-log"}));
  ASSIGN_OR_RETURN(const std::vector<DatasetItem> items, PrepareExplain(args));
  ASSIGN_OR_RETURN(Connection connection, Connect(args));
  ASSIGN_OR_RETURN(std::optional<nlohmann::json> explained,
                   ExplainPrompts(args, items, RemoteHooks(args, connection)));
  if (!explained.has_value()) return absl::OkStatus();  // --input wrote its own output
  const nlohmann::json& out = *explained;
  RETURN_IF_ERROR(WriteArrayOutput(args, out));
  if (args.Has("json") || !args.Has("output")) RETURN_IF_ERROR(WriteJson(args, out));
  if (args.Has("html")) {
    std::ofstream f(args.Get("html"));
    if (!f)
      return absl::PermissionDeniedError(absl::StrCat("cannot write '", args.Get("html"), "'"));
    f << RenderHtmlReport(out);
  }
  return absl::OkStatus();
}

}  // namespace mamba_explain
