// civetweb's own reason for refusing to start. prometheus-cpp's Exposer wraps civetweb's
// CivetServer, which reports every failure as "null context when constructing CivetServer" and
// drops civetweb's error text; CivetwebStartError starts civetweb directly with the same options
// (mg_start2 with an error buffer) and returns that text, so the server's log and
// tools/metrics_probe name the cause. Compiled only where civetweb's header is found
// (cmake/server.cmake, ME_HAVE_CIVETWEB).
#ifndef MAMBA_EXPLAIN_SERVER_CIVETWEB_START_ERROR_H_
#define MAMBA_EXPLAIN_SERVER_CIVETWEB_START_ERROR_H_

#include <string>
#include <vector>

namespace mamba_explain {

// Starts civetweb with `options` (name, value pairs) and stops it again; returns "" when it
// started, else civetweb's error code, text and errno.
std::string CivetwebStartError(const std::vector<std::string>& options);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_SERVER_CIVETWEB_START_ERROR_H_
