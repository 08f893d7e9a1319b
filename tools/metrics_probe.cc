// metrics_probe: finds out why the Prometheus endpoint cannot start on a host, outside our
// server. prometheus-cpp's Exposer wraps civetweb's CivetServer, whose only message on failure is
// "null context when constructing CivetServer" (civetweb's reason is dropped). This program runs,
// on the address given (default 127.0.0.1:0), the three layers one by one and prints what each
// says: (1) a plain socket/bind/listen (errno), (2) civetweb's mg_start2 with the options
// mamba-explaind uses, which returns civetweb's own error code and text, and then variants
// (other ports, fewer threads, no request timeout) to narrow the cause, (3) prometheus::Exposer
// as mamba-explaind builds it. Exit status 0 when the Exposer starts, 1 otherwise.
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

// mg_start2 with `options` (name, value pairs); prints civetweb's error code and text.
void ProbeCivetweb(const std::string& label, std::vector<std::string> options) {
  std::vector<const char*> c_options;
  for (const std::string& o : options) c_options.push_back(o.c_str());
  c_options.push_back(nullptr);
  mg_callbacks callbacks{};
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.configuration_options = c_options.data();
  unsigned code = 0;
  char text[512] = {0};
  mg_error_data error{};
  error.code = &code;
  error.text = text;
  error.text_buffer_size = sizeof(text);
  errno = 0;
  mg_context* ctx = mg_start2(&init, &error);
  const int saved_errno = errno;
  std::cout << "civetweb " << label << ": ";
  if (ctx != nullptr) {
    std::cout << "ok\n";
    mg_stop(ctx);
  } else {
    std::cout << "FAILED code " << code << " '" << text << "' errno " << saved_errno << " ("
              << std::strerror(saved_errno) << ")\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string address = argc > 1 ? argv[1] : "127.0.0.1:0";
  const size_t colon = address.rfind(':');
  const std::string host = colon == std::string::npos ? address : address.substr(0, colon);
  const int port = colon == std::string::npos ? 0 : std::atoi(address.c_str() + colon + 1);
  std::cout << "address " << address << "\n";

  std::cout << "-- 1. plain socket\n";
  ProbeSocket(host, port);

  std::cout << "-- 2. civetweb " << mg_version() << " (features: IPv6 " << mg_check_feature(8)
            << ", SSL " << mg_check_feature(2) << ")\n";
  std::cout << "mg_init_library(0) = " << mg_init_library(0) << "\n";
  ProbeCivetweb("as mamba-explaind",
                {"listening_ports", address, "num_threads", "8", "request_timeout_ms", "2000"});
  ProbeCivetweb("defaults", {"listening_ports", address});
  ProbeCivetweb("one thread", {"listening_ports", address, "num_threads", "1"});
  ProbeCivetweb("port only", {"listening_ports", std::to_string(port)});
  ProbeCivetweb("port 9464", {"listening_ports", host + ":9464"});

  std::cout << "-- 3. prometheus::Exposer\n";
  try {
    prometheus::Exposer exposer(std::vector<std::string>{"listening_ports", address, "num_threads",
                                                         "8", "request_timeout_ms", "2000"});
    std::cout << "Exposer: ok, port " << exposer.GetListeningPorts().front() << "\n";
  } catch (const std::exception& e) {
    std::cout << "Exposer: FAILED: " << e.what() << " (errno " << errno << ": "
              << std::strerror(errno) << ")\n";
    return 1;
  }
  return 0;
}
