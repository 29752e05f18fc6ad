// FARGATE end to end: the real berthd runs its Fargate pool of real berth-agent processes (the
// local provider). The user registers no instance: each FARGATE task gets a host of its own, sized
// to the task, in the availability zone where its group has fewest, hidden from the cluster's
// container instances and stopped when the task stops. With the sim runtime here; the Docker test
// below checks the container's cgroup limits.
#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>

#include "tests/integration/docker_helpers.h"
#include "tests/integration/test_helpers.h"
#include "tests/testutil/agent_process.h"
#include "tests/testutil/berthd_process.h"
#include "tests/testutil/temp_dir.h"

namespace berth::testutil {
namespace {

constexpr char kImage[] = "127.0.0.1:5000/berth/busybox:latest";

// Processes whose command line mentions `needle` (the pool's hosts: their data directories).
int ProcessesMentioning(const std::string& needle) {
  int n = 0;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return -1;
  while (dirent* e = readdir(proc)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    // read(2), not a stream: a process that exits between open and read fails the read with ESRCH,
    // which libstdc++'s filebuf turns into an exception. Such a process is simply not counted.
    const int fd = open((std::string("/proc/") + e->d_name + "/cmdline").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    std::string cmdline;
    char buf[4096];
    ssize_t got = 0;
    while ((got = read(fd, buf, sizeof(buf))) > 0) cmdline.append(buf, static_cast<size_t>(got));
    close(fd);
    if (got == 0 && cmdline.find(needle) != std::string::npos) ++n;
  }
  closedir(proc);
  return n;
}

class FargateTest : public ::testing::Test {
 protected:
  // Starts berthd with a Fargate pool whose hosts run `agent_flags`.
  void Start(const std::string& agent_flags) {
    port_ = FreePort();
    const std::string config = dir_.path() + "/capacity.json";
    std::ofstream(config) << R"({"fargate": {"availabilityZones": ["az-1", "az-2", "az-3"], "maxHosts": 20,
      "intervalSeconds": 0.2, "cleanupSeconds": 0.5, "subnetCidr": "172.31.0.0/20",
      "network": "berth-fargate-test",
      "local": {"agentBinary": ")"
                          << BuiltBinary("src/agent/berth-agent") << R"(", "workDir": ")" << dir_.path()
                          << R"(/hosts", "stopTimeoutSeconds": 5, "agentFlags": [)" << agent_flags << "]}}}";
    berthd_ = std::make_unique<BerthdProcess>(
        dir_.path() + "/berthd",
        std::vector<std::string>{"--grpc-listen", "127.0.0.1:" + std::to_string(port_), "--capacity-config", config,
                                 "--agent-disconnect-after", "5", "--max-poll-wait", "2"});
    ASSERT_TRUE(berthd_->Start()) << berthd_->Log();
    stub_ = berthd_->NewStub();
  }

  template <typename Request, typename Response>
  Response Must(grpc::Status (v1::ContainerService::Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                const std::string& json) {
    return MustCall(*stub_, method, json);
  }

  int Hosts() const { return ProcessesMentioning(dir_.path() + "/hosts/fargate/"); }

  std::vector<v1::Task> Tasks(const std::string& query) {
    v1::ListTasksResponse list;
    Call(*stub_, &v1::ContainerService::Stub::ListTasks, FromJson<v1::ListTasksRequest>(query), &list);
    if (list.task_arns().empty()) return {};
    v1::DescribeTasksRequest describe;
    for (const auto& arn : list.task_arns()) describe.add_tasks(arn);
    v1::DescribeTasksResponse described;
    Call(*stub_, &v1::ContainerService::Stub::DescribeTasks, describe, &described);
    return {described.tasks().begin(), described.tasks().end()};
  }

  v1::Service Service() {
    v1::DescribeServicesResponse resp;
    Call(*stub_, &v1::ContainerService::Stub::DescribeServices,
         FromJson<v1::DescribeServicesRequest>(R"({"services":["api"]})"), &resp);
    return resp.services_size() == 1 ? resp.services(0) : v1::Service();
  }

  TempDir dir_;
  int port_ = 0;
  std::unique_ptr<BerthdProcess> berthd_;
  std::unique_ptr<v1::ContainerService::Stub> stub_;
};

TEST_F(FargateTest, AServiceRunsOnHostsOfItsOwnSpreadOverZonesAndTheyGoWithTheTasks) {
  Start(R"("--runtime", "sim", "--poll-wait", "1", "--stop-timeout", "1")");
  Must(&v1::ContainerService::Stub::RegisterTaskDefinition,
       R"({"family":"api","networkMode":"awsvpc","requiresCompatibilities":["FARGATE"],"cpu":"512",)"
       R"("memory":"1024","containerDefinitions":[{"name":"app","image":"busybox"}]})");
  EXPECT_EQ(Hosts(), 0);

  Must(&v1::ContainerService::Stub::CreateService,
       R"({"serviceName":"api","taskDefinition":"api","launchType":"FARGATE","desiredCount":6})");
  ASSERT_TRUE(WaitFor([&] { return Service().running_count() == 6; }, 120000))
      << "running " << Service().running_count() << "\n"
      << berthd_->Log();
  EXPECT_EQ(Hosts(), 6) << "one host per task";

  std::map<std::string, int> zones;
  std::set<std::string> addresses;
  for (const v1::Task& t : Tasks(R"({"serviceName":"api"})")) {
    EXPECT_EQ(t.launch_type(), "FARGATE");
    EXPECT_EQ(t.container_instance_arn(), "");
    ++zones[t.availability_zone()];
    ASSERT_EQ(t.attachments_size(), 1) << t.DebugString();
    EXPECT_EQ(t.attachments(0).type(), "ElasticNetworkInterface");
    for (const auto& kv : t.attachments(0).details()) {
      if (kv.name() == "privateIPv4Address") addresses.insert(kv.value());
    }
  }
  EXPECT_EQ(zones, (std::map<std::string, int>{{"az-1", 2}, {"az-2", 2}, {"az-3", 2}}));
  EXPECT_EQ(addresses.size(), 6u) << "each task has its own address";
  for (const auto& a : addresses) EXPECT_EQ(a.rfind("172.31.", 0), 0u) << a;

  // The user's cluster shows no instance.
  v1::ListContainerInstancesResponse instances =
      Must(&v1::ContainerService::Stub::ListContainerInstances, R"({"cluster":"default"})");
  EXPECT_EQ(instances.container_instance_arns_size(), 0);
  v1::DescribeClustersResponse clusters = Must(&v1::ContainerService::Stub::DescribeClusters, R"({})");
  EXPECT_EQ(clusters.clusters(0).registered_container_instances_count(), 0);
  EXPECT_EQ(clusters.clusters(0).running_tasks_count(), 6);

  // Scale to two: the stopped tasks' hosts go, the others stay.
  Must(&v1::ContainerService::Stub::UpdateService, R"({"service":"api","desiredCount":2})");
  ASSERT_TRUE(WaitFor([&] { return Hosts() == 2 && Service().running_count() == 2; }, 60000)) << Hosts() << " hosts\n"
                                                                                              << berthd_->Log();

  // A standalone task: its host comes for it and goes when it stops.
  Must(&v1::ContainerService::Stub::RegisterTaskDefinition,
       R"({"family":"job","networkMode":"awsvpc","requiresCompatibilities":["FARGATE"],"cpu":"256",)"
       R"("memory":"512","containerDefinitions":[{"name":"app","image":"busybox"}]})");
  v1::RunTaskResponse run =
      Must(&v1::ContainerService::Stub::RunTask, R"({"taskDefinition":"job","launchType":"FARGATE"})");
  ASSERT_EQ(run.tasks_size(), 1);
  EXPECT_EQ(run.tasks(0).last_status(), "PROVISIONING");
  ASSERT_TRUE(WaitFor([&] { return Hosts() == 3; }, 30000)) << berthd_->Log();
  Must(&v1::ContainerService::Stub::StopTask, R"({"task":")" + run.tasks(0).task_arn() + R"("})");
  ASSERT_TRUE(WaitFor([&] { return Hosts() == 2; }, 60000)) << Hosts() << " hosts\n" << berthd_->Log();

  Must(&v1::ContainerService::Stub::UpdateService, R"({"service":"api","desiredCount":0})");
  ASSERT_TRUE(WaitFor([&] { return Hosts() == 0; }, 60000)) << Hosts() << " hosts\n" << berthd_->Log();
}

class FargateDockerTest : public FargateTest {
 protected:
  void SetUp() override { BERTH_REQUIRE_DOCKER(); }
};

TEST_F(FargateDockerTest, TheContainersCgroupHasTheTaskSize) {
  Start(std::string(R"("--runtime", "docker", "--poll-wait", "1", "--stop-timeout", "1", "--pause-image", ")") +
        kImage + R"(")");
  // Privileged containers are not run on FARGATE: the definition is refused.
  grpc::ClientContext ctx;
  v1::RegisterTaskDefinitionResponse refused;
  const grpc::Status privileged = stub_->RegisterTaskDefinition(
      &ctx,
      FromJson<v1::RegisterTaskDefinitionRequest>(
          std::string(R"({"family":"root","networkMode":"awsvpc","requiresCompatibilities":["FARGATE"],"cpu":"256",)"
                      R"("memory":"512","containerDefinitions":[{"name":"app","image":")") +
          kImage + R"(","privileged":true}]})"),
      &refused);
  EXPECT_EQ(privileged.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(privileged.error_message().find("privileged"), std::string::npos) << privileged.error_message();

  // Two containers: the task's 512 MiB and quarter CPU bind them together (the task cgroup).
  Must(&v1::ContainerService::Stub::RegisterTaskDefinition,
       std::string(R"({"family":"sized","networkMode":"awsvpc","requiresCompatibilities":["FARGATE"],"cpu":"256",)"
                   R"("memory":"512","containerDefinitions":[{"name":"app","image":")") +
           kImage + R"(","command":["sleep","600"]},{"name":"side","image":")" + kImage +
           R"(","command":["sleep","600"]}]})");
  v1::RunTaskResponse run =
      Must(&v1::ContainerService::Stub::RunTask, R"({"taskDefinition":"sized","launchType":"FARGATE"})");
  ASSERT_EQ(run.tasks_size(), 1);
  const std::string arn = run.tasks(0).task_arn();
  const std::string task_id = arn.substr(arn.rfind('/') + 1);
  ASSERT_TRUE(WaitFor(
      [&] {
        auto tasks = Tasks(R"({"family":"sized"})");
        return !tasks.empty() && tasks[0].last_status() == "RUNNING";
      },
      120000))
      << berthd_->Log();

  // Read the limits from inside the container (cgroup v1 or v2).
  const std::string name = Shell("docker ps --filter name=" + task_id + " --format '{{.Names}}' | grep -- '-app-'");
  ASSERT_FALSE(name.empty()) << Shell("docker ps -a");
  const std::string container = name.substr(0, name.find('\n'));
  const std::string memory =
      Shell("docker exec " + container +
            " sh -c 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max'");
  EXPECT_EQ(memory, std::to_string(512LL * 1024 * 1024) + "\n");
  const std::string cpu =
      Shell("docker exec " + container +
            " sh -c 'if [ -f /sys/fs/cgroup/cpu.max ]; then cat /sys/fs/cgroup/cpu.max; else "
            "echo $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us); fi'");
  EXPECT_EQ(cpu, "25000 100000\n") << "256 CPU units: a quarter of a CPU";
  EXPECT_EQ(Shell("docker inspect -f '{{.HostConfig.Privileged}}' " + container), "false\n");
  EXPECT_EQ(Hosts(), 1);

  // The task's cgroup holds the task size, and both containers' processes live below it.
  const bool v2 = Shell("stat -fc %T /sys/fs/cgroup") == "cgroup2fs\n";
  const std::string memory_file = v2 ? "/sys/fs/cgroup/berth/" + task_id + "/memory.max"
                                     : "/sys/fs/cgroup/memory/berth/" + task_id + "/memory.limit_in_bytes";
  EXPECT_EQ(Shell("cat " + memory_file), std::to_string(512LL * 1024 * 1024) + "\n");
  const std::string cpu_file =
      v2 ? "/sys/fs/cgroup/berth/" + task_id + "/cpu.max" : "/sys/fs/cgroup/cpu/berth/" + task_id + "/cpu.cfs_quota_us";
  EXPECT_EQ(Shell("cat " + cpu_file), v2 ? "25000 100000\n" : "25000\n");
  for (const char* which : {"-app-", "-side-"}) {
    const std::string c = Shell("docker ps --filter name=" + task_id + " --format '{{.Names}}' | grep -- '" + which +
                                "' | head -1 | tr -d '\\n'");
    ASSERT_FALSE(c.empty()) << which;
    EXPECT_EQ(Shell("docker inspect -f '{{.HostConfig.CgroupParent}}' " + c), "/berth/" + task_id + "\n");
    const std::string pid = Shell("docker inspect -f '{{.State.Pid}}' " + c + " | tr -d '\\n'");
    EXPECT_NE(Shell("cat /proc/" + pid + "/cgroup").find("/berth/" + task_id + "/"), std::string::npos) << which;
  }
  // What DescribeTasks says of a FARGATE task.
  auto described = Tasks(R"({"family":"sized"})");
  ASSERT_EQ(described.size(), 1u);
  EXPECT_EQ(described[0].platform_version(), "1.4.0");
  EXPECT_EQ(described[0].platform_family(), "Linux");
  EXPECT_EQ(described[0].ephemeral_storage().size_in_gib(), 20);

  Must(&v1::ContainerService::Stub::StopTask, R"({"task":")" + arn + R"("})");
  ASSERT_TRUE(WaitFor([&] { return Hosts() == 0; }, 60000)) << berthd_->Log();
  EXPECT_TRUE(WaitFor([&] { return Shell("docker ps -a --filter name=" + task_id + " -q").empty(); }, 30000))
      << "the task's containers are removed with its host";
  EXPECT_TRUE(WaitFor([&] { return Shell("test -e " + memory_file + " && echo left").empty(); }, 30000))
      << "the task's cgroup goes with it";
}

}  // namespace
}  // namespace berth::testutil
