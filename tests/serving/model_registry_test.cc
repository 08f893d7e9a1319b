// ModelRegistry with a fake backend: a model whose warm-up output has a NaN is FAILED (not
// READY) and the others serve; a model directory or file that is a symlink out of the repository
// is refused unless follow_external_symlinks, while symlinks inside it are fine; the errors kept
// for clients carry no absolute server path.
#include "serving/model_registry.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "tests/status_matchers.h"

namespace mamba_explain {
namespace {

namespace fs = std::filesystem;

// Every result's values are `value`; the method list has a per-layer and a per-target method.
class ConstantBackend : public ExplainBackend {
 public:
  explicit ConstantBackend(float value) : value_(value) {
    info_.n_layers = 3;
    info_.vocab_size = 10;
    info_.methods = {Method::kSyntheticDecay, Method::kSyntheticLogit};  // per layer, per target
  }
  const BackendInfo& info() const override { return info_; }
  absl::StatusOr<std::vector<int32_t>> Tokenize(const std::string&) const override {
    return absl::FailedPreconditionError("none");
  }
  std::string TokenText(int32_t) const override { return ""; }
  absl::Status Warmup() override { return absl::OkStatus(); }
  absl::Status ExplainBatch(const std::vector<BatchItem>& items, BatchSink* sink) override {
    const ExplainInput& input = items[0].input;
    for (int32_t layer : items[0].options.layers) {
      LayerMatrix m;
      m.method = "layer-method";
      m.layer = layer;
      m.rows = input.target_rows;
      m.cols = static_cast<int64_t>(input.ids.size());
      m.values.assign(m.rows.size() * m.cols, 1.f);
      m.values.back() = value_;
      sink->OnLayer(0, std::move(m));
    }
    TokenScoreRows s;
    s.method = "target-method";
    s.rows = input.target_rows;
    s.cols = static_cast<int64_t>(input.ids.size());
    s.scores.assign(s.rows.size() * s.cols, 0.5f);
    sink->OnTokenScores(0, std::move(s));
    return absl::OkStatus();
  }

 private:
  BackendInfo info_;
  float value_;
};

class ModelRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("me_registry_test_" + std::to_string(getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "repo");
    fs::create_directories(root_ / "outside");
  }
  void TearDown() override { fs::remove_all(root_); }

  void AddModel(const fs::path& dir) {
    fs::create_directories(dir);
    std::ofstream(dir / "config.json") << "{}";
  }

  RegistryOptions Options() {
    RegistryOptions options;
    options.repository = (root_ / "repo").string();
    options.factory =
        [](const std::string& name,
           const std::string& dir) -> absl::StatusOr<std::unique_ptr<ExplainBackend>> {
      if (name == "unreadable") {
        return absl::InvalidArgumentError(dir + "/config.json: bad JSON");
      }
      const float v = name == "nan"   ? std::numeric_limits<float>::quiet_NaN()
                      : name == "inf" ? std::numeric_limits<float>::infinity()
                                      : 0.25f;
      return std::unique_ptr<ExplainBackend>(new ConstantBackend(v));
    };
    return options;
  }

  fs::path root_;
};

TEST_F(ModelRegistryTest, NonFiniteWarmupOutputFailsTheModel) {
  AddModel(root_ / "repo" / "nan");
  AddModel(root_ / "repo" / "inf");
  AddModel(root_ / "repo" / "ok");
  ASSERT_OK_AND_ASSIGN(auto registry, ModelRegistry::Create(Options(), nullptr));
  ASSERT_OK_AND_ASSIGN(const ModelEntry* nan, registry->Find("nan"));
  EXPECT_EQ(nan->state, ModelState::kFailed);
  EXPECT_STATUS(nan->error, absl::StatusCode::kFailedPrecondition, "non-finite");
  ASSERT_OK_AND_ASSIGN(const ModelEntry* inf, registry->Find("inf"));
  EXPECT_EQ(inf->state, ModelState::kFailed);
  EXPECT_STATUS(registry->Ready("nan"), absl::StatusCode::kUnavailable, "layer-method");
  EXPECT_OK(registry->Ready("ok"));
}

TEST_F(ModelRegistryTest, SymlinksOutOfTheRepositoryAreRefused) {
  AddModel(root_ / "repo" / "good");
  AddModel(root_ / "outside" / "m");
  fs::create_directory_symlink(root_ / "outside" / "m", root_ / "repo" / "linkdir");
  fs::create_directories(root_ / "repo" / "linkfile");
  fs::create_symlink(root_ / "outside" / "m" / "config.json",
                     root_ / "repo" / "linkfile" / "config.json");
  fs::create_directory_symlink("good", root_ / "repo" / "inside");
  {
    ASSERT_OK_AND_ASSIGN(auto registry, ModelRegistry::Create(Options(), nullptr));
    EXPECT_STATUS(registry->Ready("linkdir"), absl::StatusCode::kUnavailable,
                  "outside the model repository");
    EXPECT_STATUS(registry->Ready("linkfile"), absl::StatusCode::kUnavailable,
                  "outside the model repository");
    EXPECT_OK(registry->Ready("inside"));
    EXPECT_OK(registry->Ready("good"));
  }
  RegistryOptions follow = Options();
  follow.follow_external_symlinks = true;
  ASSERT_OK_AND_ASSIGN(auto registry, ModelRegistry::Create(follow, nullptr));
  EXPECT_OK(registry->Ready("linkdir"));
  EXPECT_OK(registry->Ready("linkfile"));
}

TEST_F(ModelRegistryTest, ErrorsNameFilesRelativeToTheRepository) {
  AddModel(root_ / "repo" / "unreadable");
  ASSERT_OK_AND_ASSIGN(auto registry, ModelRegistry::Create(Options(), nullptr));
  ASSERT_OK_AND_ASSIGN(const ModelEntry* e, registry->Find("unreadable"));
  EXPECT_EQ(e->error.message(), "unreadable/config.json: bad JSON");
  EXPECT_EQ(std::string(registry->Ready("unreadable").status().message()).find(root_.string()),
            std::string::npos);
}

}  // namespace
}  // namespace mamba_explain
