// libFuzzer target: arbitrary bytes as a .safetensors file through SafetensorsFile::Open, then
// every tensor view it hands out is read end to end (ASan catches a view outside the mapping).
// Open must return a status for any input, never crash. Run: tests/fuzz/run_fuzzers.sh.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Open() maps a file, so the input goes through one per process.
  static const std::string path = "/tmp/me_safetensors_fuzz_" + std::to_string(getpid());
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  auto file = mamba_explain::SafetensorsFile::Open(path);
  if (!file.ok()) return 0;
  uint64_t sum = 0;
  for (const std::string& name : (*file)->TensorNames()) {
    const mamba_explain::TensorView* view = (*file)->Find(name);
    if (view == nullptr) __builtin_trap();  // a listed name must be found
    if (static_cast<size_t>(view->numel()) * mamba_explain::DTypeSize(view->dtype) !=
        view->nbytes) {
      __builtin_trap();
    }
    for (size_t i = 0; i < view->nbytes; ++i) sum += view->data[i];
  }
  return sum == 1 ? 1 : 0;  // keep the reads; libFuzzer ignores the value
}
