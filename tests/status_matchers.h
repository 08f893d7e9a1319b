// GoogleTest helpers for absl::Status (Debian's Abseil has no public status matchers).
#ifndef MAMBA_EXPLAIN_TESTS_STATUS_MATCHERS_H_
#define MAMBA_EXPLAIN_TESTS_STATUS_MATCHERS_H_

#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define ME_TEST_CONCAT_INNER_(a, b) a##b
#define ME_TEST_CONCAT_(a, b) ME_TEST_CONCAT_INNER_(a, b)

#define ASSERT_OK(expr)                                        \
  do {                                                         \
    const ::absl::Status me_s_ = ::me_testing::ToStatus(expr); \
    ASSERT_TRUE(me_s_.ok()) << me_s_;                          \
  } while (0)

#define EXPECT_OK(expr) \
  EXPECT_TRUE(::me_testing::ToStatus(expr).ok()) << ::me_testing::ToStatus(expr)

#define ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  ASSERT_TRUE(tmp.ok()) << tmp.status();           \
  lhs = std::move(tmp).value()

#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL_(ME_TEST_CONCAT_(me_test_so_, __LINE__), lhs, expr)

namespace me_testing {
inline absl::Status ToStatus(const absl::Status& s) { return s; }
template <typename T>
absl::Status ToStatus(const absl::StatusOr<T>& s) {
  return s.status();
}
}  // namespace me_testing

// Expects a non-OK status with the given code whose message contains `substr`.
#define EXPECT_STATUS(expr, expected_code, substr)                          \
  do {                                                                      \
    const ::absl::Status me_s_ = ::me_testing::ToStatus(expr);              \
    EXPECT_EQ(me_s_.code(), expected_code) << me_s_;                        \
    EXPECT_NE(std::string(me_s_.message()).find(substr), std::string::npos) \
        << "message '" << me_s_.message() << "' lacks '" << substr << "'";  \
  } while (0)

#endif  // MAMBA_EXPLAIN_TESTS_STATUS_MATCHERS_H_
