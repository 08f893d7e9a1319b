// metrics_probe: finds out why the Prometheus endpoint cannot start on a host, outside our
// server. prometheus-cpp's Exposer wraps civetweb's CivetServer, whose only message on failure is
// "null context when constructing CivetServer" (civetweb's reason is dropped). This program runs,
// on the address given (default 127.0.0.1:0), the layers one by one and prints what each says:
// (1) prometheus::Exposer as mamba-explaind builds it, before anything initialised civetweb (the
// server's path: mg_start then initialises civetweb's default features itself), (2) a plain
// socket/bind/listen (errno), (3) mg_init_library(0) and civetweb's mg_start2 with the server's
// options and variants (other ports, fewer threads, no request timeout), with civetweb's own
// error text, (4) the Exposer again. Exit status 0 when the Exposer starts both times.
//   metrics_probe [ADDRESS:PORT]
#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <prometheus/exposer.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "server/civetweb_start_error.h"

namespace {

void ProbeSocket(const std::string& host, int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    std::cout << "socket: errno " << errno << " (" << std::strerror(errno) << ")\n";
    return;
  }
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) {
    std::cout << "setsockopt(SO_REUSEADDR): errno " << errno << " (" << std::strerror(errno)
              << ")\n";
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    std::cout << "inet_pton('" << host << "') failed\n";
  } else if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    std::cout << "bind: errno " << errno << " (" << std::strerror(errno) << ")\n";
  } else if (listen(fd, 16) != 0) {
    std::cout << "listen: errno " << errno << " (" << std::strerror(errno) << ")\n";
  } else {
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    std::cout << "socket/bind/listen: ok, port " << ntohs(addr.sin_port) << "\n";
  }
  close(fd);
}

// civetweb alone (mg_start2) with `options` (name, value pairs): ok, or its own error.
void ProbeCivetweb(const std::string& label, const std::vector<std::string>& options) {
  const std::string error = mamba_explain::CivetwebStartError(options);
  std::cout << "civetweb " << label << ": " << (error.empty() ? "ok" : "FAILED " + error) << "\n";
}

// prometheus::Exposer as mamba-explaind builds it.
bool ProbeExposer(const std::string& address) {
  try {
    prometheus::Exposer exposer(std::vector<std::string>{"listening_ports", address, "num_threads",
                                                         "8", "request_timeout_ms", "2000"});
    std::cout << "Exposer: ok, port " << exposer.GetListeningPorts().front() << "\n";
    return true;
  } catch (const std::exception& e) {
    std::cout << "Exposer: FAILED: " << e.what() << " (errno " << errno << ": "
              << std::strerror(errno) << ")\n";
    return false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string address = argc > 1 ? argv[1] : "127.0.0.1:0";
  const size_t colon = address.rfind(':');
  const std::string host = colon == std::string::npos ? address : address.substr(0, colon);
  const int port = colon == std::string::npos ? 0 : std::atoi(address.c_str() + colon + 1);
  std::cout << "address " << address << "\n";

  // First as the server does it: nothing has initialised civetweb, so mg_start initialises its
  // default features itself (an explicit mg_init_library below would hide a failure there).
  std::cout << "-- 1. prometheus::Exposer, civetweb not initialised before\n";
  const bool first = ProbeExposer(address);

  std::cout << "-- 2. plain socket\n";
  ProbeSocket(host, port);

  std::cout << "-- 3. civetweb " << mg_version() << " (features: IPv6 " << mg_check_feature(8)
            << ", SSL " << mg_check_feature(2) << ")\n";
  std::cout << "mg_init_library(0) = " << mg_init_library(0) << "\n";
  ProbeCivetweb("as mamba-explaind",
                {"listening_ports", address, "num_threads", "8", "request_timeout_ms", "2000"});
  ProbeCivetweb("defaults", {"listening_ports", address});
  ProbeCivetweb("one thread", {"listening_ports", address, "num_threads", "1"});
  ProbeCivetweb("port only", {"listening_ports", std::to_string(port)});
  ProbeCivetweb("port 9464", {"listening_ports", host + ":9464"});

  std::cout << "-- 4. prometheus::Exposer after mg_init_library(0)\n";
  const bool second = ProbeExposer(address);
  return first && second ? 0 : 1;
}
