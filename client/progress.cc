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
  last_result_ = start_;
  Print(what);
}

void ProgressReporter::ResultDone(const std::string& method, int layer) {
  ++done_;
  last_result_ = std::chrono::steady_clock::now();
  step_method_.clear();
  Print(layer < 0 ? method : absl::StrCat(method, " layer ", layer));
}

void ProgressReporter::Step(const std::string& method, int64_t done, int64_t total) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (method != step_method_) {
    // The method has been running since the last result (or the start).
    step_method_ = method;
    step_start_ = last_result_;
    last_step_print_ = now - std::chrono::seconds(2);
  }
  if (done < total && now - last_step_print_ < std::chrono::seconds(1)) return;
  last_step_print_ = now;
  const double in_method = std::chrono::duration<double>(now - step_start_).count();
  std::string what = absl::StrFormat("%s step %d/%d", method, done, total);
  if (done > 0 && done < total) {
    absl::StrAppendFormat(&what, " (ETA %.1f s)", in_method / done * (total - done));
  }
  Print(what);
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
