// How one batch of requests with different options runs on the engine: one call per method
// family and parameters, over the requests that asked for it. A request's methods split into
// call units: its LaTIM methods together (they share one decomposition pass), each gradient
// method alone (each is its own packed forward/backward run, so grad-x-input requests share a
// call whatever else they asked), MambaLRP, and its hidden-attention methods together. Requests
// whose unit has the same key (FamilyCallKey: the unit's methods and every parameter that changes
// their results) share the call. A call is exactly the call the engine makes for a batch of
// requests with equal options, so each request gets the results it gets alone. Pure functions.
#ifndef MAMBA_EXPLAIN_SERVING_BATCH_PLAN_H_
#define MAMBA_EXPLAIN_SERVING_BATCH_PLAN_H_

#include <string>
#include <vector>

#include "serving/explain_types.h"

namespace mamba_explain {

// One family call over part of a batch.
struct FamilyCall {
  std::string key;  // FamilyCallKey of its unit
  // The unit's methods (request order), the first request's parameters (equal where they
  // matter, by the key) and the smallest memory budget of the call's requests.
  BatchOptions options;
  std::vector<int> items;  // indices into the batch, ascending
};

// The key of the call unit that computes `method` for a request with `options`. `method` must be
// one of options.methods.
std::string FamilyCallKey(const BatchOptions& options, Method method);

// The calls of a batch in the engine's family order (LaTIM, gradient methods, MambaLRP, hidden
// attention, synthetic), and within a family in order of their first request. Every (request,
// method) is in exactly one call.
std::vector<FamilyCall> PlanFamilyCalls(const std::vector<BatchItem>& items);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_SERVING_BATCH_PLAN_H_
