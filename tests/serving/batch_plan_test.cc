// PlanFamilyCalls and FamilyCallKey (serving/batch_plan.h): a batch of requests with different
// options runs as one call per family and parameters, in the engine's family order; every
// parameter that changes a family's results splits its call, and nothing else does (the memory
// budget never: the call takes the smallest); each (request, method) is in exactly one call.
#include "serving/batch_plan.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"

namespace mamba_explain {
namespace {

BatchItem Item(std::vector<Method> methods, std::vector<int32_t> layers = {0, 1}) {
  BatchItem item;
  item.options.methods = std::move(methods);
  item.options.layers = std::move(layers);
  item.input.ids = {1, 2, 3};
  item.input.target_rows = {2};
  return item;
}

std::string Describe(const FamilyCall& call) {
  std::string s = absl::StrJoin(MethodNames(call.options.methods), ",");
  for (int i : call.items) s += " " + std::to_string(i);
  return s;
}

TEST(BatchPlanTest, MixedMethodsSplitIntoFamilyCallsInEngineOrder) {
  std::vector<BatchItem> items = {
      Item({Method::kRollout, Method::kGradientXInput, Method::kLatimL2}),
      Item({Method::kLatimL2, Method::kIntegratedGradients}),
      Item({Method::kMambaLrp, Method::kGradientXInput, Method::kLatimL1, Method::kLatimL2}),
      Item({Method::kIntegratedGradients, Method::kMambaAttention, Method::kSmoothGrad}),
  };
  std::vector<std::string> got;
  for (const FamilyCall& call : PlanFamilyCalls(items)) got.push_back(Describe(call));
  // LaTIM (the l1+l2 unit of request 2 is its own call), then each gradient method, MambaLRP,
  // then the hidden-attention units.
  EXPECT_EQ(got,
            (std::vector<std::string>{"latim-l2 0 1", "latim-l1,latim-l2 2", "grad-x-input 0 2",
                                      "integrated-gradients 1 3", "smoothgrad 3", "mamba-lrp 2",
                                      "rollout 0", "mamba-attention 3"}));
}

// Every parameter that changes a family's results splits its call; parameters of other families
// and the memory budget do not.
TEST(BatchPlanTest, KeysHoldExactlyWhatChangesAFamilysResults) {
  BatchOptions base;
  base.methods = EngineMethods();
  base.layers = {0, 1};
  auto keys = [](const BatchOptions& o) {
    std::map<Method, std::string> k;
    for (Method m : o.methods) k[m] = FamilyCallKey(o, m);
    return k;
  };
  const auto base_keys = keys(base);
  // Each change, and the methods whose call it must split (all others keep their key).
  struct Change {
    std::string name;
    std::function<void(BatchOptions*)> apply;
    std::set<Method> splits;
  };
  const std::set<Method> latim = {Method::kLatimL1, Method::kLatimL2, Method::kLatimAlti,
                                  Method::kLatimAltiLogit};
  const std::set<Method> attention = {Method::kMambaAttention, Method::kRollout,
                                      Method::kMambaAttribution};
  std::set<Method> layered = latim;
  layered.insert(attention.begin(), attention.end());
  const std::vector<Change> changes = {
      {"ig_steps", [](BatchOptions* o) { o->params.ig_steps = 4; }, {Method::kIntegratedGradients}},
      {"ig_rule",
       [](BatchOptions* o) { o->params.ig_rule = IgQuadrature::kRiemannMidpoint; },
       {Method::kIntegratedGradients}},
      {"samples", [](BatchOptions* o) { o->params.smoothgrad_samples = 4; }, {Method::kSmoothGrad}},
      {"sigma 0", [](BatchOptions* o) { o->params.smoothgrad_sigma = 0.; }, {Method::kSmoothGrad}},
      {"sigma ulp",
       [](BatchOptions* o) { o->params.smoothgrad_sigma = std::nextafter(0.15, 1.); },
       {Method::kSmoothGrad}},
      {"sg input",
       [](BatchOptions* o) { o->params.smoothgrad_input = SmoothGradInput::kClean; },
       {Method::kSmoothGrad}},
      {"seed", [](BatchOptions* o) { o->params.seed = 1; }, {Method::kSmoothGrad}},
      {"lrp",
       [](BatchOptions* o) {
         o->params.lrp_rules = LrpRules{false, false, false, false};
       },
       {Method::kMambaLrp}},
      {"norm", [](BatchOptions* o) { o->params.attention_norm = AttentionNorm::kRaw; }, attention},
      {"start", [](BatchOptions* o) { o->params.start_layer = 1; }, attention},
      {"layers", [](BatchOptions* o) { o->layers = {0}; }, layered},
      {"activation", [](BatchOptions* o) { o->activation = Activation::kIdentity; }, latim},
      {"precision", [](BatchOptions* o) { o->precision = Precision::kBf16; }, latim},
      {"budget", [](BatchOptions* o) { o->memory_budget_bytes = 1 << 20; }, {}},
  };
  for (const Change& c : changes) {
    BatchOptions changed = base;
    c.apply(&changed);
    const auto changed_keys = keys(changed);
    for (Method m : base.methods) {
      EXPECT_EQ(changed_keys.at(m) != base_keys.at(m), c.splits.count(m) > 0)
          << c.name << " and " << MethodName(m);
    }
  }
  // Engine methods never split a batch; synthetic ones do on any option.
  BatchOptions other = base;
  other.methods = {Method::kGradientXInput};
  other.params.seed = 9;
  EXPECT_EQ(base.Key(), other.Key());
  BatchOptions synthetic;
  synthetic.methods = {Method::kSyntheticDecay};
  BatchOptions synthetic_seed = synthetic;
  synthetic_seed.params.seed = 1;
  EXPECT_NE(synthetic.Key(), synthetic_seed.Key());
}

// A call takes the smallest memory budget of its requests, and the parameters it shares with
// them; each request's own budget stays with its other calls.
TEST(BatchPlanTest, ACallRunsWithTheSmallestBudgetOfItsRequests) {
  std::vector<BatchItem> items = {Item({Method::kLatimL2}), Item({Method::kLatimL2}),
                                  Item({Method::kMambaAttention})};
  items[0].options.memory_budget_bytes = 8 << 20;
  items[1].options.memory_budget_bytes = 2 << 20;
  items[2].options.memory_budget_bytes = 1 << 20;
  const std::vector<FamilyCall> calls = PlanFamilyCalls(items);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].items, (std::vector<int>{0, 1}));
  EXPECT_EQ(calls[0].options.memory_budget_bytes, 2 << 20);
  EXPECT_EQ(calls[1].options.memory_budget_bytes, 1 << 20);
}

}  // namespace
}  // namespace mamba_explain
