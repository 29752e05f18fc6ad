// Shared file systems (src/controlplane/actions/file_systems.h): the --file-systems file, the launch
// checks of efsVolumeConfiguration volumes, and the mounts berthd sends the agent.
#include "src/controlplane/actions/file_systems.h"

#include <future>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/controlplane/api_fixture.h"

namespace berth::controlplane {
namespace {

using ::testing::HasSubstr;

TEST(FileSystemsTest, ParsesNfsAndLocalAndNamesTheFieldOfEveryMistake) {
  auto fs = ParseFileSystems(R"({"fileSystems":[
      {"fileSystemId":"fs-0123abcd","nfs":{"server":"10.0.0.5","export":"/srv/shared","options":"nfsvers=4.1"}},
      {"fileSystemId":"fs-local","local":{"path":"/mnt/shared/"}}]})");
  ASSERT_TRUE(fs.ok()) << fs.status();
  ASSERT_EQ(fs->size(), 2u);
  EXPECT_EQ(fs->at("fs-0123abcd").server, "10.0.0.5");
  EXPECT_EQ(fs->at("fs-local").kind, FileSystem::Kind::kLocal);

  const std::pair<std::string, std::string> bad[] = {
      {"{}", "fileSystems: required"},
      {R"({"fileSystems":[{"nfs":{}}]})", "fileSystems[0].fileSystemId: required"},
      {R"({"fileSystems":[{"fileSystemId":"efs1","local":{"path":"/x"}}]})",
       "fileSystems[0].fileSystemId: must be fs-"},
      {R"({"fileSystems":[{"fileSystemId":"fs-a"}]})", "give exactly one of nfs and local"},
      {R"({"fileSystems":[{"fileSystemId":"fs-a","nfs":{"export":"/x"}}]})", "fileSystems[0].nfs.server: required"},
      {R"({"fileSystems":[{"fileSystemId":"fs-a","nfs":{"server":"h:2049","export":"/x"}}]})", "nfs.server: a host"},
      {R"({"fileSystems":[{"fileSystemId":"fs-a","nfs":{"server":"h","export":"x"}}]})",
       "nfs.export: must be an absolute"},
      {R"({"fileSystems":[{"fileSystemId":"fs-a","nfs":{"server":"h","export":"/x","options":"addr=1.2.3.4"}}]})",
       "nfs.options: addr= comes from server"},
      {R"({"fileSystems":[{"fileSystemId":"fs-a","local":{"path":"/x","mode":"rw"}}]})", "local.mode: unknown setting"},
      {R"({"fileSystems":[{"fileSystemId":"fs-a","local":{"path":"/x"}},{"fileSystemId":"fs-a","local":{"path":"/y"}}]})",
       "fileSystems[1].fileSystemId: 'fs-a' is declared twice"},
  };
  for (const auto& [json, error] : bad) {
    auto parsed = ParseFileSystems(json);
    ASSERT_FALSE(parsed.ok()) << json;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(error)) << json;
  }
}

TEST(FileSystemsTest, MountsJoinTheRootDirectoryUnderTheExport) {
  FileSystem nfs{
      .kind = FileSystem::Kind::kNfs, .server = "10.0.0.5", .path = "/srv/shared/", .options = "nfsvers=4.1"};
  v1::EFSVolumeConfiguration efs;
  efs.set_file_system_id("fs-a");
  efs.set_root_directory("/app/data");
  v1::SharedFileSystem m = MountFor(nfs, efs, "shared");
  EXPECT_EQ(m.volume_name(), "shared");
  EXPECT_EQ(m.type(), "nfs");
  EXPECT_EQ(m.device(), ":/srv/shared/app/data");
  EXPECT_EQ(m.options(), "addr=10.0.0.5,nfsvers=4.1");
  efs.clear_root_directory();
  nfs.options.clear();
  m = MountFor(nfs, efs, "shared");
  EXPECT_EQ(m.device(), ":/srv/shared");
  EXPECT_EQ(m.options(), "addr=10.0.0.5");
  FileSystem local{.kind = FileSystem::Kind::kLocal, .server = "", .path = "/", .options = ""};
  efs.set_root_directory("/x");
  m = MountFor(local, efs, "v");
  EXPECT_EQ(m.type(), "bind");
  EXPECT_EQ(m.device(), "/x");

  FileSystems declared = {{"fs-a", nfs}};
  EXPECT_TRUE(CheckEfsVolume(declared, efs, "volumes[0].efsVolumeConfiguration").ok());
  efs.set_root_directory("/../etc");
  EXPECT_THAT(std::string(CheckEfsVolume(declared, efs, "v").message()), HasSubstr("v.rootDirectory"));
  efs.set_root_directory("/");
  efs.set_transit_encryption("ENABLED");
  EXPECT_TRUE(absl::IsUnimplemented(CheckEfsVolume(declared, efs, "v")));
  efs.set_file_system_id("fs-b");
  EXPECT_THAT(std::string(CheckEfsVolume(declared, efs, "v").message()),
              HasSubstr("v.fileSystemId: file system 'fs-b' is not declared"));
}

class FileSystemApiTest : public ApiFixture {
 protected:
  ApiOptions Options() const override {
    ApiOptions o;
    o.file_systems = {
        {"fs-a", FileSystem{.kind = FileSystem::Kind::kNfs, .server = "nfs1", .path = "/exp", .options = ""}}};
    return o;
  }
};

TEST_F(FileSystemApiTest, LaunchesCheckTheFileSystemAndTheAgentIsToldHowToMountIt) {
  const std::string instance = AddInstance("default", 1024, 1024);
  auto define = [&](const std::string& family, const std::string& efs) {
    v1::RegisterTaskDefinitionResponse r;
    ASSERT_TRUE(Do(&TaskDefinitionActions::RegisterTaskDefinition,
                   Json<v1::RegisterTaskDefinitionRequest>(
                       R"({"family":")" + family + R"(","volumes":[{"name":"data","efsVolumeConfiguration":)" + efs +
                       R"(}],"containerDefinitions":[{"name":"app","image":"busybox","memory":64,)"
                       R"("mountPoints":[{"sourceVolume":"data","containerPath":"/data"}]}]})"),
                   &r)
                    .ok());
  };
  define("good", R"({"fileSystemId":"fs-a","rootDirectory":"/team"})");
  define("unknown", R"({"fileSystemId":"fs-zz"})");
  define("tls", R"({"fileSystemId":"fs-a","transitEncryption":"ENABLED"})");

  absl::Status unknown = Do<v1::RunTaskResponse>(&TaskActions::RunTask, R"({"taskDefinition":"unknown"})");
  EXPECT_TRUE(absl::IsInvalidArgument(unknown));
  EXPECT_THAT(std::string(unknown.message()),
              HasSubstr("unknown:1 volumes[0].efsVolumeConfiguration.fileSystemId: file system 'fs-zz'"));
  absl::Status tls = Do<v1::RunTaskResponse>(&TaskActions::RunTask, R"({"taskDefinition":"tls"})");
  EXPECT_TRUE(absl::IsUnimplemented(tls)) << tls;

  v1::RunTaskResponse run;
  ASSERT_TRUE(Do(&TaskActions::RunTask, Json<v1::RunTaskRequest>(R"({"taskDefinition":"good"})"), &run).ok());
  ASSERT_EQ(run.tasks_size(), 1);
  v1::PollResponse poll;
  ASSERT_TRUE(PollNow(instance, &poll).ok());
  ASSERT_EQ(poll.tasks_size(), 1);
  ASSERT_EQ(poll.tasks(0).file_systems_size(), 1);
  const v1::SharedFileSystem& m = poll.tasks(0).file_systems(0);
  EXPECT_EQ(m.volume_name(), "data");
  EXPECT_EQ(m.type(), "nfs");
  EXPECT_EQ(m.device(), ":/exp/team");
  EXPECT_EQ(m.options(), "addr=nfs1");
}

}  // namespace
}  // namespace berth::controlplane
