// Error constructors for API handlers. Each error carries, besides its canonical code, the ECS
// exception name as a status payload (kErrorTypePayload), so the AWS JSON door can answer with
// the `__type` ECS uses while gRPC clients see the canonical code.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "berth/common/status.h"
#include "berth/common/strings.h"

namespace berth::controlplane {

inline constexpr char kErrorTypePayload[] = "type.berth.dev/ecs-error-type";

inline absl::Status WithType(absl::Status status, std::string_view type) {
  status.SetPayload(kErrorTypePayload, absl::Cord(absl::string_view(type.data(), type.size())));
  return status;
}

// ECS exception name of `status` (from its payload, else from its code).
std::string ErrorType(const absl::Status& status);

template <typename... Args>
absl::Status InvalidParameter(const Args&... args) {
  return WithType(absl::InvalidArgumentError(StrCat(args...)), "InvalidParameterException");
}

inline absl::Status ClusterNotFound(std::string_view cluster) {
  return WithType(absl::NotFoundError(StrCat("cluster '", cluster,
                                             "' not found: create it with CreateCluster or name an existing "
                                             "cluster")),
                  "ClusterNotFoundException");
}

template <typename... Args>
absl::Status NotFound(const Args&... args) {
  return WithType(absl::NotFoundError(StrCat(args...)), "ClientException");
}

template <typename... Args>
absl::Status Conflict(const Args&... args) {
  return WithType(absl::FailedPreconditionError(StrCat(args...)), "ClientException");
}

template <typename... Args>
absl::Status Unimplemented(const Args&... args) {
  return WithType(absl::UnimplementedError(StrCat(args...)), "UnsupportedFeatureException");
}

}  // namespace berth::controlplane
