// berth-bench's machine facts: the DAMON sysfs tree read into the report, and the console note
// only for a kdamond that is on and reclaims.
#include "src/bench/machine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/testutil/temp_dir.h"

namespace berth::bench {
namespace {

void Write(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << text << "\n";
}

TEST(MachineFactsTest, ReadsEveryKdamondsStateAndSchemeActions) {
  testutil::TempDir dir;
  const std::filesystem::path k0 = std::filesystem::path(dir.path()) / "kdamonds/0";
  Write(k0 / "state", "on");
  Write(k0 / "contexts/0/schemes/0/action", "pageout");
  Write(k0 / "contexts/0/schemes/1/action", "stat");
  Write(std::filesystem::path(dir.path()) / "kdamonds/1/state", "off");
  Write(std::filesystem::path(dir.path()) / "kdamonds/nr_kdamonds", "2");  // a file, not a kdamond

  const auto facts = MachineFacts(dir.path());
  EXPECT_FALSE(facts["kernel"].get<std::string>().empty());
  EXPECT_GE(facts["cpus"].get<int64_t>(), 1);
  EXPECT_GT(facts["memory_mib"].get<int64_t>(), 0);
  ASSERT_EQ(facts["damon"].size(), 2u);
  for (const auto& k : facts["damon"]) {
    if (k["kdamond"] == "0") {
      EXPECT_EQ(k["state"], "on");
      std::vector<std::string> actions = k["actions"];
      std::sort(actions.begin(), actions.end());
      EXPECT_EQ(actions, (std::vector<std::string>{"pageout", "stat"}));
    } else {
      EXPECT_EQ(k["kdamond"], "1");
      EXPECT_EQ(k["state"], "off");
      EXPECT_TRUE(k["actions"].empty());
    }
  }
  const std::string note = ReclaimNote(facts);
  EXPECT_NE(note.find("kdamond 0"), std::string::npos) << note;
  EXPECT_NE(note.find("pageout"), std::string::npos) << note;
}

TEST(MachineFactsTest, SaysNothingWithoutAReclaimingKdamond) {
  testutil::TempDir dir;
  const std::filesystem::path k0 = std::filesystem::path(dir.path()) / "kdamonds/0";
  Write(k0 / "state", "off");
  Write(k0 / "contexts/0/schemes/0/action", "pageout");
  EXPECT_EQ(ReclaimNote(MachineFacts(dir.path())), "");

  Write(k0 / "state", "on");
  Write(k0 / "contexts/0/schemes/0/action", "stat");
  EXPECT_EQ(ReclaimNote(MachineFacts(dir.path())), "") << "monitoring alone reclaims nothing";

  const auto none = MachineFacts(dir.Sub("missing"));
  EXPECT_TRUE(none["damon"].empty());
  EXPECT_EQ(ReclaimNote(none), "");
}

}  // namespace
}  // namespace berth::bench
