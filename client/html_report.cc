#include "client/html_report.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/str_replace.h"
#include "web/web_assets.h"

namespace mamba_explain {
namespace {

// v to 4 significant digits, as a double whose shortest decimal form is those digits (so the
// JSON says 0.1235, not 0.12349999696016312).
double FourDigits(double v) {
  if (v == 0 || !std::isfinite(v)) return v;
  const double scale = std::pow(10.0, 3 - std::floor(std::log10(std::fabs(v))));
  return std::round(v * scale) / scale;
}

// NaN travels as null in JSON; the page reads null as "none defined".
nlohmann::json Scalar(const nlohmann::json& v) {
  if (v.is_number() && !std::isfinite(v.get<double>())) return nullptr;
  return v;
}

struct Entry {
  int col;
  double value;
};

std::string Asset(const char* name) {
  const WebAsset* a = FindWebAsset(name);
  return a ? std::string(a->content) : std::string();
}

}  // namespace

nlohmann::json ReportDocument(const nlohmann::json& explanation, const ReportOptions& options) {
  nlohmann::json doc;
  doc["format"] = "mamba-explain-report/1";
  doc["model"] = explanation.value("model", options.title);
  for (const char* key : {"architecture", "precision", "request_id"}) {
    if (explanation.contains(key)) doc[key] = explanation[key];
  }
  doc["tokens"] = explanation.value("tokens", nlohmann::json::array());
  doc["ids"] = explanation.value("ids", nlohmann::json::array());
  doc["layers"] = explanation.value("layers", nlohmann::json::array());
  if (explanation.contains("summary")) doc["summary"] = explanation["summary"];

  // Every row's non-zero entries first, to know the size.
  struct Result {
    const nlohmann::json* source;
    std::vector<std::vector<Entry>> rows;
  };
  std::vector<Result> results;
  size_t total_rows = 0, total_entries = 0;
  std::vector<int> target_rows;
  static const nlohmann::json kNone = nlohmann::json::array();
  const nlohmann::json& all = explanation.contains("results") ? explanation["results"] : kNone;
  for (const nlohmann::json& r : all) {  // `results` points into `all`
    const char* values_key = r.contains("matrix") ? "matrix" : "scores";
    Result out{&r, {}};
    for (const nlohmann::json& row : r.value(values_key, nlohmann::json::array())) {
      std::vector<Entry> entries;
      for (size_t c = 0; c < row.size(); ++c) {
        const double v = row[c].is_number() ? row[c].get<double>() : 0.0;
        if (v != 0) entries.push_back({static_cast<int>(c), v});
      }
      total_entries += entries.size();
      out.rows.push_back(std::move(entries));
    }
    total_rows += out.rows.size();
    for (int p : r.value("rows", std::vector<int>())) target_rows.push_back(p);
    results.push_back(std::move(out));
  }
  std::sort(target_rows.begin(), target_rows.end());
  target_rows.erase(std::unique(target_rows.begin(), target_rows.end()), target_rows.end());
  doc["target_rows"] = explanation.value("target_rows", nlohmann::json(target_rows));

  // About 14 bytes per entry: a column of up to 4 digits, a 4-digit value with sign and
  // exponent, two commas.
  constexpr size_t kBytesPerEntry = 14;
  size_t top_k = 0;  // 0: every entry fits
  if (total_entries * kBytesPerEntry > options.max_data_bytes && total_rows > 0) {
    top_k = std::max<size_t>(1, options.max_data_bytes / kBytesPerEntry / total_rows);
  }

  doc["results"] = nlohmann::json::array();
  for (Result& result : results) {
    const nlohmann::json& r = *result.source;
    nlohmann::json d;
    d["method"] = r.value("method", "");
    d["layer"] = r.value("layer", 0);
    d["kind"] = r.contains("matrix") ? "matrix" : "scores";
    d["rows"] = r.value("rows", nlohmann::json::array());
    d["approx_error"] = Scalar(r.value("approx_error", nlohmann::json()));
    double mass = 0, kept = 0;
    bool cut = false;
    nlohmann::json entries = nlohmann::json::array();
    for (std::vector<Entry>& row : result.rows) {
      for (const Entry& e : row) mass += std::fabs(e.value);
      if (top_k > 0 && row.size() > top_k) {
        std::nth_element(
            row.begin(), row.begin() + top_k, row.end(),
            [](const Entry& a, const Entry& b) { return std::fabs(a.value) > std::fabs(b.value); });
        row.resize(top_k);
        std::sort(row.begin(), row.end(),
                  [](const Entry& a, const Entry& b) { return a.col < b.col; });
        cut = true;
      }
      std::vector<int> cols;
      std::vector<double> values;
      for (const Entry& e : row) {
        kept += std::fabs(e.value);
        cols.push_back(e.col);
        values.push_back(FourDigits(e.value));
      }
      entries.push_back({std::move(cols), std::move(values)});
    }
    d["entries"] = std::move(entries);
    // The |mass| the page shows: what the server kept (remote sparsity) times what the report
    // kept.
    const double server_kept =
        r.contains("kept_mass") && r["kept_mass"].is_number() ? r["kept_mass"].get<double>() : 1.0;
    d["kept_mass"] = FourDigits(server_kept * (mass > 0 ? kept / mass : 1.0));
    d["top_k"] = cut ? nlohmann::json(top_k) : nlohmann::json();
    if (r.contains("targets")) d["targets"] = r["targets"];
    if (r.contains("explained_logit")) {
      nlohmann::json logits = nlohmann::json::array();
      for (const nlohmann::json& v : r["explained_logit"]) {
        logits.push_back(v.is_number() ? nlohmann::json(FourDigits(v.get<double>())) : v);
      }
      d["explained_logit"] = std::move(logits);
    }
    doc["results"].push_back(std::move(d));
  }
  return doc;
}

std::string RenderHtmlReport(const nlohmann::json& explanation, const ReportOptions& options) {
  const nlohmann::json doc = ReportDocument(explanation, options);
  // "</" inside the JSON would end the <script> element early.
  const std::string json = absl::StrReplaceAll(
      doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), {{"</", "<\\/"}});
  std::string html;
  html.reserve(json.size() + 64 * 1024);
  html +=
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      "<title>mamba-explain report</title>\n<style>\n";
  html += Asset("explain_view.css");
  html +=
      "</style></head><body>\n<h1>mamba-explain report <span id=\"mx-title\"></span></h1>\n"
      "<div id=\"mx-report\"></div>\n<script id=\"mx-data\" type=\"application/json\">";
  html += json;
  html += "</script>\n<script>\n";
  html += Asset("explain_view.js");
  html += "</script>\n<script>\n";
  html += Asset("report.js");
  html += "</script>\n</body></html>\n";
  return html;
}

}  // namespace mamba_explain
