// libFuzzer target: arbitrary bytes as config.json through ParseModelConfig (the lenient JSON
// parser that accepts Infinity/NaN, then the field checks). Must return a status for any input;
// an accepted config must have positive sizes (the engine allocates from them).
#include <cstddef>
#include <cstdint>
#include <string>

#include "model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto config = mamba_explain::ParseModelConfig(text, "fuzz/config.json");
  if (!config.ok()) return 0;
  if (config->d_model <= 0 || config->n_layers <= 0 || config->vocab_size <= 0 ||
      config->d_inner <= 0 || config->d_state <= 0 || config->d_conv <= 0) {
    __builtin_trap();
  }
  (void)config->conv_dim();
  (void)config->in_proj_rows();
  return 0;
}
