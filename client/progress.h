// Progress of a long explanation on stderr, the same in both modes: "[3/12] latim-l2 layer 2
// | 4.1 s, ETA 12.3 s". Results are the unit (one per method and layer, or per method for
// whole-model and per-target methods); the ETA assumes the remaining results cost the mean of
// the finished ones, so it is rough when cheap and expensive methods mix. Shown when stderr is a
// terminal (unless --quiet) or when --progress asks for it; silent otherwise, so pipes and logs
// stay clean. Not thread-safe: one reporter per command.
#ifndef MAMBA_EXPLAIN_CLIENT_PROGRESS_H_
#define MAMBA_EXPLAIN_CLIENT_PROGRESS_H_

#include <chrono>
#include <string>
#include <vector>

#include "common/cli_args.h"

namespace mamba_explain {

// Results an explanation yields for `methods` (catalogue names; unknown names count one) over
// `n_layers` requested layers and `n_sequences` sequences.
int ExpectedResults(const std::vector<std::string>& methods, int n_layers, int n_sequences = 1);

class ProgressReporter {
 public:
  // --progress forces it on, --quiet off; otherwise on when stderr is a terminal.
  explicit ProgressReporter(const CliArgs& args);

  bool enabled() const { return enabled_; }
  // Starts the clock and prints "[0/total] what" (e.g. "computing"); `noun` names the unit in
  // Finish's line ("results", or "prompts" for explain --input).
  void Start(int total, const std::string& what, const std::string& noun = "results");
  // One result done: its method and layer (-1 = whole model).
  void ResultDone(const std::string& method, int layer);
  // Inside a long result (offline gradient methods): `done` of `total` steps (rows × IG steps or
  // SmoothGrad samples) of `method`, with that method's own ETA; at most one line a second
  // (the last step always shows).
  void Step(const std::string& method, int64_t done, int64_t total);
  // Ends the line with the total time.
  void Finish();

 private:
  void Print(const std::string& what);

  bool enabled_ = false;
  bool tty_ = false;
  int total_ = 0;
  int done_ = 0;
  std::string noun_ = "results";
  std::chrono::steady_clock::time_point start_;
  std::string step_method_;
  std::chrono::steady_clock::time_point last_result_, step_start_, last_step_print_;
};

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_CLIENT_PROGRESS_H_
