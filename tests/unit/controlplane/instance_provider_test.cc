// Instance providers and groups: the command provider against scripts that answer well and badly,
// the local provider starting and stopping processes from its template (a stand-in script for
// berth-agent that records its arguments), and a group kept at its desired size.
#include "src/controlplane/providers/instance_provider.h"

#include <signal.h>
#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/testutil/temp_dir.h"

namespace berth::controlplane::providers {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

std::string Script(const testutil::TempDir& dir, const std::string& name, const std::string& body) {
  const std::string path = dir.Sub(name);
  std::ofstream(path) << "#!/bin/sh\n" << body;
  chmod(path.c_str(), 0755);
  return path;
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 500; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

TEST(CommandProviderTest, LaunchesAndTerminatesThroughTheOperatorsProgram) {
  testutil::TempDir dir;
  const std::string calls = dir.Sub("calls");
  const std::string program = Script(dir, "hosts", R"(echo "$@" >> ')" + calls + R"('
case "$1" in
  launch) i=0; printf '{"instances": ['; while [ $i -lt "$2" ]; do [ $i -gt 0 ] && printf ','; printf '"vm-%s"' $i; i=$((i+1)); done; echo ']}' ;;
  terminate) exit 0 ;;
esac
)");
  auto provider = NewCommandProvider({.program = program, .timeout_ms = 10000});
  ASSERT_TRUE(provider.ok()) << provider.status();
  auto ids = (*provider)->Launch(3);
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_THAT(*ids, ElementsAre("vm-0", "vm-1", "vm-2"));
  EXPECT_TRUE((*provider)->Terminate({"vm-0", "vm-2"}).ok());
  EXPECT_EQ(Read(calls), "launch 3\nterminate vm-0 vm-2\n");
  EXPECT_EQ((*provider)->Launch(0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*provider)->kind(), "command");
}

TEST(CommandProviderTest, BadAnswersAreErrorsSayingWhatWasWrong) {
  testutil::TempDir dir;
  struct Case {
    const char* body;
    const char* error;
  };
  const Case cases[] = {
      {"echo not json\n", "expected {\"instances\": [\"id\", ...]} on stdout, got 'not json'"},
      {"echo '{\"instances\": [\"a\", \"a\"]}'\n", "distinct non-empty strings"},
      {"echo '{\"instances\": [\"a\", \"b\", \"c\"]}'\n", "answered 3 instances, more than asked"},
      {"echo quota exceeded >&2; exit 3\n", "exited 3: quota exceeded"},
  };
  int n = 0;
  for (const Case& c : cases) {
    auto provider =
        NewCommandProvider({.program = Script(dir, "p" + std::to_string(n++), c.body), .timeout_ms = 10000});
    ASSERT_TRUE(provider.ok());
    auto ids = (*provider)->Launch(2);
    ASSERT_FALSE(ids.ok()) << c.body;
    EXPECT_THAT(std::string(ids.status().message()), HasSubstr(c.error)) << c.body;
  }
  auto slow = NewCommandProvider({.program = Script(dir, "slow", "sleep 30\n"), .timeout_ms = 200});
  ASSERT_TRUE(slow.ok());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ((*slow)->Launch(1).status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(NewCommandProvider({.program = dir.Sub("missing"), .timeout_ms = 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LocalProviderTest, StartsHostsFromTheTemplateAndStopsThem) {
  testutil::TempDir dir;
  // Stands in for berth-agent: records its arguments, then runs until stopped.
  const std::string agent = Script(dir, "agent", R"(echo "$@" > "$(dirname "$4")/args"
exec sleep 300
)");
  auto provider = NewLocalProvider({.agent_binary = agent,
                                    .agent_flags = {"--endpoint", "127.0.0.1:7480"},
                                    .availability_zones = {"az-a", "az-b"},
                                    .work_dir = dir.Sub("hosts"),
                                    .stop_timeout_ms = 5000});
  ASSERT_TRUE(provider.ok()) << provider.status();
  auto ids = (*provider)->Launch(3);
  ASSERT_TRUE(ids.ok()) << ids.status();
  ASSERT_THAT(*ids, SizeIs(3));
  for (size_t i = 0; i < ids->size(); ++i) {
    const std::string host_dir = dir.Sub("hosts/" + (*ids)[i]);
    ASSERT_TRUE(Eventually([&] { return !Read(host_dir + "/args").empty(); })) << (*ids)[i];
    EXPECT_EQ(Read(host_dir + "/args"), "--endpoint 127.0.0.1:7480 --data-dir " + host_dir +
                                            "/data --attribute berth.provider-host-id=" + (*ids)[i] +
                                            " --availability-zone " + (i % 2 == 0 ? "az-a" : "az-b") + "\n");
  }
  EXPECT_TRUE((*provider)->Terminate({(*ids)[0]}).ok());
  absl::Status unknown = (*provider)->Terminate({"local-nope", (*ids)[1]});
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("local-nope"));
  // The rest stop with the provider.
  provider->reset();
  LocalProviderOptions missing;
  missing.agent_binary = dir.Sub("missing");
  missing.work_dir = dir.Sub("x");
  EXPECT_EQ(NewLocalProvider(missing).status().code(), absl::StatusCode::kInvalidArgument);
}

// A provider that counts, for groups.
class CountingProvider final : public InstanceProvider {
 public:
  explicit CountingProvider(bool can_adopt = true) : can_adopt_(can_adopt) {}
  std::string_view kind() const override { return "counting"; }
  bool CanAdopt() const override { return can_adopt_; }
  absl::StatusOr<std::vector<std::string>> Launch(int count, const HostSpec& /*spec*/) override {
    std::vector<std::string> ids;
    for (int i = 0; i < count; ++i) ids.push_back("h" + std::to_string(next_++));
    return ids;
  }
  absl::Status Terminate(const std::vector<std::string>& ids) override {
    terminated.insert(terminated.end(), ids.begin(), ids.end());
    return absl::OkStatus();
  }
  std::vector<std::string> terminated;

 private:
  bool can_adopt_;
  int next_ = 0;
};

TEST(InstanceGroupTest, KeepsTheDesiredSizeWithinMinAndMax) {
  auto provider = std::make_shared<CountingProvider>();
  EXPECT_THAT(std::string(InstanceGroup::Create("g", 2, 1, 1, provider).status().message()), HasSubstr("minSize"));
  EXPECT_THAT(std::string(InstanceGroup::Create("g", 0, 5, 6, provider).status().message()),
              HasSubstr("desiredCapacity"));
  EXPECT_THAT(std::string(InstanceGroup::Create("bad name", 0, 5, 1, provider).status().message()), HasSubstr("name"));
  auto group = InstanceGroup::Create("workers", 1, 5, 3, provider);
  ASSERT_TRUE(group.ok()) << group.status();
  ASSERT_TRUE(group->Reconcile().ok());
  EXPECT_THAT(group->hosts(), ElementsAre("h0", "h1", "h2"));
  EXPECT_EQ(group->SetDesired(6).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(group->SetDesired(0).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(group->SetDesired(1).ok());
  // Drained hosts go first, then the newest.
  ASSERT_TRUE(group->Reconcile({"h0"}).ok());
  EXPECT_THAT(provider->terminated, ElementsAre("h0", "h2"));
  EXPECT_THAT(group->hosts(), ElementsAre("h1"));
  ASSERT_TRUE(group->SetDesired(2).ok());
  ASSERT_TRUE(group->Reconcile().ok());
  EXPECT_THAT(group->hosts(), ElementsAre("h1", "h3"));
}

TEST(InstanceGroupTest, ReplacesBrokenHostsKeepingTheDesiredSize) {
  auto provider = std::make_shared<CountingProvider>();
  auto group = InstanceGroup::Create("workers", 2, 5, 2, provider);
  ASSERT_TRUE(group.ok());
  ASSERT_TRUE(group->Reconcile().ok());
  ASSERT_TRUE(group->Replace({"h0", "unknown"}).ok());
  EXPECT_THAT(provider->terminated, ElementsAre("h0"));
  EXPECT_THAT(group->hosts(), ElementsAre("h1", "h2"));
  EXPECT_EQ(group->desired(), 2);
}

TEST(InstanceGroupTest, AdoptsRunningHostsOnlyWhereTheProviderCan) {
  auto group = InstanceGroup::Create("workers", 0, 3, 1, std::make_shared<CountingProvider>());
  ASSERT_TRUE(group.ok());
  ASSERT_TRUE(group->Adopt("old-1").ok());
  ASSERT_TRUE(group->Adopt("old-1").ok());  // once
  ASSERT_TRUE(group->Adopt("old-2").ok());
  EXPECT_THAT(group->hosts(), ElementsAre("old-1", "old-2"));
  EXPECT_EQ(group->desired(), 2) << "desired follows what the group has";
  ASSERT_TRUE(group->Reconcile().ok());
  EXPECT_THAT(group->hosts(), ElementsAre("old-1", "old-2"));

  auto local_like = InstanceGroup::Create("children", 0, 3, 0, std::make_shared<CountingProvider>(false));
  ASSERT_TRUE(local_like.ok());
  EXPECT_EQ(local_like->Adopt("x").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(local_like->hosts().empty());
}

}  // namespace
}  // namespace berth::controlplane::providers
