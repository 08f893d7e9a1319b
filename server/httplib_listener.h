// Running a cpp-httplib server inside mamba-explaind (the HTTP gateway and /metrics share it):
// exclusive binding (SO_REUSEADDR only — cpp-httplib's default adds SO_REUSEPORT, which would let
// a second server bind the same port and take half of its connections instead of failing), the
// listening thread, and a stop that works right after the start.
#ifndef MAMBA_EXPLAIN_SERVER_HTTPLIB_LISTENER_H_
#define MAMBA_EXPLAIN_SERVER_HTTPLIB_LISTENER_H_

#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
}

namespace mamba_explain {

// Binds `server` to host:port (0: a free port) with exclusive socket options and starts serving
// on `*listener`; returns the port, or UNAVAILABLE "<what>: cannot listen on host:port". Returns
// once the server runs, so that StopListening right after works.
absl::StatusOr<int> StartListening(httplib::Server& server, const std::string& host, int port,
                                   const std::string& what, std::thread* listener);

// Stops a server started by StartListening and joins its thread; a no-op when not started.
void StopListening(httplib::Server& server, std::thread& listener);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_SERVER_HTTPLIB_LISTENER_H_
