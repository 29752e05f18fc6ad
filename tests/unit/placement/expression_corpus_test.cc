// The expression fuzz target's seed corpus (tests/fuzz/corpus/expression/) run through its entry
// point, one test per file, so the fuzzer's invariants (canonical form parses, is a fixed point,
// matches the same) are checked in every build, not only with clang. An invariant violation traps
// inside LLVMFuzzerTestOneInput, which fails the test with the message the target prints.
//
// The corpus itself is checked too: it must hold both valid and malformed expressions and, among
// the valid ones, use every subject and every operator, so it stays a useful seed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "berth/placement/expression.h"

#include "tests/testutil/fuzz_corpus.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace berth::placement {
namespace {

std::vector<std::string> CorpusFiles() { return testutil::FuzzCorpusFiles("expression"); }
std::string Read(const std::string& name) { return testutil::ReadFuzzCorpusFile("expression", name); }

class ExpressionCorpusTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ExpressionCorpusTest, FuzzInvariantsHold) {
  const std::string text = Read(GetParam());
  EXPECT_EQ(LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(text.data()), text.size()), 0);
}

INSTANTIATE_TEST_SUITE_P(Corpus, ExpressionCorpusTest, ::testing::ValuesIn(CorpusFiles()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return testutil::FuzzCorpusTestName(info.param);
                         });

TEST(ExpressionCorpus, CoversEverySubjectAndOperator) {
  const std::vector<std::string> files = CorpusFiles();
  ASSERT_GE(files.size(), 40u) << "tests/fuzz/corpus/expression";
  int valid = 0;
  int malformed = 0;
  std::string canonical;  // every valid file's canonical form, one a line
  for (const auto& name : files) {
    absl::StatusOr<Expression> e = ParseExpression(Read(name));
    if (!e.ok()) {
      ++malformed;
      continue;
    }
    ++valid;
    canonical += e->ToString() + "\n";
  }
  EXPECT_GE(valid, 20);
  EXPECT_GE(malformed, 10);
  // Canonical spellings, each followed by a space so `in` does not count `!in`'s match, etc.
  const std::set<std::string> needles = {
      "agentConnected ",
      "agentVersion ",
      "attribute:",
      "ec2InstanceId ",
      "registeredAt ",
      "runningTasksCount ",
      "task:group ",
      " == ",
      " != ",
      " > ",
      " >= ",
      " < ",
      " <= ",
      " exists",
      " !exists",
      " in [",
      " !in [",
      " =~ ",
      " !~ ",
      " and ",
      " or ",
      "not ",
      "(",
      "'",
  };
  for (const auto& needle : needles) {
    EXPECT_NE(canonical.find(needle), std::string::npos) << "no valid corpus expression uses '" << needle << "'";
  }
}

}  // namespace
}  // namespace berth::placement
