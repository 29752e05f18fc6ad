// FARGATE in the Api (docs/capacity.md, "FARGATE"): tasks wait in PROVISIONING for the host started
// for each of them, are placed only there, and the hosts are hidden from the user's container
// instance actions; the launch rules; the Fargate snapshot the capacity controller reads.
#include <map>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "src/controlplane/actions/capacity_controller.h"
#include "src/controlplane/doors/errors.h"
#include "tests/unit/controlplane/api_fixture.h"

namespace berth::controlplane {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kSecond = 1'000'000;

class FargateTest : public ApiFixture {
 protected:
  ApiOptions Options() const override {
    ApiOptions o;
    o.capacity.fargate = fargate_;
    o.capacity.max_provisioning_per_cluster = 3;
    o.capacity.provisioning_timeout_us = 600 * kSecond;
    return o;
  }

  void SetUp() override {
    ApiFixture::SetUp();
    v1::RegisterTaskDefinitionResponse resp;
    ASSERT_TRUE(Do(&TaskDefinitionActions::RegisterTaskDefinition,
                   Json<v1::RegisterTaskDefinitionRequest>(
                       R"({"family":"web","networkMode":"awsvpc","requiresCompatibilities":["FARGATE"],)"
                       R"("cpu":"256","memory":"512","containerDefinitions":[{"name":"app","image":"busybox"}]})"),
                   &resp)
                    .ok());
    AddTaskDefinition("ec2", 256, 512);  // bridge: EC2 only
  }

  absl::StatusOr<v1::RunTaskResponse> Run(const std::string& json) {
    v1::RunTaskResponse resp;
    absl::Status s = Do(&TaskActions::RunTask, Json<v1::RunTaskRequest>(json), &resp);
    if (!s.ok()) return s;
    return resp;
  }

  v1::Task DescribeTask(const std::string& arn) {
    v1::DescribeTasksResponse resp;
    EXPECT_TRUE(
        Do(&TaskActions::DescribeTasks, Json<v1::DescribeTasksRequest>(R"({"tasks":[")" + arn + R"("]})"), &resp).ok());
    return resp.tasks_size() == 1 ? resp.tasks(0) : v1::Task();
  }

  // Registers the host berthd would start for task `task_id`; returns its instance id.
  std::string AddFargateHost(const std::string& task_id, const std::string& host_id, int cpu, int memory,
                             const std::string& zone) {
    v1::RegisterContainerInstanceResponse resp;
    absl::Status s = Do(&InstanceActions::RegisterContainerInstance,
                        Json<v1::RegisterContainerInstanceRequest>(
                            R"({"cluster":"default","totalResources":[{"name":"CPU","type":"INTEGER","integerValue":)" +
                            std::to_string(cpu) + R"(},{"name":"MEMORY","type":"INTEGER","integerValue":)" +
                            std::to_string(memory) + R"(}],"attributes":[{"name":"berth.fargate-task","value":")" +
                            task_id + R"("},{"name":"berth.provider-host-id","value":")" + host_id +
                            R"("},{"name":"ecs.availability-zone","value":")" + zone + R"("}]})"),
                        &resp);
    EXPECT_TRUE(s.ok()) << s;
    const std::string& arn = resp.container_instance().container_instance_arn();
    return arn.substr(arn.rfind('/') + 1);
  }

  void CapacityPass() {
    clock_.Advance(2 * kSecond);
    Flush();
    api_->capacity().CapacityTick();
    Flush();
  }

  static std::string IdOf(const std::string& arn) { return arn.substr(arn.rfind('/') + 1); }

  bool fargate_ = true;
};

TEST_F(FargateTest, TasksWaitForTheirOwnHostWhichIsHidden) {
  const std::string ec2_instance = AddInstance("default", 4096, 8192);
  auto run = Run(R"({"taskDefinition":"web","launchType":"FARGATE","count":2})");
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->tasks_size(), 2);
  for (const auto& t : run->tasks()) {
    EXPECT_EQ(t.last_status(), "PROVISIONING");
    EXPECT_EQ(t.launch_type(), "FARGATE");
    EXPECT_EQ(t.container_instance_arn(), "");
  }
  const std::string first = IdOf(run->tasks(0).task_arn());
  const std::string second = IdOf(run->tasks(1).task_arn());

  // What the capacity controller sees: two tasks waiting, with their size.
  CapacityActions::FargateUsage usage = api_->capacity().FargateSnapshot({});
  ASSERT_EQ(usage.waiting.size(), 2u);
  EXPECT_EQ(usage.waiting[0].cpu, 256);
  EXPECT_EQ(usage.waiting[0].memory, 512);
  EXPECT_EQ(usage.waiting[0].group, "family:web");
  EXPECT_TRUE(usage.live.contains("default/" + first));

  // An EC2 instance with room never takes a FARGATE task.
  CapacityPass();
  EXPECT_EQ(DescribeTask(run->tasks(0).task_arn()).last_status(), "PROVISIONING");

  // The second task's host is big, and takes neither the first task nor EC2 tasks.
  const std::string big = AddFargateHost(second, "h-2", 4096, 8192, "zone-b");
  ASSERT_TRUE(Do<v1::DeregisterContainerInstanceResponse>(&InstanceActions::DeregisterContainerInstance,
                                                          R"({"containerInstance":")" + ec2_instance + R"("})")
                  .ok());
  auto ec2 = Run(R"({"taskDefinition":"ec2"})");
  ASSERT_TRUE(ec2.ok());
  ASSERT_EQ(ec2->failures_size(), 1);
  EXPECT_EQ(ec2->failures(0).reason(), "ATTRIBUTE");
  const std::string small = AddFargateHost(first, "h-1", 256, 512, "zone-a");
  CapacityPass();
  const v1::Task a = DescribeTask(run->tasks(0).task_arn());
  const v1::Task b = DescribeTask(run->tasks(1).task_arn());
  EXPECT_EQ(a.last_status(), "PENDING");
  EXPECT_EQ(b.last_status(), "PENDING");
  EXPECT_EQ(a.availability_zone(), "zone-a");
  EXPECT_EQ(b.availability_zone(), "zone-b");
  EXPECT_EQ(a.container_instance_arn(), "") << "ECS shows no container instance for a FARGATE task";

  // Each host's agent is told to run its own task, with the task's size.
  v1::PollResponse poll;
  ASSERT_TRUE(PollNow(small, &poll).ok());
  ASSERT_EQ(poll.tasks_size(), 1);
  EXPECT_EQ(poll.tasks(0).task_arn(), a.task_arn());
  EXPECT_EQ(poll.tasks(0).task_cpu(), 256);
  EXPECT_EQ(poll.tasks(0).task_memory(), 512);
  EXPECT_EQ(poll.tasks(0).ephemeral_storage_mib(), 20 * 1024) << "ECS's default for FARGATE";
  v1::PollResponse poll_big;
  ASSERT_TRUE(PollNow(big, &poll_big).ok());
  ASSERT_EQ(poll_big.tasks_size(), 1);
  EXPECT_EQ(poll_big.tasks(0).task_arn(), b.task_arn());

  // Hidden: not listed, not counted, not described, no attributes to read or write.
  v1::ListContainerInstancesResponse list;
  ASSERT_TRUE(Do(&InstanceActions::ListContainerInstances, v1::ListContainerInstancesRequest(), &list).ok());
  EXPECT_EQ(list.container_instance_arns_size(), 0);
  v1::DescribeClustersResponse clusters;
  ASSERT_TRUE(Do(&ClusterActions::DescribeClusters, v1::DescribeClustersRequest(), &clusters).ok());
  EXPECT_EQ(clusters.clusters(0).registered_container_instances_count(), 0);
  EXPECT_EQ(clusters.clusters(0).pending_tasks_count(), 2);
  v1::DescribeContainerInstancesResponse described;
  ASSERT_TRUE(Do(&InstanceActions::DescribeContainerInstances,
                 Json<v1::DescribeContainerInstancesRequest>(R"({"containerInstances":[")" + small + R"("]})"),
                 &described)
                  .ok());
  EXPECT_EQ(described.container_instances_size(), 0);
  ASSERT_EQ(described.failures_size(), 1);
  EXPECT_EQ(described.failures(0).reason(), "MISSING");
  v1::ListAttributesResponse attributes;
  ASSERT_TRUE(Do(&InstanceActions::ListAttributes,
                 Json<v1::ListAttributesRequest>(R"({"targetType":"container-instance"})"), &attributes)
                  .ok());
  EXPECT_EQ(attributes.attributes_size(), 0);
  EXPECT_FALSE(Do<v1::PutAttributesResponse>(&InstanceActions::PutAttributes,
                                             R"({"attributes":[{"name":"x","targetId":")" + small + R"("}]})")
                   .ok());
  v1::UpdateContainerInstancesStateResponse drained;
  ASSERT_TRUE(Do(&InstanceActions::UpdateContainerInstancesState,
                 Json<v1::UpdateContainerInstancesStateRequest>(R"({"containerInstances":[")" + small +
                                                                R"("],"status":"DRAINING"})"),
                 &drained)
                  .ok());
  ASSERT_EQ(drained.failures_size(), 1);
  EXPECT_EQ(drained.failures(0).reason(), "MISSING");

  // Nobody marks an instance as a Fargate host but berthd's own hosts.
  const std::string other = AddInstance("default", 1024, 1024);
  absl::Status s = Do<v1::PutAttributesResponse>(
      &InstanceActions::PutAttributes,
      R"({"attributes":[{"name":"berth.fargate-task","value":")" + first + R"(","targetId":")" + other + R"("}]})");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("attributes[0].name"));

  // The snapshot names the hosts and their tasks; a stopped task is no longer live.
  usage = api_->capacity().FargateSnapshot({});
  EXPECT_TRUE(usage.waiting.empty());
  ASSERT_EQ(usage.hosts.size(), 2u);
  EXPECT_EQ(usage.hosts.at("h-1").instance_id, small);
  EXPECT_EQ(usage.hosts.at("h-1").task_id, first);
  ASSERT_TRUE(Do<v1::StopTaskResponse>(&TaskActions::StopTask, R"({"task":")" + a.task_arn() + R"("})").ok());
  ASSERT_TRUE(Do<v1::DeregisterContainerInstanceResponse>(&InstanceActions::DeregisterContainerInstance,
                                                          R"({"containerInstance":")" + small + R"(","force":true})")
                  .ok());
  usage = api_->capacity().FargateSnapshot({{"default", first}, {"default", second}});
  EXPECT_FALSE(usage.live.contains("default/" + first));
  EXPECT_TRUE(usage.live.contains("default/" + second));
  EXPECT_EQ(usage.hosts.size(), 1u);
}

TEST_F(FargateTest, TheAgentsNetworkInterfaceBecomesTheTasksAttachment) {
  auto run = Run(R"({"taskDefinition":"web","launchType":"FARGATE"})");
  ASSERT_TRUE(run.ok());
  const std::string arn = run->tasks(0).task_arn();
  const std::string host = AddFargateHost(IdOf(arn), "h-1", 256, 512, "zone-a");
  CapacityPass();
  v1::ReportStateChangesResponse reported;
  auto req = Json<v1::ReportStateChangesRequest>(
      R"({"tasks":[{"taskArn":")" + arn +
      R"(","status":"RUNNING","containers":[{"name":"app","status":"RUNNING","networkInterfaces":)"
      R"([{"attachmentId":"0123456789abcdef0123456789abcdef","privateIpv4Address":"172.31.0.18"}]}]}]})");
  req.set_container_instance(host);
  ASSERT_TRUE(Do(&AgentProtocol::ReportStateChanges, req, &reported).ok());
  const v1::Task t = DescribeTask(arn);
  EXPECT_EQ(t.last_status(), "RUNNING");
  ASSERT_EQ(t.attachments_size(), 1);
  EXPECT_EQ(t.attachments(0).type(), "ElasticNetworkInterface");
  EXPECT_EQ(t.attachments(0).status(), "ATTACHED");
  std::map<std::string, std::string> details;
  for (const auto& kv : t.attachments(0).details()) details[kv.name()] = kv.value();
  EXPECT_EQ(details["privateIPv4Address"], "172.31.0.18");
  EXPECT_EQ(details["networkInterfaceId"], "eni-0123456789abcdef0");
}

TEST_F(FargateTest, LaunchRulesNameTheField) {
  auto placed = Run(R"({"taskDefinition":"web","launchType":"FARGATE",)"
                    R"("placementConstraints":[{"type":"distinctInstance"}]})");
  EXPECT_THAT(std::string(placed.status().message()), HasSubstr("placementConstraints: not supported with launchType "
                                                                "FARGATE"));
  placed = Run(R"({"taskDefinition":"web","launchType":"FARGATE","placementStrategy":[{"type":"random"}]})");
  EXPECT_THAT(std::string(placed.status().message()), HasSubstr("placementStrategy"));
  auto ec2_only = Run(R"({"taskDefinition":"ec2","launchType":"FARGATE"})");
  EXPECT_THAT(std::string(ec2_only.status().message()), HasSubstr("not compatible with launch type FARGATE"));

  absl::Status daemon = Do<v1::CreateServiceResponse>(
      &ServiceActions::CreateService,
      R"({"serviceName":"d","taskDefinition":"web","launchType":"FARGATE","schedulingStrategy":"DAEMON"})");
  EXPECT_THAT(std::string(daemon.message()), HasSubstr("schedulingStrategy"));
  absl::Status spread = Do<v1::CreateServiceResponse>(
      &ServiceActions::CreateService,
      R"({"serviceName":"s","taskDefinition":"web","launchType":"FARGATE","desiredCount":1,)"
      R"("placementStrategy":[{"type":"spread","field":"instanceId"}]})");
  EXPECT_THAT(std::string(spread.message()), HasSubstr("placementStrategy"));

  // Nothing was created.
  v1::ListTasksResponse tasks;
  ASSERT_TRUE(Do(&TaskActions::ListTasks, v1::ListTasksRequest(), &tasks).ok());
  EXPECT_EQ(tasks.task_arns_size(), 0);
}

TEST_F(FargateTest, PlatformVersionAndEphemeralStorage) {
  // FARGATE tasks run on platform version 1.4.0 (LATEST), with the storage asked for.
  auto run = Run(R"({"taskDefinition":"web","launchType":"FARGATE","platformVersion":"LATEST",)"
                 R"("overrides":{"ephemeralStorage":{"sizeInGiB":50}}})");
  ASSERT_TRUE(run.ok()) << run.status();
  const v1::Task t = DescribeTask(run->tasks(0).task_arn());
  EXPECT_EQ(t.platform_version(), "1.4.0");
  EXPECT_EQ(t.platform_family(), "Linux");
  EXPECT_EQ(t.ephemeral_storage().size_in_gib(), 50);
  auto plain = Run(R"({"taskDefinition":"web","launchType":"FARGATE","platformVersion":"1.4.0"})");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(DescribeTask(plain->tasks(0).task_arn()).ephemeral_storage().size_in_gib(), 20);

  // Other versions, and a version for a launch that is not FARGATE, are refused.
  auto old = Run(R"({"taskDefinition":"web","launchType":"FARGATE","platformVersion":"1.3.0"})");
  EXPECT_THAT(std::string(old.status().message()), HasSubstr("platformVersion: Berth runs FARGATE tasks on platform "
                                                             "version 1.4.0 (LATEST); got '1.3.0'"));
  AddInstance("default", 4096, 8192);
  auto ec2 = Run(R"({"taskDefinition":"ec2","platformVersion":"LATEST"})");
  EXPECT_THAT(std::string(ec2.status().message()), HasSubstr("platformVersion: only FARGATE tasks"));
  absl::Status svc = Do<v1::CreateServiceResponse>(
      &ServiceActions::CreateService,
      R"({"serviceName":"e","taskDefinition":"ec2","desiredCount":1,"platformVersion":"LATEST"})");
  EXPECT_THAT(std::string(svc.message()), HasSubstr("platformVersion: only FARGATE tasks"));

  // A FARGATE service shows its platform version.
  v1::CreateServiceResponse created;
  ASSERT_TRUE(Do(&ServiceActions::CreateService,
                 Json<v1::CreateServiceRequest>(
                     R"({"serviceName":"f","taskDefinition":"web","launchType":"FARGATE","desiredCount":0})"),
                 &created)
                  .ok());
  EXPECT_EQ(created.service().platform_version(), "LATEST");
  EXPECT_EQ(created.service().platform_family(), "Linux");
}

TEST_F(FargateTest, WithoutFargateCapacityTheLaunchIsRefused) {
  fargate_ = false;
  Restart();
  auto run = Run(R"({"taskDefinition":"web","launchType":"FARGATE"})");
  EXPECT_EQ(run.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(run.status().message()), HasSubstr("--capacity-config"));
}

TEST_F(FargateTest, WaitingIsBoundedAndTimesOut) {
  auto run = Run(R"({"taskDefinition":"web","launchType":"FARGATE","count":4})");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->tasks_size(), 3);
  ASSERT_EQ(run->failures_size(), 1);
  EXPECT_EQ(run->failures(0).reason(), kFargateCapacityUnavailable);
  clock_.Advance(601 * kSecond);
  CapacityPass();
  const v1::Task late = DescribeTask(run->tasks(0).task_arn());
  EXPECT_EQ(late.last_status(), "STOPPED");
  EXPECT_EQ(late.stop_code(), "TaskFailedToStart");
  EXPECT_THAT(late.stopped_reason(), HasSubstr("no Fargate host"));
}

TEST_F(FargateTest, AServiceKeepsItsTasksOnFargate) {
  ASSERT_TRUE(Do<v1::CreateServiceResponse>(
                  &ServiceActions::CreateService,
                  R"({"serviceName":"api","taskDefinition":"web","launchType":"FARGATE","desiredCount":2})")
                  .ok());
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(kSecond);
    api_->services().ServiceTick();
    Flush();
  }
  CapacityActions::FargateUsage usage = api_->capacity().FargateSnapshot({});
  ASSERT_EQ(usage.waiting.size(), 2u);
  EXPECT_EQ(usage.waiting[0].group, "service:api");
}

TEST_F(FargateTest, TheFargateCapacityProvidersRunFargateTasks) {
  ASSERT_TRUE(Do<v1::PutClusterCapacityProvidersResponse>(
                  &ClusterActions::PutClusterCapacityProviders,
                  R"({"cluster":"default","capacityProviders":["FARGATE","FARGATE_SPOT"],)"
                  R"("defaultCapacityProviderStrategy":[{"capacityProvider":"FARGATE","base":1,"weight":1},)"
                  R"({"capacityProvider":"FARGATE_SPOT","weight":3}]})")
                  .ok());
  v1::DescribeCapacityProvidersResponse providers;
  ASSERT_TRUE(Do(&CapacityActions::DescribeCapacityProviders, v1::DescribeCapacityProvidersRequest(), &providers).ok());
  ASSERT_EQ(providers.capacity_providers_size(), 2);
  EXPECT_EQ(providers.capacity_providers(0).name(), "FARGATE");
  EXPECT_EQ(providers.capacity_providers(1).status(), "ACTIVE");

  // The cluster's default strategy: one on the base, then 1:3.
  auto run = Run(R"({"taskDefinition":"web","count":3})");
  ASSERT_TRUE(run.ok()) << run.status();
  std::map<std::string, int> by_provider;
  for (const auto& t : run->tasks()) {
    EXPECT_EQ(t.launch_type(), "FARGATE");
    EXPECT_EQ(t.last_status(), "PROVISIONING");
    ++by_provider[t.capacity_provider_name()];
  }
  EXPECT_EQ(by_provider, (std::map<std::string, int>{{"FARGATE", 1}, {"FARGATE_SPOT", 2}}));
  EXPECT_EQ(api_->capacity().FargateSnapshot({}).waiting.size(), 3u);

  // An EC2-only definition, placement, or a strategy mixing kinds are refused.
  auto ec2 = Run(R"({"taskDefinition":"ec2"})");
  EXPECT_THAT(std::string(ec2.status().message()), HasSubstr("not compatible with launch type FARGATE"));
  auto placed = Run(R"({"taskDefinition":"web","placementConstraints":[{"type":"distinctInstance"}]})");
  EXPECT_THAT(std::string(placed.status().message()), HasSubstr("placementConstraints"));
  auto mixed = Run(R"({"taskDefinition":"web","capacityProviderStrategy":[{"capacityProvider":"FARGATE","weight":1},)"
                   R"({"capacityProvider":"ondemand","weight":1}]})");
  EXPECT_THAT(std::string(mixed.status().message()), HasSubstr("capacityProviderStrategy[1].capacityProvider"));
}

TEST_F(FargateTest, WithoutFargateCapacityTheFargateProvidersAreRefused) {
  fargate_ = false;
  Restart();
  absl::Status s = Do<v1::PutClusterCapacityProvidersResponse>(
      &ClusterActions::PutClusterCapacityProviders, R"({"cluster":"default","capacityProviders":["FARGATE"]})");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("capacityProviders[0]: FARGATE needs Fargate capacity"));
  v1::DescribeCapacityProvidersResponse providers;
  ASSERT_TRUE(Do(&CapacityActions::DescribeCapacityProviders, v1::DescribeCapacityProvidersRequest(), &providers).ok());
  EXPECT_EQ(providers.capacity_providers_size(), 0);
}

TEST(FargateConfigTest, ParsesTheFargateSectionAndNamesEveryMistake) {
  auto config = ParseCapacityConfig(R"({"fargate":{"local":{"agentBinary":"/bin/true","workDir":"/tmp/f",)"
                                    R"("agentFlags":["--runtime","sim"]},"availabilityZones":["a","b"],)"
                                    R"("maxHosts":20,"subnetCidr":"10.9.0.0/20","intervalSeconds":0.2}})");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->fargate.has_value());
  EXPECT_TRUE(config->groups.empty());
  EXPECT_EQ(config->fargate->max_hosts, 20);
  EXPECT_EQ(config->fargate->availability_zones.size(), 2u);
  EXPECT_EQ(config->fargate->subnet_cidr, "10.9.0.0/20");
  EXPECT_EQ(config->fargate->interval_seconds, 0.2);

  const std::pair<std::string, std::string> bad[] = {
      {R"({"fargate":{}})", "fargate: give exactly one provider"},
      {R"({"fargate":{"command":{"program":"p"},"size":1}})", "fargate.size: unknown setting"},
      {R"({"fargate":{"local":{"agentBinary":"b","workDir":"w","agentFlags":["--cpu","1"]}}})",
       "fargate.local.agentFlags: --cpu is set by berthd"},
      {R"({"fargate":{"command":{"program":"p"},"subnetCidr":"10.0.0.0/28"}})", "fargate.subnetCidr"},
      {R"({"fargate":{"local":{"agentBinary":"b","workDir":"w"},"subnetCidr":"10.0.0.0/26","maxHosts":5}})",
       "fewer than maxHosts 5"},
      {R"({"fargate":{"command":{"program":"p"},"maxHosts":0}})", "fargate.maxHosts"},
      {R"({"fargate":{"command":{"program":"p"},"registrationTimeoutSeconds":0}})",
       "fargate.registrationTimeoutSeconds"},
  };
  for (const auto& [json, error] : bad) {
    auto parsed = ParseCapacityConfig(json);
    ASSERT_FALSE(parsed.ok()) << json;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(error)) << json;
  }
}

}  // namespace
}  // namespace berth::controlplane
