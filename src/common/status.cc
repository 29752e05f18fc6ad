#include "berth/common/status.h"

#include "berth/common/logging.h"

namespace berth::internal {

void CheckFailed(const char* file, int line, const char* condition, const char* message) {
  std::fprintf(stderr, "%s:%d: BERTH_CHECK failed: %s %s\n", file, line, condition, message);
  std::fflush(stderr);
  std::abort();
}

}  // namespace berth::internal
