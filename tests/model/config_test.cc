// ModelConfig parsing: real HF and mamba_ssm configs give the shapes listed in
// research/mamba_reference.md §1.2 / §2.2, and every malformed config is an INVALID_ARGUMENT
// (or NOT_FOUND) that names the field.
#include "model/config.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>

#include "tests/status_matchers.h"

namespace mamba_explain {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
const absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

// state-spaces/mamba-130m-hf config.json (field values as listed in mamba_reference.md §1.1).
constexpr char kMamba130mHf[] = R"({
  "architectures": ["MambaForCausalLM"],
  "bos_token_id": 0,
  "conv_kernel": 4,
  "d_inner": 1536,
  "d_model": 768,
  "eos_token_id": 0,
  "expand": 2,
  "fused_add_norm": true,
  "hidden_act": "silu",
  "hidden_size": 768,
  "initializer_range": 0.1,
  "intermediate_size": 1536,
  "layer_norm_epsilon": 1e-05,
  "model_type": "mamba",
  "n_layer": 24,
  "num_hidden_layers": 24,
  "pad_token_id": 0,
  "pad_vocab_size_multiple": 8,
  "rescale_prenorm_residual": false,
  "residual_in_fp32": true,
  "rms_norm": true,
  "ssm_cfg": {},
  "state_size": 16,
  "time_step_floor": 0.0001,
  "time_step_init_scheme": "random",
  "time_step_max": 0.1,
  "time_step_min": 0.001,
  "time_step_rank": 48,
  "time_step_scale": 1.0,
  "torch_dtype": "float32",
  "transformers_version": "4.39.0.dev0",
  "use_bias": false,
  "use_cache": true,
  "use_conv_bias": true,
  "vocab_size": 50280
})";

// mamba2-130m in HF format (§2.1 "Typical configs"), with Python's bare Infinity.
constexpr char kMamba2_130mHf[] = R"({
  "model_type": "mamba2",
  "hidden_size": 768,
  "num_hidden_layers": 24,
  "expand": 2,
  "num_heads": 24,
  "head_dim": 64,
  "state_size": 128,
  "n_groups": 1,
  "conv_kernel": 4,
  "chunk_size": 256,
  "time_step_limit": [0.0, Infinity],
  "use_bias": false,
  "use_conv_bias": true,
  "layer_norm_epsilon": 1e-05,
  "residual_in_fp32": true,
  "rms_norm": true,
  "tie_word_embeddings": true,
  "vocab_size": 50288
})";

// Codestral-7B style (G 8, untied, transformers-5 boxed float).
constexpr char kCodestralHf[] = R"({
  "model_type": "mamba2",
  "hidden_size": 4096,
  "num_hidden_layers": 64,
  "expand": 2,
  "num_heads": 128,
  "head_dim": 64,
  "state_size": 128,
  "n_groups": 8,
  "conv_kernel": 4,
  "chunk_size": 256,
  "norm_before_gate": true,
  "time_step_limit": [0.0, {"__float__": "Infinity"}],
  "tie_word_embeddings": false,
  "vocab_size": 32768
})";

absl::StatusOr<ModelConfig> Parse(const std::string& text) {
  return ParseModelConfig(text, "test/config.json");
}

TEST(ConfigTest, Mamba130mHf) {
  ASSERT_OK_AND_ASSIGN(ModelConfig c, Parse(kMamba130mHf));
  EXPECT_EQ(c.arch, Architecture::kMamba1);
  EXPECT_EQ(c.format, ConfigFormat::kHuggingFace);
  EXPECT_EQ(c.d_model, 768);
  EXPECT_EQ(c.n_layers, 24);
  EXPECT_EQ(c.vocab_size, 50280);
  EXPECT_EQ(c.d_state, 16);
  EXPECT_EQ(c.d_conv, 4);
  EXPECT_EQ(c.expand, 2);
  EXPECT_EQ(c.d_inner, 1536);
  EXPECT_EQ(c.dt_rank, 48);
  EXPECT_EQ(c.n_groups, 1);
  EXPECT_FALSE(c.use_bias);
  EXPECT_TRUE(c.use_conv_bias);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_TRUE(c.residual_in_fp32);
  EXPECT_DOUBLE_EQ(c.norm_eps, 1e-5);
  EXPECT_EQ(c.ssm_activation, SsmActivation::kSilu);
  EXPECT_EQ(c.embedding_tensor, "backbone.embeddings.weight");
  // §1.2: in_proj [2E, D] = [3072, 768]; conv1d [E, 1, K] = [1536, 1, 4].
  EXPECT_EQ(c.in_proj_rows(), 3072);
  EXPECT_EQ(c.conv_dim(), 1536);
  EXPECT_STREQ(ArchitectureName(c.arch), "mamba1");
}

TEST(ConfigTest, Mamba1HfDefaultsAndAutoDtRank) {
  ASSERT_OK_AND_ASSIGN(ModelConfig c, Parse(R"({"model_type": "mamba", "hidden_size": 1000,
      "num_hidden_layers": 2, "vocab_size": 10, "time_step_rank": "auto",
      "intermediate_size": 12345})"));
  EXPECT_EQ(c.dt_rank, 63);    // ceil(1000 / 16)
  EXPECT_EQ(c.d_inner, 2000);  // intermediate_size is ignored
  EXPECT_EQ(c.d_state, 16);
  EXPECT_EQ(c.d_conv, 4);
  EXPECT_TRUE(c.use_bias);  // MambaConfig default
  EXPECT_TRUE(c.use_conv_bias);
  EXPECT_TRUE(c.tie_word_embeddings);

  ASSERT_OK_AND_ASSIGN(ModelConfig absent, Parse(R"({"model_type": "mamba", "hidden_size": 768,
      "num_hidden_layers": 2, "vocab_size": 10})"));
  EXPECT_EQ(absent.dt_rank, 48);
}

TEST(ConfigTest, Mamba2_130mHf) {
  ASSERT_OK_AND_ASSIGN(ModelConfig c, Parse(kMamba2_130mHf));
  EXPECT_EQ(c.arch, Architecture::kMamba2);
  EXPECT_EQ(c.d_model, 768);
  EXPECT_EQ(c.d_inner, 1536);
  EXPECT_EQ(c.n_heads, 24);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.d_state, 128);
  EXPECT_EQ(c.n_groups, 1);
  EXPECT_EQ(c.chunk_size, 256);
  EXPECT_EQ(c.vocab_size, 50288);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.time_step_min, 0.0);
  EXPECT_EQ(c.time_step_max, kInf);
  // §2.2: in_proj [3352, 768]; conv1d [1792, 1, 4].
  EXPECT_EQ(c.in_proj_rows(), 3352);
  EXPECT_EQ(c.conv_dim(), 1792);
  EXPECT_EQ(c.norm_group_size(), 1536);
  EXPECT_STREQ(ArchitectureName(c.arch), "mamba2");
}

TEST(ConfigTest, CodestralHfWithBoxedInfinity) {
  ASSERT_OK_AND_ASSIGN(ModelConfig c, Parse(kCodestralHf));
  EXPECT_EQ(c.arch, Architecture::kMamba2);
  EXPECT_EQ(c.d_inner, 8192);
  EXPECT_EQ(c.n_heads, 128);
  EXPECT_EQ(c.n_groups, 8);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_FALSE(c.use_bias);
  EXPECT_EQ(c.time_step_max, kInf);
  // §2.2: Codestral PJ = 18560, CD = 10240.
  EXPECT_EQ(c.in_proj_rows(), 18560);
  EXPECT_EQ(c.conv_dim(), 10240);
  EXPECT_EQ(c.gated_norm, GatedNormMode::kPerGroup);
  EXPECT_EQ(c.norm_group_size(), 1024);
}

TEST(ConfigTest, Mamba2HfDefaultsAndDerivedHeads) {
  ASSERT_OK_AND_ASSIGN(ModelConfig c, Parse(R"({"model_type": "mamba2", "hidden_size": 1024,
      "num_hidden_layers": 2, "vocab_size": 100, "gated_norm": "full",
      "time_step_limit": [0.001, 0.1]})"));
  EXPECT_EQ(c.n_heads, 32);  // 2048 / 64
  EXPECT_EQ(c.n_groups, 8);
  EXPECT_EQ(c.d_state, 128);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_FALSE(c.use_bias);
  EXPECT_DOUBLE_EQ(c.time_step_min, 0.001);
  EXPECT_DOUBLE_EQ(c.time_step_max, 0.1);
  EXPECT_EQ(c.gated_norm, GatedNormMode::kFull);
  EXPECT_EQ(c.norm_group_size(), 2048);

  ASSERT_OK_AND_ASSIGN(ModelConfig no_limit, Parse(R"({"model_type": "mamba2",
      "hidden_size": 1024, "num_hidden_layers": 2, "vocab_size": 100})"));
  EXPECT_EQ(no_limit.time_step_min, 0.0);
  EXPECT_EQ(no_limit.time_step_max, kInf);
}

TEST(ConfigTest, MambaSsmMamba1) {
  ASSERT_OK_AND_ASSIGN(ModelConfig c, Parse(R"({"d_model": 768, "n_layer": 24,
      "vocab_size": 50277, "ssm_cfg": {}, "rms_norm": true, "residual_in_fp32": true,
      "fused_add_norm": true, "pad_vocab_size_multiple": 8})"));
  EXPECT_EQ(c.format, ConfigFormat::kMambaSsm);
  EXPECT_EQ(c.arch, Architecture::kMamba1);
  EXPECT_EQ(c.vocab_size, 50280);
  EXPECT_EQ(c.d_inner, 1536);
  EXPECT_EQ(c.d_state, 16);
  EXPECT_EQ(c.dt_rank, 48);
  EXPECT_FALSE(c.use_bias);
  EXPECT_TRUE(c.use_conv_bias);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.embedding_tensor, "backbone.embedding.weight");

  ASSERT_OK_AND_ASSIGN(ModelConfig overridden, Parse(R"({"d_model": 64, "n_layer": 2,
      "vocab_size": 50277, "tie_embeddings": false, "ssm_cfg": {"d_state": 8, "d_conv": 3,
      "expand": 3, "dt_rank": 7, "conv_bias": false, "bias": true}})"));
  EXPECT_EQ(overridden.vocab_size, 50280);  // default multiple 8
  EXPECT_EQ(overridden.d_state, 8);
  EXPECT_EQ(overridden.d_conv, 3);
  EXPECT_EQ(overridden.d_inner, 192);
  EXPECT_EQ(overridden.dt_rank, 7);
  EXPECT_FALSE(overridden.use_conv_bias);
  EXPECT_TRUE(overridden.use_bias);
  EXPECT_FALSE(overridden.tie_word_embeddings);
}

TEST(ConfigTest, MambaSsmMamba2) {
  ASSERT_OK_AND_ASSIGN(ModelConfig c, Parse(R"({"d_model": 768, "d_intermediate": 0,
      "n_layer": 24, "vocab_size": 50277, "ssm_cfg": {"layer": "Mamba2"}, "attn_layer_idx": [],
      "attn_cfg": {}, "rms_norm": true, "residual_in_fp32": true, "fused_add_norm": true,
      "pad_vocab_size_multiple": 16, "tie_embeddings": true,
      "ssm_activation": "identity"})"));
  EXPECT_EQ(c.arch, Architecture::kMamba2);
  EXPECT_EQ(c.format, ConfigFormat::kMambaSsm);
  EXPECT_EQ(c.vocab_size, 50288);
  EXPECT_EQ(c.d_state, 128);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.n_heads, 24);
  EXPECT_EQ(c.n_groups, 1);
  EXPECT_EQ(c.chunk_size, 256);
  EXPECT_EQ(c.time_step_max, kInf);
  EXPECT_EQ(c.in_proj_rows(), 3352);
  EXPECT_EQ(c.ssm_activation, SsmActivation::kIdentity);
  EXPECT_EQ(c.embedding_tensor, "backbone.embedding.weight");

  ASSERT_OK_AND_ASSIGN(ModelConfig limited, Parse(R"({"d_model": 256, "n_layer": 2,
      "vocab_size": 64, "ssm_cfg": {"layer": "Mamba2", "headdim": 32, "ngroups": 4,
      "d_state": 64, "chunk_size": 128, "dt_limit": [0.0, Infinity]}})"));
  EXPECT_EQ(limited.vocab_size, 64);
  EXPECT_EQ(limited.n_heads, 16);
  EXPECT_EQ(limited.n_groups, 4);
  EXPECT_EQ(limited.chunk_size, 128);
  EXPECT_EQ(limited.norm_group_size(), 128);
  EXPECT_EQ(limited.time_step_max, kInf);
}

TEST(ConfigTest, LenientJsonTokensOnlyOutsideStrings) {
  // "Infinity" inside a string stays a string (here: a model name), NaN outside is a double.
  ASSERT_OK_AND_ASSIGN(ModelConfig c, Parse(R"({"model_type": "mamba2", "hidden_size": 128,
      "num_hidden_layers": 1, "vocab_size": 8, "n_groups": 1, "_name_or_path": "x\"Infinity",
      "time_step_limit": [-Infinity, Infinity], "time_step_floor": NaN})"));
  EXPECT_EQ(c.time_step_min, -kInf);
  EXPECT_EQ(c.time_step_max, kInf);
}

struct ErrorCase {
  const char* name;
  const char* json;
  const char* message;  // substring the error must contain
};

class ConfigErrorTest : public testing::TestWithParam<ErrorCase> {};

TEST_P(ConfigErrorTest, IsInvalidArgumentNamingTheProblem) {
  const ErrorCase& c = GetParam();
  const absl::StatusOr<ModelConfig> result = Parse(c.json);
  EXPECT_STATUS(result, kInvalid, c.message);
  EXPECT_STATUS(result, kInvalid, "test/config.json");
}

#define M1(extra) \
  R"({"model_type": "mamba", "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 16)" extra "}"
#define M2(extra)                                                                            \
  R"({"model_type": "mamba2", "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 16,)" \
  R"( "head_dim": 16, "n_groups": 1)" extra "}"
#define SSM(extra) R"({"d_model": 64, "n_layer": 2, "vocab_size": 16)" extra "}"

INSTANTIATE_TEST_SUITE_P(
    Errors, ConfigErrorTest,
    testing::Values(
        ErrorCase{"NotJson", "{\"model_type\": ", "byte offset 15"},
        ErrorCase{"NotObject", "[1, 2]", "JSON object"},
        ErrorCase{"FalconMamba", R"({"model_type": "falcon_mamba", "hidden_size": 64})",
                  "unsupported model_type 'falcon_mamba'"},
        ErrorCase{"ModelTypeNotString", R"({"model_type": 3})", "model_type"},
        ErrorCase{"UnknownFormat", R"({"hidden_size": 64})", "model_type"},
        ErrorCase{"MissingHiddenSize",
                  R"({"model_type": "mamba", "num_hidden_layers": 2, "vocab_size": 16})",
                  "'hidden_size' is required"},
        ErrorCase{"MissingLayers", R"({"model_type": "mamba", "hidden_size": 8, "vocab_size": 16})",
                  "'num_hidden_layers' is required"},
        ErrorCase{"MissingVocab",
                  R"({"model_type": "mamba2", "hidden_size": 64, "num_hidden_layers": 2})",
                  "'vocab_size' is required"},
        ErrorCase{"HiddenSizeString",
                  R"({"model_type": "mamba", "hidden_size": "768", "num_hidden_layers": 2,
                      "vocab_size": 16})",
                  "'hidden_size' must be an integer"},
        ErrorCase{"HiddenSizeFraction",
                  R"({"model_type": "mamba", "hidden_size": 7.5, "num_hidden_layers": 2,
                      "vocab_size": 16})",
                  "'hidden_size' must be an integer"},
        ErrorCase{"ZeroLayers",
                  R"({"model_type": "mamba", "hidden_size": 64, "num_hidden_layers": 0,
                      "vocab_size": 16})",
                  "'num_hidden_layers' must be in [1"},
        ErrorCase{"NegativeStateSize", M1(R"(, "state_size": -16)"), "'state_size' must be in"},
        ErrorCase{"ZeroConvKernel", M1(R"(, "conv_kernel": 0)"), "'conv_kernel'"},
        ErrorCase{"HugeExpand", M1(R"(, "expand": 2147483649)"), "'expand' must be in"},
        ErrorCase{"DInnerOverflow",
                  R"({"model_type": "mamba", "hidden_size": 1073741824, "num_hidden_layers": 2,
                      "vocab_size": 16, "expand": 4})",
                  "d_inner = expand * hidden_size = 4 * 1073741824 is too large"},
        ErrorCase{"DtRankWord", M1(R"(, "time_step_rank": "big")"), "'time_step_rank'"},
        ErrorCase{"DtRankZero", M1(R"(, "time_step_rank": 0)"), "'time_step_rank'"},
        ErrorCase{"UseBiasString", M1(R"(, "use_bias": "false")"), "'use_bias' must be a boolean"},
        ErrorCase{"TieNumber", M1(R"(, "tie_word_embeddings": 1)"), "'tie_word_embeddings'"},
        ErrorCase{"EpsString", M1(R"(, "layer_norm_epsilon": "1e-5")"), "'layer_norm_epsilon'"},
        ErrorCase{"EpsNegative", M1(R"(, "layer_norm_epsilon": -1.0)"), "'layer_norm_epsilon'"},
        ErrorCase{"BadActivation", M1(R"(, "ssm_activation": "relu")"),
                  "'ssm_activation' must be \"silu\" or \"identity\", got \"relu\""},
        ErrorCase{"BadGatedNorm", M2(R"(, "gated_norm": "layer")"), "'gated_norm'"},
        ErrorCase{"HeadsTimesDim", M2(R"(, "num_heads": 7)"), "num_heads (7) * head_dim (16)"},
        ErrorCase{"HeadDimNotDividing",
                  R"({"model_type": "mamba2", "hidden_size": 64, "num_hidden_layers": 2,
                      "vocab_size": 16, "head_dim": 48, "n_groups": 1})",
                  "not divisible by head_dim (48)"},
        ErrorCase{"GroupsNotDividingHeads", M2(R"(, "n_groups": 3)"),
                  "number of heads (8) is not divisible by n_groups (3)"},
        ErrorCase{"TimeStepLimitScalar", M2(R"(, "time_step_limit": 5)"), "'time_step_limit'"},
        ErrorCase{"TimeStepLimitReversed", M2(R"(, "time_step_limit": [1.0, 0.5])"),
                  "'time_step_limit'"},
        ErrorCase{"TimeStepLimitString", M2(R"(, "time_step_limit": [0, "inf"])"),
                  "'time_step_limit'"},
        ErrorCase{"BoxedFloatUnknown", M2(R"(, "time_step_limit": [0, {"__float__": "big"}])"),
                  "__float__"},
        ErrorCase{"SsmHybridMlp", SSM(R"(, "d_intermediate": 2048)"), "'d_intermediate'"},
        ErrorCase{"SsmHybridAttention", SSM(R"(, "attn_layer_idx": [3, 7])"), "'attn_layer_idx'"},
        ErrorCase{"SsmLayerNorm", SSM(R"(, "rms_norm": false)"), "'rms_norm'"},
        ErrorCase{"SsmCfgNotObject", SSM(R"(, "ssm_cfg": [])"), "'ssm_cfg' must be an object"},
        ErrorCase{"SsmUnknownLayer", SSM(R"(, "ssm_cfg": {"layer": "Mamba3"})"),
                  "'ssm_cfg.layer' must be \"Mamba1\" or \"Mamba2\", got \"Mamba3\""},
        ErrorCase{"SsmBadDState", SSM(R"(, "ssm_cfg": {"d_state": 0})"), "'ssm_cfg.d_state'"},
        ErrorCase{"SsmBadPadMultiple", SSM(R"(, "pad_vocab_size_multiple": 0)"),
                  "'pad_vocab_size_multiple'"},
        ErrorCase{"SsmMissingVocab", R"({"d_model": 64, "n_layer": 2})", "'vocab_size'"},
        ErrorCase{"SsmHeadDimNotDividing",
                  SSM(R"(, "ssm_cfg": {"layer": "Mamba2", "headdim": 48})"),
                  "not divisible by ssm_cfg.headdim (48)"},
        ErrorCase{"SsmGroupsNotDividing",
                  SSM(R"(, "ssm_cfg": {"layer": "Mamba2", "headdim": 16, "ngroups": 3})"),
                  "not divisible by ssm_cfg.ngroups (3)"},
        ErrorCase{"SsmNormBeforeGate",
                  SSM(R"(, "ssm_cfg": {"layer": "Mamba2", "norm_before_gate": true})"),
                  "norm_before_gate"}),
    [](const testing::TestParamInfo<ErrorCase>& info) { return std::string(info.param.name); });

TEST(ConfigTest, LoadMissingFileIsNotFound) {
  EXPECT_STATUS(LoadModelConfig(testing::TempDir() + "/no_such_dir/config.json"),
                absl::StatusCode::kNotFound, "no_such_dir/config.json");
}

TEST(ConfigTest, LoadFromFile) {
  const std::string path = testing::TempDir() + "/config_test_mamba130m.json";
  {
    std::ofstream out(path, std::ios::binary);
    out << kMamba130mHf;
  }
  ASSERT_OK_AND_ASSIGN(ModelConfig c, LoadModelConfig(path));
  EXPECT_EQ(c.d_inner, 1536);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace mamba_explain
