// SafetensorsFile / WriteSafetensors: a round trip keeps every byte, and each way a file can be
// malformed (research/mamba_reference.md §3) is an INVALID_ARGUMENT naming the file and tensor.
// Malformed files are written byte by byte here, independently of WriteSafetensors.
#include "model/safetensors.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tests/status_matchers.h"

namespace mamba_explain {
namespace {

const absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

class SafetensorsTest : public testing::Test {
 protected:
  void SetUp() override {
    const testing::TestInfo* info = testing::UnitTest::GetInstance()->current_test_info();
    dir_ = testing::TempDir() + "/safetensors_test_" + info->name();
    mkdir(dir_.c_str(), 0755);
  }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  static void WriteBytes(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  static std::string ReadBytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  static std::string LengthPrefix(uint64_t n) {
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    return bytes;
  }

  // A file with the given header text (no padding) followed by `data_bytes` zero bytes.
  std::string WriteRaw(const std::string& name, const std::string& header, size_t data_bytes) {
    const std::string path = Path(name);
    WriteBytes(path, LengthPrefix(header.size()) + header + std::string(data_bytes, '\0'));
    return path;
  }

  // Expects Open() to fail with INVALID_ARGUMENT naming the file and `substr`.
  static void ExpectInvalid(const std::string& path, const std::string& substr) {
    const auto result = SafetensorsFile::Open(path);
    EXPECT_STATUS(result, kInvalid, substr);
    EXPECT_STATUS(result, kInvalid, path);
  }

  std::string dir_;
};

TEST_F(SafetensorsTest, RoundTrip) {
  const std::vector<float> f32 = {1.5f, -2.0f, 3.25f, 0.0f, 1e-30f, -7.0f};
  const std::vector<uint16_t> f16 = {0x3c00, 0xc000, 0x7c00, 0x0001};  // 1, -2, inf, denormal
  const std::vector<uint16_t> bf16 = {0x3f80, 0x4049, 0xff80, 0x0000};
  const double scalar = 2.718281828;
  const std::vector<TensorToWrite> tensors = {
      {"w.f32", DType::kF32, {2, 3}, f32.data(), f32.size() * 4},
      {"w.f16", DType::kF16, {4}, f16.data(), f16.size() * 2},
      {"w.bf16", DType::kBF16, {2, 2}, bf16.data(), bf16.size() * 2},
      {"scalar", DType::kF64, {}, &scalar, 8},
      {"empty", DType::kF32, {0, 5}, nullptr, 0},
  };
  const std::string path = Path("model.safetensors");
  ASSERT_OK(WriteSafetensors(path, tensors, {{"format", "pt"}}));

  // The layout, checked on the raw bytes.
  const std::string bytes = ReadBytes(path);
  ASSERT_GE(bytes.size(), 8u);
  uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | static_cast<uint8_t>(bytes[i]);
  EXPECT_EQ(header_bytes % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + header_bytes + 24 + 8 + 8 + 8 + 0);
  const nlohmann::json header = nlohmann::json::parse(bytes.substr(8, header_bytes));
  EXPECT_EQ(header["__metadata__"]["format"], "pt");
  EXPECT_EQ(header["w.f32"]["data_offsets"], nlohmann::json({0, 24}));
  EXPECT_EQ(header["w.f16"]["data_offsets"], nlohmann::json({24, 32}));
  EXPECT_EQ(header["scalar"]["shape"], nlohmann::json::array());
  EXPECT_EQ(header["empty"]["data_offsets"], nlohmann::json({48, 48}));

  ASSERT_OK_AND_ASSIGN(auto file, SafetensorsFile::Open(path));
  EXPECT_EQ(file->path(), path);
  EXPECT_EQ(file->TensorNames(),
            (std::vector<std::string>{"empty", "scalar", "w.bf16", "w.f16", "w.f32"}));
  EXPECT_EQ(file->metadata().at("format"), "pt");
  EXPECT_EQ(file->Find("missing"), nullptr);
  for (const TensorToWrite& t : tensors) {
    SCOPED_TRACE(t.name);
    const TensorView* view = file->Find(t.name);
    ASSERT_NE(view, nullptr);
    EXPECT_EQ(view->name, t.name);
    EXPECT_EQ(view->dtype, t.dtype);
    EXPECT_EQ(view->shape, t.shape);
    EXPECT_EQ(view->nbytes, t.nbytes);
    if (t.nbytes > 0) EXPECT_EQ(std::memcmp(view->data, t.data, t.nbytes), 0);
  }
  EXPECT_EQ(file->Find("scalar")->numel(), 1);
  EXPECT_EQ(file->Find("empty")->numel(), 0);
  EXPECT_EQ(file->Find("w.f32")->numel(), 6);
}

TEST_F(SafetensorsTest, DTypeTable) {
  EXPECT_EQ(DTypeSize(DType::kBool), 1u);
  EXPECT_EQ(DTypeSize(DType::kBF16), 2u);
  EXPECT_EQ(DTypeSize(DType::kU32), 4u);
  EXPECT_EQ(DTypeSize(DType::kI64), 8u);
  EXPECT_STREQ(DTypeName(DType::kBF16), "BF16");
  EXPECT_STREQ(DTypeName(DType::kU64), "U64");
}

TEST_F(SafetensorsTest, UnpaddedHeaderAndEmptyFileAreAccepted) {
  // Readers must not require the 8-byte padding; here the data starts at an odd offset.
  const std::string header = R"({"b":{"dtype":"U8","shape":[3],"data_offsets":[2,5]},)"
                             R"("a":{"dtype":"I16","shape":[1],"data_offsets":[0,2]}})";
  const std::string path = Path("unpadded.safetensors");
  WriteBytes(path, LengthPrefix(header.size()) + header + std::string("\x01\x02\x07\x08\x09", 5));
  ASSERT_OK_AND_ASSIGN(auto file, SafetensorsFile::Open(path));
  ASSERT_NE(file->Find("b"), nullptr);
  EXPECT_EQ(file->Find("b")->data[0], 7);
  EXPECT_EQ(file->Find("b")->data[2], 9);
  EXPECT_EQ(file->Find("a")->data[1], 2);

  ASSERT_OK_AND_ASSIGN(auto empty, SafetensorsFile::Open(WriteRaw("empty.safetensors", "{}", 0)));
  EXPECT_TRUE(empty->TensorNames().empty());
}

TEST_F(SafetensorsTest, MissingFileIsNotFound) {
  EXPECT_STATUS(SafetensorsFile::Open(Path("absent.safetensors")), absl::StatusCode::kNotFound,
                "absent.safetensors");
}

TEST_F(SafetensorsTest, TruncatedBelowEightBytes) {
  const std::string path = Path("short.safetensors");
  WriteBytes(path, std::string("\x10\0\0\0\0", 5));
  ExpectInvalid(path, "too short");
}

TEST_F(SafetensorsTest, HeaderLengthBeyondFile) {
  const std::string path = Path("long_header.safetensors");
  WriteBytes(path, LengthPrefix(1000) + "{}");
  ExpectInvalid(path, "header length 1000 exceeds the file size");
}

TEST_F(SafetensorsTest, HeaderLengthAboveLimit) {
  const std::string path = Path("huge_header.safetensors");
  WriteBytes(path, LengthPrefix(100'000'001) + "{}");
  ExpectInvalid(path, "exceeds the limit");
}

TEST_F(SafetensorsTest, HeaderNotJson) {
  ExpectInvalid(WriteRaw("not_json.safetensors", "{\"a\": [1, 2", 0), "not valid JSON");
  ExpectInvalid(WriteRaw("infinity.safetensors", "{\"a\": Infinity}", 0), "not valid JSON");
  ExpectInvalid(WriteRaw("bad_utf8.safetensors", "{\"\xff\xfe\": 1}", 0), "not valid JSON");
}

TEST_F(SafetensorsTest, HeaderNotObject) {
  ExpectInvalid(WriteRaw("array.safetensors", "[1, 2, 3]", 0), "must be a JSON object");
}

TEST_F(SafetensorsTest, UnsupportedDType) {
  const std::string path = WriteRaw(
      "fp8.safetensors", R"({"w":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}})", 4);
  ExpectInvalid(path, "tensor 'w': unsupported dtype 'F8_E4M3'");
  ExpectInvalid(WriteRaw("dtype_number.safetensors",
                         R"({"w":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", 4),
                "tensor 'w': 'dtype' must be a string");
}

TEST_F(SafetensorsTest, NegativeShape) {
  ExpectInvalid(WriteRaw("negative.safetensors",
                         R"({"w":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,0]}})", 0),
                "tensor 'w': negative dimension shape[1] = -1");
  ExpectInvalid(WriteRaw("fraction.safetensors",
                         R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4),
                "tensor 'w': shape[0]");
}

TEST_F(SafetensorsTest, ShapeOverflow) {
  ExpectInvalid(
      WriteRaw("overflow.safetensors",
               R"({"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8),
      "tensor 'w': shape [4294967296,4294967296] overflows");
}

TEST_F(SafetensorsTest, SizeMismatch) {
  ExpectInvalid(WriteRaw("mismatch.safetensors",
                         R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4),
                "tensor 'w': data_offsets [0, 4] span 4 bytes but shape [2] of F32 needs 8");
}

TEST_F(SafetensorsTest, Gap) {
  ExpectInvalid(WriteRaw("gap.safetensors",
                         R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                         R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                         12),
                "gap in the data buffer: tensor 'b' begins at 8");
}

TEST_F(SafetensorsTest, Overlap) {
  ExpectInvalid(WriteRaw("overlap.safetensors",
                         R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                         R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                         12),
                "tensor 'b' [4, 12) overlaps tensor 'a'");
}

TEST_F(SafetensorsTest, TrailingBytes) {
  ExpectInvalid(WriteRaw("trailing.safetensors",
                         R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 8),
                "4 trailing bytes");
}

TEST_F(SafetensorsTest, OffsetsBeyondData) {
  ExpectInvalid(WriteRaw("beyond.safetensors",
                         R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4),
                "tensor 'a': data_offsets end 8 is beyond the data buffer of 4 bytes");
}

TEST_F(SafetensorsTest, CorruptedWrittenFile) {
  const std::vector<float> values = {1, 2, 3, 4};
  const std::string path = Path("written.safetensors");
  ASSERT_OK(WriteSafetensors(path, {{"w", DType::kF32, {4}, values.data(), 16}}));
  const std::string good = ReadBytes(path);
  WriteBytes(path, good.substr(0, good.size() - 4));  // cut the last element
  ExpectInvalid(path, "tensor 'w': data_offsets end 16 is beyond the data buffer of 12 bytes");
  WriteBytes(path, good + "x");
  ExpectInvalid(path, "1 trailing bytes");
  std::string bad_shape = good;
  const size_t pos = bad_shape.find("[4]");
  ASSERT_NE(pos, std::string::npos);
  bad_shape[pos + 1] = '5';
  WriteBytes(path, bad_shape);
  ExpectInvalid(path, "tensor 'w': data_offsets [0, 16] span 16 bytes but shape [5]");
}

TEST_F(SafetensorsTest, MissingOrMalformedFields) {
  ExpectInvalid(WriteRaw("no_offsets.safetensors", R"({"w":{"dtype":"F32","shape":[1]}})", 4),
                "tensor 'w': missing 'data_offsets'");
  ExpectInvalid(
      WriteRaw("no_shape.safetensors", R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", 4),
      "tensor 'w': missing 'shape'");
  ExpectInvalid(WriteRaw("three_offsets.safetensors",
                         R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})", 4),
                "tensor 'w': 'data_offsets' must be an array [begin, end]");
  ExpectInvalid(WriteRaw("negative_offset.safetensors",
                         R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", 4),
                "tensor 'w': data_offsets[0] must be a non-negative integer");
  ExpectInvalid(WriteRaw("shape_string.safetensors",
                         R"({"w":{"dtype":"F32","shape":"1","data_offsets":[0,4]}})", 4),
                "tensor 'w': 'shape' must be an array");
  ExpectInvalid(WriteRaw("entry_array.safetensors", R"({"w":[1,2]})", 0),
                "tensor 'w': entry must be an object");
  ExpectInvalid(WriteRaw("metadata_number.safetensors", R"({"__metadata__":{"format":1}})", 0),
                "'__metadata__' value for 'format' must be a string");
  ExpectInvalid(WriteRaw("metadata_array.safetensors", R"({"__metadata__":[]})", 0),
                "'__metadata__' must be an object");
}

TEST_F(SafetensorsTest, DuplicateKey) {
  ExpectInvalid(WriteRaw("duplicate.safetensors",
                         R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                         R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                         8),
                "duplicate key 'w'");
  ExpectInvalid(
      WriteRaw("duplicate_field.safetensors",
               R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"dtype":"F16"}})", 4),
      "duplicate key 'dtype'");
}

TEST_F(SafetensorsTest, WriterRejectsBadInput) {
  const float value = 1.0f;
  EXPECT_STATUS(WriteSafetensors(Path("a.safetensors"), {{"w", DType::kF32, {2}, &value, 4}}),
                kInvalid, "tensor 'w': nbytes 4 but shape and dtype need 8");
  EXPECT_STATUS(WriteSafetensors(Path("b.safetensors"), {{"w", DType::kF32, {1}, &value, 4},
                                                         {"w", DType::kF32, {1}, &value, 4}}),
                kInvalid, "tensor 'w': written twice");
  EXPECT_STATUS(WriteSafetensors(Path("c.safetensors"), {{"w", DType::kF32, {-1}, &value, 4}}),
                kInvalid, "tensor 'w'");
  EXPECT_STATUS(
      WriteSafetensors(Path("d.safetensors"), {{"__metadata__", DType::kF32, {1}, &value, 4}}),
      kInvalid, "invalid tensor name");
  EXPECT_STATUS(WriteSafetensors(Path("no_dir/e.safetensors"), {}), absl::StatusCode::kNotFound,
                "no_dir/e.safetensors");
  // Nothing half-written is left behind.
  struct stat st;
  EXPECT_NE(stat(Path("a.safetensors").c_str(), &st), 0);
}

}  // namespace
}  // namespace mamba_explain
