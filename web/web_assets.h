// The files of web/ (the shared report views, the live console) compiled into the binaries, so
// that mamba-explaind serves its console and `mamba-explain explain --html` writes a complete
// report without network or install paths. The table is generated at build time from the files
// listed in cmake/web_assets.cmake (cmake/embed_files.cmake). Immutable, thread-safe.
#ifndef MAMBA_EXPLAIN_WEB_WEB_ASSETS_H_
#define MAMBA_EXPLAIN_WEB_WEB_ASSETS_H_

#include <string_view>

namespace mamba_explain {

struct WebAsset {
  std::string_view name;       // file name in web/, e.g. "explain_view.js"
  std::string_view mime_type;  // "text/javascript; charset=utf-8", ...
  std::string_view content;    // the file's bytes
};

// The asset called `name`, or nullptr.
const WebAsset* FindWebAsset(std::string_view name);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_WEB_WEB_ASSETS_H_
