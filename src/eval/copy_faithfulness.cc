#include "eval/copy_faithfulness.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "eval/faithfulness_metrics.h"
#include "eval/heatmap_png.h"
#include "eval/tasks/copy_task.h"

namespace mamba_explain {
namespace {

using Clock = std::chrono::steady_clock;

// Per-layer results (the catalogue's scope), e.g. latim-l2; the others are one layer −1 map.
bool IsPerLayerMethod(const std::string& m) {
  absl::StatusOr<Method> method = ParseMethod(m);
  return method.ok() && GetMethodInfo(*method).scope == MethodScope::kPerLayer;
}

// Methods whose cost is multiplied by IG steps or SmoothGrad samples (the catalogue's cost).
bool IsStepMultiplied(const std::string& m) {
  absl::StatusOr<Method> method = ParseMethod(m);
  if (!method.ok()) return false;
  const GradientPasses passes = GetMethodInfo(*method).cost.gradient_passes;
  return passes == GradientPasses::kIgSteps || passes == GradientPasses::kSmoothGradSamples;
}

// The evaluator's request for `methods` (names checked by ValidateOptions), validated for `ids`.
absl::StatusOr<ValidatedRequest> CopyRequest(
    const Engine& engine, const std::vector<std::string>& methods, const std::string& activation,
    const CopyFaithfulnessOptions& o, const std::vector<int32_t>& ids, const RowSelection& rows) {
  ExplainRequest request;
  request.methods.clear();
  for (const std::string& name : methods) {
    ASSIGN_OR_RETURN(Method m, ParseMethod(name));
    request.methods.push_back(m);
  }
  request.rows = rows;
  ASSIGN_OR_RETURN(request.activation, ParseActivation(activation));
  request.params.ig_steps = o.ig_steps;
  request.params.smoothgrad_samples = o.sg_samples;
  request.params.seed = o.seed;
  return Validate(request, {ids}, engine.shape());
}

std::vector<int64_t> CopyRows(int length) {
  std::vector<int64_t> rows(length);
  for (int i = 0; i < length; ++i) rows[i] = length + 2 + i;
  return rows;
}

// gold(i, j) = 1 iff |i − j| ≤ 1 (LaTIM §4.1: ones along the three main diagonals), row-major L×L.
std::vector<uint8_t> GoldBlock(int length) {
  std::vector<uint8_t> gold(static_cast<size_t>(length) * length, 0);
  for (int i = 0; i < length; ++i) {
    for (int j = std::max(0, i - 1); j <= std::min(length - 1, i + 1); ++j)
      gold[i * length + j] = 1;
  }
  return gold;
}

// Scores of the copy rows (result rows = CopyRows) at the source columns 1..L, row-major L×L.
absl::StatusOr<std::vector<float>> CopyBlock(const AttributionResult& r, int length) {
  if (r.rows != CopyRows(length) || r.columns != 2 * length + 2) {
    return absl::InternalError(absl::StrCat(MethodName(r.method), " layer ", r.layer, ": ",
                                            r.rows.size(), " rows × ", r.columns,
                                            " columns, not the copy rows"));
  }
  std::vector<float> block(static_cast<size_t>(length) * length);
  for (int i = 0; i < length; ++i) {
    for (int j = 0; j < length; ++j) block[i * length + j] = r.at(i, 1 + j);
  }
  return block;
}

}  // namespace

MetricSummary Summarize(const std::vector<double>& values) {
  MetricSummary s;
  double sum = 0, sum_sq = 0;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    sum += v;
    sum_sq += v * v;
    ++s.count;
  }
  if (s.count == 0) {
    s.mean = s.std = std::numeric_limits<double>::quiet_NaN();
    return s;
  }
  s.mean = sum / s.count;
  s.std = std::sqrt(std::max(0.0, sum_sq / s.count - s.mean * s.mean));
  return s;
}

namespace {

struct Accumulator {
  std::vector<double> auc, ap, recall_at_k;
};

absl::Status ValidateOptions(const Engine& engine, const CopyFaithfulnessOptions& o) {
  if (o.length < 1 || o.samples < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("length=", o.length, " and samples=", o.samples, " must be ≥ 1"));
  }
  if (engine.config().vocab_size <= kCopyFirstContent) {
    return absl::InvalidArgumentError(
        absl::StrCat("vocab_size=", engine.config().vocab_size, " leaves no content tokens"));
  }
  if (o.methods.empty()) return absl::InvalidArgumentError("no method requested");
  const std::vector<std::string>& all = AllFaithfulnessMethods();
  for (const std::string& m : o.methods) {
    if (std::find(all.begin(), all.end(), m) == all.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown method '", m, "' (", MethodChoices(), ")"));
    }
  }
  for (const std::string& f : o.error_activations) RETURN_IF_ERROR(ParseActivation(f).status());
  RETURN_IF_ERROR(ParseActivation(o.activation).status());
  return absl::OkStatus();
}

void Progress(const CopyFaithfulnessOptions& o, const std::string& line) {
  if (o.progress) o.progress(line);
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

absl::Status CopyAccuracy(const Engine& engine, const std::vector<std::vector<int32_t>>& samples,
                          int length, CopyFaithfulnessReport& report) {
  int64_t correct_tokens = 0, correct_sequences = 0;
  for (const std::vector<int32_t>& ids : samples) {
    ASSIGN_OR_RETURN(LogitRows logits, engine.Logits(ids, /*last_only=*/false));
    bool all_correct = true;
    // Position SEP + i = L+1+i predicts the copy token s_i at L+2+i (teacher forcing).
    for (int i = 0; i < length; ++i) {
      const float* row = &logits.values[(length + 1 + i) * logits.vocab];
      const int64_t predicted = std::max_element(row, row + logits.vocab) - row;
      if (predicted == ids[length + 2 + i]) {
        ++correct_tokens;
      } else {
        all_correct = false;
      }
    }
    correct_sequences += all_correct ? 1 : 0;
  }
  report.token_accuracy =
      static_cast<double>(correct_tokens) / (static_cast<double>(samples.size()) * length);
  report.sequence_accuracy = static_cast<double>(correct_sequences) / samples.size();
  return absl::OkStatus();
}

absl::Status DecompositionErrors(const Engine& engine,
                                 const std::vector<std::vector<int32_t>>& samples,
                                 const CopyFaithfulnessOptions& o, CopyFaithfulnessReport& report) {
  const int n_layers = report.n_layers;
  for (const std::string& f : o.error_activations) {
    std::vector<double> sum(n_layers, 0.0);
    for (const std::vector<int32_t>& ids : samples) {
      ASSIGN_OR_RETURN(ValidatedRequest request,
                       CopyRequest(engine, {MethodName(Method::kLatimL2)}, f, o, ids, {}));
      RETURN_IF_ERROR(engine.Explain(request, [&](AttributionResult r) {
        if (r.layer >= 0 && r.layer < n_layers) sum[r.layer] += r.approx_error;
        return true;
      }));
    }
    for (double& s : sum) s /= samples.size();
    report.decomposition_error[f] = std::move(sum);
    Progress(o, absl::StrCat("decomposition error f=", f, " done"));
  }
  return absl::OkStatus();
}

absl::Status WriteHeatmaps(const Engine& engine, const std::vector<int32_t>& ids,
                           const CopyFaithfulnessOptions& o, CopyFaithfulnessReport& report) {
  std::error_code ec;
  std::filesystem::create_directories(o.heatmap_dir, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create --heatmap-dir ", o.heatmap_dir, ": ", ec.message()));
  }
  const int64_t seq_len = static_cast<int64_t>(ids.size());
  HeatmapOptions hm;
  // Stored (uncompressed) PNGs cost 3 bytes per pixel: ≈ 176² pixels stay under 100 KB.
  hm.scale = std::max<int>(1, static_cast<int>(176 / seq_len));
  hm.outlines.push_back(CellBox{o.length + 2, 2 * o.length + 2, 1, o.length + 1});
  for (const MethodFaithfulness& m : report.methods) {
    const int layer = m.layers[m.best].layer;
    ASSIGN_OR_RETURN(ValidatedRequest request,
                     CopyRequest(engine, {m.method}, o.activation, o, ids, {}));
    if (IsPerLayerMethod(m.method) && layer >= 0) request.layers = {layer};
    std::vector<float> matrix;
    RETURN_IF_ERROR(engine.Explain(request, [&](AttributionResult r) {
      if (MethodName(r.method) == m.method && r.layer == layer) matrix = std::move(r.matrix);
      return true;
    }));
    if (matrix.size() != static_cast<size_t>(seq_len * seq_len)) {
      return absl::InternalError(absl::StrCat(m.method, ": no full matrix at layer ", layer));
    }
    ASSIGN_OR_RETURN(RgbImage image, RenderHeatmap(matrix, seq_len, seq_len, hm));
    const std::string path =
        (std::filesystem::path(o.heatmap_dir) / absl::StrCat(o.model_name, "_", m.method, ".png"))
            .string();
    RETURN_IF_ERROR(WritePng(path, image));
    report.heatmaps.push_back(path);
    Progress(o, absl::StrCat("heatmap ", path));
  }
  return absl::OkStatus();
}

}  // namespace

const std::vector<std::string>& AllFaithfulnessMethods() {
  static const auto* all = new std::vector<std::string>(MethodNames(EngineMethods()));
  return *all;
}

absl::StatusOr<CopyFaithfulnessReport> EvaluateCopyFaithfulness(
    const Engine& engine, const CopyFaithfulnessOptions& options) {
  RETURN_IF_ERROR(ValidateOptions(engine, options));
  const int length = options.length;
  CopyFaithfulnessReport report;
  report.options = options;
  report.n_layers = static_cast<int>(engine.config().n_layers);
  ASSIGN_OR_RETURN(
      std::vector<std::vector<int32_t>> samples,
      MakeCopySamples(options.samples, length, engine.config().vocab_size, options.seed));
  const auto t0 = Clock::now();
  RETURN_IF_ERROR(CopyAccuracy(engine, samples, length, report));
  Progress(options, absl::StrFormat("copy accuracy: token %.4f, sequence %.4f",
                                    report.token_accuracy, report.sequence_accuracy));

  const std::vector<uint8_t> gold = GoldBlock(length);
  std::map<std::pair<std::string, int>, Accumulator> acc;
  std::map<std::string, int> explained;
  const int grad_samples = options.grad_samples < 0 ? options.samples : options.grad_samples;
  for (int s = 0; s < options.samples; ++s) {
    std::vector<std::string> methods;
    for (const std::string& m : options.methods) {
      if (IsStepMultiplied(m) && s >= grad_samples) continue;
      methods.push_back(m);
      ++explained[m];
    }
    RowSelection copy_rows;
    copy_rows.kind = RowSelection::Kind::kList;
    copy_rows.rows = CopyRows(length);
    ASSIGN_OR_RETURN(ValidatedRequest request, CopyRequest(engine, methods, options.activation,
                                                           options, samples[s], copy_rows));
    absl::Status block_status;
    RETURN_IF_ERROR(engine.Explain(request, [&](AttributionResult r) {
      absl::StatusOr<std::vector<float>> block = CopyBlock(r, length);
      if (!block.ok()) {
        block_status = block.status();
        return false;
      }
      Accumulator& a = acc[{MethodName(r.method), r.layer}];
      absl::StatusOr<InstanceMetrics> m = ComputeInstanceMetrics(*block, gold);
      // A non-finite map (e.g. a diverging method) counts as an undefined instance.
      const double nan = std::numeric_limits<double>::quiet_NaN();
      a.auc.push_back(m.ok() ? m->auc : nan);
      a.ap.push_back(m.ok() ? m->ap : nan);
      a.recall_at_k.push_back(m.ok() ? m->recall_at_k : nan);
      return true;
    }));
    RETURN_IF_ERROR(block_status);
    if ((s + 1) % 8 == 0 || s + 1 == options.samples) {
      Progress(options, absl::StrFormat("explained %d/%d samples (%.1f s)", s + 1, options.samples,
                                        Seconds(t0)));
    }
  }

  for (const std::string& m : options.methods) {
    MethodFaithfulness method;
    method.method = m;
    method.samples = explained[m];
    for (const auto& [key, a] : acc) {  // map order: ascending layer within a method
      if (key.first != m) continue;
      LayerFaithfulness layer;
      layer.layer = key.second;
      layer.auc = Summarize(a.auc);
      layer.ap = Summarize(a.ap);
      layer.recall_at_k = Summarize(a.recall_at_k);
      method.layers.push_back(layer);
    }
    if (method.layers.empty()) return absl::InternalError(absl::StrCat(m, " returned nothing"));
    for (size_t i = 1; i < method.layers.size(); ++i) {
      // Strictly greater: the lower layer wins ties; NaN never wins.
      if (method.layers[i].ap.mean > method.layers[method.best].ap.mean ||
          std::isnan(method.layers[method.best].ap.mean)) {
        method.best = static_cast<int>(i);
      }
    }
    report.methods.push_back(std::move(method));
  }

  RETURN_IF_ERROR(DecompositionErrors(engine, samples, options, report));
  if (!options.heatmap_dir.empty())
    RETURN_IF_ERROR(WriteHeatmaps(engine, samples[0], options, report));
  Progress(options, absl::StrFormat("done in %.1f s", Seconds(t0)));
  return report;
}

}  // namespace mamba_explain
