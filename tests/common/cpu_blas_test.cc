// DetectCpuBlas names the BLAS that LibTorch's CPU matrix products run on, and the reference-BLAS
// warning appears exactly for netlib's library. On Debian with libopenblas0-openmp installed (the
// README's set-up installs it) the detection must say OpenBLAS.
#include "common/cpu_blas.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <set>
#include <string>

namespace mamba_explain {
namespace {

TEST(CpuBlasTest, DetectsTheLibraryOfLibTorchsMatrixProducts) {
  // A product large enough to go to BLAS (LibTorch loads it with libtorch_cpu either way).
  torch::Tensor a = torch::rand({64, 64});
  EXPECT_GT((a.mm(a)).sum().item<float>(), 0.f);
  const CpuBlasInfo info = DetectCpuBlas();
  if (!info.found) GTEST_SKIP() << "no dynamically loaded sgemm_ (BLAS linked into LibTorch)";
  EXPECT_FALSE(info.path.empty());
  EXPECT_TRUE(
      (std::set<std::string>{"OpenBLAS", "BLIS", "MKL", "reference", "unknown"}).count(info.name))
      << info.name;
  EXPECT_EQ(info.optimised(), info.name != "reference" && info.name != "unknown");
  // Debian's alternatives pick the highest priority; OpenBLAS outranks netlib's reference.
  const bool openblas_installed =
      access("/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3", F_OK) == 0 ||
      access("/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3", F_OK) == 0;
  if (openblas_installed && info.path.find("/usr/lib/") == 0) {
    EXPECT_EQ(info.name, "OpenBLAS") << info.path;
    EXPECT_EQ(ReferenceBlasWarning(info), "");
  }
}

TEST(CpuBlasTest, WarnsOnlyAboutTheReference) {
  CpuBlasInfo reference{true, "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0", "reference"};
  const std::string warning = ReferenceBlasWarning(reference);
  EXPECT_NE(warning.find("reference BLAS (/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0)"),
            std::string::npos)
      << warning;
  EXPECT_NE(warning.find("libopenblas0-openmp"), std::string::npos) << warning;
  EXPECT_EQ(ReferenceBlasWarning({true, "/x/libopenblasp-r0.3.21.so", "OpenBLAS"}), "");
  EXPECT_EQ(ReferenceBlasWarning({true, "/x/libtorch_cpu.so", "unknown"}), "");
  EXPECT_EQ(ReferenceBlasWarning({}), "");
  // Only CPU devices look at the BLAS; on this process's BLAS the answer is the detection's.
  EXPECT_EQ(ReferenceBlasWarningForDevice("cuda"), "");
  EXPECT_EQ(ReferenceBlasWarningForDevice("cuda:1"), "");
  EXPECT_EQ(ReferenceBlasWarningForDevice("cpu"), ReferenceBlasWarning(DetectCpuBlas()));
}

}  // namespace
}  // namespace mamba_explain
