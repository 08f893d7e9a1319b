#include "common/cli_args.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace mamba_explain {

absl::StatusOr<CliArgs> CliArgs::Parse(const std::vector<std::string>& args, const FlagSpec& spec) {
  CliArgs out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].rfind("--", 0) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", args[i], "'"));
    }
    const std::string arg = args[i].substr(2);
    std::string name = arg, value;
    const size_t eq = arg.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    if (spec.switches.count(name)) {
      if (inline_value) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " takes no value"));
      }
      out.values_[name] = "true";
    } else if (spec.valued.count(name)) {
      if (!inline_value) {
        if (i + 1 >= args.size()) {
          return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
        }
        value = args[++i];
      }
      out.values_[name] = value;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
  }
  return out;
}

std::string CliArgs::Get(const std::string& flag, const std::string& fallback) const {
  auto it = values_.find(flag);
  return it == values_.end() ? fallback : it->second;
}

absl::StatusOr<std::string> CliArgs::Require(const std::string& flag) const {
  auto it = values_.find(flag);
  if (it == values_.end()) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " is required"));
  }
  return it->second;
}

absl::Status CliArgs::GetInt(const std::string& flag, int& value) const {
  if (Has(flag) && !absl::SimpleAtoi(Get(flag), &value)) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " must be an integer"));
  }
  return absl::OkStatus();
}

absl::Status CliArgs::GetDouble(const std::string& flag, double& value) const {
  if (Has(flag) && !absl::SimpleAtod(Get(flag), &value)) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " must be a number"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int32_t>> ParseIdList(const std::string& text) {
  std::vector<int32_t> ids;
  for (absl::string_view piece : absl::StrSplit(text, ',')) {
    int32_t id = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(piece), &id) || id < 0) {
      return absl::InvalidArgumentError(absl::StrCat("bad token id '", piece, "' in --ids"));
    }
    ids.push_back(id);
  }
  if (ids.empty()) return absl::InvalidArgumentError("--ids is empty");
  return ids;
}

namespace {

absl::StatusOr<int32_t> ParseIndex(absl::string_view text, const char* what) {
  int32_t v = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &v) || v < 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad ", what, " '", text, "'"));
  }
  return v;
}

}  // namespace

absl::StatusOr<std::vector<int32_t>> ParseLayerSpec(const std::string& text) {
  std::vector<int32_t> layers;
  if (text == "all") return layers;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    std::vector<absl::string_view> range = absl::StrSplit(part, absl::MaxSplits('-', 1));
    absl::StatusOr<int32_t> lo = ParseIndex(range[0], "layer");
    if (!lo.ok()) return lo.status();
    int32_t hi = *lo;
    if (range.size() == 2) {
      absl::StatusOr<int32_t> h = ParseIndex(range[1], "layer");
      if (!h.ok()) return h.status();
      hi = *h;
      if (hi < *lo) return absl::InvalidArgumentError(absl::StrCat("bad layer range '", part, "'"));
    }
    for (int32_t l = *lo; l <= hi; ++l) layers.push_back(l);
  }
  return layers;
}

absl::StatusOr<RowSpec> ParseRowSpec(const std::string& text) {
  RowSpec spec;
  if (text == "all") return spec;
  if (text == "last") {
    spec.kind = RowSpec::Kind::kLast;
    return spec;
  }
  spec.kind = RowSpec::Kind::kList;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    absl::StatusOr<int32_t> r = ParseIndex(part, "row");
    if (!r.ok()) return r.status();
    spec.rows.push_back(*r);
  }
  return spec;
}

}  // namespace mamba_explain
