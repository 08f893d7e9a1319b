#include "tools/train/copy_trainer.h"

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "eval/tasks/copy_task.h"
#include "eval/tasks/recall_task.h"
#include "mamba/mamba_model.h"
#include "nlohmann/json.hpp"
#include "tools/train/model_writer.h"
#include "tools/train/recall_batch.h"
#include "tools/train/text_batch.h"
#include "tools/train/text_eval.h"
#include "tools/train/weight_init.h"

namespace mamba_explain {
namespace {

constexpr uint64_t kEvalSeedOffset = 1000003;  // held-out data never overlaps training seeds

ModelConfig MakeConfig(const CopyTrainOptions& o) {
  ModelConfig c;
  c.arch = o.arch;
  c.d_model = o.d_model;
  c.n_layers = o.n_layers;
  c.vocab_size = o.vocab;
  c.d_state = o.d_state;
  c.expand = 2;
  c.d_inner = 2 * o.d_model;
  c.d_conv = 4;
  c.dt_rank = (o.d_model + 15) / 16;
  c.head_dim = o.head_dim;
  c.n_heads = c.d_inner / o.head_dim;
  c.n_groups = 1;
  c.chunk_size = 64;
  c.use_bias = false;
  c.use_conv_bias = true;
  c.tie_word_embeddings = true;
  c.ssm_activation = o.activation;
  return c;
}

struct StepResult {
  torch::Tensor loss;
  double token_accuracy = 0;
  double sequence_accuracy = 0;
};

// Accuracy reads values back to the host, which stalls the GPU queue: only when asked.
absl::StatusOr<StepResult> RunBatch(const MambaModel& model, const CopyBatch& batch,
                                    bool with_accuracy = true) {
  torch::Tensor ids = batch.ids.to(model.device());
  torch::Tensor targets = batch.targets.to(model.device());
  ForwardOptions options;
  ASSIGN_OR_RETURN(ForwardOutput out,
                   model.ForwardFromEmbeddings(model.Embed(ids), torch::Tensor(), options));
  const int64_t V = out.logits.size(-1);
  StepResult r;
  r.loss = torch::nn::functional::cross_entropy(
      out.logits.reshape({-1, V}), targets.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
  if (!with_accuracy) return r;
  torch::Tensor mask = targets != -100;
  torch::Tensor correct = (out.logits.argmax(-1) == targets) & mask;
  r.token_accuracy = (correct.sum().to(torch::kFloat64) / mask.sum()).item<double>();
  r.sequence_accuracy = ((correct.sum(1) == mask.sum(1)).to(torch::kFloat64).mean()).item<double>();
  return r;
}

absl::StatusOr<CopyEvalResult> Evaluate(const MambaModel& model, int length, int vocab, int samples,
                                        uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  CopyEvalResult total;
  int done = 0;
  while (done < samples) {
    const int n = std::min(256, samples - done);
    CopyBatch batch = MakeCopyBatch(n, length, vocab, gen);
    ASSIGN_OR_RETURN(StepResult r, RunBatch(model, batch));
    total.token_accuracy += r.token_accuracy * n;
    total.sequence_accuracy += r.sequence_accuracy * n;
    total.loss += r.loss.item<double>() * n;
    done += n;
  }
  total.token_accuracy /= samples;
  total.sequence_accuracy /= samples;
  total.loss /= samples;
  return total;
}

// Per key count: argmax at each query position against the gold value, split by gold_first.
absl::StatusOr<CopyEvalResult> EvaluateRecall(const MambaModel& model, int context,
                                              const std::vector<int>& keys, int64_t vocab,
                                              int samples, uint64_t seed) {
  torch::NoGradGuard no_grad;
  CopyEvalResult total;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  int64_t all_correct = 0, all_samples = 0;
  double all_loss = 0;
  for (int k : keys) {
    ASSIGN_OR_RETURN(std::vector<RecallSample> data,
                     MakeRecallSamples(RecallSpec{context, k, vocab}, samples, seed));
    RecallKeysAccuracy acc;
    acc.keys = k;
    acc.samples = samples;
    int correct = 0, first_correct = 0, other_correct = 0;
    for (int done = 0; done < samples;) {
      const int n = std::min(256, samples - done);
      std::vector<RecallSample> chunk(data.begin() + done, data.begin() + done + n);
      CopyBatch batch = RecallSamplesToBatch(chunk);
      ForwardOptions options;
      ASSIGN_OR_RETURN(ForwardOutput out,
                       model.ForwardFromEmbeddings(model.Embed(batch.ids.to(model.device())),
                                                   torch::Tensor(), options));
      const int64_t V = out.logits.size(-1);
      acc.loss += torch::nn::functional::cross_entropy(
                      out.logits.reshape({-1, V}), batch.targets.to(model.device()).reshape({-1}),
                      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100))
                      .item<double>() *
                  n;
      torch::Tensor predicted = out.logits.argmax(-1).to(torch::kCPU).contiguous();  // [n, T]
      const int64_t T = predicted.size(1);
      const int64_t* p = predicted.data_ptr<int64_t>();
      for (int b = 0; b < n; ++b) {
        const RecallSample& s = chunk[b];
        const bool ok = p[b * T + s.query_pos] == s.ids[s.query_pos + 1];
        correct += ok;
        if (s.gold_first) {
          ++acc.gold_first_samples;
          first_correct += ok;
        } else {
          ++acc.other_samples;
          other_correct += ok;
        }
      }
      done += n;
    }
    acc.accuracy = static_cast<double>(correct) / samples;
    acc.gold_first_accuracy = acc.gold_first_samples > 0
                                  ? static_cast<double>(first_correct) / acc.gold_first_samples
                                  : nan;
    acc.other_accuracy =
        acc.other_samples > 0 ? static_cast<double>(other_correct) / acc.other_samples : nan;
    all_loss += acc.loss;
    acc.loss /= samples;
    all_correct += correct;
    all_samples += samples;
    total.recall.push_back(acc);
  }
  total.token_accuracy = all_samples > 0 ? static_cast<double>(all_correct) / all_samples : nan;
  total.sequence_accuracy = total.token_accuracy;
  total.loss = all_samples > 0 ? all_loss / all_samples : nan;
  return total;
}

double LearningRate(const CopyTrainOptions& o, int step) {
  // Linear warmup to lr, then lr·sqrt(warmup/step) (inverse square root).
  const double s = std::max(1, step);
  return o.lr * std::min(s / std::max(1, o.warmup), std::sqrt(std::max(1, o.warmup) / s));
}

}  // namespace

absl::StatusOr<CopyEvalResult> EvaluateCopyModel(const std::string& model_dir, int length,
                                                 int samples, uint64_t seed,
                                                 const std::string& device) {
  LoadOptions load;
  ASSIGN_OR_RETURN(load.device, ParseDevice(device));
  ASSIGN_OR_RETURN(auto model, MambaModel::Load(model_dir, load));
  return Evaluate(*model, length, static_cast<int>(model->config().vocab_size), samples, seed);
}

absl::StatusOr<CopyEvalResult> EvaluateRecallModel(const std::string& model_dir, int context,
                                                   const std::vector<int>& keys, int samples,
                                                   uint64_t seed, const std::string& device) {
  if (samples < 1 || keys.empty()) {
    return absl::InvalidArgumentError("eval-recall: samples ≥ 1 and at least one key count");
  }
  try {
    LoadOptions load;
    ASSIGN_OR_RETURN(load.device, ParseDevice(device));
    ASSIGN_OR_RETURN(auto model, MambaModel::Load(model_dir, load));
    return EvaluateRecall(*model, context, keys, model->config().vocab_size, samples, seed);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("eval-recall: ", e.what_without_backtrace()));
  }
}

absl::StatusOr<CopyEvalResult> TrainCopyModel(const CopyTrainOptions& options) {
  CopyTrainOptions o = options;
  if (o.out_dir.empty()) return absl::InvalidArgumentError("--out is required");
  if (o.task != "copy" && o.task != "recall" && o.task != "text") {
    return absl::InvalidArgumentError(absl::StrCat("--task '", o.task, "' (copy, recall, text)"));
  }
  TextCorpus corpus;
  if (o.task == "text") {
    if (o.corpus_dir.empty() || o.tokenizer.empty()) {
      return absl::InvalidArgumentError("text: --corpus DIR and --tokenizer FILE are required");
    }
    try {
      ASSIGN_OR_RETURN(corpus, LoadTextCorpus(o.corpus_dir, o.tokenizer));
    } catch (const c10::Error& e) {
      return absl::InternalError(absl::StrCat("text corpus: ", e.what_without_backtrace()));
    }
    o.vocab = static_cast<int>(corpus.vocab_size);
    std::cerr << "text corpus: " << corpus.train.numel() << " train, " << corpus.valid.numel()
              << " held-out tokens, vocabulary " << o.vocab << "\n";
  }
  if (o.vocab <= 2 || o.length < 1 || o.steps < 1 || o.batch < 1) {
    return absl::InvalidArgumentError("vocab > 2, length ≥ 1, steps ≥ 1, batch ≥ 1 required");
  }
  if (o.task == "recall") {
    if (o.keys.empty()) return absl::InvalidArgumentError("--keys: at least one key count");
    for (int k : o.keys) {
      RETURN_IF_ERROR(MakeRecallVocab(RecallSpec{o.length, k, o.vocab}).status());
    }
  }
  if (o.arch == Architecture::kMamba2 && (2 * o.d_model) % o.head_dim != 0) {
    return absl::InvalidArgumentError("--head-dim must divide 2·d_model");
  }
  try {
    ASSIGN_OR_RETURN(torch::Device device, ParseDevice(o.device));
    ModelConfig config = MakeConfig(o);
    ModelWeights weights;
    int start_step = 0;
    const std::string state_path = o.out_dir + "/train_state.json";
    if (o.resume && std::filesystem::exists(state_path)) {
      LoadOptions load;
      load.device = device;
      ASSIGN_OR_RETURN(auto loaded, MambaModel::Load(o.out_dir, load));
      config = loaded->config();
      weights = loaded->weights();
      for (torch::Tensor& t : TrainableParameters(weights)) t.set_requires_grad(true);
      start_step = nlohmann::json::parse(std::ifstream(state_path))["step"].get<int>();
    } else {
      weights = InitModelWeights(config, InitOptions{o.seed, 0.02, o.mimetic_layer}, device);
    }
    std::vector<torch::Tensor> params = TrainableParameters(weights);
    auto model = MambaModel::FromWeights(config, weights);
    if (o.tf32) {
      // After FromWeights, which sets the reference numerics (TF32 off) for explaining.
      at::globalContext().setAllowTF32CuBLAS(true);
      at::globalContext().setAllowTF32CuDNN(true);
    }
    torch::optim::AdamW optimizer(
        params, torch::optim::AdamWOptions(o.lr).betas({0.9, 0.98}).weight_decay(o.weight_decay));
    const std::string optimizer_path = o.out_dir + "/optimizer.pt";
    if (start_step > 0 && std::filesystem::exists(optimizer_path)) {
      torch::load(optimizer, optimizer_path);
    }
    std::filesystem::create_directories(o.out_dir);
    std::ofstream log(o.out_dir + "/train_log.jsonl",
                      start_step > 0 ? std::ios::app : std::ios::trunc);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed * 7919 + start_step);
    const auto t0 = std::chrono::steady_clock::now();
    auto minutes = [&] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 60.0;
    };
    auto save = [&](int step) -> absl::Status {
      nlohmann::json extra;
      extra["training"] = {
          {"task", o.task},     {"length", o.length}, {"step", step},
          {"steps", o.steps},   {"batch", o.batch},   {"lr", o.lr},
          {"warmup", o.warmup}, {"seed", o.seed},     {"mimetic_layer", o.mimetic_layer}};
      if (o.task == "recall") extra["training"]["keys"] = o.keys;
      if (o.task == "text") {
        extra["training"]["corpus"] = o.corpus_dir;
        extra["training"]["train_tokens"] = corpus.train.numel();
        extra["training"]["valid_tokens"] = corpus.valid.numel();
      }
      RETURN_IF_ERROR(WriteModelDirectory(o.out_dir, config, weights, extra));
      if (o.task == "text") {  // the model directory is complete only with its tokenizer
        std::error_code error;
        std::filesystem::copy_file(o.tokenizer, o.out_dir + "/tokenizer.json",
                                   std::filesystem::copy_options::overwrite_existing, error);
        if (error) {
          return absl::InternalError(
              absl::StrCat("copy ", o.tokenizer, " to ", o.out_dir, ": ", error.message()));
        }
      }
      torch::save(optimizer, optimizer_path);
      std::ofstream(state_path) << nlohmann::json{{"step", step}}.dump() << "\n";
      return absl::OkStatus();
    };
    int step = start_step;
    while (step < o.steps) {
      ++step;
      const double lr = LearningRate(o, step);
      for (auto& group : optimizer.param_groups()) {
        static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
      }
      CopyBatch batch;
      if (o.task == "recall") {
        ASSIGN_OR_RETURN(batch, MakeRecallBatch(o.batch, o.length, o.keys, o.vocab, step, o.seed));
      } else if (o.task == "text") {
        ASSIGN_OR_RETURN(batch, MakeTextBatch(corpus.train, o.batch, o.length, gen));
      } else {
        batch = MakeCopyBatch(o.batch, o.length, o.vocab, gen);
      }
      const bool log_step = step % o.log_every == 0 || step == o.steps;
      ASSIGN_OR_RETURN(StepResult r, RunBatch(*model, batch, log_step));
      optimizer.zero_grad();
      r.loss.backward();
      // LibTorch's clip_grad_norm_ returns the norm as a double (a host sync every step).
      if (o.clip_norm > 0) torch::nn::utils::clip_grad_norm_(params, o.clip_norm);
      optimizer.step();
      if (log_step) {
        const double loss = r.loss.item<double>();
        nlohmann::json entry{{"step", step},
                             {"loss", loss},
                             {"token_accuracy", r.token_accuracy},
                             {"sequence_accuracy", r.sequence_accuracy},
                             {"lr", lr},
                             {"minutes", minutes()}};
        std::string held_out;
        if (o.task == "text") {  // a quick held-out loss on the first 64 windows
          ASSIGN_OR_RETURN(TextEvalResult v, EvaluateTextLoss(*model, corpus.valid, o.length, 64));
          entry["valid_loss"] = v.loss;
          held_out = absl::StrFormat("  valid loss %.4f", v.loss);
        }
        log << entry.dump() << std::endl;
        std::cerr << absl::StrFormat("step %6d/%d  loss %.4f  %s acc %.4f%s  lr %.2e  %.1f min\n",
                                     step, o.steps, loss, o.task, r.token_accuracy, held_out, lr,
                                     minutes());
      }
      if (o.max_minutes > 0 && minutes() >= o.max_minutes && step < o.steps) {
        RETURN_IF_ERROR(save(step));
        return absl::DeadlineExceededError(
            absl::StrCat("stopped at step ", step, " after ", o.max_minutes,
                         " minutes; checkpoint written, rerun with --resume to continue"));
      }
    }
    RETURN_IF_ERROR(save(step));
    if (o.task == "text") {
      ASSIGN_OR_RETURN(TextEvalResult v,
                       EvaluateTextLoss(*model, corpus.valid, o.length, o.eval_samples));
      CopyEvalResult r;
      r.loss = v.loss;
      r.token_accuracy = v.token_accuracy;
      r.sequence_accuracy = std::numeric_limits<double>::quiet_NaN();
      r.baseline_loss = UnigramCrossEntropy(corpus.train, corpus.valid, o.vocab);
      return r;
    }
    if (o.task == "recall") {
      return EvaluateRecall(*model, o.length, o.keys, o.vocab, o.eval_samples,
                            o.seed + kEvalSeedOffset);
    }
    return Evaluate(*model, o.length, o.vocab, o.eval_samples, o.seed + kEvalSeedOffset);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("training: ", e.what_without_backtrace()));
  }
}

}  // namespace mamba_explain
