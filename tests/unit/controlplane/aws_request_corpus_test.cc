// The AWS-door fuzz target's seed corpus (tests/fuzz/corpus/aws_request/) run through its entry
// point, one test per file, so its invariants (error shape, refusals change nothing, a correctly
// signed request is always accepted) are checked in every build, not only with clang. A violation
// aborts inside LLVMFuzzerTestOneInput with the message the target prints, failing the test.
//
// The corpus itself is checked too: it must reach the actions, the SigV4 parser and the JSON
// parser, so it stays a useful seed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/testutil/fuzz_corpus.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace berth::controlplane {
namespace {

std::vector<std::string> CorpusFiles() { return testutil::FuzzCorpusFiles("aws_request"); }
std::string Read(const std::string& name) { return testutil::ReadFuzzCorpusFile("aws_request", name); }

class AwsRequestCorpusTest : public ::testing::TestWithParam<std::string> {};

TEST_P(AwsRequestCorpusTest, FuzzInvariantsHold) {
  const std::string text = Read(GetParam());
  EXPECT_EQ(LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(text.data()), text.size()), 0);
}

INSTANTIATE_TEST_SUITE_P(Corpus, AwsRequestCorpusTest, ::testing::ValuesIn(CorpusFiles()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return testutil::FuzzCorpusTestName(info.param);
                         });

TEST(AwsRequestCorpus, ReachesTheActionsTheSignatureParserAndTheJsonParser) {
  const std::vector<std::string> files = CorpusFiles();
  ASSERT_GE(files.size(), 15u) << "tests/fuzz/corpus/aws_request";
  std::string all;
  for (const auto& name : files) all += Read(name) + "\n";
  for (const char* needle : {"X-Amz-Target: AmazonEC2ContainerServiceV20141113.RunTask",
                             "X-Amz-Target: AmazonEC2ContainerServiceV20141113.CreateCluster",
                             "X-Amz-Target: AmazonEC2ContainerServiceV20141113.RegisterTaskDefinition",
                             "AWS4-HMAC-SHA256", "Credential=", "SignedHeaders=", "Bearer ", "[[[[", "\\u"}) {
    EXPECT_NE(all.find(needle), std::string::npos) << "no corpus file has '" << needle << "'";
  }
}

}  // namespace
}  // namespace berth::controlplane
