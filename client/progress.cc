#include "client/progress.h"

#include <unistd.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "attribution/methods.h"

namespace mamba_explain {

int ExpectedResults(const std::vector<std::string>& methods, int n_layers, int n_sequences) {
  int total = 0;
  for (const std::string& name : methods) {
    absl::StatusOr<Method> m = ParseMethod(name);
    const bool per_layer = m.ok() && GetMethodInfo(*m).scope == MethodScope::kPerLayer;
    total += per_layer ? n_layers : 1;
  }
  return total * n_sequences;
}

ProgressReporter::ProgressReporter(const CliArgs& args) {
  tty_ = isatty(STDERR_FILENO) != 0;
  enabled_ = args.Has("progress") || (tty_ && !args.Has("quiet"));
}

void ProgressReporter::Start(int total, const std::string& what, const std::string& noun) {
  total_ = total;
  noun_ = noun;
  done_ = 0;
  start_ = std::chrono::steady_clock::now();
  Print(what);
}

void ProgressReporter::ResultDone(const std::string& method, int layer) {
  ++done_;
  Print(layer < 0 ? method : absl::StrCat(method, " layer ", layer));
}

void ProgressReporter::Finish() {
  if (!enabled_) return;
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::cerr << (tty_ ? "\r\033[K" : "")
            << absl::StrFormat("mamba-explain: %d/%d %s in %.1f s\n", done_, total_, noun_, s)
            << std::flush;
}

void ProgressReporter::Print(const std::string& what) {
  if (!enabled_) return;
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string eta;
  if (done_ > 0 && done_ < total_) {
    eta = absl::StrFormat(", ETA %.1f s", s / done_ * (total_ - done_));
  }
  // On a terminal one line is rewritten; elsewhere (--progress into a log) one line per result.
  std::cerr << (tty_ ? "\r\033[K" : "")
            << absl::StrFormat("mamba-explain: [%d/%d] %s | %.1f s%s", done_, total_, what, s, eta)
            << (tty_ ? "" : "\n") << std::flush;
}

}  // namespace mamba_explain
