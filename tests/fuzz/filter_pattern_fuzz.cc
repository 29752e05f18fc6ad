// libFuzzer target for CloudWatch Logs filter patterns (include/berth/logs/filter_pattern.h), the
// part of the logs door's request parsing that is a language of its own.
//
// An input is a pattern on its first line and a log message after it. Invariants:
//   - a refused pattern is INVALID_ARGUMENT and its message starts with "filterPattern: ";
//   - a parsed pattern matches the message or not without crashing;
//   - when it matches, the message contains every term of required_terms(): the log store skips
//     a chunk that lacks one, so a match without it would be lost from FilterLogEvents.
// A violation prints what broke and traps, so libFuzzer records the input as a crash.
//
// This file has no main(): the fuzzer build links libFuzzer's, and the unit test
// tests/unit/logs/filter_pattern_corpus_test.cc links gtest's and feeds it the seed corpus
// (tests/fuzz/corpus/filter_pattern/).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "berth/logs/filter_pattern.h"

namespace {

void Fail(const char* what, std::string_view pattern) {
  std::fprintf(stderr, "filter_pattern_fuzz: %s; pattern <%.*s>\n", what, static_cast<int>(pattern.size()),
               pattern.data());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;  // CloudWatch's patterns are at most 1,024 characters
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nl = input.find('\n');
  const std::string_view pattern_text = input.substr(0, nl);
  const std::string_view message = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
  auto pattern = berth::logs::FilterPattern::Parse(pattern_text);
  if (!pattern.ok()) {
    if (pattern.status().code() != absl::StatusCode::kInvalidArgument)
      Fail("an error is not INVALID_ARGUMENT", pattern_text);
    if (pattern.status().message().rfind("filterPattern: ", 0) != 0)
      Fail("an error does not name filterPattern", pattern_text);
    return 0;
  }
  if (pattern->Matches(message)) {
    for (const std::string& term : pattern->required_terms()) {
      if (message.find(term) == std::string_view::npos) Fail("a match lacks a required term", pattern_text);
    }
  }
  return 0;
}
