// The Docker log stream fuzz target's seed corpus (tests/fuzz/corpus/docker_log_stream/) run
// through its entry point, one test per file, so its invariants (lines and verdict independent of
// how the body is cut; sizes bounded) are checked in every build, not only with clang.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "tests/testutil/fuzz_corpus.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace berth::agent::docker {
namespace {

class DockerLogStreamCorpusTest : public ::testing::TestWithParam<std::string> {};

TEST_P(DockerLogStreamCorpusTest, FuzzInvariantsHold) {
  const std::string bytes = testutil::ReadFuzzCorpusFile("docker_log_stream", GetParam());
  EXPECT_EQ(LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), 0);
}

INSTANTIATE_TEST_SUITE_P(Corpus, DockerLogStreamCorpusTest,
                         ::testing::ValuesIn(testutil::FuzzCorpusFiles("docker_log_stream")),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return testutil::FuzzCorpusTestName(info.param);
                         });

}  // namespace
}  // namespace berth::agent::docker
