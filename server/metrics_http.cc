#include "server/metrics_http.h"

#include <httplib.h>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <chrono>
#include <sstream>
#include <utility>

#include "common/status_macros.h"
#include "server/httplib_listener.h"

namespace mamba_explain {

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const MetricsHttpOptions& options) {
  auto metrics = std::unique_ptr<MetricsHttpServer>(new MetricsHttpServer());
  metrics->server_ = std::make_unique<httplib::Server>();
  httplib::Server& server = *metrics->server_;
  const int threads = std::max(1, options.threads);
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.set_read_timeout(absl::ToChronoMilliseconds(options.read_timeout));
  server.set_write_timeout(std::chrono::seconds(10));
  server.set_keep_alive_timeout(5);
  server.set_payload_max_length(4096);
  MetricsHttpServer* self = metrics.get();
  server.Get("/metrics", [self](const httplib::Request&, httplib::Response& res) {
    res.set_content(self->Scrape(), "text/plain; version=0.0.4; charset=utf-8");
  });
  ASSIGN_OR_RETURN(metrics->port_, StartListening(server, options.host, options.port, "metrics",
                                                  &metrics->listener_));
  return metrics;
}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

void MetricsHttpServer::Stop() {
  if (server_) StopListening(*server_, listener_);
}

void MetricsHttpServer::RegisterCollectable(
    const std::weak_ptr<prometheus::Collectable>& collectable) {
  absl::MutexLock lock(&mu_);
  collectables_.push_back(collectable);
}

std::string MetricsHttpServer::Scrape() const {
  std::vector<prometheus::MetricFamily> families;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& weak : collectables_) {
      if (auto collectable = weak.lock()) {
        std::vector<prometheus::MetricFamily> more = collectable->Collect();
        families.insert(families.end(), std::make_move_iterator(more.begin()),
                        std::make_move_iterator(more.end()));
      }
    }
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace mamba_explain
