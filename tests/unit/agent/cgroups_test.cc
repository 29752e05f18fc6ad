// TaskCgroups over a directory standing in for the cgroup mount: what it creates and writes for
// cgroup v1 and v2. (The real hierarchy is exercised by the FARGATE Docker integration test.)
#include "src/agent/cgroups.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/testutil/temp_dir.h"

namespace berth::agent {
namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(TaskCgroupsTest, QuotaIsTheTasksShareOfEachPeriodAndNeverBelowTheKernelsMinimum) {
  EXPECT_EQ(TaskCgroups::QuotaMicros(1024), 100'000);
  EXPECT_EQ(TaskCgroups::QuotaMicros(256), 25'000);
  EXPECT_EQ(TaskCgroups::QuotaMicros(4096), 400'000);
  EXPECT_EQ(TaskCgroups::QuotaMicros(2), 1'000);
}

TEST(TaskCgroupsTest, V1WritesMemoryAndCpuLimitsInTheTasksOwnCgroups) {
  testutil::TempDir root;
  std::filesystem::create_directories(root.Sub("memory"));
  std::filesystem::create_directories(root.Sub("cpu"));
  TaskCgroups cgroups({root.path(), 1, "berth"});
  auto parent = cgroups.Create("0123abcd", 512, 1024);
  ASSERT_TRUE(parent.ok()) << parent.status();
  EXPECT_EQ(*parent, "/berth/0123abcd");
  EXPECT_EQ(Read(root.Sub("memory/berth/0123abcd/memory.limit_in_bytes")), "1073741824");
  EXPECT_EQ(Read(root.Sub("cpu/berth/0123abcd/cpu.shares")), "512");
  EXPECT_EQ(Read(root.Sub("cpu/berth/0123abcd/cpu.cfs_period_us")), "100000");
  EXPECT_EQ(Read(root.Sub("cpu/berth/0123abcd/cpu.cfs_quota_us")), "50000");

  // Again (an agent restarted before the task's containers were made): the same, no error.
  ASSERT_TRUE(cgroups.Create("0123abcd", 512, 1024).ok());
  // Memory only: no cpu files.
  ASSERT_TRUE(cgroups.Create("memonly", 0, 256).ok());
  EXPECT_EQ(Read(root.Sub("memory/berth/memonly/memory.limit_in_bytes")), "268435456");
  EXPECT_FALSE(std::filesystem::exists(root.Sub("cpu/berth/memonly/cpu.cfs_quota_us")));
  // Removing what does not exist is success.
  EXPECT_TRUE(cgroups.Remove("never-made").ok());
}

TEST(TaskCgroupsTest, V2EnablesTheControllersAndWritesMaxAndWeight) {
  testutil::TempDir root;
  TaskCgroups cgroups({root.path(), 2, "berth"});
  auto parent = cgroups.Create("feed", 256, 512);
  ASSERT_TRUE(parent.ok()) << parent.status();
  EXPECT_EQ(*parent, "/berth/feed");
  EXPECT_EQ(Read(root.Sub("cgroup.subtree_control")), "+cpu +memory");
  EXPECT_EQ(Read(root.Sub("berth/cgroup.subtree_control")), "+cpu +memory");
  EXPECT_EQ(Read(root.Sub("berth/feed/memory.max")), "536870912");
  EXPECT_EQ(Read(root.Sub("berth/feed/cpu.max")), "25000 100000");
  EXPECT_EQ(Read(root.Sub("berth/feed/cpu.weight")), "10");  // runc's conversion of 256 shares
}

TEST(TaskCgroupsTest, AMissingHierarchyIsAnErrorNamingThePath) {
  testutil::TempDir root;  // no memory/ or cpu/ below it
  TaskCgroups cgroups({root.Sub("absent"), 1, "berth"});
  auto parent = cgroups.Create("t", 256, 512);
  ASSERT_FALSE(parent.ok());
  EXPECT_NE(parent.status().message().find(root.Sub("absent") + "/memory/berth"), std::string::npos)
      << parent.status();
}

TEST(TaskCgroupsTest, VersionOfAPlainDirectoryIsOne) {
  testutil::TempDir root;
  EXPECT_EQ(TaskCgroups::DetectVersion(root.path()), 1);
}

}  // namespace
}  // namespace berth::agent
