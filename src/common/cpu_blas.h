// Which BLAS the process's CPU matrix products run on. Debian's LibTorch calls the system BLAS
// (libblas.so.3, chosen by update-alternatives); when no optimised one is installed that is the
// netlib reference implementation, whose unblocked loops made CPU explanations and
// training 1.3-2.2x slower here (docs/benchmarks.md, "CPU BLAS"). The server, the offline CLI and
// the trainer warn about it when they run on the CPU. Linux/glibc (dladdr); elsewhere, and in
// builds whose LibTorch links its BLAS statically (the CUDA wheels' MKL), the library is simply not
// found.
#ifndef MAMBA_EXPLAIN_COMMON_CPU_BLAS_H_
#define MAMBA_EXPLAIN_COMMON_CPU_BLAS_H_

#include <string>

namespace mamba_explain {

struct CpuBlasInfo {
  bool found = false;  // a dynamically loaded library exports sgemm_
  std::string path;    // that library's resolved path ("" when not found)
  // "OpenBLAS", "BLIS", "MKL", "reference" (netlib's libblas.so, none of the others' markers) or
  // "unknown" (no marker, another file name).
  std::string name;
  bool optimised() const { return name == "OpenBLAS" || name == "BLIS" || name == "MKL"; }
};

// Looks the symbols up in the already loaded libraries (loads nothing). Thread-safe.
CpuBlasInfo DetectCpuBlas();

// One line telling the user that CPU matrix products run on the reference BLAS and how to change
// that; "" unless `info` names the reference.
std::string ReferenceBlasWarning(const CpuBlasInfo& info);

// ReferenceBlasWarning(DetectCpuBlas()) for a `device` flag naming the CPU ("cpu", "cpu:0"), ""
// for any other device: what the server, the offline CLI and the trainer print at start.
std::string ReferenceBlasWarningForDevice(const std::string& device);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_COMMON_CPU_BLAS_H_
