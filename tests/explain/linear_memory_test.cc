// Peak host memory of a last-row LaTIM (ℓ2) explanation grows linearly with the sequence length
// and stays under a stated bound (issue 18, CPU side of "explain a million-token prompt"). A
// child process per length (this binary re-run with ME_LINEAR_MEMORY_TOKENS set, so one run's
// heap cannot hide in another's peak) builds an 8-layer model from the mamba1_bias_tied fixture's
// layers, warms up, and reports its resident-set growth over the run (VmHWM − VmRSS before it).
// Asserted: growth(4N) ≤ 4.5 · growth(N); growth(4N) below what keeping every layer's trace would
// take (the old path: n_layers · LayerTraceBytesPerPosition per token) and below the engine's
// own estimate (explain/memory_estimate.h), which must be on the high side. Glibc is told to
// mmap every block over 64 KiB so freed tensors leave the resident set.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "attribution/latim.h"
#include "common/status_macros.h"
#include "explain/memory_estimate.h"
#include "mamba/layer_traces.h"
#include "mamba/mamba_model.h"
#include "tests/status_matchers.h"
#include "tests/tensor_testing.h"

namespace mamba_explain {
namespace {

constexpr int kLayers = 8;
constexpr int64_t kBudgetBytes = int64_t{8} << 20;  // recompute chunks and LaTIM row blocks
constexpr int64_t kTokens = 4096;                   // N; the second child runs 4N

// /proc/self/status field in bytes (kB there).
int64_t StatusBytes(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1)) * 1024;
  }
  return -1;
}

std::unique_ptr<MambaModel> DeepModel() {
  auto base = MambaModel::Load(me_testing::FixtureDir("mamba1_bias_tied"), LoadOptions());
  if (!base.ok()) return nullptr;
  ModelConfig config = (*base)->config();
  ModelWeights weights = (*base)->weights();
  weights.layers.clear();
  for (int l = 0; l < kLayers; ++l) {
    weights.layers.push_back((*base)->weights().layers[l % (*base)->config().n_layers]);
  }
  config.n_layers = kLayers;
  return MambaModel::FromWeights(config, std::move(weights));
}

LatimOptions LastRowL2() {
  LatimOptions options;
  options.scores = {LatimScore::kL2};
  options.rows.kind = RowSelection::Kind::kLast;
  options.memory_budget_bytes = kBudgetBytes;
  return options;
}

absl::Status RunLastRow(const MambaModel& model, int64_t tokens) {
  torch::Tensor ids = torch::randint(0, model.config().vocab_size, {1, tokens}, torch::kInt64);
  int results = 0;
  RETURN_IF_ERROR(ExplainLatim(model, ids, torch::Tensor(), LastRowL2(), [&](AttributionResult r) {
    ++results;
    return true;
  }));
  if (results != kLayers) return absl::InternalError(absl::StrCat(results, " results"));
  return absl::OkStatus();
}

// Child: one measured run, "growth_bytes <n>" on stdout.
TEST(LinearMemoryChild, Run) {
  const char* tokens_env = std::getenv("ME_LINEAR_MEMORY_TOKENS");
  if (tokens_env == nullptr) GTEST_SKIP() << "run by LinearMemoryTest in a child process";
  torch::set_num_threads(1);
  torch::manual_seed(0);
  std::unique_ptr<MambaModel> model = DeepModel();
  ASSERT_NE(model, nullptr);
  ASSERT_OK(RunLastRow(*model, 64));  // warm-up: LibTorch's lazy state, thread pools
  const int64_t before = StatusBytes("VmRSS");
  ASSERT_OK(RunLastRow(*model, std::stoll(tokens_env)));
  const int64_t peak = StatusBytes("VmHWM");
  ASSERT_GT(before, 0);
  std::printf("growth_bytes %lld\n", static_cast<long long>(peak - before));
}

int64_t ChildGrowth(int64_t tokens) {
  char self[4096];  // this test binary (popen's shell would read /proc/self/exe as itself)
  const ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (len <= 0) return -1;
  self[len] = '\0';
  const std::string cmd =
      absl::StrCat("MALLOC_MMAP_THRESHOLD_=65536 ME_LINEAR_MEMORY_TOKENS=", tokens, " '", self,
                   "' --gtest_filter=LinearMemoryChild.Run 2>&1");
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return -1;
  std::string out;
  char buffer[512];
  while (fgets(buffer, sizeof(buffer), pipe) != nullptr) out += buffer;
  const int rc = pclose(pipe);
  const size_t at = out.find("growth_bytes ");
  if (rc != 0 || at == std::string::npos) {
    ADD_FAILURE() << "child for " << tokens << " tokens failed (" << rc << "):\n" << out;
    return -1;
  }
  return std::stoll(out.substr(at + 13));
}

TEST(LinearMemoryTest, PeakGrowsLinearlyAndStaysUnderTheBound) {
  const int64_t small = ChildGrowth(kTokens), large = ChildGrowth(4 * kTokens);
  ASSERT_GT(small, 0);
  ASSERT_GT(large, 0);
  std::unique_ptr<MambaModel> model = DeepModel();
  ASSERT_NE(model, nullptr);
  const ModelConfig& c = model->config();
  const int64_t all_traces = kLayers * LayerTraceBytesPerPosition(c) * 4 * kTokens;
  ValidatedRequest request;
  request.methods = {Method::kLatimL2};
  request.memory_budget_bytes = kBudgetBytes;
  ValidatedSequence seq;
  seq.ids.assign(4 * kTokens, 1);
  seq.rows = {4 * kTokens - 1};
  request.sequences = {seq};
  const int64_t estimate = EstimateExplainMemory(c, request).total_bytes();
  RecordProperty("growth_n_bytes", std::to_string(small));
  RecordProperty("growth_4n_bytes", std::to_string(large));
  std::printf(
      "peak growth: N=%lld: %.1f MiB, 4N=%lld: %.1f MiB (%.2fx, %.0f bytes/token); "
      "every layer's trace at 4N: %.1f MiB; engine estimate at 4N: %.1f MiB\n",
      static_cast<long long>(kTokens), small / 1048576.0, static_cast<long long>(4 * kTokens),
      large / 1048576.0, static_cast<double>(large) / small,
      static_cast<double>(large) / (4 * kTokens), all_traces / 1048576.0, estimate / 1048576.0);
  EXPECT_LE(static_cast<double>(large), 4.5 * static_cast<double>(small));
  EXPECT_LT(large, all_traces);
  EXPECT_LT(large, estimate);
}

}  // namespace
}  // namespace mamba_explain
