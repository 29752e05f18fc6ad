// Compiled into every test binary: makes BERTH_BINARY_DIR and BERTH_SOURCE_DIR available in the
// environment (the build's directories unless the caller already set them), so tests find the
// built binaries and the source tree (shared/ lives beside it) however they are started.
#include <cstdlib>

namespace {
struct TestEnv {
  TestEnv() {
    setenv("BERTH_BINARY_DIR", BERTH_BUILD_BINARY_DIR, /*overwrite=*/0);
    setenv("BERTH_SOURCE_DIR", BERTH_BUILD_SOURCE_DIR, /*overwrite=*/0);
  }
};
const TestEnv kTestEnv;
}  // namespace
