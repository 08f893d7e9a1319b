#include "client/dataset.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/array_export.h"
#include "client/client_flags.h"
#include "client/progress.h"
#include "client/prompt_input.h"
#include "common/file_io.h"
#include "common/status_macros.h"

namespace mamba_explain {
namespace {

std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

const char* Extension(OutputFormat f) {
  return f == OutputFormat::kNpz ? ".npz" : f == OutputFormat::kSafetensors ? ".safetensors" : "";
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// "5" for 5, "abc" for "abc": how an id is matched on resume and named in messages.
std::string IdText(const nlohmann::json& id) { return id.is_string() ? id.get<std::string>() : Dump(id); }

// An id usable as a file name: letters, digits, '.', '_', '-', not starting with '.'.
bool FileNameId(const std::string& id) {
  if (id.empty() || id.size() > 200 || id[0] == '.') return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

// A JSON list (of numbers or strings) or scalar as the comma list the flags take.
absl::StatusOr<std::string> FlagText(const nlohmann::json& v, const std::string& key) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return Dump(v);
  if (v.is_array()) {
    std::vector<std::string> parts;
    for (const nlohmann::json& e : v) {
      if (!e.is_number_integer() && !e.is_string()) {
        return absl::InvalidArgumentError(absl::StrCat("\"", key, "\" holds ", Dump(e)));
      }
      parts.push_back(e.is_string() ? e.get<std::string>() : Dump(e));
    }
    return absl::StrJoin(parts, ",");
  }
  return absl::InvalidArgumentError(
      absl::StrCat("\"", key, "\" must be a string, an integer or a list, not ", Dump(v)));
}

// A target given per line: an id as such, a token string as a JSON string literal (the form
// --target reads as text even when it looks like a number; token_refs.h).
absl::StatusOr<std::string> TargetText(const nlohmann::json& v, const std::string& key) {
  if (v.is_number_integer()) return Dump(v);
  if (v.is_string()) return Dump(v);
  return absl::InvalidArgumentError(
      absl::StrCat("\"", key, "\" must be a token id or a token string, not ", Dump(v)));
}

absl::Status ApplyLine(const nlohmann::json& line, bool files, DatasetItem* item) {
  if (!line.is_object()) return absl::InvalidArgumentError("not a JSON object");
  CliArgs& a = item->args;
  for (const char* f : {"input", "output", "format", "overwrite", "progress", "json", "html"}) {
    a.Erase(f);
  }
  a.Set("quiet", "true");
  if (line.contains("text") == line.contains("ids")) {
    return absl::InvalidArgumentError("give exactly one of \"text\" and \"ids\"");
  }
  for (auto it = line.begin(); it != line.end(); ++it) {
    const std::string& key = it.key();
    const nlohmann::json& v = it.value();
    if (key == "text") {
      if (!v.is_string()) return absl::InvalidArgumentError("\"text\" must be a string");
      a.Set("text", v.get<std::string>());
    } else if (key == "ids") {
      ASSIGN_OR_RETURN(std::string ids, FlagText(v, key));
      ASSIGN_OR_RETURN(std::vector<int32_t> parsed, ParseIds(ids, "input \"ids\""));
      (void)parsed;
      a.Set("ids", ids);
    } else if (key == "id") {
      if (!v.is_string() && !v.is_number_integer()) {
        return absl::InvalidArgumentError("\"id\" must be a string or an integer");
      }
      item->id = IdText(v);
      if (files && !FileNameId(*item->id)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "id '", *item->id,
            "' cannot name a file (letters, digits, '.', '_' and '-', not starting with '.')"));
      }
    } else if (key == "meta") {
      item->meta = v;
    } else if (key == "rows" || key == "layers" || key == "generate") {
      ASSIGN_OR_RETURN(std::string text, FlagText(v, key));
      a.Set(key, text);
      if (key == "rows") a.Erase("targets");  // remote's old spelling of --rows
    } else if (key == "method") {
      ASSIGN_OR_RETURN(std::string text, FlagText(v, key));
      a.Set("method", text);
      a.Erase("methods");
    } else if (key == "target" || key == "contrast_target") {
      ASSIGN_OR_RETURN(std::string text, TargetText(v, key));
      a.Set(key == "target" ? "target" : "contrast-target", text);
      if (key == "target") a.Erase("target-tokens");
    } else if (key == "target_tokens" || key == "targets") {
      if (line.contains("target_tokens") && line.contains("targets")) {
        return absl::InvalidArgumentError("give \"target_tokens\" or \"targets\", not both");
      }
      if (!v.is_array()) {
        return absl::InvalidArgumentError(absl::StrCat("\"", key, "\" must be a list"));
      }
      a.Set("target-tokens", Dump(v));
      a.Erase("target");
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown key \"", key,
          "\" (text, ids, id, meta, rows, layers, method, target, target_tokens/targets, "
          "contrast_target, generate)"));
    }
  }
  if (line.contains("target") && (line.contains("target_tokens") || line.contains("targets"))) {
    return absl::InvalidArgumentError("give \"target\" or \"target_tokens\", not both");
  }
  for (const char* f : {"text-file", "ids-file"}) a.Erase(f);
  if (line.contains("text")) a.Erase("ids");
  if (line.contains("ids")) a.Erase("text");
  return CheckExplainFlags(a);
}

// The JSONL output's records so far: their keys; a last line cut short (an interrupted run) is
// cut off the file.
absl::StatusOr<std::set<std::string>> ResumeJsonl(const std::string& path) {
  std::set<std::string> keys;
  if (!Exists(path)) return keys;
  ASSIGN_OR_RETURN(std::string data, ReadFile(path));
  size_t begin = 0, good_end = 0;
  int n = 0;
  while (begin < data.size()) {
    const size_t nl = data.find('\n', begin);
    ++n;
    const std::string line = data.substr(begin, nl == std::string::npos ? std::string::npos : nl - begin);
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    const bool complete = nl != std::string::npos && !j.is_discarded();
    if (!complete) {
      if (nl != std::string::npos && data.find_first_not_of(" \t\r\n", nl) != std::string::npos) {
        return absl::DataLossError(absl::StrCat("--output '", path, "' line ", n,
                                                " is not JSON; not appending to it (--overwrite "
                                                "starts over)"));
      }
      break;  // the last line, cut short
    }
    if (!j.is_object() || !j.contains("line")) {
      return absl::DataLossError(absl::StrCat("--output '", path, "' line ", n,
                                              " is not an explain --input record"));
    }
    keys.insert(j.contains("id") && !j["id"].is_null()
                    ? absl::StrCat("id:", IdText(j["id"]))
                    : absl::StrCat("line:", j["line"].get<int>()));
    good_end = nl + 1;
    begin = nl + 1;
  }
  if (good_end < data.size()) {
    if (truncate(path.c_str(), static_cast<off_t>(good_end)) != 0) {
      return absl::DataLossError(absl::StrCat("cannot truncate '", path, "': ", std::strerror(errno)));
    }
    std::cerr << "mamba-explain: dropped an incomplete last line of " << path << "\n";
  }
  return keys;
}

std::string Key(const DatasetItem& item) {
  return item.id.has_value() ? absl::StrCat("id:", *item.id) : absl::StrCat("line:", item.line);
}

}  // namespace

absl::StatusOr<OutputFormat> ParseOutputFormat(const CliArgs& args) {
  const std::string f = args.Get("format", "json");
  if (f == "json") return OutputFormat::kJson;
  if (f == "npz") return OutputFormat::kNpz;
  if (f == "safetensors") return OutputFormat::kSafetensors;
  return absl::InvalidArgumentError(absl::StrCat("bad --format '", f, "' (json, npz or safetensors)"));
}

bool SparseArrays(const CliArgs& args) {
  return args.Has("top-k") || args.Has("threshold") || args.Has("mass");
}

absl::Status CheckExplainOutputs(const CliArgs& args) {
  ASSIGN_OR_RETURN(OutputFormat format, ParseOutputFormat(args));
  if (format == OutputFormat::kNpz && !HaveNpz()) {
    return absl::UnimplementedError(
        "--format npz needs libzip, which this build lacks (apt install libzip-dev, rebuild); "
        "--format safetensors works without it");
  }
  if (!args.Has("input")) {
    if (args.Has("overwrite")) return absl::InvalidArgumentError("--overwrite goes with --input");
    if (format == OutputFormat::kJson) {
      if (args.Has("output")) {
        return absl::InvalidArgumentError(
            "--output is for --format npz|safetensors or --input; JSON goes to --json");
      }
      return CheckOutputPaths(args, {"json", "html"});
    }
    if (!args.Has("output")) {
      return absl::InvalidArgumentError(
          absl::StrCat("--format ", args.Get("format"), " needs --output FILE"));
    }
    return CheckOutputPaths(args, {"output", "json", "html"});
  }
  for (const char* f : {"json", "html"}) {
    if (args.Has(f)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", f, " does not go with --input: results go to --output (JSONL, or a directory "
          "with --format npz|safetensors)"));
    }
  }
  for (const std::string& f : PromptFlags()) {
    if (args.Has(f)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--input replaces --", f, ": each line of the file holds its prompt"));
    }
  }
  const std::string input = args.Get("input");
  if (input != "-" && !Exists(input)) {
    return absl::NotFoundError(absl::StrCat("--input '", input, "' does not exist"));
  }
  if (format == OutputFormat::kJson) {
    if (!args.Has("output") || args.Get("output") == "-") return absl::OkStatus();
    return CheckOutputPaths(args, {"output"});
  }
  if (!args.Has("output")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--format ", args.Get("format"), " with --input needs --output DIR (one file per prompt)"));
  }
  const std::string dir = args.Get("output");
  if (IsDirectory(dir)) {
    if (access(dir.c_str(), W_OK | X_OK) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot write --output '", dir, "': ", std::strerror(errno)));
    }
    return absl::OkStatus();
  }
  if (Exists(dir)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot write --output '", dir, "': not a directory (--format ", args.Get("format"),
        " with --input writes one file per prompt into a directory)"));
  }
  const size_t slash = dir.find_last_of('/');
  const std::string parent =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : dir.substr(0, slash));
  if (!IsDirectory(parent) || access(parent.c_str(), W_OK | X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create --output '", dir, "': no writable directory '", parent, "'"));
  }
  return absl::OkStatus();
}

absl::Status WriteArrayOutput(const CliArgs& args, const nlohmann::json& out) {
  ASSIGN_OR_RETURN(OutputFormat format, ParseOutputFormat(args));
  if (format == OutputFormat::kJson) return absl::OkStatus();
  const std::string path = args.Get("output");
  RETURN_IF_ERROR(WriteExplanationArrays(
      path, out, format == OutputFormat::kNpz ? ArrayFormat::kNpz : ArrayFormat::kSafetensors,
      SparseArrays(args)));
  std::cerr << "wrote " << CountNoun(out.contains("results") ? out["results"].size() : 0, "result")
            << " to " << path << "\n";
  return absl::OkStatus();
}

absl::StatusOr<std::vector<DatasetItem>> ReadDataset(const CliArgs& args) {
  ASSIGN_OR_RETURN(OutputFormat format, ParseOutputFormat(args));
  const bool files = format != OutputFormat::kJson;
  const std::string path = args.Get("input");
  std::string data;
  if (path == "-") {
    data.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    ASSIGN_OR_RETURN(data, ReadFile(path));
  }
  std::vector<DatasetItem> items;
  std::map<std::string, int> ids;
  int n = 0;
  for (absl::string_view raw : absl::StrSplit(data, '\n')) {
    ++n;
    const absl::string_view text = absl::StripAsciiWhitespace(raw);
    if (text.empty()) continue;
    auto fail = [&](const absl::Status& s) {
      return absl::Status(s.code(), absl::StrCat("--input line ", n, ": ", s.message()));
    };
    nlohmann::json line = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (line.is_discarded()) return fail(absl::InvalidArgumentError("not valid JSON"));
    DatasetItem item;
    item.line = n;
    item.args = args;
    absl::Status s = ApplyLine(line, files, &item);
    if (!s.ok()) return fail(s);
    if (item.id.has_value()) {
      auto [it, fresh] = ids.emplace(*item.id, n);
      if (!fresh) {
        return fail(absl::InvalidArgumentError(
            absl::StrCat("id '", *item.id, "' repeats line ", it->second)));
      }
    }
    item.stem = item.id.value_or(absl::StrCat("line-", n));
    items.push_back(std::move(item));
  }
  if (items.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--input '", path, "' holds no prompts"));
  }
  return items;
}

absl::Status RunDataset(const CliArgs& args, const std::vector<DatasetItem>& items,
                        const ExplainOneFn& explain_one) {
  ASSIGN_OR_RETURN(OutputFormat format, ParseOutputFormat(args));
  const std::string output = args.Get("output", "-");
  const bool overwrite = args.Has("overwrite");
  std::set<std::string> done;
  std::unique_ptr<std::ofstream> jsonl;
  if (format == OutputFormat::kJson && output != "-") {
    if (!overwrite) {
      ASSIGN_OR_RETURN(done, ResumeJsonl(output));
    }
    jsonl = std::make_unique<std::ofstream>(
        output, overwrite ? std::ios::trunc | std::ios::out : std::ios::app | std::ios::out);
    if (!*jsonl) return absl::FailedPreconditionError(absl::StrCat("cannot write --output '", output, "'"));
  } else if (format != OutputFormat::kJson) {
    if (!IsDirectory(output) && mkdir(output.c_str(), 0777) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create --output '", output, "': ", std::strerror(errno)));
    }
  }
  std::vector<const DatasetItem*> todo;
  int skipped = 0;
  for (const DatasetItem& item : items) {
    const bool have =
        format == OutputFormat::kJson
            ? done.count(Key(item)) > 0
            : !overwrite && Exists(absl::StrCat(output, "/", item.stem, Extension(format)));
    if (have) {
      ++skipped;
    } else {
      todo.push_back(&item);
    }
  }
  if (skipped > 0) {
    std::cerr << "mamba-explain: --input " << args.Get("input") << ": "
              << CountNoun(items.size(), "prompt") << ", " << skipped << " already in " << output
              << " (skipped; --overwrite starts over), " << todo.size() << " to explain\n";
  }
  ProgressReporter progress(args);
  progress.Start(static_cast<int>(todo.size()), "explaining", "prompts");
  for (const DatasetItem* item : todo) {
    const std::string label =
        item->id.has_value() ? absl::StrCat("line ", item->line, " (id ", *item->id, ")")
                             : absl::StrCat("line ", item->line);
    absl::StatusOr<nlohmann::json> out = explain_one(item->args);
    if (!out.ok()) {
      progress.Finish();
      return absl::Status(out.status().code(),
                          absl::StrCat("--input line ", item->line, ": ", out.status().message()));
    }
    if (format == OutputFormat::kJson) {
      nlohmann::json record = std::move(*out);
      record["line"] = item->line;
      record["id"] = item->id.has_value() ? nlohmann::json(*item->id) : nlohmann::json(nullptr);
      if (!item->meta.is_null()) record["input_meta"] = item->meta;
      const std::string text = Dump(record);
      if (jsonl) {
        *jsonl << text << "\n" << std::flush;
        if (!*jsonl) return absl::DataLossError(absl::StrCat("writing '", output, "' failed"));
      } else {
        std::cout << text << "\n" << std::flush;
        if (!std::cout) return absl::DataLossError("writing standard output failed");
      }
    } else {
      nlohmann::json& record = *out;
      record["line"] = item->line;
      record["id"] = item->id.has_value() ? nlohmann::json(*item->id) : nlohmann::json(nullptr);
      if (!item->meta.is_null()) record["input_meta"] = item->meta;
      RETURN_IF_ERROR(WriteExplanationArrays(
          absl::StrCat(output, "/", item->stem, Extension(format)), record,
          format == OutputFormat::kNpz ? ArrayFormat::kNpz : ArrayFormat::kSafetensors,
          SparseArrays(args)));
    }
    progress.ResultDone(label, -1);
  }
  progress.Finish();
  std::cerr << "explained " << CountNoun(todo.size(), "prompt") << " to "
            << (output == "-" ? "stdout" : output) << "\n";
  return absl::OkStatus();
}

}  // namespace mamba_explain
