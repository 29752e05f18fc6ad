// Status helpers shared by every module.
//
// Berth uses absl::Status / absl::StatusOr<T> with the canonical codes everywhere inside the
// process. Foreign error types (rocksdb::Status, grpc::Status, HTTP codes) are converted once, at
// the boundary that owns them.
#pragma once

#include <cstdio>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define BERTH_STATUS_CONCAT_INNER_(a, b) a##b
#define BERTH_STATUS_CONCAT_(a, b) BERTH_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)                      \
  do {                                             \
    ::absl::Status berth_status_ = (expr);         \
    if (!berth_status_.ok()) return berth_status_; \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, Foo());` declares x from an absl::StatusOr, or returns its status.
#define ASSIGN_OR_RETURN(lhs, expr) \
  BERTH_ASSIGN_OR_RETURN_IMPL_(BERTH_STATUS_CONCAT_(berth_statusor_, __LINE__), lhs, expr)
#define BERTH_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

namespace berth::internal {
[[noreturn]] void CheckFailed(const char* file, int line, const char* condition, const char* message);
}  // namespace berth::internal

// A broken internal invariant: crash with a message. Never use for untrusted input.
#define BERTH_CHECK(cond)                                                       \
  do {                                                                          \
    if (!(cond)) ::berth::internal::CheckFailed(__FILE__, __LINE__, #cond, ""); \
  } while (0)
#define BERTH_CHECK_MSG(cond, msg)                                                 \
  do {                                                                             \
    if (!(cond)) ::berth::internal::CheckFailed(__FILE__, __LINE__, #cond, (msg)); \
  } while (0)
