// Filter patterns as table tests: each row is a pattern, a message and whether it matches; and
// the patterns that are refused, with the rule their error names.
#include "berth/logs/filter_pattern.h"

#include <gtest/gtest.h>

#include <string>

namespace berth::logs {
namespace {

struct Row {
  std::string pattern;
  std::string message;
  bool matches;
};

void PrintTo(const Row& r, std::ostream* os) { *os << "pattern <" << r.pattern << "> message <" << r.message << ">"; }

class FilterPatternMatchTest : public ::testing::TestWithParam<Row> {};

TEST_P(FilterPatternMatchTest, MatchesAsCloudWatchDoes) {
  const Row& row = GetParam();
  auto pattern = FilterPattern::Parse(row.pattern);
  ASSERT_TRUE(pattern.ok()) << pattern.status();
  EXPECT_EQ(pattern->Matches(row.message), row.matches);
}

INSTANTIATE_TEST_SUITE_P(
    Terms, FilterPatternMatchTest,
    ::testing::Values(
        Row{"", "anything at all", true}, Row{"   ", "", true}, Row{"ERROR", "[ERROR] disk full", true},
        Row{"ERROR", "[error] disk full", false}, Row{"ERROR Exception", "ERROR: NullPointerException", true},
        Row{"ERROR Exception", "ERROR: disk full", false},
        Row{"\"Connection refused\"", "dial tcp: Connection refused", true},
        Row{"\"Connection refused\"", "Connection was refused", false}, Row{"?ERROR ?WARN", "WARN low memory", true},
        Row{"?ERROR ?WARN", "INFO started", false}, Row{"ERROR -Exiting", "ERROR retrying", true},
        Row{"ERROR -Exiting", "ERROR Exiting now", false}, Row{"-DEBUG", "INFO up", true},
        Row{"-DEBUG", "DEBUG noise", false}, Row{"-\"health check\"", "GET /healthz ok", true},
        Row{"-\"health check\"", "failed health check", false},
        Row{"status=500 path:/api", "status=500 path:/api/x", true}, Row{"app ?a ?b -c", "app b", true},
        Row{"app ?a ?b -c", "app b c", false}, Row{"app ?x ?y -c", "app d", false},
        Row{"\"say \\\"hi\\\"\"", "they say \"hi\"", true}, Row{"seq-000042", "line seq-000042 of 100", true}));

INSTANTIATE_TEST_SUITE_P(
    Json, FilterPatternMatchTest,
    ::testing::Values(
        Row{R"({ $.level = "error" })", R"({"level":"error","msg":"x"})", true},
        Row{R"({ $.level = "error" })", R"({"level":"warn"})", false},
        Row{R"({ $.level = "error" })", R"(level=error)", false},
        Row{R"({ $.level = "error" })", R"({"level":"error")", false},
        Row{R"({$.level="err*"})", R"({"level":"error"})", true},
        Row{R"({ $.level != "error" })", R"({"level":"info"})", true},
        Row{R"({ $.level != "error" })", R"({"other":1})", false},
        Row{R"({ $.eventType = UpdateTrail })", R"({"eventType":"UpdateTrail"})", true},
        Row{R"({ $.latency > 100 })", R"({"latency":150})", true},
        Row{R"({ $.latency > 100 })", R"({"latency":100})", false},
        Row{R"({ $.latency >= 100 })", R"({"latency":100})", true},
        Row{R"({ $.latency < 1.5 })", R"({"latency":1.25})", true},
        Row{R"({ $.latency = 100 })", R"({"latency":"100"})", false},
        Row{R"({ $.code != 200 })", R"({"code":404})", true}, Row{R"({ $.user.id = 7 })", R"({"user":{"id":7}})", true},
        Row{R"({ $.items[1].name = "b" })", R"({"items":[{"name":"a"},{"name":"b"}]})", true},
        Row{R"({ $.items[2].name = "b" })", R"({"items":[{"name":"a"},{"name":"b"}]})", false},
        Row{R"({ $.ok IS TRUE })", R"({"ok":true})", true}, Row{R"({ $.ok IS TRUE })", R"({"ok":1})", false},
        Row{R"({ $.ok is false })", R"({"ok":false})", true}, Row{R"({ $.trace IS NULL })", R"({"trace":null})", true},
        Row{R"({ $.trace IS NULL })", R"({})", false}, Row{R"({ $.trace NOT EXISTS })", R"({})", true},
        Row{R"({ $.trace NOT EXISTS })", R"({"trace":null})", false},
        Row{R"({ $.a = 1 && $.b = 2 })", R"({"a":1,"b":2})", true},
        Row{R"({ $.a = 1 && $.b = 2 })", R"({"a":1,"b":3})", false},
        Row{R"({ $.a = 1 || $.b = 2 })", R"({"a":0,"b":2})", true},
        Row{R"({ $.a = 1 && ($.b = 2 || $.c IS TRUE) })", R"({"a":1,"b":0,"c":true})", true},
        Row{R"({ $.a = 1 && ($.b = 2 || $.c IS TRUE) })", R"({"a":1,"b":0,"c":false})", false},
        Row{R"({ ($.a = 1 || $.a = 2) && $.b NOT EXISTS })", R"({"a":2})", true}));

struct Refused {
  std::string pattern;
  std::string rule;  // a phrase the error must contain
};

class FilterPatternRefusedTest : public ::testing::TestWithParam<Refused> {};

TEST_P(FilterPatternRefusedTest, NamesTheRule) {
  auto pattern = FilterPattern::Parse(GetParam().pattern);
  ASSERT_FALSE(pattern.ok()) << GetParam().pattern;
  EXPECT_EQ(pattern.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(pattern.status().message().find("filterPattern"), std::string::npos) << pattern.status();
  EXPECT_NE(pattern.status().message().find(GetParam().rule), std::string::npos) << pattern.status();
}

INSTANTIATE_TEST_SUITE_P(All, FilterPatternRefusedTest,
                         ::testing::Values(Refused{"\"open", "not closed"}, Refused{"a(b", "separated by spaces"},
                                           Refused{"!x", "a term is"}, Refused{"[ip, user]", "space-delimited"},
                                           Refused{"%err.*%", "regular expressions"},
                                           Refused{"{ $.a = 1", "expected '}'"}, Refused{"{ a = 1 }", "selector"},
                                           Refused{"{ $. = 1 }", "member name"}, Refused{"{ $.a[x] = 1 }", "index"},
                                           Refused{"{ $.a ~ 1 }", "comparison"}, Refused{"{ $.a IS 3 }", "IS"},
                                           Refused{"{ $.a NOT 3 }", "EXISTS"}, Refused{"{ $.a > \"x\" }", "numbers"},
                                           Refused{"{ ($.a = 1 }", "')'"}, Refused{"{ $.a = 1 } x", "follow"},
                                           Refused{"{ $.a = }", "value"}, Refused{"{ $.items[1", "index"}));

TEST(FilterPatternTest, RequiredTermsAreThePlainTermsOnly) {
  auto terms = FilterPattern::Parse("ERROR ?a -b \"disk full\"");
  ASSERT_TRUE(terms.ok());
  EXPECT_EQ(terms->required_terms(), (std::vector<std::string>{"ERROR", "disk full"}));
  auto json = FilterPattern::Parse(R"({ $.a = "x" })");
  ASSERT_TRUE(json.ok());
  EXPECT_TRUE(json->required_terms().empty());
}

}  // namespace
}  // namespace berth::logs
