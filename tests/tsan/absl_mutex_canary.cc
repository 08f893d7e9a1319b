// The control experiment of tools/tsan_check.sh: does ThreadSanitizer see absl::Mutex here?
// Two threads increment one counter, `guarded` under an absl::Mutex, `racy` without. With an
// instrumented libabsl_synchronization first on LD_LIBRARY_PATH, `guarded` must give no report
// and `racy` at least one. With Debian's uninstrumented library `guarded` is reported too (the
// lock's acquire/release are invisible), which is why TSan runs against it say nothing.
// usage: absl_mutex_canary guarded|racy   (exit 0; TSan's exit code 66 when it reports)
#include <cstdio>
#include <cstring>
#include <thread>

#include "absl/synchronization/mutex.h"

namespace {

absl::Mutex mu;
long counter = 0;

void Work(bool lock) {
  for (int i = 0; i < 10000; ++i) {
    if (lock) {
      absl::MutexLock l(&mu);
      ++counter;
    } else {
      ++counter;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || (std::strcmp(argv[1], "guarded") != 0 && std::strcmp(argv[1], "racy") != 0)) {
    std::fprintf(stderr, "usage: absl_mutex_canary guarded|racy\n");
    return 2;
  }
  const bool lock = std::strcmp(argv[1], "guarded") == 0;
  std::thread a(Work, lock);
  std::thread b(Work, lock);
  a.join();
  b.join();
  std::printf("counter=%ld\n", counter);
  return 0;
}
