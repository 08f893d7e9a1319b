// Input flipping (eval/input_flipping.h) on a committed copy model (models/README.md), CPU. The
// control: a random ranking's ΔA_F is zero in expectation, so its mean over samples must lie
// within a few standard errors of 0; a method that finds the copied source token must make the
// MoRF curve fall well before the LeRF one (ΔA_F clearly positive, far above the control).
#include "eval/input_flipping.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "tests/status_matchers.h"
#include "tests/tensor_testing.h"

namespace mamba_explain {
namespace {

std::unique_ptr<Engine> LoadModel(const std::string& name) {
  auto engine = Engine::Load(me_testing::SourceDir() + "/models/" + name, EngineOptions{});
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? std::move(engine).value() : nullptr;
}

const MethodFlipping* Find(const InputFlippingReport& r, const std::string& name) {
  for (const MethodFlipping& m : r.methods) {
    if (m.name == name) return &m;
  }
  ADD_FAILURE() << "no entry " << name;
  return nullptr;
}

class FlipTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    engine_ = LoadModel("copy-mamba1-silu").release();
    if (engine_ == nullptr) return;
    InputFlippingOptions o;
    o.samples = kSamples;
    o.steps = kSteps;
    o.methods = {"mamba-lrp", "latim-alti-logit", "latim-l2", "random"};
    absl::StatusOr<InputFlippingReport> r = EvaluateInputFlipping(*engine_, o);
    ASSERT_TRUE(r.ok()) << r.status();
    report_ = new InputFlippingReport(*std::move(r));
  }
  static void TearDownTestSuite() {
    delete report_;
    delete engine_;
  }
  static constexpr int kSamples = 32;
  static constexpr int kSteps = 16;
  static Engine* engine_;
  static InputFlippingReport* report_;
};
Engine* FlipTest::engine_ = nullptr;
InputFlippingReport* FlipTest::report_ = nullptr;

TEST_F(FlipTest, EntriesPerLayerAndCurveShapes) {
  ASSERT_NE(report_, nullptr);
  std::vector<std::string> names;
  for (const MethodFlipping& m : report_->methods) names.push_back(m.name);
  EXPECT_EQ(names, (std::vector<std::string>{"mamba-lrp", "latim-alti-logit", "latim-l2@0",
                                             "latim-l2@1", "random"}));
  for (const MethodFlipping& m : report_->methods) {
    EXPECT_EQ(m.count, kSamples) << m.name;
    for (const FlipCurves* c : {&m.logit, &m.logit_raw, &m.prob}) {
      ASSERT_EQ(c->morf.size(), static_cast<size_t>(kSteps + 1)) << m.name;
      ASSERT_EQ(c->lerf.size(), static_cast<size_t>(kSteps + 1)) << m.name;
      // Nothing flipped / everything flipped: the same input in both orders.
      EXPECT_DOUBLE_EQ(c->morf.front(), c->lerf.front()) << m.name;
      EXPECT_NEAR(c->morf.back(), c->lerf.back(), 1e-9) << m.name;
    }
    EXPECT_NEAR(m.logit.morf.front(), 1.0, 1e-9) << m.name;  // normalised by the clean logit
    EXPECT_NEAR(m.logit_raw.morf.front(), report_->mean_clean_logit, 1e-4) << m.name;
  }
  EXPECT_GT(report_->mean_clean_prob, 0.9);  // the model copies
  EXPECT_EQ(report_->baseline_token, 2);     // the copy task's default
}

TEST_F(FlipTest, RandomControlIsNearZeroAndARealMethodIsClearlyPositive) {
  ASSERT_NE(report_, nullptr);
  const MethodFlipping* random = Find(*report_, "random");
  ASSERT_NE(random, nullptr);
  const double se = random->delta_af_std / std::sqrt(static_cast<double>(random->count));
  EXPECT_LT(std::abs(random->delta_af), 3 * se + 0.02)
      << "random ΔA_F " << random->delta_af << " ± " << random->delta_af_std;
  double best = -INFINITY;
  std::string best_name, all;
  for (const MethodFlipping& m : report_->methods)
    absl::StrAppend(&all, " ", m.name, "=", m.delta_af);
  for (const MethodFlipping& m : report_->methods) {
    if (m.method != kRandomMethod && m.delta_af > best) {
      best = m.delta_af;
      best_name = m.name;
    }
  }
  EXPECT_GT(best, 0.25) << best_name << all;
  EXPECT_GT(best, random->delta_af + 4 * se) << best_name << all;
}

TEST_F(FlipTest, JsonHoldsDeltaAndCurvesPerMethod) {
  ASSERT_NE(report_, nullptr);
  const nlohmann::json j = FlipReportToJson(*report_);
  ASSERT_EQ(j["methods"].size(), report_->methods.size());
  for (const nlohmann::json& m : j["methods"]) {
    EXPECT_TRUE(m["delta_af"].is_number()) << m["name"];
    EXPECT_EQ(m["curves"]["logit"]["morf"].size(), static_cast<size_t>(kSteps + 1));
    EXPECT_EQ(m["curves"]["logit"]["lerf"].size(), static_cast<size_t>(kSteps + 1));
  }
  EXPECT_NE(FlipReportToMarkdown(*report_).find("| random |"), std::string::npos);
}

TEST_F(FlipTest, BadOptionsAreRejected) {
  ASSERT_NE(engine_, nullptr);
  InputFlippingOptions o;
  o.samples = 1;
  o.methods = {"no-such-method"};
  EXPECT_EQ(EvaluateInputFlipping(*engine_, o).status().code(), absl::StatusCode::kInvalidArgument);
  o.methods = {"random"};
  o.steps = 0;
  EXPECT_EQ(EvaluateInputFlipping(*engine_, o).status().code(), absl::StatusCode::kInvalidArgument);
  o.steps = 4;
  o.baseline_token = 16;  // vocab 16
  EXPECT_EQ(EvaluateInputFlipping(*engine_, o).status().code(), absl::StatusCode::kInvalidArgument);
  o.baseline_token = 0;
  o.task = "nope";
  EXPECT_EQ(EvaluateInputFlipping(*engine_, o).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mamba_explain
