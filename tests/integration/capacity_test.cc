// Managed scaling end to end: the real berthd runs an instance group of real berth-agent
// processes (the local provider, sim runtime); a capacity provider with managed scaling starts the
// hosts a service needs from none, and drains and stops them when the service scales to zero.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "tests/integration/test_helpers.h"
#include "tests/testutil/agent_process.h"
#include "tests/testutil/berthd_process.h"
#include "tests/testutil/temp_dir.h"

namespace berth::testutil {
namespace {

class CapacityTest : public ::testing::Test {
 protected:
  virtual std::string AgentBinary() const { return BuiltBinary("src/agent/berth-agent"); }

  void SetUp() override {
    port_ = FreePort();
    const std::string config = dir_.path() + "/capacity.json";
    std::ofstream(config) << R"({"intervalSeconds": 0.5, "instanceGroups": [{
      "name": "web-hosts", "cluster": "default", "minSize": 0, "maxSize": 20, "hostCpu": 2048, "hostMemory": 2048,
      "local": {"agentBinary": ")"
                          << AgentBinary() << R"(", "workDir": ")" << dir_.path()
                          << R"(/hosts", "availabilityZones": ["az-1", "az-2"], "stopTimeoutSeconds": 5,
                "agentFlags": ["--runtime", "sim", "--poll-wait", "1", "--stop-timeout", "1"]}}]})";
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

  // Connected instances of the group, by provider host id.
  std::set<std::string> GroupHosts() {
    v1::ListContainerInstancesResponse list;
    if (!Call(*stub_, &v1::ContainerService::Stub::ListContainerInstances, v1::ListContainerInstancesRequest(), &list)
             .ok() ||
        list.container_instance_arns().empty()) {
      return {};
    }
    v1::DescribeContainerInstancesRequest describe;
    for (const auto& arn : list.container_instance_arns()) describe.add_container_instances(arn);
    v1::DescribeContainerInstancesResponse described;
    if (!Call(*stub_, &v1::ContainerService::Stub::DescribeContainerInstances, describe, &described).ok()) return {};
    std::set<std::string> hosts;
    for (const auto& ci : described.container_instances()) {
      if (ci.capacity_provider_name() != "web") continue;
      for (const auto& a : ci.attributes()) {
        if (a.name() == "berth.provider-host-id") hosts.insert(a.value());
      }
    }
    return hosts;
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

TEST_F(CapacityTest, AServiceScalesItsCapacityProviderOutFromNothingAndBackIn) {
  Must(&v1::ContainerService::Stub::CreateCapacityProvider,
       R"({"name":"web","autoScalingGroupProvider":{"autoScalingGroupArn":"web-hosts",)"
       R"("managedScaling":{"status":"ENABLED","targetCapacity":100,"maximumScalingStepSize":20},)"
       R"("managedTerminationProtection":"ENABLED"}})");
  Must(&v1::ContainerService::Stub::PutClusterCapacityProviders,
       R"({"cluster":"default","capacityProviders":["web"],)"
       R"("defaultCapacityProviderStrategy":[{"capacityProvider":"web","weight":1}]})");
  Must(&v1::ContainerService::Stub::RegisterTaskDefinition,
       R"({"family":"api","containerDefinitions":[{"name":"app","image":"busybox","cpu":512,"memory":512}]})");
  EXPECT_TRUE(GroupHosts().empty()) << "no host before there is work";

  // 50 tasks of 512 CPU / 512 MiB on hosts of 2048 / 2048: 13 hosts.
  v1::CreateServiceResponse created = Must(&v1::ContainerService::Stub::CreateService,
                                           R"({"serviceName":"api","taskDefinition":"api","desiredCount":50})");
  ASSERT_EQ(created.service().capacity_provider_strategy_size(), 1);
  ASSERT_TRUE(WaitFor([&] { return Service().running_count() == 50; }, 120000))
      << "running " << Service().running_count() << "\n"
      << berthd_->Log();
  EXPECT_EQ(GroupHosts().size(), 13u) << berthd_->Log();

  // Scale to zero: the idle hosts are drained, stopped and deregistered (min 0).
  Must(&v1::ContainerService::Stub::UpdateService, R"({"service":"api","desiredCount":0})");
  ASSERT_TRUE(WaitFor([&] { return GroupHosts().empty(); }, 120000)) << GroupHosts().size() << " hosts left\n"
                                                                     << berthd_->Log();
  v1::ListContainerInstancesResponse left =
      Must(&v1::ContainerService::Stub::ListContainerInstances, R"({"status":"ACTIVE"})");
  EXPECT_EQ(left.container_instance_arns_size(), 0);
}

TEST_F(CapacityTest, AfterARestartTheHostsOfTheOldBerthdAreReplaced) {
  Must(&v1::ContainerService::Stub::CreateCapacityProvider,
       R"({"name":"web","autoScalingGroupProvider":{"autoScalingGroupArn":"web-hosts",)"
       R"("managedScaling":{"status":"ENABLED"}}})");
  Must(&v1::ContainerService::Stub::PutClusterCapacityProviders,
       R"({"cluster":"default","capacityProviders":["web"],)"
       R"("defaultCapacityProviderStrategy":[{"capacityProvider":"web","weight":1}]})");
  Must(&v1::ContainerService::Stub::RegisterTaskDefinition,
       R"({"family":"api","containerDefinitions":[{"name":"app","image":"busybox","cpu":512,"memory":512}]})");
  Must(&v1::ContainerService::Stub::CreateService, R"({"serviceName":"api","taskDefinition":"api","desiredCount":4})");
  ASSERT_TRUE(WaitFor([&] { return Service().running_count() == 4; }, 60000)) << berthd_->Log();
  const std::set<std::string> before = GroupHosts();
  ASSERT_EQ(before.size(), 1u);

  // A restart stops the local hosts with the old berthd; the new one deregisters their instance
  // once it is seen disconnected, the service replaces its tasks, and a new host runs them.
  ASSERT_EQ(berthd_->Terminate(), 0) << berthd_->Log();
  ASSERT_TRUE(berthd_->Start()) << berthd_->Log();
  stub_ = berthd_->NewStub();
  ASSERT_TRUE(WaitFor(
      [&] {
        std::set<std::string> now = GroupHosts();
        return now.size() == 1 && *now.begin() != *before.begin() && Service().running_count() == 4;
      },
      120000))
      << berthd_->Log();
}

// Hosts whose agent never registers (here: the "agent" exits at once) are replaced once the
// provider's instanceWarmupPeriod has passed, and the task keeps waiting.
class BrokenHostsTest : public CapacityTest {
 protected:
  std::string AgentBinary() const override { return "/bin/false"; }
};

TEST_F(BrokenHostsTest, HostsThatNeverRegisterAreReplacedAfterTheWarmupPeriod) {
  Must(&v1::ContainerService::Stub::CreateCapacityProvider,
       R"({"name":"web","autoScalingGroupProvider":{"autoScalingGroupArn":"web-hosts",)"
       R"("managedScaling":{"status":"ENABLED","instanceWarmupPeriod":1}}})");
  Must(&v1::ContainerService::Stub::PutClusterCapacityProviders,
       R"({"cluster":"default","capacityProviders":["web"],"defaultCapacityProviderStrategy":[]})");
  Must(&v1::ContainerService::Stub::RegisterTaskDefinition,
       R"({"family":"api","containerDefinitions":[{"name":"app","image":"busybox","cpu":512,"memory":512}]})");
  v1::RunTaskResponse run =
      Must(&v1::ContainerService::Stub::RunTask,
           R"({"taskDefinition":"api","capacityProviderStrategy":[{"capacityProvider":"web","weight":1}]})");
  ASSERT_EQ(run.tasks_size(), 1);
  EXPECT_EQ(run.tasks(0).last_status(), "PROVISIONING");
  auto replacements = [&] {
    const std::string log = berthd_->Log();
    int n = 0;
    for (size_t at = log.find("did not register within"); at != std::string::npos;
         at = log.find("did not register within", at + 1)) {
      ++n;
    }
    return n;
  };
  ASSERT_TRUE(WaitFor([&] { return replacements() >= 2; }, 30000)) << berthd_->Log();
  EXPECT_TRUE(GroupHosts().empty());
}

}  // namespace
}  // namespace berth::testutil
