// The cluster query language: parsing, evaluation, canonical form and errors, table-driven.
#include "berth/placement/expression.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "berth/common/strings.h"

namespace berth::placement {
namespace {

struct FakeInstance : ExpressionSubject {
  std::map<std::string, std::string, std::less<>> attributes;
  bool connected = true;
  std::string version = "1.14.5";
  std::string ec2_id = "i-0abc123";
  double registered_at = 1700000000;
  int64_t running = 3;
  std::set<std::string, std::less<>> groups;

  // ExpressionSubject
  std::optional<std::string_view> Attribute(std::string_view name) const override {
    auto it = attributes.find(name);
    if (it == attributes.end()) return std::nullopt;
    return it->second;
  }
  bool AgentConnected() const override { return connected; }
  std::string_view AgentVersion() const override { return version; }
  std::string_view Ec2InstanceId() const override { return ec2_id; }
  double RegisteredAt() const override { return registered_at; }
  int64_t RunningTasksCount() const override { return running; }
  bool HasTaskGroup(std::string_view group) const override { return groups.contains(group); }
};

// The instance most rows evaluate against.
FakeInstance Default() {
  FakeInstance f;
  f.attributes = {{"ecs.instance-type", "g2.2xlarge"},
                  {"ecs.availability-zone", "us-east-1a"},
                  {"ecs.os-type", "linux"},
                  {"slots", "10"},
                  {"stack", "prod"},
                  {"path/with\\chars_x", "v"}};
  f.groups = {"service:web", "database"};
  return f;
}

FakeInstance With(std::function<void(FakeInstance&)> change) {
  FakeInstance f = Default();
  change(f);
  return f;
}

// ---------------------------------------------------------------------------------------------
// Evaluation

struct MatchRow {
  std::string name;
  std::string text;
  FakeInstance instance;
  bool want;
};

class MatchTest : public ::testing::TestWithParam<MatchRow> {};

TEST_P(MatchTest, Row) {
  const MatchRow& row = GetParam();
  absl::StatusOr<Expression> e = ParseExpression(row.text);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->Matches(row.instance), row.want) << e->ToString();
  // The canonical form means the same thing.
  absl::StatusOr<Expression> again = ParseExpression(e->ToString());
  ASSERT_TRUE(again.ok()) << again.status() << " for " << e->ToString();
  EXPECT_EQ(again->Matches(row.instance), row.want) << again->ToString();
  EXPECT_EQ(again->ToString(), e->ToString());
}

INSTANTIATE_TEST_SUITE_P(
    Expressions, MatchTest,
    ::testing::Values(
        // agentConnected
        MatchRow{"agent_connected_equals_true", "agentConnected == true", Default(), true},
        MatchRow{"agent_connected_equals_false", "agentConnected == false", Default(), false},
        MatchRow{"agent_connected_disconnected", "agentConnected == false",
                 With([](FakeInstance& f) { f.connected = false; }), true},
        MatchRow{"agent_connected_case_insensitive_value", "agentConnected equals TRUE", Default(), true},
        MatchRow{"agent_connected_not_equals", "agentConnected != true", Default(), false},
        MatchRow{"agent_connected_exists", "agentConnected exists", Default(), true},
        // agentVersion
        MatchRow{"agent_version_equals", "agentVersion == 1.14.5", Default(), true},
        MatchRow{"agent_version_less_is_version_aware", "agentVersion < 1.20.0", Default(), true},
        MatchRow{"agent_version_not_less_than_older", "agentVersion < 1.9.0", Default(), false},
        MatchRow{"agent_version_greater", "agentVersion > 1.9.10", Default(), true},
        MatchRow{"agent_version_greater_equal_same", "agentVersion >= 1.14.5", Default(), true},
        MatchRow{"agent_version_less_equal_missing_component_is_zero", "agentVersion <= 1.14.5.0", Default(), true},
        MatchRow{"agent_version_matches", "agentVersion =~ 1\\.14\\..*", Default(), true},
        // attribute
        MatchRow{"attribute_equals", "attribute:ecs.os-type == linux", Default(), true},
        MatchRow{"attribute_equals_alias", "attribute:ecs.os-type equals windows", Default(), false},
        MatchRow{"attribute_not_equals", "attribute:ecs.os-type != windows", Default(), true},
        MatchRow{"attribute_not_equals_alias", "attribute:ecs.os-type not_equals linux", Default(), false},
        MatchRow{"attribute_numeric_greater", "attribute:slots > 9", Default(), true},
        MatchRow{"attribute_numeric_not_lexicographic", "attribute:slots > 9.5", Default(), true},
        MatchRow{"attribute_numeric_less", "attribute:slots < 100", Default(), true},
        MatchRow{"attribute_numeric_less_equal", "attribute:slots <= 10", Default(), true},
        MatchRow{"attribute_numeric_greater_equal", "attribute:slots >= 11", Default(), false},
        MatchRow{"attribute_lexicographic_when_not_numbers", "attribute:stack > dev", Default(), true},
        MatchRow{"attribute_lexicographic_less", "attribute:stack < abc", Default(), false},
        MatchRow{"attribute_exists", "attribute:stack exists", Default(), true},
        MatchRow{"attribute_exists_missing", "attribute:gpu exists", Default(), false},
        MatchRow{"attribute_not_exists_bang", "attribute:gpu !exists", Default(), true},
        MatchRow{"attribute_not_exists_word", "attribute:stack not_exists", Default(), false},
        MatchRow{"attribute_in", "attribute:stack in [dev, prod]", Default(), true},
        MatchRow{"attribute_in_not_member", "attribute:stack in [dev,test]", Default(), false},
        MatchRow{"attribute_not_in_bang", "attribute:stack !in [dev, test]", Default(), true},
        MatchRow{"attribute_not_in_word", "attribute:stack not_in [prod]", Default(), false},
        MatchRow{"attribute_in_quoted_elements", "attribute:stack in ['a b', \"prod\"]", Default(), true},
        MatchRow{"attribute_single_element_list", "attribute:stack in [prod]", Default(), true},
        MatchRow{"attribute_matches_whole_value", "attribute:ecs.instance-type =~ g2.*", Default(), true},
        MatchRow{"attribute_matches_is_not_search", "attribute:ecs.instance-type =~ 2xlarge", Default(), false},
        MatchRow{"attribute_matches_alias", "attribute:ecs.instance-type matches 'g2\\.[0-9]xlarge'", Default(), true},
        MatchRow{"attribute_not_matches_bang", "attribute:ecs.instance-type !~ t2.*", Default(), true},
        MatchRow{"attribute_not_matches_word", "attribute:ecs.instance-type not_matches g.*", Default(), false},
        MatchRow{"attribute_quoted_regex_with_parens", "attribute:stack =~ '(prod|dev)'", Default(), true},
        MatchRow{"attribute_name_special_chars", "attribute:path/with\\chars_x == v", Default(), true},
        MatchRow{"attribute_name_is_case_sensitive", "attribute:STACK exists", Default(), false},
        // missing attribute: only the negative operators hold
        MatchRow{"missing_attribute_equals_false", "attribute:gpu == none", Default(), false},
        MatchRow{"missing_attribute_not_equals_true", "attribute:gpu != none", Default(), true},
        MatchRow{"missing_attribute_greater_false", "attribute:gpu > 1", Default(), false},
        MatchRow{"missing_attribute_less_false", "attribute:gpu < 1", Default(), false},
        MatchRow{"missing_attribute_in_false", "attribute:gpu in [a, b]", Default(), false},
        MatchRow{"missing_attribute_not_in_true", "attribute:gpu not_in [a, b]", Default(), true},
        MatchRow{"missing_attribute_matches_false", "attribute:gpu =~ .*", Default(), false},
        MatchRow{"missing_attribute_not_matches_true", "attribute:gpu !~ .*", Default(), true},
        // ec2InstanceId
        MatchRow{"ec2_instance_id_equals", "ec2InstanceId == i-0abc123", Default(), true},
        MatchRow{"ec2_instance_id_in", "ec2InstanceId in [i-1, i-0abc123]", Default(), true},
        MatchRow{"ec2_instance_id_matches", "ec2InstanceId =~ i-0.*", Default(), true},
        MatchRow{"ec2_instance_id_exists", "ec2InstanceId exists", Default(), true},
        // registeredAt
        MatchRow{"registered_at_greater", "registeredAt > 1600000000", Default(), true},
        MatchRow{"registered_at_less", "registeredAt < 1600000000", Default(), false},
        MatchRow{"registered_at_equals_numeric", "registeredAt == 1.7e9", Default(), true},
        MatchRow{"registered_at_not_exists", "registeredAt !exists", Default(), false},
        // runningTasksCount
        MatchRow{"running_tasks_equals_numeric", "runningTasksCount == 3.0", Default(), true},
        MatchRow{"running_tasks_not_equals", "runningTasksCount != 3", Default(), false},
        MatchRow{"running_tasks_greater_equal", "runningTasksCount >= 3", Default(), true},
        MatchRow{"running_tasks_less_equal", "runningTasksCount <= 2", Default(), false},
        MatchRow{"running_tasks_in_numeric", "runningTasksCount in [1, 03]", Default(), true},
        MatchRow{"running_tasks_not_in", "runningTasksCount not_in [0]", Default(), true},
        MatchRow{"running_tasks_matches_text", "runningTasksCount =~ '[0-9]'", Default(), true},
        // task:group
        MatchRow{"task_group_equals", "task:group == database", Default(), true},
        MatchRow{"task_group_equals_absent", "task:group == cache", Default(), false},
        MatchRow{"task_group_not_equals", "task:group != cache", Default(), true},
        MatchRow{"task_group_in", "task:group in [cache, service:web]", Default(), true},
        MatchRow{"task_group_not_in", "task:group not_in [cache, database]", Default(), false},
        // connectives and precedence
        MatchRow{"and_both_true", "attribute:stack == prod and agentConnected == true", Default(), true},
        MatchRow{"and_one_false", "attribute:stack == prod && agentConnected == false", Default(), false},
        MatchRow{"or_one_true", "attribute:stack == dev or agentConnected == true", Default(), true},
        MatchRow{"or_symbol", "attribute:stack == dev || agentConnected == false", Default(), false},
        MatchRow{"and_binds_tighter_than_or",
                 "attribute:stack == prod or attribute:stack == dev and "
                 "agentConnected == false",
                 Default(), true},
        MatchRow{"parentheses_override_precedence",
                 "(attribute:stack == prod or attribute:stack == dev) and "
                 "agentConnected == false",
                 Default(), false},
        MatchRow{"not_binds_tighter_than_and", "not attribute:stack == dev and agentConnected == true", Default(),
                 true},
        MatchRow{"not_of_group", "not (attribute:stack == prod and agentConnected == true)", Default(), false},
        MatchRow{"bang_not", "!attribute:stack == dev", Default(), true},
        MatchRow{"double_not", "not not attribute:stack == prod", Default(), true},
        MatchRow{"nested_parentheses", "((attribute:stack == prod))", Default(), true},
        MatchRow{"keywords_case_insensitive",
                 "NOT attribute:stack == dev AND (agentConnected == true OR "
                 "attribute:x exists)",
                 Default(), true},
        MatchRow{"operators_case_insensitive", "attribute:stack EQUALS prod And agentVersion Not_Exists", Default(),
                 false},
        MatchRow{"subject_case_insensitive", "AGENTVERSION == 1.14.5", Default(), true},
        MatchRow{"no_spaces_around_symbols", "attribute:stack==prod && runningTasksCount>=3", Default(), true},
        MatchRow{"no_space_before_paren", "not(attribute:stack==dev)", Default(), true},
        MatchRow{"double_quoted_argument", "attribute:stack == \"prod\"", Default(), true},
        MatchRow{"single_quoted_argument_with_space", "attribute:stack == 'pr od'",
                 With([](FakeInstance& f) { f.attributes["stack"] = "pr od"; }), true},
        MatchRow{"quoted_argument_keeps_keyword", "attribute:stack == 'and'",
                 With([](FakeInstance& f) { f.attributes["stack"] = "and"; }), true},
        MatchRow{"empty_quoted_argument", "attribute:stack == ''",
                 With([](FakeInstance& f) { f.attributes["stack"] = ""; }), true},
        MatchRow{"quote_containing_other_quote", "attribute:stack == \"it's\"",
                 With([](FakeInstance& f) { f.attributes["stack"] = "it's"; }), true},
        // the ECS documentation examples
        MatchRow{"ecs_example_type_and_zone",
                 "attribute:ecs.instance-type =~ g2.* and "
                 "attribute:ecs.availability-zone != us-east-1d",
                 Default(), true},
        MatchRow{"ecs_example_type_and_zone_excluded_zone",
                 "attribute:ecs.instance-type =~ g2.* and "
                 "attribute:ecs.availability-zone != us-east-1d",
                 With([](FakeInstance& f) { f.attributes["ecs.availability-zone"] = "us-east-1d"; }), false},
        MatchRow{"ecs_example_type_and_zone_other_type",
                 "attribute:ecs.instance-type =~ g2.* and "
                 "attribute:ecs.availability-zone != us-east-1d",
                 With([](FakeInstance& f) { f.attributes["ecs.instance-type"] = "t2.small"; }), false},
        MatchRow{"ecs_example_not_database", "not(task:group == database)", Default(), false},
        MatchRow{"ecs_example_not_database_without_group", "not(task:group == database)",
                 With([](FakeInstance& f) { f.groups.clear(); }), true},
        MatchRow{"ecs_example_old_agent", "agentVersion < 1.14.5", Default(), false},
        MatchRow{"ecs_example_old_agent_older", "agentVersion < 1.14.5",
                 With([](FakeInstance& f) { f.version = "1.9.0"; }), true},
        MatchRow{"ecs_example_type_in_list", "attribute:ecs.instance-type in [t2.small, t2.medium]", Default(), false},
        MatchRow{"ecs_example_type_in_list_member", "attribute:ecs.instance-type in [t2.small, t2.medium]",
                 With([](FakeInstance& f) { f.attributes["ecs.instance-type"] = "t2.medium"; }), true}),
    [](const ::testing::TestParamInfo<MatchRow>& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// Canonical form

struct CanonicalRow {
  std::string name;
  std::string text;
  std::string want;
};

class CanonicalTest : public ::testing::TestWithParam<CanonicalRow> {};

TEST_P(CanonicalTest, Row) {
  const CanonicalRow& row = GetParam();
  absl::StatusOr<Expression> e = ParseExpression(row.text);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->ToString(), row.want);
}

INSTANTIATE_TEST_SUITE_P(
    Expressions, CanonicalTest,
    ::testing::Values(CanonicalRow{"aliases_become_symbols", "attribute:a equals x AND attribute:b NOT_IN [y]",
                                   "attribute:a == x and attribute:b !in [y]"},
                      CanonicalRow{"word_operators",
                                   "attribute:a not_equals x or attribute:a matches y or attribute:a "
                                   "not_matches z or attribute:a not_exists",
                                   "attribute:a != x or attribute:a =~ y or attribute:a !~ z or attribute:a !exists"},
                      CanonicalRow{"subject_spelling_normalized", "RUNNINGTASKSCOUNT>1", "runningTasksCount > 1"},
                      CanonicalRow{"or_inside_and_keeps_parens",
                                   "(task:group == a || task:group == b) && agentConnected == "
                                   "TRUE",
                                   "(task:group == a or task:group == b) and agentConnected == true"},
                      CanonicalRow{"redundant_parens_dropped",
                                   "((attribute:a == x)) or (attribute:b == y and attribute:c "
                                   "== z)",
                                   "attribute:a == x or attribute:b == y and attribute:c == z"},
                      CanonicalRow{"not_of_group_keeps_parens", "!(attribute:a == x and attribute:b == y)",
                                   "not (attribute:a == x and attribute:b == y)"},
                      CanonicalRow{"not_of_term", "not(attribute:a == x)", "not attribute:a == x"},
                      CanonicalRow{"quoting_only_when_needed", "attribute:a in ['x', \"y z\", '', \"it's\", '[b']",
                                   "attribute:a in [x, 'y z', '', it's, '[b']"}),
    [](const ::testing::TestParamInfo<CanonicalRow>& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// Errors

struct ErrorRow {
  std::string name;
  std::string text;
  int column;  // 0: the message has no column
  std::string fragment;
};

class ErrorTest : public ::testing::TestWithParam<ErrorRow> {};

TEST_P(ErrorTest, Row) {
  const ErrorRow& row = GetParam();
  absl::StatusOr<Expression> e = ParseExpression(row.text);
  ASSERT_FALSE(e.ok()) << e->ToString();
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(e.status().message());
  if (row.column > 0) {
    EXPECT_TRUE(message.starts_with(StrCat("expression: column ", row.column, ": "))) << message;
  }
  EXPECT_NE(message.find(row.fragment), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(
    Expressions, ErrorTest,
    ::testing::Values(
        ErrorRow{"empty", "", 0, "expression: empty expression"},
        ErrorRow{"blank", "   \t", 0, "expression: empty expression"},
        ErrorRow{"too_long", "attribute:a == " + std::string(1990, 'x'), 0, "longer than 2000 characters"},
        ErrorRow{"unknown_operator", "attribute:ecs.instance-type foo bar", 29,
                 "expected an operator after 'attribute:ecs.instance-type', got 'foo'"},
        ErrorRow{"unknown_symbol_operator", "attribute:a === b", 13,
                 "expected an operator after 'attribute:a', "
                 "got '==='"},
        ErrorRow{"missing_operator", "attribute:a", 12,
                 "expected an operator after 'attribute:a', got end of "
                 "expression"},
        ErrorRow{"unknown_subject", "color == red", 1, "unknown subject 'color'"},
        ErrorRow{"empty_attribute_name", "attribute: exists", 11, "expected an attribute name"},
        ErrorRow{"bad_attribute_name_char", "attribute:a:b exists", 12, "invalid character ':'"},
        ErrorRow{"missing_argument_at_end", "agentVersion <", 15,
                 "expected an argument after operator '<', got "
                 "end of expression"},
        ErrorRow{"missing_argument_before_paren", "(agentVersion == )", 18,
                 "expected an argument after "
                 "operator '=='"},
        ErrorRow{"exists_with_argument", "attribute:a exists yes", 20,
                 "operator 'exists' takes no argument, got "
                 "'yes'"},
        ErrorRow{"not_exists_with_argument", "attribute:a !exists 'x'", 21,
                 "operator '!exists' takes no "
                 "argument"},
        ErrorRow{"in_without_list", "attribute:a in x", 16, "expected a list '[a, b, ...]' after operator 'in'"},
        ErrorRow{"unterminated_list", "attribute:a in [x, y", 21,
                 "expected ',' or ']' in the list opened at "
                 "column 16, got end of expression"},
        ErrorRow{"empty_list", "attribute:a in []", 17, "expected a list element, got ']'"},
        ErrorRow{"list_trailing_comma", "attribute:a in [x,]", 19, "expected a list element, got ']'"},
        ErrorRow{"list_for_single_value_operator", "attribute:a == [x]", 16,
                 "operator '==' takes a single "
                 "value, not a list"},
        ErrorRow{"unquoted_list_element_starting_with_bracket", "attribute:a in [x, [y'z\"]", 20,
                 "a list element starting with '[' must be quoted"},
        ErrorRow{"unquoted_regex_class", "attribute:a =~ [0-9]", 16,
                 "a regular expression starting with '[' "
                 "must be quoted"},
        ErrorRow{"invalid_regex", "attribute:a =~ 'a[b'", 16, "invalid regular expression 'a[b'"},
        ErrorRow{"regex_back_reference", "attribute:a =~ '(a)\\1'", 16,
                 "invalid regular expression '(a)\\1': back-references ('\\1', '\\2', ...) are not supported"},
        ErrorRow{"regex_back_reference_number_too_long", "attribute:a =~ '\\99999999999999999999'", 16,
                 "back-references ('\\1', '\\2', ...) are not supported"},
        ErrorRow{"regex_repetition_count_too_large", "attribute:a =~ 'a{1,99999999999999999999}'", 16,
                 "invalid regular expression 'a{1,99999999999999999999}': a repetition count may be at most 100000"},
        ErrorRow{"unterminated_quote", "attribute:a == 'abc", 16, "unterminated quoted string"},
        ErrorRow{"unbalanced_open_paren", "(attribute:a exists", 20,
                 "unbalanced parentheses: expected ')' to "
                 "close the '(' at column 1"},
        ErrorRow{"unbalanced_close_paren", "attribute:a exists)", 19,
                 "unbalanced parentheses: ')' without a "
                 "matching '('"},
        ErrorRow{"trailing_input", "attribute:a == b c", 18,
                 "expected 'and', 'or' or end of expression, got "
                 "'c'"},
        ErrorRow{"trailing_input_in_parens", "(attribute:a == b c)", 19,
                 "expected 'and', 'or' or ')' to close "
                 "the '(' at column 1, got 'c'"},
        ErrorRow{"dangling_and", "attribute:a exists and", 23, "expected a condition, got end of expression"},
        ErrorRow{"dangling_not", "not", 4, "expected a condition, got end of expression"},
        ErrorRow{"leading_or", "or attribute:a exists", 1, "unknown subject 'or'"},
        ErrorRow{"empty_parens", "()", 2, "expected a condition, got ')'"},
        ErrorRow{"operator_in_subject_position", "== x", 1, "expected a condition, got '=='"},
        ErrorRow{"ordering_on_task_group", "task:group > a", 12, "operator '>' does not apply to task:group"},
        ErrorRow{"regex_on_task_group", "task:group =~ a.*", 12, "operator '=~' does not apply to task:group"},
        ErrorRow{"ordering_on_agent_connected", "agentConnected < true", 16,
                 "operator '<' does not apply to "
                 "agentConnected"},
        ErrorRow{"agent_connected_not_boolean", "agentConnected == yes", 19,
                 "agentConnected compares to true "
                 "or false, got 'yes'"},
        ErrorRow{"non_numeric_ordering_on_count", "runningTasksCount > many", 21,
                 "operator '>' on "
                 "runningTasksCount needs a "
                 "number, got 'many'"},
        ErrorRow{"non_numeric_ordering_on_registered_at", "registeredAt >= yesterday", 17,
                 "operator '>=' on registeredAt needs a number"}),
    [](const ::testing::TestParamInfo<ErrorRow>& info) { return info.param.name; });

TEST(ExpressionTest, MaximumLengthIsAccepted) {
  const std::string text = "attribute:a == " + std::string(kMaxExpressionLength - 15, 'x');
  ASSERT_EQ(text.size(), kMaxExpressionLength);
  EXPECT_TRUE(ParseExpression(text).ok());
}

TEST(ExpressionTest, DeepNestingWithinTheLengthLimit) {
  const std::string nested = std::string(980, '(') + "attribute:stack exists" + std::string(978, ')');
  ASSERT_LE(nested.size() + 2, kMaxExpressionLength);
  absl::StatusOr<Expression> e = ParseExpression(nested + "))");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->ToString(), "attribute:stack exists");
  EXPECT_FALSE(ParseExpression(nested).ok());  // two '(' left open

  std::string nots;
  for (int i = 0; i < 400; ++i) nots += "not ";
  absl::StatusOr<Expression> negated = ParseExpression(nots + "attribute:stack exists");
  ASSERT_TRUE(negated.ok()) << negated.status();
  EXPECT_TRUE(negated->Matches(Default()));  // an even number of negations
}

// A backtracking matcher takes exponential time on these (`(a|aa)*c` on 36 characters: seconds);
// the whole expression must be decided quickly on the longest attribute value ECS allows.
TEST(ExpressionTest, RegexMatchingDoesNotBacktrackExponentially) {
  const FakeInstance f = With([](FakeInstance& f) { f.attributes["stack"] = std::string(128, 'a'); });
  const std::pair<const char*, bool> rows[] = {
      {"attribute:stack =~ '(a|aa)*c'", false},
      {"attribute:stack =~ '(a*)*c'", false},
      {"attribute:stack !~ '(a|a)*b'", true},
      {"attribute:stack =~ '(a|aa)*'", true},
  };
  for (const auto& [text, want] : rows) {
    absl::StatusOr<Expression> e = ParseExpression(text);
    ASSERT_TRUE(e.ok()) << e.status();
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(e->Matches(f), want) << text;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1)) << text;
  }
}

TEST(ExpressionTest, CopiesShareTheParsedTree) {
  absl::StatusOr<Expression> e = ParseExpression("attribute:stack =~ pr.*");
  ASSERT_TRUE(e.ok());
  const Expression copy = *e;
  EXPECT_TRUE(copy.Matches(Default()));
  EXPECT_EQ(copy.ToString(), e->ToString());
}

}  // namespace
}  // namespace berth::placement
