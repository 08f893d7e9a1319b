#include "server/httplib_listener.h"

#include <httplib.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace mamba_explain {

absl::StatusOr<int> StartListening(httplib::Server& server, const std::string& host, int port,
                                   const std::string& what, std::thread* listener) {
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof(yes));
  });
  int bound = port;
  if (port == 0) {
    bound = server.bind_to_any_port(host);
  } else if (!server.bind_to_port(host, port)) {
    bound = -1;
  }
  if (bound <= 0) {
    return absl::UnavailableError(absl::StrCat(what, ": cannot listen on ", host, ":", port));
  }
  *listener = std::thread([s = &server] { s->listen_after_bind(); });
  // stop() only stops a server that runs; wait for it so that Stop() right after Start works.
  const absl::Time until = absl::Now() + absl::Seconds(10);
  while (!server.is_running() && absl::Now() < until) absl::SleepFor(absl::Milliseconds(1));
  return bound;
}

void StopListening(httplib::Server& server, std::thread& listener) {
  if (!listener.joinable()) return;
  server.stop();
  listener.join();
}

}  // namespace mamba_explain
