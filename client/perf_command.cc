#include "client/perf_command.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/perf_load.h"
#include "client/perf_report.h"
#include "client/remote_connection.h"
#include "client/remote_request.h"
#include "attribution/methods.h"
#include "common/cli_args.h"
#include "common/status_macros.h"
#include "explain/explain_request.h"
#include "mamba_explain/v1/explain.grpc.pb.h"

namespace mamba_explain {
namespace {

// The `explain` request flags that perf hands to BuildRequest unchanged.
const std::set<std::string> kRequestFlags = {
    "layers",     "rows",      "target",   "activation", "dtype",     "memory-budget-mib",
    "top-k",      "threshold", "mass",     "priority",   "ig-steps",  "ig-rule",
    "sg-samples", "sg-sigma",  "sg-input", "seed",       "lrp-rules", "attention-norm",
    "start-layer"};
const std::set<std::string> kRequestSwitches = {"dense"};
const std::set<std::string> kPerfFlags = {
    "model",  "method",        "input-length", "concurrency", "request-rate", "duration",
    "warmup", "drain-timeout", "input-seed",   "json",        "csv"};

template <typename T>
absl::StatusOr<std::vector<T>> NumberList(const CliArgs& args, const std::string& flag,
                                          const std::string& fallback) {
  std::vector<T> out;
  for (absl::string_view piece : absl::StrSplit(args.Get(flag, fallback), ',', absl::SkipEmpty())) {
    T v{};
    bool ok = false;
    if constexpr (std::is_floating_point_v<T>) {
      ok = absl::SimpleAtod(absl::StripAsciiWhitespace(piece), &v);
    } else {
      ok = absl::SimpleAtoi(absl::StripAsciiWhitespace(piece), &v);
    }
    if (!ok || v <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad value '", piece, "' in --", flag, " (positive numbers)"));
    }
    out.push_back(v);
  }
  if (out.empty()) return absl::InvalidArgumentError(absl::StrCat("--", flag, " is empty"));
  return out;
}

absl::StatusOr<double> Seconds(const CliArgs& args, const std::string& flag, double fallback) {
  double v = fallback;
  if (args.Has(flag) && (!absl::SimpleAtod(args.Get(flag), &v) || v < 0)) {
    return absl::InvalidArgumentError(absl::StrCat("bad --", flag, " '", args.Get(flag), "'"));
  }
  return v;
}

// One request template per entry of the method mix ("a,b": each request asks one of them; "a+b":
// one request asks both), built by the `explain` flag parser from the pass-through flags.
absl::StatusOr<std::vector<v1::ExplainRequest>> RequestTemplates(const CliArgs& args,
                                                                 const std::string& model) {
  std::vector<std::string> base = {"--model", model,    "--ids",
                                   "0",       "--rows", args.Get("rows", "last")};
  for (const std::string& flag : kRequestFlags) {
    if (flag != "rows" && args.Has(flag))
      base.push_back(absl::StrCat("--", flag, "=", args.Get(flag)));
  }
  for (const std::string& flag : kRequestSwitches) {
    if (args.Has(flag)) base.push_back(absl::StrCat("--", flag));
  }
  FlagSpec spec;
  spec.valued = kRequestFlags;
  spec.valued.insert({"model", "ids", "method"});
  spec.switches = kRequestSwitches;
  std::vector<v1::ExplainRequest> templates;
  for (absl::string_view entry :
       absl::StrSplit(args.Get("method", MethodName(ExplainRequest().methods.front())), ',', absl::SkipEmpty())) {
    std::vector<std::string> argv = base;
    argv.push_back("--method");
    argv.push_back(absl::StrReplaceAll(absl::StripAsciiWhitespace(entry), {{"+", ","}}));
    ASSIGN_OR_RETURN(CliArgs request_args, CliArgs::Parse(argv, spec));
    ASSIGN_OR_RETURN(v1::ExplainRequest request, BuildRequest(request_args));
    templates.push_back(std::move(request));
  }
  if (templates.empty()) return absl::InvalidArgumentError("--method is empty");
  return templates;
}

void PrintProgress(const std::string& label, const LoadProgress& p, bool tty) {
  std::cerr << (tty ? "\r" : "")
            << absl::StrFormat("perf %s %s %4.1f/%.1f s: %d done (%.1f/s), %d errors, %d in flight",
                               label, p.measuring ? "measure" : "warm-up", p.elapsed_s, p.window_s,
                               p.completed, p.elapsed_s >= 0.5 ? p.completed / p.elapsed_s : 0.0,
                               p.errors, p.in_flight)
            << (tty ? "   " : "\n") << std::flush;
}

absl::Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  if (!f) return absl::PermissionDeniedError(absl::StrCat("cannot write '", path, "'"));
  f << text;
  return f ? absl::OkStatus() : absl::DataLossError(absl::StrCat("writing '", path, "' failed"));
}

}  // namespace

absl::Status RunRemotePerf(const std::vector<std::string>& argv) {
  FlagSpec perf_spec;
  perf_spec.valued = kRequestFlags;
  perf_spec.valued.insert(kPerfFlags.begin(), kPerfFlags.end());
  perf_spec.switches = kRequestSwitches;
  perf_spec.switches.insert("quiet");
  ASSIGN_OR_RETURN(CliArgs args, CliArgs::Parse(argv, WithConnection(perf_spec)));
  ASSIGN_OR_RETURN(std::string model, args.Require("model"));
  ASSIGN_OR_RETURN(std::vector<int32_t> lengths, NumberList<int32_t>(args, "input-length", "128"));
  ASSIGN_OR_RETURN(std::vector<int> concurrency, NumberList<int>(args, "concurrency", "1"));
  std::vector<double> rates;
  if (args.Has("request-rate")) {
    ASSIGN_OR_RETURN(rates, NumberList<double>(args, "request-rate", ""));
  }
  ASSIGN_OR_RETURN(double duration_s, Seconds(args, "duration", 10));
  ASSIGN_OR_RETURN(double warmup_s, Seconds(args, "warmup", 2));
  ASSIGN_OR_RETURN(double drain_s, Seconds(args, "drain-timeout", 30));
  if (duration_s <= 0) return absl::InvalidArgumentError("--duration must be > 0");
  uint64_t seed = 0;
  if (args.Has("input-seed") && !absl::SimpleAtoi(args.Get("input-seed"), &seed)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad --input-seed '", args.Get("input-seed"), "'"));
  }
  ASSIGN_OR_RETURN(std::vector<v1::ExplainRequest> templates, RequestTemplates(args, model));
  ASSIGN_OR_RETURN(Connection connection, Connect(args));
  auto stub = v1::Explainer::NewStub(connection.channel);

  // The model's vocabulary bounds the random ids; its token limit bounds the lengths.
  v1::ModelInfo info;
  {
    grpc::ClientContext context;
    connection.Prepare(&context);
    v1::GetModelRequest request;
    request.set_name(model);
    RETURN_IF_ERROR(FromGrpc(stub->GetModel(&context, request, &info)));
  }
  if (info.state() != v1::ModelInfo::READY) {
    return absl::FailedPreconditionError(
        absl::StrCat("model '", model, "' is not ready (", v1::ModelInfo::State_Name(info.state()),
                     info.error().empty() ? "" : ": ", info.error(), ")"));
  }
  for (int32_t n : lengths) {
    if (info.max_tokens() > 0 && n > info.max_tokens()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--input-length ", n, " > the server's limit ", info.max_tokens()));
    }
  }
  RequestSource source(templates, lengths, info.vocab_size(), seed);

  const bool open_loop = !rates.empty();
  const size_t n_levels = open_loop ? rates.size() : concurrency.size();
  const bool quiet = args.Has("quiet");
  const bool tty = isatty(STDERR_FILENO) != 0;
  std::vector<LevelReport> levels;
  for (size_t i = 0; i < n_levels; ++i) {
    LoadLevelOptions options;
    options.concurrency = open_loop ? 0 : concurrency[i];
    options.request_rate = open_loop ? rates[i] : 0;
    options.warmup = absl::Seconds(warmup_s);
    options.measurement = absl::Seconds(duration_s);
    options.drain_timeout = absl::Seconds(drain_s);
    options.seed = seed + i;
    const std::string label = open_loop ? absl::StrFormat("rate=%g/s", rates[i])
                                        : absl::StrCat("concurrency=", concurrency[i]);
    ProgressCallback progress;
    if (!quiet) progress = [&](const LoadProgress& p) { PrintProgress(label, p, tty); };
    ASSIGN_OR_RETURN(LoadLevelResult result,
                     RunLoadLevel(stub.get(), connection, &source, options, progress));
    levels.push_back(SummarizeLevel(result, options.concurrency, options.request_rate));
    if (!quiet) {
      std::cerr << (tty ? "\r" : "")
                << absl::StrFormat("perf %s: %.2f req/s, p99 %.2f ms, %d completed", label,
                                   levels.back().throughput_rps, levels.back().latency_ms.p99,
                                   levels.back().completed)
                << std::string(tty ? 30 : 0, ' ') << "\n";
    }
  }
  std::cout << LevelsTable(levels) << std::flush;

  nlohmann::json out;
  out["model"] = model;
  out["server"] = args.Get("server");
  std::vector<std::string> mix;
  for (const v1::ExplainRequest& t : templates) {
    mix.push_back(absl::StrJoin(t.methods(), "+"));
  }
  out["methods"] = mix;
  out["rows"] = args.Get("rows", "last");
  out["input_lengths"] = lengths;
  out["mode"] = open_loop ? "request_rate" : "concurrency";
  out["warmup_s"] = warmup_s;
  out["duration_s"] = duration_s;
  out["input_seed"] = seed;
  out["levels"] = nlohmann::json::array();
  for (const LevelReport& l : levels) out["levels"].push_back(LevelJson(l));
  if (args.Has("json")) RETURN_IF_ERROR(WriteFile(args.Get("json"), out.dump(2) + "\n"));
  if (args.Has("csv")) RETURN_IF_ERROR(WriteFile(args.Get("csv"), LevelsCsv(levels)));
  for (const LevelReport& l : levels) {
    if (l.ok == 0) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "no request succeeded at concurrency=%d rate=%g (status counts in the report)",
          l.concurrency, l.request_rate));
    }
  }
  return absl::OkStatus();
}

}  // namespace mamba_explain
