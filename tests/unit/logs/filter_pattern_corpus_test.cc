// The filter-pattern fuzz target's seed corpus (tests/fuzz/corpus/filter_pattern/) run through its
// entry point, one test per file, so its invariants (errors name filterPattern; a match contains
// every required term) are checked in every build, not only with clang.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "tests/testutil/fuzz_corpus.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace berth::logs {
namespace {

class FilterPatternCorpusTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FilterPatternCorpusTest, FuzzInvariantsHold) {
  const std::string text = testutil::ReadFuzzCorpusFile("filter_pattern", GetParam());
  EXPECT_EQ(LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(text.data()), text.size()), 0);
}

INSTANTIATE_TEST_SUITE_P(Corpus, FilterPatternCorpusTest,
                         ::testing::ValuesIn(testutil::FuzzCorpusFiles("filter_pattern")),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return testutil::FuzzCorpusTestName(info.param);
                         });

}  // namespace
}  // namespace berth::logs
