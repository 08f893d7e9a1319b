// Renders an explanation (the JSON document that `mamba-explain explain` writes) as one
// self-contained HTML file: no network, no external scripts or fonts. It shows a token-labelled
// heatmap per method and layer (method and layer selectors), relevance bars of the selected
// target row over the source tokens, and the request summary. Pure function, thread-safe.
#ifndef MAMBA_EXPLAIN_CLIENT_HTML_REPORT_H_
#define MAMBA_EXPLAIN_CLIENT_HTML_REPORT_H_

#include <string>

#include "nlohmann/json.hpp"

namespace mamba_explain {

std::string RenderHtmlReport(const nlohmann::json& explanation);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_CLIENT_HTML_REPORT_H_
