#include "server/proto_convert.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "google/protobuf/io/coded_stream.h"

namespace mamba_explain {
namespace {

// A closed choice sent as the string field, the enum field, or both (they must agree): the
// catalogue's spelling for request_validation to parse, or empty for the default.
template <typename WireEnum, typename E>
absl::StatusOr<std::string> MergeChoice(const std::string& field, const std::string& text,
                                        WireEnum choice,
                                        const std::vector<std::pair<WireEnum, E>>& values,
                                        const char* (*name)(E)) {
  if (static_cast<int>(choice) == 0) return text;  // UNSPECIFIED
  for (const auto& [wire, value] : values) {
    if (wire != choice) continue;
    const std::string spelled = name(value);
    if (!text.empty() && text != spelled) {
      return absl::InvalidArgumentError(absl::StrCat("parameters.", field, "='", text,
                                                     "' and parameters.", field,
                                                     "_choice=", spelled, " disagree"));
    }
    return spelled;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("parameters.", field, "_choice=", static_cast<int>(choice), " unknown"));
}

// Wire bytes of a length-delimited field (field number < 16: one tag byte) of `payload` bytes.
size_t DelimitedBytes(size_t payload) {
  return 1 + google::protobuf::io::CodedOutputStream::VarintSize64(payload) + payload;
}

// Appends ids[*next ..] and their token strings to the two repeated fields while the enclosing
// ExplainResponse stays within max_bytes: `fixed` is the serialized size of the message's other
// fields. The sizes are upper bounds (a packed field's header is counted even when it ends up
// empty), so the message may come out a few bytes smaller, never larger.
void FillTokens(const std::vector<int32_t>& ids, const std::vector<std::string>& tokens,
                size_t fixed, size_t max_bytes, size_t* next,
                google::protobuf::RepeatedField<int32_t>* id_field,
                google::protobuf::RepeatedPtrField<std::string>* token_field) {
  const size_t begin = *next;
  size_t id_bytes = 0;
  size_t token_bytes = 0;
  for (; *next < ids.size(); ++*next) {
    const size_t id_b =
        google::protobuf::io::CodedOutputStream::VarintSize32SignExtended(ids[*next]);
    const size_t token_b = DelimitedBytes(tokens[*next].size());
    const size_t inner = fixed + DelimitedBytes(id_bytes + id_b) + token_bytes + token_b;
    if (DelimitedBytes(inner) > max_bytes) break;
    id_bytes += id_b;
    token_bytes += token_b;
  }
  id_field->Add(ids.begin() + begin, ids.begin() + *next);
  token_field->Reserve(static_cast<int>(*next - begin));
  for (size_t i = begin; i < *next; ++i) token_field->Add()->assign(tokens[i]);
}

}  // namespace

absl::StatusOr<std::vector<v1::ExplainResponse>> HeaderMessages(
    const v1::Header& header, const std::vector<int32_t>& ids,
    const std::vector<std::string>& tokens, size_t max_bytes) {
  if (ids.size() != tokens.size()) {
    return absl::InternalError(
        absl::StrCat("HeaderMessages: ", ids.size(), " ids but ", tokens.size(), " token strings"));
  }
  std::vector<v1::ExplainResponse> out(1);
  v1::Header* h = out[0].mutable_header();
  *h = header;
  h->clear_token_ids();
  h->clear_tokens();
  const size_t fixed = h->ByteSizeLong();
  if (DelimitedBytes(fixed) > max_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the Header of this request would be ", DelimitedBytes(fixed),
                     " bytes without its tokens, more than ", max_bytes, " (target_rows has ",
                     h->target_rows_size(), " entries); ask for fewer rows"));
  }
  size_t next = 0;
  FillTokens(ids, tokens, fixed, max_bytes, &next, h->mutable_token_ids(), h->mutable_tokens());
  while (next < ids.size()) {
    v1::ExplainResponse response;
    v1::InputTokens* t = response.mutable_input_tokens();
    t->set_offset(static_cast<int32_t>(next));
    const size_t before = next;
    FillTokens(ids, tokens, t->ByteSizeLong(), max_bytes, &next, t->mutable_token_ids(),
               t->mutable_tokens());
    if (next == before) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "the text of token ", ids[next], " at position ", next, " is ", tokens[next].size(),
          " bytes, more than ", max_bytes, " fit in one message"));
    }
    out.push_back(std::move(response));
  }
  return out;
}

absl::StatusOr<ExplainSpec> SpecFromProto(const v1::ExplainRequest& r) {
  ExplainSpec spec;
  spec.model = r.model();
  if (!r.text().empty()) spec.text = r.text();
  spec.token_ids.assign(r.token_ids().begin(), r.token_ids().end());
  spec.methods.assign(r.methods().begin(), r.methods().end());
  spec.layers.assign(r.layers().begin(), r.layers().end());
  spec.target_rows.assign(r.target_rows().begin(), r.target_rows().end());
  spec.target_tokens.assign(r.target_tokens().begin(), r.target_tokens().end());
  if (r.has_target_token()) spec.target_token = r.target_token();
  switch (r.row_selection()) {
    case v1::ROW_SELECTION_UNSPECIFIED:
    case v1::ROW_SELECTION_ALL:
      break;
    case v1::ROW_SELECTION_LAST:
      spec.last_row = true;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("row_selection=", r.row_selection(), " unknown"));
  }
  switch (r.activation()) {
    case v1::ACTIVATION_UNSPECIFIED:
    case v1::ACTIVATION_SILU:
      spec.activation = Activation::kSilu;
      break;
    case v1::ACTIVATION_IDENTITY:
      spec.activation = Activation::kIdentity;
      break;
    case v1::ACTIVATION_RELU:
      spec.activation = Activation::kRelu;
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("activation=", r.activation(), " unknown"));
  }
  switch (r.precision()) {
    case v1::PRECISION_UNSPECIFIED:  // the model's own precision
      spec.precision.reset();
      break;
    case v1::PRECISION_FP32:
      spec.precision = Precision::kFp32;
      break;
    case v1::PRECISION_TF32:
      spec.precision = Precision::kTf32;
      break;
    case v1::PRECISION_BF16:
      spec.precision = Precision::kBf16;
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("precision=", r.precision(), " unknown"));
  }
  const v1::Sparsity& s = r.sparsity();
  switch (s.mode()) {
    case v1::Sparsity::MODE_UNSPECIFIED:
    case v1::Sparsity::DENSE:
      spec.sparsity.mode = SparsityMode::kDense;
      break;
    case v1::Sparsity::TOP_K:
      spec.sparsity.mode = SparsityMode::kTopK;
      break;
    case v1::Sparsity::THRESHOLD:
      spec.sparsity.mode = SparsityMode::kThreshold;
      break;
    case v1::Sparsity::MASS:
      spec.sparsity.mode = SparsityMode::kMass;
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("sparsity.mode=", s.mode(), " unknown"));
  }
  spec.sparsity.top_k = s.top_k();
  spec.sparsity.threshold = s.threshold();
  spec.sparsity.mass = s.mass();
  spec.params.ig_steps = r.parameters().ig_steps();
  spec.params.smoothgrad_samples = r.parameters().smoothgrad_samples();
  if (r.parameters().has_smoothgrad_sigma()) {
    spec.params.smoothgrad_sigma = r.parameters().smoothgrad_sigma();
  }
  spec.params.seed = r.parameters().seed();
  spec.params.memory_budget_mib = r.parameters().memory_budget_mib();
  const v1::MethodParameters& p = r.parameters();
  ASSIGN_OR_RETURN(spec.params.ig_rule,
                   MergeChoice("ig_rule", p.ig_rule(), p.ig_rule_choice(),
                               {{v1::IG_RULE_RIEMANN, IgQuadrature::kRiemannMidpoint},
                                {v1::IG_RULE_GAUSS_LEGENDRE, IgQuadrature::kGaussLegendre}},
                               &IgQuadratureName));
  ASSIGN_OR_RETURN(
      spec.params.smoothgrad_input,
      MergeChoice("smoothgrad_input", p.smoothgrad_input(), p.smoothgrad_input_choice(),
                  {{v1::SMOOTHGRAD_INPUT_NOISY, SmoothGradInput::kNoisy},
                   {v1::SMOOTHGRAD_INPUT_CLEAN, SmoothGradInput::kClean}},
                  &SmoothGradInputName));
  spec.params.lrp_rules = p.lrp_rules();
  ASSIGN_OR_RETURN(spec.params.attention_norm,
                   MergeChoice("attention_norm", p.attention_norm(), p.attention_norm_choice(),
                               {{v1::ATTENTION_NORM_RAW, AttentionNorm::kRaw},
                                {v1::ATTENTION_NORM_MINMAX, AttentionNorm::kMinMax},
                                {v1::ATTENTION_NORM_ABS_MINMAX, AttentionNorm::kAbsMinMax}},
                               &AttentionNormName));
  spec.params.start_layer = r.parameters().start_layer();
  spec.priority = r.priority();
  return spec;
}

v1::Sparsity SparsityToProto(const SparsityPolicy& p) {
  v1::Sparsity s;
  switch (p.mode) {
    case SparsityMode::kDense:
      s.set_mode(v1::Sparsity::DENSE);
      break;
    case SparsityMode::kTopK:
      s.set_mode(v1::Sparsity::TOP_K);
      s.set_top_k(p.top_k);
      break;
    case SparsityMode::kThreshold:
      s.set_mode(v1::Sparsity::THRESHOLD);
      s.set_threshold(p.threshold);
      break;
    case SparsityMode::kMass:
      s.set_mode(v1::Sparsity::MASS);
      s.set_mass(p.mass);
      break;
  }
  return s;
}

void FillModelInfo(const ModelEntry& entry, const ServingLimits& limits, v1::ModelInfo* info) {
  info->set_name(entry.name);
  switch (entry.state) {
    case ModelState::kLoading:
      info->set_state(v1::ModelInfo::LOADING);
      break;
    case ModelState::kReady:
      info->set_state(v1::ModelInfo::READY);
      break;
    case ModelState::kFailed:
      info->set_state(v1::ModelInfo::FAILED);
      break;
  }
  if (!entry.error.ok()) info->set_error(entry.error.ToString());
  if (!entry.backend) return;
  const BackendInfo& b = entry.backend->info();
  info->set_architecture(b.architecture);
  info->set_n_layers(b.n_layers);
  info->set_d_model(b.d_model);
  info->set_vocab_size(b.vocab_size);
  info->set_has_tokenizer(b.has_tokenizer);
  for (Method m : b.methods) info->add_methods(MethodName(m));
  info->set_device(b.device);
  info->set_precision(PrecisionToProto(b.precision));
  info->set_max_tokens(limits.max_tokens);
  info->set_backend(b.backend);
}

std::vector<v1::ExplainResponse> LayerMessages(const LayerMatrix& matrix,
                                               const SparsityPolicy& policy, size_t max_bytes,
                                               LayerSendStats* stats) {
  std::vector<v1::ExplainResponse> out;
  const int64_t rows = static_cast<int64_t>(matrix.rows.size());
  auto start = [&](int64_t begin, int64_t end) {
    v1::ExplainResponse response;
    v1::LayerResult* r = response.mutable_layer_result();
    r->set_method(matrix.method);
    r->set_layer(matrix.layer);
    r->set_row_begin(static_cast<int32_t>(begin));
    r->set_row_end(static_cast<int32_t>(end));
    r->set_num_columns(static_cast<int32_t>(matrix.cols));
    return response;
  };
  CsrMatrix csr = Sparsify(matrix.values.data(), rows, matrix.cols, policy);
  if (policy.mode == SparsityMode::kDense) {
    for (auto [b, e] : SplitDenseRows(rows, matrix.cols, max_bytes)) {
      v1::ExplainResponse response = start(b, e);
      response.mutable_layer_result()->mutable_dense_values()->Add(
          matrix.values.begin() + b * matrix.cols, matrix.values.begin() + e * matrix.cols);
      out.push_back(std::move(response));
    }
  } else {
    for (auto [b, e] : SplitCsrRows(csr, max_bytes)) {
      v1::ExplainResponse response = start(b, e);
      v1::LayerResult* r = response.mutable_layer_result();
      const int32_t base = csr.row_offsets[b];
      for (int64_t i = b; i <= e; ++i) r->add_row_offsets(csr.row_offsets[i] - base);
      r->mutable_col_indices()->Add(csr.col_indices.begin() + base,
                                    csr.col_indices.begin() + csr.row_offsets[e]);
      r->mutable_values()->Add(csr.values.begin() + base, csr.values.begin() + csr.row_offsets[e]);
      out.push_back(std::move(response));
    }
  }
  if (out.empty()) {
    out.push_back(start(0, 0));
    if (policy.mode != SparsityMode::kDense) out.back().mutable_layer_result()->add_row_offsets(0);
  }
  v1::LayerResult* last = out.back().mutable_layer_result();
  last->set_last_block(true);
  last->set_approx_error(matrix.approx_error);
  last->mutable_target_tokens()->Add(matrix.target_tokens.begin(), matrix.target_tokens.end());
  last->set_kept_mass(static_cast<float>(csr.kept_fraction()));
  if (stats) {
    stats->nnz = policy.mode == SparsityMode::kDense ? rows * matrix.cols : csr.nnz();
    stats->kept_fraction = csr.kept_fraction();
  }
  return out;
}

std::vector<v1::ExplainResponse> TokenScoresMessages(const TokenScoreRows& scores,
                                                     size_t max_bytes) {
  std::vector<v1::ExplainResponse> out;
  const int64_t rows = static_cast<int64_t>(scores.rows.size());
  auto add = [&](int64_t begin, int64_t end) {
    v1::ExplainResponse response;
    v1::TokenScores* t = response.mutable_token_scores();
    t->set_method(scores.method);
    t->set_layer(scores.layer);
    t->mutable_target_rows()->Add(scores.rows.begin() + begin, scores.rows.begin() + end);
    if (!scores.target_tokens.empty()) {
      t->mutable_target_tokens()->Add(scores.target_tokens.begin() + begin,
                                      scores.target_tokens.begin() + end);
    }
    t->set_num_columns(static_cast<int32_t>(scores.cols));
    t->mutable_scores()->Add(scores.scores.begin() + begin * scores.cols,
                             scores.scores.begin() + end * scores.cols);
    if (!scores.explained_logits.empty()) {
      t->mutable_explained_logits()->Add(scores.explained_logits.begin() + begin,
                                         scores.explained_logits.begin() + end);
    }
    t->set_approx_error(scores.approx_error);
    out.push_back(std::move(response));
  };
  for (auto [b, e] : SplitDenseRows(rows, scores.cols, max_bytes)) add(b, e);
  if (out.empty()) add(0, 0);
  return out;
}

}  // namespace mamba_explain
