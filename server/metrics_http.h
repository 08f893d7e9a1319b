// The Prometheus /metrics endpoint on cpp-httplib: the text exposition format (prometheus-cpp's
// TextSerializer) of the registered collectables, served by a fixed pool of worker threads with a
// read timeout, so idle or half-open connections cannot hold every worker. mamba-explaind uses
// it instead of prometheus-cpp's civetweb Exposer wherever the build has cpp-httplib: Debian's
// civetweb starts its workers with 100 KiB stacks, and glibc refuses such threads once the
// process's static TLS exceeds them (LibTorch CUDA on the GPU host: "Cannot create first worker
// thread"; docs/operations.md, tools/static_tls.sh). Thread-safe; collectables are held weakly.
#ifndef MAMBA_EXPLAIN_SERVER_METRICS_HTTP_H_
#define MAMBA_EXPLAIN_SERVER_METRICS_HTTP_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace httplib {
class Server;
}
namespace prometheus {
class Collectable;
}

namespace mamba_explain {

struct MetricsHttpOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: a free port (port() says which)
  int threads = 8;
  absl::Duration read_timeout = absl::Seconds(2);
};

class MetricsHttpServer {
 public:
  // Binds and starts serving GET /metrics; UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const MetricsHttpOptions& options);
  ~MetricsHttpServer();

  void RegisterCollectable(const std::weak_ptr<prometheus::Collectable>& collectable);
  int port() const { return port_; }
  // Stops accepting and waits for the running scrapes.
  void Stop();

 private:
  MetricsHttpServer() = default;
  std::string Scrape() const;

  std::unique_ptr<httplib::Server> server_;
  std::thread listener_;
  int port_ = 0;
  mutable absl::Mutex mu_;
  std::vector<std::weak_ptr<prometheus::Collectable>> collectables_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_SERVER_METRICS_HTTP_H_
