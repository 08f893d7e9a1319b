// Translation between the wire types (mamba_explain.v1) and the serving layer's plain C++ types,
// including the split of one layer's matrix into CSR or dense LayerResult messages (and of
// per-target scores into TokenScores messages) of at most max_bytes payload each. Pure functions,
// thread-safe; no status codes are invented here except INVALID_ARGUMENT for enum values the server
// does not know.
#ifndef MAMBA_EXPLAIN_SERVER_PROTO_CONVERT_H_
#define MAMBA_EXPLAIN_SERVER_PROTO_CONVERT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "mamba_explain/v1/explain.pb.h"
#include "proto/wire_enums.h"  // ActivationToProto, PrecisionToProto
#include "serving/model_registry.h"
#include "serving/request_validation.h"
#include "sparse/csr.h"

namespace mamba_explain {

absl::StatusOr<ExplainSpec> SpecFromProto(const v1::ExplainRequest& request);

v1::Sparsity SparsityToProto(const SparsityPolicy& policy);

void FillModelInfo(const ModelEntry& entry, const ServingLimits& limits, v1::ModelInfo* info);

// Per-layer totals of what LayerMessages sent.
struct LayerSendStats {
  int64_t nnz = 0;
  double kept_fraction = 1.0;
};

// The LayerResult messages of one matrix, in row order; the last has last_block, approx_error
// and kept_mass set. An empty matrix still yields one (empty) message.
std::vector<v1::ExplainResponse> LayerMessages(const LayerMatrix& matrix,
                                               const SparsityPolicy& policy, size_t max_bytes,
                                               LayerSendStats* stats);

// The first messages of an Explain stream: `header` (every field but token_ids and tokens) with
// as many leading `ids` and their `tokens` (same length) as fit, then, when some do not, the
// InputTokens messages carrying the rest in order. Every serialized ExplainResponse is at most
// max_bytes. A short input gives exactly the one Header the server always sent. RESOURCE_EXHAUSTED
// when the Header's other fields alone (e.g. a very long target_rows list) or a single token
// string do not fit.
absl::StatusOr<std::vector<v1::ExplainResponse>> HeaderMessages(
    const v1::Header& header, const std::vector<int32_t>& ids,
    const std::vector<std::string>& tokens, size_t max_bytes);

// The TokenScores messages of one method's per-target scores, split by rows so that each payload
// stays within max_bytes (a single larger row gets a message of its own); every message repeats
// the method, layer, column count and approx_error. Empty scores still yield one message.
std::vector<v1::ExplainResponse> TokenScoresMessages(const TokenScoreRows& scores,
                                                     size_t max_bytes);

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_SERVER_PROTO_CONVERT_H_
