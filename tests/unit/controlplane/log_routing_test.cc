// Log routing: where each container's output goes, and the awslogs options a task definition must
// get right (docs/logs.md, "Where container output goes").
#include "src/controlplane/actions/log_routing.h"

#include <gtest/gtest.h>

#include <google/protobuf/util/json_util.h>

namespace berth::controlplane {
namespace {

v1::ContainerDefinition Container(const std::string& json) {
  v1::ContainerDefinition def;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &def).ok()) << json;
  return def;
}

v1::LogConfiguration AwsLogs(const std::string& options) {
  return Container(R"({"logConfiguration":{"logDriver":"awslogs","options":)" + options + "}}").log_configuration();
}

TEST(LogRoutingTest, StreamsAreNamedAsEcsNamesThem) {
  const LogRoutingOptions defaults;
  auto prefixed = LogStreamOf(Container(R"({"name":"web","logConfiguration":{"logDriver":"awslogs","options":)"
                                        R"({"awslogs-group":"/ecs/app","awslogs-stream-prefix":"ecs"}}})"),
                              "prod", "abc123", defaults);
  ASSERT_TRUE(prefixed);
  EXPECT_EQ(prefixed->group, "/ecs/app");
  EXPECT_EQ(prefixed->stream, "ecs/web/abc123");
  auto plain = LogStreamOf(
      Container(R"({"name":"web","logConfiguration":{"logDriver":"awslogs","options":{"awslogs-group":"g"}}})"), "prod",
      "abc123", defaults);
  EXPECT_EQ(plain->stream, "web/abc123");
  // No logConfiguration: the cluster's default group, unless it is off.
  auto fallback = LogStreamOf(Container(R"({"name":"web"})"), "prod", "abc123", defaults);
  ASSERT_TRUE(fallback);
  EXPECT_EQ(fallback->group, "/berth/prod");
  EXPECT_EQ(fallback->stream, "web/abc123");
  EXPECT_FALSE(LogStreamOf(Container(R"({"name":"web"})"), "prod", "abc123", {.default_group = ""}));
  // Other drivers are the engine's.
  EXPECT_FALSE(LogStreamOf(Container(R"({"name":"web","logConfiguration":{"logDriver":"json-file"}})"), "prod",
                           "abc123", defaults));
}

TEST(LogRoutingTest, TheAgentsDestinationCarriesTheAwslogsOptions) {
  v1::Container c;
  c.set_name("web");
  c.set_log_group("/ecs/app");
  c.set_log_stream("ecs/web/abc");
  auto d = DestinationOf(c, Container(R"({"name":"web","logConfiguration":{"logDriver":"awslogs","options":)"
                                      R"({"awslogs-group":"/ecs/app","awslogs-create-group":"True",)"
                                      R"("awslogs-multiline-pattern":"^\\d{4}"}}})"));
  EXPECT_EQ(d.group(), "/ecs/app");
  EXPECT_EQ(d.stream(), "ecs/web/abc");
  EXPECT_TRUE(d.create_group());
  EXPECT_EQ(d.multiline_pattern(), "^\\d{4}");
  EXPECT_FALSE(DestinationOf(c, Container(R"({"name":"web","logConfiguration":{"logDriver":"awslogs","options":)"
                                          R"({"awslogs-group":"/ecs/app"}}})"))
                   .create_group());
  EXPECT_TRUE(DestinationOf(c, Container(R"({"name":"web"})")).create_group());  // the default group
}

TEST(LogRoutingTest, AwslogsOptionsAreCheckedWithTheOptionNamed) {
  struct Case {
    std::string options;
    std::string error;  // "" when accepted
  };
  const Case cases[] = {
      {R"({"awslogs-group":"g","awslogs-region":"us-east-1","awslogs-stream-prefix":"ecs"})", ""},
      {R"({"awslogs-group":"g","awslogs-create-group":"True","mode":"non-blocking","max-buffer-size":"25m"})", ""},
      {R"({"awslogs-region":"us-east-1"})", "options.awslogs-group: required by the awslogs driver"},
      {R"({"awslogs-group":"g","awslogs-create-group":"yes"})", "options.awslogs-create-group: must be true or false"},
      {R"({"awslogs-group":"g","mode":"fast"})", "options.mode: must be blocking or non-blocking"},
      {R"({"awslogs-group":"g","max-buffer-size":"lots"})", "options.max-buffer-size: must be a size"},
      {R"({"awslogs-group":"g","awslogs-multiline-pattern":"(unclosed"})",
       "options.awslogs-multiline-pattern: not a regular expression"},
      {R"({"awslogs-group":"g","awslogs-multiline-pattern":"^x","awslogs-datetime-format":"%Y"})",
       "cannot be set together with awslogs-datetime-format"},
  };
  for (const Case& c : cases) {
    absl::Status s = CheckAwsLogsOptions(AwsLogs(c.options), "containerDefinitions[0].logConfiguration");
    if (c.error.empty()) {
      EXPECT_TRUE(s.ok()) << c.options << ": " << s;
    } else {
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.options;
      EXPECT_NE(s.message().find(c.error), absl::string_view::npos) << c.options << ": " << s.message();
      EXPECT_EQ(s.message().rfind("containerDefinitions[0].logConfiguration.options.", 0), 0u) << s.message();
    }
  }
}

TEST(LogRoutingTest, SizesAndBooleansReadAsDockerReadsThem) {
  EXPECT_EQ(ParseLogSize("4096"), 4096);
  EXPECT_EQ(ParseLogSize("25m"), 25 << 20);
  EXPECT_EQ(ParseLogSize("1g"), int64_t{1} << 30);
  EXPECT_EQ(ParseLogSize("2KiB"), 2048);
  EXPECT_FALSE(ParseLogSize("m"));
  EXPECT_FALSE(ParseLogSize("5q"));
  EXPECT_EQ(ParseLogBool("True"), true);
  EXPECT_EQ(ParseLogBool("0"), false);
  EXPECT_FALSE(ParseLogBool("yes"));
}

}  // namespace
}  // namespace berth::controlplane
