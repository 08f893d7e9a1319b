// The Explain stream -> the offline-mode JSON shape (the results through result_json.h, the one
// writer of both modes): sparse blocks are expanded back into dense `matrix` rows (zeros where
// entries were dropped), per-target methods become {"scores", "explained_logit", "targets"};
// layer -1 last.
// Header-only; one builder per stream, not thread-safe.
#ifndef MAMBA_EXPLAIN_CLIENT_EXPLANATION_JSON_H_
#define MAMBA_EXPLAIN_CLIENT_EXPLANATION_JSON_H_

#include <algorithm>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "attribution/methods.h"
#include "client/result_json.h"
#include "common/status_macros.h"
#include "mamba_explain/v1/explain.pb.h"
#include "nlohmann/json.hpp"

namespace mamba_explain {

inline const char* PayloadName(const v1::ExplainResponse& r) {
  switch (r.payload_case()) {
    case v1::ExplainResponse::kHeader:
      return "header";
    case v1::ExplainResponse::kLayerResult:
      return "layer_result";
    case v1::ExplainResponse::kTokenScores:
      return "token_scores";
    case v1::ExplainResponse::kSummary:
      return "summary";
    case v1::ExplainResponse::kInputTokens:
      return "input_tokens";
    case v1::ExplainResponse::kProgress:
      return "progress";
    default:
      return "unknown";
  }
}

// Assembles the stream into the offline-mode JSON shape: sparse blocks are expanded back into
// dense `matrix` rows (zeros where entries were dropped).
class ExplanationBuilder {
 public:
  absl::Status Add(const v1::ExplainResponse& r) {
    switch (r.payload_case()) {
      case v1::ExplainResponse::kHeader: {
        if (have_header_) return absl::DataLossError("second header in the stream");
        have_header_ = true;
        header_ = r.header();
        out_["model"] = header_.model();
        out_["request_id"] = header_.request_id();
        out_["architecture"] = header_.architecture();
        if (header_.token_ids_size() != header_.tokens_size() ||
            header_.token_ids_size() > header_.num_columns()) {
          return absl::DataLossError(absl::StrCat(
              "the header has ", header_.token_ids_size(), " ids and ", header_.tokens_size(),
              " token strings for ", header_.num_columns(), " positions"));
        }
        if (tokens_complete()) SetInput();  // else InputTokens messages follow
        out_["methods"] =
            std::vector<std::string>(header_.methods().begin(), header_.methods().end());
        out_["layers"] = std::vector<int32_t>(header_.layers().begin(), header_.layers().end());
        out_["precision"] = v1::Precision_Name(header_.precision());
        out_["target_rows"] =
            std::vector<int32_t>(header_.target_rows().begin(), header_.target_rows().end());
        out_["results"] = nlohmann::json::array();
        return absl::OkStatus();
      }
      case v1::ExplainResponse::kInputTokens:
        return AddInputTokens(r.input_tokens());
      case v1::ExplainResponse::kLayerResult:
        RETURN_IF_ERROR(CheckInputComplete("layer result"));
        return AddLayer(r.layer_result());
      case v1::ExplainResponse::kTokenScores:
        RETURN_IF_ERROR(CheckInputComplete("token scores"));
        return AddTokenScores(r.token_scores());
      case v1::ExplainResponse::kProgress:  // advice for the progress line; no result data
        if (!have_header_) return absl::DataLossError("progress before the header");
        return absl::OkStatus();
      case v1::ExplainResponse::kSummary: {
        if (!have_header_) return absl::DataLossError("summary before the header");
        RETURN_IF_ERROR(CheckInputComplete("summary"));
        const v1::Summary& s = r.summary();
        nlohmann::json j;
        j["queue_ms"] = s.queue_ms();
        j["compute_ms"] = s.compute_ms();
        j["stream_ms"] = s.stream_ms();
        j["total_ms"] = s.total_ms();
        j["batch_size"] = s.batch_size();
        j["batch_tokens"] = s.batch_tokens();
        j["layer_results"] = s.layer_results();
        j["nnz"] = s.nnz();
        j["kept_mass"] = s.kept_mass();
        j["max_approx_error"] = s.max_approx_error();
        out_["summary"] = j;
        have_summary_ = true;
        return absl::OkStatus();
      }
      default:
        return absl::DataLossError("empty message in the stream");
    }
  }

  int done() const { return done_; }
  bool complete() const { return have_header_ && have_summary_; }
  // Puts the results in the offline order: increasing layer (results arrive top-down when
  // latim-alti-logit is asked), whole-model results (layer -1) last, request order within a layer.
  void Finalize() { SortResults(&out_["results"]); }
  nlohmann::json& json() { return out_; }
  // The header, with the ids and token strings of any InputTokens messages appended.
  const v1::Header& header() const { return header_; }

 private:
  // Long inputs: the header holds the first ids, InputTokens messages the rest (explain.proto).
  bool tokens_complete() const { return header_.token_ids_size() == header_.num_columns(); }

  absl::Status CheckInputComplete(const char* what) const {
    if (!have_header_ || tokens_complete()) return absl::OkStatus();
    return absl::DataLossError(absl::StrCat(what, " after ", header_.token_ids_size(), " of the ",
                                            header_.num_columns(), " input tokens"));
  }

  void SetInput() {
    out_["ids"] = std::vector<int32_t>(header_.token_ids().begin(), header_.token_ids().end());
    out_["tokens"] = std::vector<std::string>(header_.tokens().begin(), header_.tokens().end());
  }

  absl::Status AddInputTokens(const v1::InputTokens& t) {
    if (!have_header_) return absl::DataLossError("input tokens before the header");
    if (tokens_complete()) return absl::DataLossError("input tokens after the whole input");
    if (t.offset() != header_.token_ids_size() || t.token_ids_size() != t.tokens_size() ||
        t.token_ids_size() > header_.num_columns() - header_.token_ids_size()) {
      return absl::DataLossError(
          absl::StrCat("input tokens at offset ", t.offset(), " (", t.token_ids_size(), " ids, ",
                       t.tokens_size(), " strings) do not continue the ", header_.token_ids_size(),
                       " of ", header_.num_columns(), " received"));
    }
    header_.mutable_token_ids()->Add(t.token_ids().begin(), t.token_ids().end());
    header_.mutable_tokens()->Add(t.tokens().begin(), t.tokens().end());
    if (tokens_complete()) SetInput();
    return absl::OkStatus();
  }

  absl::Status AddLayer(const v1::LayerResult& l) {
    if (!have_header_) return absl::DataLossError("layer result before the header");
    const std::string key = absl::StrCat(l.method(), "/", l.layer());
    auto it = index_.find(key);
    if (it == index_.end()) {
      nlohmann::json j =
          NewResultJson(l.method(), l.layer(), ResultKind::kMatrix, l.approx_error());
      j["rows"] = out_["target_rows"];
      for (int k = 0; k < header_.target_rows_size(); ++k) {
        j["matrix"].push_back(std::vector<float>(l.num_columns(), 0.f));
      }
      out_["results"].push_back(j);
      it = index_.emplace(key, out_["results"].size() - 1).first;
    }
    nlohmann::json& entry = out_["results"][it->second];
    const int rows = l.row_end() - l.row_begin();
    if (l.row_begin() < 0 || l.row_end() > header_.target_rows_size() || rows < 0) {
      return absl::DataLossError(absl::StrCat("block rows [", l.row_begin(), ", ", l.row_end(),
                                              ") outside the header's target rows"));
    }
    if (l.dense_values_size() > 0) {
      if (l.dense_values_size() != rows * l.num_columns()) {
        return absl::DataLossError("dense block has the wrong size");
      }
      for (int k = 0; k < rows; ++k) {
        for (int c = 0; c < l.num_columns(); ++c) {
          entry["matrix"][l.row_begin() + k][c] = l.dense_values(k * l.num_columns() + c);
        }
      }
    } else if (l.row_offsets_size() > 0) {
      if (l.row_offsets_size() != rows + 1) return absl::DataLossError("bad CSR row_offsets");
      for (int k = 0; k < rows; ++k) {
        for (int e = l.row_offsets(k); e < l.row_offsets(k + 1); ++e) {
          if (e >= l.col_indices_size() || l.col_indices(e) >= l.num_columns()) {
            return absl::DataLossError("CSR index out of range");
          }
          entry["matrix"][l.row_begin() + k][l.col_indices(e)] = l.values(e);
        }
      }
    }
    if (l.last_block()) {
      entry["approx_error"] = ApproxErrorJson(l.method(), l.approx_error());
      entry["kept_mass"] = l.kept_mass();
      if (l.target_tokens_size() > 0) {
        entry["targets"] = std::vector<int32_t>(l.target_tokens().begin(), l.target_tokens().end());
      }
      ++done_;
    }
    return absl::OkStatus();
  }

  // Per-target scores, in the offline shape of per-target methods: {"method", "layer", "rows",
  // "scores", "explained_logit", "targets", "approx_error"}; a method's rows may come in several
  // messages, appended in order.
  absl::Status AddTokenScores(const v1::TokenScores& t) {
    if (!have_header_) return absl::DataLossError("token scores before the header");
    const int rows = t.target_rows_size();
    if (t.scores_size() != rows * t.num_columns() ||
        (t.target_tokens_size() != 0 && t.target_tokens_size() != rows) ||
        (t.explained_logits_size() != 0 && t.explained_logits_size() != rows)) {
      return absl::DataLossError(absl::StrCat("token scores of ", t.method(), " have wrong sizes"));
    }
    const std::string key = absl::StrCat(t.method(), "/", t.layer());
    auto it = index_.find(key);
    if (it == index_.end()) {
      out_["results"].push_back(
          NewResultJson(t.method(), t.layer(), ResultKind::kTokenScores, t.approx_error()));
      it = index_.emplace(key, out_["results"].size() - 1).first;
    }
    nlohmann::json& entry = out_["results"][it->second];
    for (int k = 0; k < rows; ++k) {
      entry["rows"].push_back(t.target_rows(k));
      entry["scores"].push_back(std::vector<float>(t.scores().begin() + k * t.num_columns(),
                                                   t.scores().begin() + (k + 1) * t.num_columns()));
      if (t.explained_logits_size() > 0) entry["explained_logit"].push_back(t.explained_logits(k));
      if (t.target_tokens_size() > 0) entry["targets"].push_back(t.target_tokens(k));
    }
    entry["approx_error"] = ApproxErrorJson(t.method(), t.approx_error());
    ++done_;
    return absl::OkStatus();
  }

  bool have_header_ = false;
  bool have_summary_ = false;
  v1::Header header_;
  nlohmann::json out_;
  std::map<std::string, size_t> index_;
  int done_ = 0;
};

}  // namespace mamba_explain

#endif  // MAMBA_EXPLAIN_CLIENT_EXPLANATION_JSON_H_
