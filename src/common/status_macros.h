// Return-if-error helpers for absl::Status / absl::StatusOr.
// Debian's Abseil (2022-06) exports none, so the project defines them once here.
#ifndef MAMBA_EXPLAIN_COMMON_STATUS_MACROS_H_
#define MAMBA_EXPLAIN_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define ME_CONCAT_INNER_(a, b) a##b
#define ME_CONCAT_(a, b) ME_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                \
  do {                                       \
    ::absl::Status me_status_ = (expr);      \
    if (!me_status_.ok()) return me_status_; \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return tmp.status();          \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(ME_CONCAT_(me_statusor_, __LINE__), lhs, expr)

#endif  // MAMBA_EXPLAIN_COMMON_STATUS_MACROS_H_
