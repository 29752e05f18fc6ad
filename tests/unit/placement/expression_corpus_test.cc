// The expression fuzz target's seed corpus (tests/fuzz/corpus/expression/) run through its entry
// point, one test per file, so the fuzzer's invariants (canonical form parses, is a fixed point,
// matches the same) are checked in every build, not only with clang. An invariant violation traps
// inside LLVMFuzzerTestOneInput, which fails the test with the message the target prints.
//
// The corpus itself is checked too: it must hold both valid and malformed expressions and, among
// the valid ones, use every subject and every operator, so it stays a useful seed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "berth/placement/expression.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace berth::placement {
namespace {

namespace fs = std::filesystem;

fs::path CorpusDir() {
  const char* source = std::getenv("BERTH_SOURCE_DIR");
  return fs::path(source != nullptr ? source : BERTH_BUILD_SOURCE_DIR) / "tests/fuzz/corpus/expression";
}

std::vector<std::string> CorpusFiles() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(CorpusDir(), ec)) {
    if (entry.is_regular_file()) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string Read(const std::string& name) {
  std::ifstream in(CorpusDir() / name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << (CorpusDir() / name);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string TestName(const std::string& file) {
  std::string out;
  for (char c : file) out.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return out;
}

class ExpressionCorpusTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ExpressionCorpusTest, FuzzInvariantsHold) {
  const std::string text = Read(GetParam());
  EXPECT_EQ(LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(text.data()), text.size()), 0);
}

INSTANTIATE_TEST_SUITE_P(Corpus, ExpressionCorpusTest, ::testing::ValuesIn(CorpusFiles()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return TestName(info.param); });

TEST(ExpressionCorpus, CoversEverySubjectAndOperator) {
  const std::vector<std::string> files = CorpusFiles();
  ASSERT_GE(files.size(), 40u) << "corpus directory " << CorpusDir();
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
