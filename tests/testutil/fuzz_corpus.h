// A fuzz target's seed corpus (tests/fuzz/corpus/<target>/) for the unit tests that run it through
// the target's entry point in every build.
#pragma once

#include <string>
#include <vector>

namespace berth::testutil {

// The corpus files of `target`, sorted by name, under $BERTH_SOURCE_DIR (by default the source
// tree the test was built from).
std::vector<std::string> FuzzCorpusFiles(const std::string& target);
// One corpus file's bytes (a test failure when unreadable).
std::string ReadFuzzCorpusFile(const std::string& target, const std::string& name);
// A file name as a gtest parameter name: every character but letters and digits becomes '_'.
std::string FuzzCorpusTestName(const std::string& file);

}  // namespace berth::testutil
