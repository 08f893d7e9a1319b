#include "server/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <utility>

namespace mamba_explain {
namespace {

prometheus::MetricFamily Family(const std::string& name, const std::string& help,
                                prometheus::MetricType type, double value) {
  prometheus::MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
  return family;
}

// Seconds since the epoch at which the system booted (/proc/stat btime), 0 if unknown.
double BootTime() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime") {
      in >> value;
      return value;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

int CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;  // the directory's own descriptor
}

}  // namespace

ProcessMetrics::ProcessMetrics(std::string version, std::string backend, std::string device)
    : version_(std::move(version)), backend_(std::move(backend)), device_(std::move(device)) {}

std::vector<prometheus::MetricFamily> ProcessMetrics::Collect() const {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;
  prometheus::MetricFamily build = Family(
      "mamba_explain_build_info", "Build of the running server (value 1)", MetricType::Gauge, 1);
  build.metric[0].label = {{"backend", backend_}, {"device", device_}, {"version", version_}};
  out.push_back(std::move(build));

  // /proc/self/stat: fields after the parenthesised command name; utime, stime (14, 15),
  // starttime (22), vsize (23), rss (24), counted from 1 with pid = 1.
  std::ifstream stat("/proc/self/stat");
  std::string line;
  if (std::getline(stat, line)) {
    const size_t close = line.rfind(')');
    if (close != std::string::npos) {
      std::istringstream fields(line.substr(close + 2));
      std::vector<std::string> f;
      std::string s;
      while (fields >> s) f.push_back(s);
      // f[0] is field 3 (state).
      if (f.size() > 21) {
        const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
        const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
        out.push_back(Family("process_cpu_seconds_total", "User and system CPU time (s)",
                             MetricType::Counter,
                             (std::stod(f[11]) + std::stod(f[12])) / ticks));
        out.push_back(Family("process_start_time_seconds",
                             "Start time of the process since the epoch (s)", MetricType::Gauge,
                             BootTime() + std::stod(f[19]) / ticks));
        out.push_back(Family("process_virtual_memory_bytes", "Virtual memory size (bytes)",
                             MetricType::Gauge, std::stod(f[20])));
        out.push_back(Family("process_resident_memory_bytes", "Resident memory size (bytes)",
                             MetricType::Gauge, std::stod(f[21]) * page));
      }
    }
  }
  const int fds = CountOpenFds();
  if (fds >= 0) {
    out.push_back(
        Family("process_open_fds", "Open file descriptors", MetricType::Gauge, fds));
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    out.push_back(Family("process_max_fds", "Limit of open file descriptors", MetricType::Gauge,
                         static_cast<double>(limit.rlim_cur)));
  }
  return out;
}

}  // namespace mamba_explain
