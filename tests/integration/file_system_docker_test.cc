// Shared file systems with real containers: berthd --file-systems declares what an
// efsVolumeConfiguration's fileSystemId mounts, and two tasks on two different agents see each
// other's writes through it (Docker's local volume driver: a bound directory here, NFS where the
// kernel has an NFS client and the test is given an export).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/integration/docker_helpers.h"
#include "tests/integration/test_helpers.h"
#include "tests/testutil/agent_process.h"
#include "tests/testutil/berthd_process.h"
#include "tests/testutil/temp_dir.h"

namespace berth::testutil {
namespace {

constexpr char kImage[] = "127.0.0.1:5000/berth/busybox:latest";

// "server:/export" from BERTH_TEST_NFS_EXPORT, or why the NFS test cannot run.
std::string NfsUnavailable() {
  std::ifstream in("/proc/filesystems");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.find("\tnfs\n") == std::string::npos && text.find("\tnfs4\n") == std::string::npos) {
    return "this kernel has no NFS client (/proc/filesystems lists neither nfs nor nfs4), so Docker cannot mount "
           "an NFS volume here";
  }
  const char* e = std::getenv("BERTH_TEST_NFS_EXPORT");
  if (e == nullptr || std::string(e).find(":/") == std::string::npos) {
    return "set BERTH_TEST_NFS_EXPORT=server:/export to an NFS export this machine may mount read-write";
  }
  return "";
}

class FileSystemDockerTest : public ::testing::Test {
 protected:
  // Starts berthd with `file_systems` (the --file-systems JSON) and two docker agents.
  void Start(const std::string& file_systems) {
    cluster_ = "fstest" + std::to_string(getpid());
    port_ = FreePort();
    const std::string config = dir_.path() + "/file-systems.json";
    std::ofstream(config) << file_systems;
    berthd_ = std::make_unique<BerthdProcess>(
        dir_.path() + "/berthd",
        std::vector<std::string>{"--grpc-listen", "127.0.0.1:" + std::to_string(port_), "--file-systems", config});
    ASSERT_TRUE(berthd_->Start()) << berthd_->Log();
    stub_ = berthd_->NewStub();
    Must(&v1::ContainerService::Stub::CreateCluster, R"({"clusterName":")" + cluster_ + R"("})");
    for (const char* name : {"a", "b"}) {
      auto agent = std::make_unique<AgentProcess>(
          dir_.path() + "/agent-" + name,
          std::vector<std::string>{"--endpoint", "127.0.0.1:" + std::to_string(port_), "--cluster", cluster_,
                                   "--runtime", "docker", "--cpu", "1024", "--memory", "1024", "--poll-wait", "2",
                                   "--stop-timeout", "1", "--pause-image", kImage});
      ASSERT_TRUE(agent->Start()) << agent->Log();
      agents_.push_back(std::move(agent));
    }
  }

  void TearDown() override {
    for (auto& a : agents_) a->Kill();
    if (!cluster_.empty()) {
      Shell("docker ps -aq --filter label=com.berth.cluster=" + cluster_ + " | xargs -r docker rm -f >/dev/null 2>&1");
      // The tasks' volumes (labelled with their task ARNs, which name the cluster).
      Shell("docker volume ls --format '{{.Name}} {{.Labels}}' | grep -F 'task/" + cluster_ +
            "/' | cut -d' ' -f1 | xargs -r docker volume rm >/dev/null 2>&1");
    }
  }

  template <typename Request, typename Response>
  Response Must(grpc::Status (v1::ContainerService::Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                const std::string& json) {
    return MustCall(*stub_, method, json);
  }

  // A task of `family` on agent `agent`, running `script` with the shared volume at /shared.
  std::string StartOn(size_t agent, const std::string& family, const std::string& file_system,
                      const std::string& script) {
    Must(&v1::ContainerService::Stub::RegisterTaskDefinition,
         R"({"family":")" + family + R"(","volumes":[{"name":"shared","efsVolumeConfiguration":{"fileSystemId":")" +
             file_system + R"(","rootDirectory":"/data"}}],"containerDefinitions":[{"name":"app","image":")" + kImage +
             R"(","memory":64,"command":["sh","-c",")" + script +
             R"("],"mountPoints":[{"sourceVolume":"shared","containerPath":"/shared"}]}]})");
    v1::StartTaskResponse started = Must(&v1::ContainerService::Stub::StartTask,
                                         R"({"cluster":")" + cluster_ + R"(","taskDefinition":")" + family +
                                             R"(","containerInstances":[")" + agents_[agent]->instance_id() + R"("]})");
    EXPECT_EQ(started.tasks_size(), 1) << started.DebugString();
    return started.tasks_size() == 1 ? started.tasks(0).task_arn() : "";
  }

  std::string Why() {
    std::string out = berthd_->Log();
    for (auto& a : agents_) out += "\nagent log:\n" + a->Log();
    return out;
  }

  // One task writes, a task on the other agent reads what it wrote and writes its answer.
  void ExpectSharedWrites(const std::string& file_system, const std::function<std::string(std::string)>& read_back) {
    const std::string writer = StartOn(0, "writer", file_system, "echo written-by-a > /shared/a.txt; sleep 300");
    const std::string reader =
        StartOn(1, "reader", file_system,
                "while [ ! -s /shared/a.txt ]; do sleep 0.2; done; cat /shared/a.txt > /shared/b.txt; sleep 300");
    ASSERT_FALSE(writer.empty());
    ASSERT_FALSE(reader.empty());
    ASSERT_TRUE(WaitFor([&] { return read_back("b.txt") == "written-by-a\n"; }, 90000))
        << "b.txt: '" << read_back("b.txt") << "'\n"
        << Why();
  }

  TempDir dir_;
  std::string cluster_;
  int port_ = 0;
  std::unique_ptr<BerthdProcess> berthd_;
  std::unique_ptr<v1::ContainerService::Stub> stub_;
  std::vector<std::unique_ptr<AgentProcess>> agents_;
};

TEST_F(FileSystemDockerTest, TwoTasksOnTwoAgentsShareALocalFileSystem) {
  BERTH_REQUIRE_DOCKER();
  const std::string shared = dir_.path() + "/shared";
  std::filesystem::create_directories(shared + "/data");
  ASSERT_NO_FATAL_FAILURE(
      Start(R"({"fileSystems":[{"fileSystemId":"fs-local01","local":{"path":")" + shared + R"("}}]})"));
  ExpectSharedWrites("fs-local01", [&](const std::string& name) {
    std::ifstream in(shared + "/data/" + name);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  });

  // A file system berthd does not declare is refused at launch, naming the volume.
  Must(&v1::ContainerService::Stub::RegisterTaskDefinition,
       R"({"family":"nowhere","volumes":[{"name":"v","efsVolumeConfiguration":{"fileSystemId":"fs-0badf00d"}}],)"
       R"("containerDefinitions":[{"name":"app","image":"busybox","memory":64}]})");
  v1::RunTaskResponse refused;
  grpc::Status s =
      Call(*stub_, &v1::ContainerService::Stub::RunTask,
           FromJson<v1::RunTaskRequest>(R"({"cluster":")" + cluster_ + R"(","taskDefinition":"nowhere"})"), &refused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("volumes[0].efsVolumeConfiguration.fileSystemId: file system 'fs-0badf00d' is "
                                   "not declared"),
            std::string::npos)
      << s.error_message();
}

TEST_F(FileSystemDockerTest, TwoTasksOnTwoAgentsShareAnNfsExport) {
  BERTH_REQUIRE_DOCKER();
  if (std::string why = NfsUnavailable(); !why.empty()) GTEST_SKIP() << "NFS volumes not tested: " << why;
  const std::string spec = std::getenv("BERTH_TEST_NFS_EXPORT");
  const std::string server = spec.substr(0, spec.find(':'));
  const std::string exported = spec.substr(spec.find(':') + 1);
  ASSERT_NO_FATAL_FAILURE(Start(R"({"fileSystems":[{"fileSystemId":"fs-nfs01","nfs":{"server":")" + server +
                                R"(","export":")" + exported + R"(","options":"nfsvers=4,rw"}}]})"));
  // The export must hold a directory "data"; read back through a container of our own.
  ExpectSharedWrites("fs-nfs01", [&](const std::string& name) {
    return Shell(
        "docker run --rm --mount 'type=volume,dst=/m,volume-driver=local,volume-opt=type=nfs,volume-opt=o=addr=" +
        server + ",nfsvers=4,volume-opt=device=:" + exported + "/data' " + kImage + " cat /m/" + name + " 2>/dev/null");
  });
}

}  // namespace
}  // namespace berth::testutil
