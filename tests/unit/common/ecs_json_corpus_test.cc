// The ECS JSON fuzz target's seed corpus (tests/fuzz/corpus/ecs_json/) run through its entry point,
// one test per file, so its invariants (what is printed reads back and prints the same; the
// members ECS always sends are printed) are checked in every build, not only with clang. A
// violation aborts inside LLVMFuzzerTestOneInput with the message the target prints.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tests/testutil/fuzz_corpus.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace berth::ecsjson {
namespace {

class EcsJsonCorpusTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EcsJsonCorpusTest, FuzzInvariantsHold) {
  const std::string text = testutil::ReadFuzzCorpusFile("ecs_json", GetParam());
  EXPECT_EQ(LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(text.data()), text.size()), 0);
}

INSTANTIATE_TEST_SUITE_P(Corpus, EcsJsonCorpusTest, ::testing::ValuesIn(testutil::FuzzCorpusFiles("ecs_json")),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return testutil::FuzzCorpusTestName(info.param);
                         });

TEST(EcsJsonCorpus, ReachesRequestsResponsesAndRefusals) {
  std::string all;
  for (const auto& name : testutil::FuzzCorpusFiles("ecs_json")) all += testutil::ReadFuzzCorpusFile("ecs_json", name);
  for (const char* needle : {"Request\n{", "Response\n{", "[[[[", "{x", "\"many\"", "futureMember"}) {
    EXPECT_NE(all.find(needle), std::string::npos) << "no corpus file has '" << needle << "'";
  }
}

}  // namespace
}  // namespace berth::ecsjson
