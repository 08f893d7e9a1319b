#include "common/cpu_blas.h"

#if defined(__linux__)
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#endif

namespace mamba_explain {

CpuBlasInfo DetectCpuBlas() {
  CpuBlasInfo info;
#if defined(__linux__)
  void* sgemm = dlsym(RTLD_DEFAULT, "sgemm_");
  Dl_info where;
  if (sgemm == nullptr || dladdr(sgemm, &where) == 0 || where.dli_fname == nullptr) return info;
  info.found = true;
  char resolved[PATH_MAX];
  info.path = realpath(where.dli_fname, resolved) != nullptr ? resolved : where.dli_fname;
  // Each optimised library exports a query function of its own; the reference exports none. Look
  // in sgemm_'s library only: another loaded library (LAPACK through the alternatives, say) may be
  // a different implementation.
  void* lib = dlopen(where.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
  auto has = [lib](const char* symbol) { return lib != nullptr && dlsym(lib, symbol) != nullptr; };
  if (has("openblas_get_config")) {
    info.name = "OpenBLAS";
  } else if (has("bli_info_get_version_str")) {
    info.name = "BLIS";
  } else if (has("mkl_get_version") || has("MKL_Get_Version")) {
    info.name = "MKL";
  } else if (lib != nullptr && info.path.find("/libblas.so") != std::string::npos) {
    info.name = "reference";  // netlib's file name, without any of the markers
  } else {
    info.name = "unknown";  // e.g. a BLAS inside LibTorch's own library: no claim either way
  }
  if (lib != nullptr) dlclose(lib);  // drops the reference RTLD_NOLOAD took
#endif
  return info;
}

std::string ReferenceBlasWarning(const CpuBlasInfo& info) {
  if (info.name != "reference") return "";
  return "WARNING: CPU matrix products run on the reference BLAS (" + info.path +
         "); explanations and training run 1.3-2.2x faster on an optimised one: install "
         "libopenblas0-openmp (Debian; scripts/install_deps.sh does) or point the libblas.so.3 "
         "alternative at one";
}

std::string ReferenceBlasWarningForDevice(const std::string& device) {
  if (device.rfind("cpu", 0) != 0) return "";
  return ReferenceBlasWarning(DetectCpuBlas());
}

}  // namespace mamba_explain
