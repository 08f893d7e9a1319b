#include "server/civetweb_start_error.h"

#include <civetweb.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace mamba_explain {

std::string CivetwebStartError(const std::vector<std::string>& options) {
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
  if (ctx != nullptr) {
    mg_stop(ctx);
    return "";
  }
  return absl::StrCat("civetweb error ", code, " '", text, "', errno ", saved_errno, " (",
                      std::strerror(saved_errno), ")");
}

}  // namespace mamba_explain
