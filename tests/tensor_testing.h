// Tensor comparison and fixture helpers for the engine tests.
// ExpectAllClose reports the worst element (index, values, abs and rel error) on failure
// (STYLE §1: a failure that names the worst element saves hours).
#ifndef MAMBA_EXPLAIN_TESTS_TENSOR_TESTING_H_
#define MAMBA_EXPLAIN_TESTS_TENSOR_TESTING_H_

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <sstream>
#include <string>

namespace me_testing {

// |actual - expected| ≤ atol + rtol·|expected| elementwise; both compared in fp64 on the CPU.
inline ::testing::AssertionResult AllClose(const torch::Tensor& actual,
                                           const torch::Tensor& expected, double atol,
                                           double rtol) {
  if (actual.sizes() != expected.sizes()) {
    std::ostringstream os;
    os << "shape " << actual.sizes() << " != expected " << expected.sizes();
    return ::testing::AssertionFailure() << os.str();
  }
  torch::Tensor a = actual.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  torch::Tensor e = expected.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  if (!torch::isfinite(a).all().item<bool>()) {
    return ::testing::AssertionFailure() << "actual has non-finite values";
  }
  torch::Tensor diff = (a - e).abs();
  torch::Tensor excess = diff - (atol + rtol * e.abs());
  const int64_t worst = excess.flatten().argmax().item<int64_t>();
  const double worst_excess = excess.flatten()[worst].item<double>();
  const double max_abs = diff.max().item<double>();
  const double max_rel = (diff / e.abs().clamp_min(1e-30)).max().item<double>();
  std::ostringstream os;
  os << "worst flat index " << worst << ": actual " << a.flatten()[worst].item<double>()
     << " expected " << e.flatten()[worst].item<double>() << "; max abs err " << max_abs
     << ", max rel err " << max_rel << " (atol " << atol << ", rtol " << rtol << ")";
  if (worst_excess > 0) return ::testing::AssertionFailure() << os.str();
  return ::testing::AssertionSuccess() << os.str();
}

// ‖actual − expected‖ / ‖expected‖ (Frobenius), fp64.
inline double RelativeError(const torch::Tensor& actual, const torch::Tensor& expected) {
  torch::Tensor a = actual.detach().to(torch::kCPU, torch::kFloat64);
  torch::Tensor e = expected.detach().to(torch::kCPU, torch::kFloat64);
  return ((a - e).norm() / e.norm()).item<double>();
}

inline std::string SourceDir() {
  const char* dir = std::getenv("ME_SOURCE_DIR");
  return dir != nullptr ? dir : ".";
}

inline std::string FixtureDir(const std::string& name) {
  return SourceDir() + "/tests/fixtures/" + name;
}

}  // namespace me_testing

#endif  // MAMBA_EXPLAIN_TESTS_TENSOR_TESTING_H_
