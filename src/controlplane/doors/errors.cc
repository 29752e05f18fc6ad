#include "src/controlplane/doors/errors.h"

#include <string>

namespace berth::controlplane {

std::string ErrorType(const absl::Status& status) {
  if (auto payload = status.GetPayload(kErrorTypePayload)) return std::string(*payload);
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return "InvalidParameterException";
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kOutOfRange:
      return "ClientException";
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return "AccessDeniedException";
    case absl::StatusCode::kUnimplemented:
      return "UnsupportedFeatureException";
    case absl::StatusCode::kResourceExhausted:
      return "LimitExceededException";
    default:
      return "ServerException";
  }
}

}  // namespace berth::controlplane
