// Checkpoint: single-file and sharded (index) model directories, and the ways an index can
// disagree with its shards.
#include "model/checkpoint.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "tests/status_matchers.h"

namespace mamba_explain {
namespace {

const absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

class CheckpointTest : public testing::Test {
 protected:
  void SetUp() override {
    const testing::TestInfo* info = testing::UnitTest::GetInstance()->current_test_info();
    dir_ = testing::TempDir() + "/checkpoint_test_" + info->name();
    mkdir(dir_.c_str(), 0755);
  }

  // Writes a shard holding one F32 vector per name; element i of tensor k is 10 * k + i.
  void WriteShard(const std::string& file, const std::vector<std::string>& names) {
    std::vector<std::vector<float>> values(names.size());
    std::vector<TensorToWrite> tensors;
    for (size_t k = 0; k < names.size(); ++k) {
      values[k] = {10.0f * k, 10.0f * k + 1};
      tensors.push_back({names[k], DType::kF32, {2}, values[k].data(), 8});
    }
    ASSERT_OK(WriteSafetensors(dir_ + "/" + file, tensors));
  }

  void WriteIndex(const std::string& weight_map) {
    std::ofstream out(dir_ + "/model.safetensors.index.json");
    out << R"({"metadata": {"total_size": 24}, "weight_map": )" << weight_map << "}";
  }

  static float FirstElement(const TensorView* view) {
    float value;
    std::memcpy(&value, view->data, sizeof(value));
    return value;
  }

  std::string dir_;
};

TEST_F(CheckpointTest, SingleFile) {
  WriteShard("model.safetensors", {"backbone.embeddings.weight", "backbone.norm_f.weight"});
  ASSERT_OK_AND_ASSIGN(auto checkpoint, Checkpoint::Open(dir_));
  EXPECT_EQ(checkpoint->num_files(), 1);
  EXPECT_EQ(checkpoint->dir(), dir_);
  EXPECT_EQ(checkpoint->TensorNames(),
            (std::vector<std::string>{"backbone.embeddings.weight", "backbone.norm_f.weight"}));
  const TensorView* norm = checkpoint->Find("backbone.norm_f.weight");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(norm->shape, std::vector<int64_t>{2});
  EXPECT_EQ(FirstElement(norm), 10.0f);
  EXPECT_EQ(checkpoint->Find("lm_head.weight"), nullptr);
}

TEST_F(CheckpointTest, TwoShardIndexIsPreferred) {
  WriteShard("model-00001-of-00002.safetensors", {"a", "b"});
  WriteShard("model-00002-of-00002.safetensors", {"c"});
  // A stale single file must be ignored when the index exists.
  WriteShard("model.safetensors", {"stale"});
  WriteIndex(R"({"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
                 "c": "model-00002-of-00002.safetensors"})");
  ASSERT_OK_AND_ASSIGN(auto checkpoint, Checkpoint::Open(dir_));
  EXPECT_EQ(checkpoint->num_files(), 2);
  EXPECT_EQ(checkpoint->TensorNames(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(checkpoint->Find("stale"), nullptr);
  ASSERT_NE(checkpoint->Find("b"), nullptr);
  EXPECT_EQ(FirstElement(checkpoint->Find("b")), 10.0f);
  ASSERT_NE(checkpoint->Find("c"), nullptr);
  EXPECT_EQ(FirstElement(checkpoint->Find("c")), 0.0f);
}

TEST_F(CheckpointTest, IndexPointsToMissingShard) {
  WriteShard("model-00001-of-00002.safetensors", {"a"});
  WriteIndex(R"({"a": "model-00001-of-00002.safetensors",
                 "b": "model-00002-of-00002.safetensors"})");
  const auto result = Checkpoint::Open(dir_);
  EXPECT_STATUS(result, kInvalid, "shard 'model-00002-of-00002.safetensors'");
  EXPECT_STATUS(result, kInvalid, "tensor 'b'");
}

TEST_F(CheckpointTest, IndexedTensorMissingFromShard) {
  WriteShard("model-00001-of-00001.safetensors", {"a"});
  WriteIndex(R"({"a": "model-00001-of-00001.safetensors",
                 "ghost": "model-00001-of-00001.safetensors"})");
  EXPECT_STATUS(Checkpoint::Open(dir_), kInvalid,
                "tensor 'ghost' is not in its shard 'model-00001-of-00001.safetensors'");
}

TEST_F(CheckpointTest, ShardNameOutsideDirectory) {
  for (const char* shard :
       {"../model.safetensors", "sub/model.safetensors", "/etc/model.safetensors", "..", ""}) {
    SCOPED_TRACE(shard);
    WriteIndex(std::string(R"({"a": ")") + shard + "\"}");
    EXPECT_STATUS(Checkpoint::Open(dir_), kInvalid, "not a plain file name");
  }
}

TEST_F(CheckpointTest, TensorInTwoShards) {
  WriteShard("model-00001-of-00002.safetensors", {"a", "shared"});
  WriteShard("model-00002-of-00002.safetensors", {"b", "shared"});
  WriteIndex(R"({"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors",
                 "shared": "model-00001-of-00002.safetensors"})");
  const auto result = Checkpoint::Open(dir_);
  EXPECT_STATUS(result, kInvalid, "tensor 'shared' appears in both");
  EXPECT_STATUS(result, kInvalid, "model-00002-of-00002.safetensors");
}

TEST_F(CheckpointTest, MalformedIndex) {
  WriteShard("model-00001-of-00001.safetensors", {"a"});
  {
    std::ofstream out(dir_ + "/model.safetensors.index.json");
    out << R"({"metadata": {}})";
  }
  EXPECT_STATUS(Checkpoint::Open(dir_), kInvalid, "'weight_map'");
  WriteIndex(R"({"a": 3})");
  EXPECT_STATUS(Checkpoint::Open(dir_), kInvalid, "weight_map['a'] must be a file name");
  {
    std::ofstream out(dir_ + "/model.safetensors.index.json");
    out << "{not json";
  }
  EXPECT_STATUS(Checkpoint::Open(dir_), kInvalid, "model.safetensors.index.json");
}

TEST_F(CheckpointTest, CorruptShardNamesTheShard) {
  {
    std::ofstream out(dir_ + "/model.safetensors");
    out << "abc";
  }
  EXPECT_STATUS(Checkpoint::Open(dir_), kInvalid, "model.safetensors: file is 3 bytes");
}

TEST_F(CheckpointTest, NeitherFileIsNotFound) {
  EXPECT_STATUS(Checkpoint::Open(dir_), absl::StatusCode::kNotFound,
                "no model.safetensors.index.json or model.safetensors");
  EXPECT_STATUS(Checkpoint::Open(dir_ + "/does_not_exist"), absl::StatusCode::kNotFound,
                "does_not_exist");
}

}  // namespace
}  // namespace mamba_explain
