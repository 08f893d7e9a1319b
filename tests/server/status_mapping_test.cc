// Status messages that quote client strings are bounded at the gRPC boundary (a 1 MiB model name
// in a NOT_FOUND message would exceed the client's metadata limit and turn into a transport
// error), cut at a UTF-8 boundary and saying how much was cut; and token comparison.
#include "server/status_mapping.h"

#include <gtest/gtest.h>

#include <string>

#include "server/auth.h"

namespace mamba_explain {
namespace {

TEST(StatusMappingTest, LongMessagesAreCutKeepingTheCode) {
  const std::string name(1 << 20, 'm');
  const grpc::Status s = ToGrpcStatus(absl::NotFoundError("model '" + name + "' not found"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_LE(s.error_message().size(), kMaxStatusMessageBytes);
  EXPECT_EQ(s.error_message().rfind("model 'mmm", 0), 0u);
  EXPECT_NE(s.error_message().find("bytes]"), std::string::npos);
}

TEST(StatusMappingTest, ShortMessagesAreUnchanged) {
  const grpc::Status s = ToGrpcStatus(absl::InvalidArgumentError("layers[2]=31 not in [0, 24)"));
  EXPECT_EQ(s.error_message(), "layers[2]=31 not in [0, 24)");
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

TEST(StatusMappingTest, TruncateNeverSplitsAUtf8Character) {
  std::string text;
  for (int i = 0; i < 400; ++i) text += "\xc3\xa9";  // é, two bytes
  for (size_t max = 30; max < 60; ++max) {
    const std::string cut = TruncateUtf8(text, max);
    ASSERT_LE(cut.size(), max);
    const size_t marker = cut.find("...[+");
    ASSERT_NE(marker, std::string::npos);
    EXPECT_EQ(marker % 2, 0u) << "max " << max << ": " << cut;
    const size_t cut_bytes = std::stoul(cut.substr(marker + 5));
    EXPECT_EQ(marker + cut_bytes, text.size());
  }
  EXPECT_EQ(TruncateUtf8("short", 5), "short");
}

TEST(ConstantTimeEqualsTest, EqualOnlyForTheSameString) {
  EXPECT_TRUE(ConstantTimeEquals("secret-token", "secret-token"));
  EXPECT_FALSE(ConstantTimeEquals("secret-token", "secret-toke"));               // prefix
  EXPECT_FALSE(ConstantTimeEquals("secret-token", "secret-token2"));             // longer
  EXPECT_FALSE(ConstantTimeEquals("secret-token", "secret-tokensecret-token"));  // repeated
  EXPECT_FALSE(ConstantTimeEquals("secret-token", "Secret-token"));
  EXPECT_FALSE(ConstantTimeEquals("secret-token", ""));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
}

}  // namespace
}  // namespace mamba_explain
