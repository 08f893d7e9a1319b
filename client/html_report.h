// The HTML report of an explanation, offline (`mamba-explain explain --html`) and remote (the
// same flag with --server): one self-contained file holding the shared report views of web/
// (explain_view.js/.css, the views the server's console uses; compiled in, no network, no
// external scripts or fonts) and the explanation as compact JSON. Long inputs stay usable: rows
// are embedded sparse (non-zero entries only, values to 4 significant digits) and, when the
// explanation would exceed ReportOptions::max_data_bytes, cut to their top-k entries of largest
// |value| (k the same for every row, reported in the page with the |mass| kept), so a report of
// 2 000 tokens stays under 2 MB. Pure functions, thread-safe.
#ifndef MAMBA_EXPLAIN_CLIENT_HTML_REPORT_H_
#define MAMBA_EXPLAIN_CLIENT_HTML_REPORT_H_

#include <cstddef>
#include <string>

#include "nlohmann/json.hpp"

namespace mamba_explain {

struct ReportOptions {
  // Shown in the page's title when the explanation names no model (offline: the model dir).
  std::string title;
  // Budget of the embedded rows (estimated JSON bytes); beyond it rows are cut to their top k.
  size_t max_data_bytes = 1500 * 1024;
};

// The report document embedded in the page (format "mamba-explain-report/1", read by
// MambaExplain.Explanation.fromReport) from the JSON that `mamba-explain explain` writes (the
// offline shape; the remote one adds model, target_rows, summary).
nlohmann::json ReportDocument(const nlohmann::json& explanation, const ReportOptions& options);

std::string RenderHtmlReport(const nlohmann::json& explanation, const ReportOptions& options = {});

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_CLIENT_HTML_REPORT_H_
