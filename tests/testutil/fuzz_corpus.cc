#include "tests/testutil/fuzz_corpus.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace berth::testutil {
namespace {

namespace fs = std::filesystem;

fs::path CorpusDir(const std::string& target) {
  const char* source = std::getenv("BERTH_SOURCE_DIR");
  return fs::path(source != nullptr ? source : BERTH_BUILD_SOURCE_DIR) / "tests/fuzz/corpus" / target;
}

}  // namespace

std::vector<std::string> FuzzCorpusFiles(const std::string& target) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(CorpusDir(target), ec)) {
    if (entry.is_regular_file()) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string ReadFuzzCorpusFile(const std::string& target, const std::string& name) {
  std::ifstream in(CorpusDir(target) / name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << (CorpusDir(target) / name);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string FuzzCorpusTestName(const std::string& file) {
  std::string out;
  for (char c : file) out.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return out;
}

}  // namespace berth::testutil
