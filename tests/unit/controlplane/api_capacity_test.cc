// Capacity providers (src/controlplane/actions/capacity.cc): the provider resource and its rules,
// cluster association, capacity provider strategies on RunTask and CreateService, and tasks that
// wait in PROVISIONING for capacity, are placed when it arrives, or time out.
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

class CapacityTest : public ApiFixture {
 protected:
  ApiOptions Options() const override {
    ApiOptions o;
    o.capacity.max_provisioning_per_cluster = 3;
    o.capacity.provisioning_timeout_us = 600 * kSecond;
    return o;
  }

  absl::Status CreateProvider(const std::string& name, const std::string& group, const std::string& extra = "") {
    return Do<v1::CreateCapacityProviderResponse>(&CapacityActions::CreateCapacityProvider,
                                                  R"({"name":")" + name +
                                                      R"(","autoScalingGroupProvider":{"autoScalingGroupArn":")" +
                                                      group + R"(")" + extra + "}}");
  }
  absl::Status Put(const std::string& json) {
    return Do<v1::PutClusterCapacityProvidersResponse>(&ClusterActions::PutClusterCapacityProviders, json);
  }
  v1::CapacityProvider Describe(const std::string& name) {
    v1::DescribeCapacityProvidersResponse resp;
    EXPECT_TRUE(Do(&CapacityActions::DescribeCapacityProviders,
                   Json<v1::DescribeCapacityProvidersRequest>(R"({"capacityProviders":[")" + name + R"("]})"), &resp)
                    .ok());
    EXPECT_EQ(resp.capacity_providers_size(), 1);
    return resp.capacity_providers_size() == 1 ? resp.capacity_providers(0) : v1::CapacityProvider();
  }

  // Two providers on the default cluster: "spot" (group g-spot) and "ondemand" (group g-od), both
  // with managed scaling.
  void SetUpProviders() {
    const std::string scaling = R"(,"managedScaling":{"status":"ENABLED"})";
    ASSERT_TRUE(CreateProvider("spot", "g-spot", scaling).ok());
    ASSERT_TRUE(CreateProvider("ondemand", "g-od", scaling).ok());
    ASSERT_TRUE(Put(R"({"cluster":"default","capacityProviders":["spot","ondemand"],)"
                    R"("defaultCapacityProviderStrategy":[{"capacityProvider":"ondemand","weight":1}]})")
                    .ok());
  }

  // Registers an instance of instance group `group`; returns its id.
  std::string AddGroupInstance(const std::string& group, int cpu = 4096, int memory = 8192) {
    v1::RegisterContainerInstanceResponse resp;
    absl::Status s =
        Do(&InstanceActions::RegisterContainerInstance,
           Json<v1::RegisterContainerInstanceRequest>(
               R"({"cluster":"default","totalResources":[{"name":"CPU","type":"INTEGER","integerValue":)" +
               std::to_string(cpu) + R"(},{"name":"MEMORY","type":"INTEGER","integerValue":)" + std::to_string(memory) +
               R"(}],"attributes":[{"name":"berth.instance-group","value":")" + group + R"("}]})"),
           &resp);
    EXPECT_TRUE(s.ok()) << s;
    const std::string& arn = resp.container_instance().container_instance_arn();
    return arn.substr(arn.rfind('/') + 1);
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
    EXPECT_EQ(resp.tasks_size(), 1);
    return resp.tasks_size() == 1 ? resp.tasks(0) : v1::Task();
  }

  void CapacityPass() {
    clock_.Advance(2 * kSecond);
    Flush();
    api_->capacity().CapacityTick();
    Flush();
  }

  static std::string InstanceIdOf(const v1::Task& t) {
    return t.container_instance_arn().substr(t.container_instance_arn().rfind('/') + 1);
  }
};

TEST_F(CapacityTest, CreateFillsEcsDefaultsAndDescribeShowsTheProvider) {
  v1::CreateCapacityProviderResponse resp;
  ASSERT_TRUE(Do(&CapacityActions::CreateCapacityProvider,
                 Json<v1::CreateCapacityProviderRequest>(
                     R"({"name":"asg-a","autoScalingGroupProvider":{"autoScalingGroupArn":)"
                     R"("arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:1f2e:autoScalingGroupName/web"},)"
                     R"("tags":[{"key":"team","value":"a"}]})"),
                 &resp)
                  .ok());
  const v1::CapacityProvider& cp = resp.capacity_provider();
  EXPECT_EQ(cp.capacity_provider_arn(), api_->arns().CapacityProvider("asg-a"));
  EXPECT_THAT(cp.capacity_provider_arn(), ::testing::EndsWith(":capacity-provider/asg-a"));
  EXPECT_EQ(cp.status(), "ACTIVE");
  EXPECT_EQ(cp.type(), "EC2_AUTOSCALING");
  const auto& ms = cp.auto_scaling_group_provider().managed_scaling();
  EXPECT_EQ(ms.status(), "DISABLED");
  EXPECT_EQ(ms.target_capacity(), 100);
  EXPECT_EQ(ms.minimum_scaling_step_size(), 1);
  EXPECT_EQ(ms.maximum_scaling_step_size(), 10000);
  EXPECT_EQ(ms.instance_warmup_period(), 300);
  EXPECT_EQ(cp.auto_scaling_group_provider().managed_termination_protection(), "DISABLED");
  EXPECT_EQ(cp.auto_scaling_group_provider().managed_draining(), "ENABLED");

  v1::CapacityProvider described = Describe(cp.capacity_provider_arn());
  EXPECT_EQ(described.name(), "asg-a");
  EXPECT_TRUE(described.tags().empty()) << "tags only with include TAGS";

  v1::DescribeCapacityProvidersResponse all;
  ASSERT_TRUE(
      Do(&CapacityActions::DescribeCapacityProviders,
         Json<v1::DescribeCapacityProvidersRequest>(R"({"include":["TAGS"],"capacityProviders":["asg-a","nope"]})"),
         &all)
          .ok());
  ASSERT_EQ(all.capacity_providers_size(), 1);
  EXPECT_EQ(all.capacity_providers(0).tags_size(), 1);
  ASSERT_EQ(all.failures_size(), 1);
  EXPECT_EQ(all.failures(0).reason(), "MISSING");
}

TEST_F(CapacityTest, BadProvidersAreRefusedNamingTheFieldAndChangeNothing) {
  struct Case {
    std::string json;
    std::string error;
  };
  const Case cases[] = {
      {R"({"autoScalingGroupProvider":{"autoScalingGroupArn":"g"}})", "name: required"},
      {R"({"name":"ecs-x","autoScalingGroupProvider":{"autoScalingGroupArn":"g"}})", "may not begin with 'ecs'"},
      {R"({"name":"Fargate2","autoScalingGroupProvider":{"autoScalingGroupArn":"g"}})", "may not begin with 'fargate'"},
      {R"({"name":"a b","autoScalingGroupProvider":{"autoScalingGroupArn":"g"}})", "name: 'a b' is invalid"},
      {R"({"name":"p"})", "autoScalingGroupProvider: required"},
      {R"({"name":"p","autoScalingGroupProvider":{}})", "autoScalingGroupArn: required"},
      {R"({"name":"p","autoScalingGroupProvider":{"autoScalingGroupArn":"arn:aws:ecs:us-east-1:1:cluster/x"}})",
       "is not an Auto Scaling group ARN"},
      {R"({"name":"p","autoScalingGroupProvider":{"autoScalingGroupArn":"g","managedScaling":{"targetCapacity":0}}})",
       "managedScaling.targetCapacity: must be between 1 and 100"},
      {R"({"name":"p","autoScalingGroupProvider":{"autoScalingGroupArn":"g","managedScaling":)"
       R"({"minimumScalingStepSize":5,"maximumScalingStepSize":2}}})",
       "minimumScalingStepSize: 5 is greater than maximumScalingStepSize 2"},
      {R"({"name":"p","autoScalingGroupProvider":{"autoScalingGroupArn":"g","managedScaling":{"status":"ON"}}})",
       "managedScaling.status: must be ENABLED or DISABLED"},
      {R"({"name":"p","autoScalingGroupProvider":{"autoScalingGroupArn":"g","managedTerminationProtection":"ENABLED"}})",
       "managedTerminationProtection: ENABLED requires managedScaling.status ENABLED"},
      {R"({"name":"p","autoScalingGroupProvider":{"autoScalingGroupArn":"g","managedDraining":"yes"}})",
       "managedDraining: must be ENABLED or DISABLED"},
  };
  for (const auto& c : cases) {
    absl::Status s = Do<v1::CreateCapacityProviderResponse>(&CapacityActions::CreateCapacityProvider, c.json);
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << c.json << " -> " << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.error)) << c.json;
  }
  EXPECT_TRUE(state().capacity_providers().empty());

  ASSERT_TRUE(CreateProvider("p", "g").ok());
  absl::Status dup = CreateProvider("p", "g2");
  EXPECT_THAT(std::string(dup.message()), HasSubstr("capacity provider 'p' already exists"));
  absl::Status same_group = CreateProvider("q", "g");
  EXPECT_THAT(std::string(same_group.message()),
              HasSubstr("instance group 'g' is already used by capacity provider 'p'"));
}

TEST_F(CapacityTest, UpdateMergesManagedScalingAndKeepsTheRest) {
  ASSERT_TRUE(CreateProvider("p", "g", R"(,"managedScaling":{"status":"ENABLED","targetCapacity":80})").ok());
  v1::UpdateCapacityProviderResponse resp;
  ASSERT_TRUE(Do(&CapacityActions::UpdateCapacityProvider,
                 Json<v1::UpdateCapacityProviderRequest>(
                     R"({"name":"p","autoScalingGroupProvider":{"managedScaling":{"maximumScalingStepSize":4},)"
                     R"("managedTerminationProtection":"ENABLED"}})"),
                 &resp)
                  .ok());
  const auto& asg = resp.capacity_provider().auto_scaling_group_provider();
  EXPECT_EQ(asg.managed_scaling().target_capacity(), 80);
  EXPECT_EQ(asg.managed_scaling().maximum_scaling_step_size(), 4);
  EXPECT_EQ(asg.managed_termination_protection(), "ENABLED");
  EXPECT_EQ(resp.capacity_provider().update_status(), "UPDATE_COMPLETE");

  absl::Status bad = Do<v1::UpdateCapacityProviderResponse>(
      &CapacityActions::UpdateCapacityProvider,
      R"({"name":"p","autoScalingGroupProvider":{"managedScaling":{"status":"DISABLED"}}})");
  EXPECT_THAT(std::string(bad.message()), HasSubstr("managedTerminationProtection: ENABLED requires"));
  EXPECT_EQ(Describe("p").auto_scaling_group_provider().managed_scaling().status(), "ENABLED");
  EXPECT_TRUE(absl::IsNotFound(Do<v1::UpdateCapacityProviderResponse>(
      &CapacityActions::UpdateCapacityProvider, R"({"name":"nope","autoScalingGroupProvider":{}})")));
}

TEST_F(CapacityTest, ClusterAssociationRulesAndDelete) {
  ASSERT_TRUE(CreateProvider("p", "g").ok());
  ASSERT_TRUE(CreateProvider("q", "h").ok());
  EXPECT_THAT(std::string(Put(R"({"cluster":"default","capacityProviders":["x"]})").message()),
              HasSubstr("capacityProviders[0]: capacity provider 'x' does not exist"));
  EXPECT_THAT(std::string(Put(R"({"cluster":"default","capacityProviders":["p"],)"
                              R"("defaultCapacityProviderStrategy":[{"capacityProvider":"q","weight":1}]})")
                              .message()),
              HasSubstr("defaultCapacityProviderStrategy[0].capacityProvider: 'q' is not one of capacityProviders"));
  EXPECT_THAT(
      std::string(Put(R"({"cluster":"default","capacityProviders":["p","q"],"defaultCapacityProviderStrategy":)"
                      R"([{"capacityProvider":"p","base":1,"weight":1},{"capacityProvider":"q","base":2}]})")
                      .message()),
      HasSubstr("defaultCapacityProviderStrategy[1].base: only one capacity provider of a strategy may have a base"));
  EXPECT_THAT(std::string(Put(R"({"cluster":"default","capacityProviders":["p"],"defaultCapacityProviderStrategy":)"
                              R"([{"capacityProvider":"p","weight":0}]})")
                              .message()),
              HasSubstr("at least one capacity provider must have a weight greater than 0"));
  v1::PutClusterCapacityProvidersResponse put;
  ASSERT_TRUE(Do(&ClusterActions::PutClusterCapacityProviders,
                 Json<v1::PutClusterCapacityProvidersRequest>(
                     R"({"cluster":"default","capacityProviders":["p"],)"
                     R"("defaultCapacityProviderStrategy":[{"capacityProvider":"p","weight":2,"base":1}]})"),
                 &put)
                  .ok());
  ASSERT_EQ(put.cluster().capacity_providers_size(), 1);
  EXPECT_EQ(put.cluster().default_capacity_provider_strategy(0).weight(), 2);

  // One cluster per provider; CreateCluster takes them too.
  absl::Status other = Do<v1::CreateClusterResponse>(&ClusterActions::CreateCluster,
                                                     R"({"clusterName":"other","capacityProviders":["p"]})");
  EXPECT_THAT(std::string(other.message()), HasSubstr("'p' is already associated with cluster 'default'"));
  ASSERT_TRUE(Do<v1::CreateClusterResponse>(&ClusterActions::CreateCluster,
                                            R"({"clusterName":"other","capacityProviders":["q"]})")
                  .ok());

  absl::Status in_use =
      Do<v1::DeleteCapacityProviderResponse>(&CapacityActions::DeleteCapacityProvider, R"({"capacityProvider":"p"})");
  // DeleteCapacityProvider declares no ResourceInUseException in ECS's model.
  EXPECT_EQ(ErrorType(in_use), "ClientException");
  EXPECT_THAT(std::string(in_use.message()), HasSubstr("associated with cluster 'default'"));
  ASSERT_TRUE(Put(R"({"cluster":"default","capacityProviders":[],"defaultCapacityProviderStrategy":[]})").ok());
  v1::DeleteCapacityProviderResponse deleted;
  ASSERT_TRUE(Do(&CapacityActions::DeleteCapacityProvider,
                 Json<v1::DeleteCapacityProviderRequest>(R"({"capacityProvider":"p"})"), &deleted)
                  .ok());
  EXPECT_EQ(deleted.capacity_provider().status(), "INACTIVE");
  EXPECT_EQ(Describe("p").status(), "INACTIVE");
  v1::DescribeCapacityProvidersResponse listed;
  ASSERT_TRUE(Do(&CapacityActions::DescribeCapacityProviders, v1::DescribeCapacityProvidersRequest(), &listed).ok());
  ASSERT_EQ(listed.capacity_providers_size(), 1) << "only ACTIVE providers are listed";
  EXPECT_EQ(listed.capacity_providers(0).name(), "q");
  // The name can be used again once deleted.
  EXPECT_TRUE(CreateProvider("p", "g").ok());
}

TEST_F(CapacityTest, RunTaskPlacesOnTheProvidersInstancesOnly) {
  SetUpProviders();
  AddTaskDefinition("web", 256, 512);
  AddInstance("default", 4096, 8192);  // in no group: never used for provider tasks
  const std::string spot = AddGroupInstance("g-spot");
  const std::string od = AddGroupInstance("g-od");

  auto both = Run(
      R"({"taskDefinition":"web","launchType":"EC2","capacityProviderStrategy":[{"capacityProvider":"spot","weight":1}]})");
  ASSERT_FALSE(both.ok());
  EXPECT_THAT(std::string(both.status().message()), HasSubstr("either launchType or capacityProviderStrategy"));
  auto unknown =
      Run(R"({"taskDefinition":"web","capacityProviderStrategy":[{"capacityProvider":"other","weight":1}]})");
  EXPECT_THAT(std::string(unknown.status().message()),
              HasSubstr("capacityProviderStrategy[0].capacityProvider: capacity provider 'other' is not associated"));

  auto run = Run(R"({"taskDefinition":"web","count":8,"capacityProviderStrategy":[)"
                 R"({"capacityProvider":"spot","weight":1,"base":2},{"capacityProvider":"ondemand","weight":1}]})");
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->tasks_size(), 8);
  int on_spot = 0;
  for (const auto& t : run->tasks()) {
    const std::string where = InstanceIdOf(t);
    if (t.capacity_provider_name() == "spot") {
      ++on_spot;
      EXPECT_EQ(where, spot);
    } else {
      EXPECT_EQ(t.capacity_provider_name(), "ondemand");
      EXPECT_EQ(where, od);
    }
  }
  EXPECT_EQ(on_spot, 5);  // base 2, then 3 of 6 by equal weights

  // Without launchType or strategy, the cluster's default strategy (ondemand) applies.
  auto by_default = Run(R"({"taskDefinition":"web"})");
  ASSERT_TRUE(by_default.ok());
  EXPECT_EQ(by_default->tasks(0).capacity_provider_name(), "ondemand");
  // With launchType EC2, no provider: any instance may be chosen, and the task names none.
  auto ec2 = Run(R"({"taskDefinition":"web","launchType":"EC2"})");
  ASSERT_TRUE(ec2.ok());
  EXPECT_EQ(ec2->tasks(0).capacity_provider_name(), "");

  v1::DescribeContainerInstancesResponse instances;
  ASSERT_TRUE(Do(&InstanceActions::DescribeContainerInstances,
                 Json<v1::DescribeContainerInstancesRequest>(R"({"containerInstances":[")" + spot + R"("]})"),
                 &instances)
                  .ok());
  EXPECT_EQ(instances.container_instances(0).capacity_provider_name(), "spot");
}

TEST_F(CapacityTest, WithoutManagedScalingAnUnplaceableTaskFailsAtOnce) {
  ASSERT_TRUE(CreateProvider("manual", "g-manual").ok());
  ASSERT_TRUE(Put(R"({"cluster":"default","capacityProviders":["manual"],"defaultCapacityProviderStrategy":[]})").ok());
  AddTaskDefinition("web", 256, 512);
  AddInstance("default", 4096, 8192);
  auto run = Run(R"({"taskDefinition":"web","capacityProviderStrategy":[{"capacityProvider":"manual","weight":1}]})");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->tasks_size(), 0);
  ASSERT_EQ(run->failures_size(), 1);
  EXPECT_THAT(run->failures(0).detail(), HasSubstr("capacity provider manual"));
}

TEST_F(CapacityTest, TasksWaitInProvisioningUntilCapacityArrives) {
  SetUpProviders();
  AddTaskDefinition("web", 1024, 2048);
  auto run = Run(R"({"taskDefinition":"web","count":2,"placementConstraints":[{"type":"distinctInstance"}]})");
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->tasks_size(), 2);
  for (const auto& t : run->tasks()) {
    EXPECT_EQ(t.last_status(), "PROVISIONING");
    EXPECT_EQ(t.capacity_provider_name(), "ondemand");
    EXPECT_EQ(t.container_instance_arn(), "");
  }
  v1::DescribeClustersResponse clusters;
  ASSERT_TRUE(Do(&ClusterActions::DescribeClusters, v1::DescribeClustersRequest(), &clusters).ok());
  EXPECT_EQ(clusters.clusters(0).pending_tasks_count(), 2);

  // Nothing to place on: still waiting. An instance of another group does not help.
  CapacityPass();
  AddGroupInstance("g-spot");
  CapacityPass();
  EXPECT_EQ(DescribeTask(run->tasks(0).task_arn()).last_status(), "PROVISIONING");

  // One instance of the group: one task is placed; distinctInstance keeps the other waiting.
  const std::string first = AddGroupInstance("g-od");
  CapacityPass();
  v1::Task a = DescribeTask(run->tasks(0).task_arn());
  v1::Task b = DescribeTask(run->tasks(1).task_arn());
  if (a.last_status() != "PENDING") std::swap(a, b);
  EXPECT_EQ(a.last_status(), "PENDING");
  EXPECT_EQ(InstanceIdOf(a), first);
  EXPECT_EQ(b.last_status(), "PROVISIONING");

  // The waiting task and its placement survive a restart, and it is placed after it.
  Restart();
  const std::string second = AddGroupInstance("g-od");
  CapacityPass();
  v1::Task t1 = DescribeTask(b.task_arn());
  EXPECT_EQ(t1.last_status(), "PENDING");
  EXPECT_EQ(InstanceIdOf(t1), second);

  // The agent of the instance is told to run it.
  v1::PollResponse poll;
  ASSERT_TRUE(PollNow(second, &poll).ok());
  ASSERT_EQ(poll.tasks_size(), 1);
  EXPECT_EQ(poll.tasks(0).task_arn(), b.task_arn());
}

TEST_F(CapacityTest, WaitingIsBoundedPerClusterAndTimesOut) {
  SetUpProviders();
  AddTaskDefinition("web", 1024, 2048);
  auto run = Run(R"({"taskDefinition":"web","count":4})");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->tasks_size(), 3) << "at most 3 wait (the fixture's bound)";
  ASSERT_EQ(run->failures_size(), 1);

  // StopTask on a waiting task stops it at once: no agent will report it.
  v1::StopTaskResponse stopped;
  ASSERT_TRUE(Do(&TaskActions::StopTask, Json<v1::StopTaskRequest>(R"({"task":")" + run->tasks(0).task_arn() + R"("})"),
                 &stopped)
                  .ok());
  EXPECT_EQ(stopped.task().last_status(), "STOPPED");

  clock_.Advance(601 * kSecond);
  CapacityPass();
  v1::Task late = DescribeTask(run->tasks(1).task_arn());
  EXPECT_EQ(late.last_status(), "STOPPED");
  EXPECT_EQ(late.stop_code(), "TaskFailedToStart");
  EXPECT_THAT(late.stopped_reason(), HasSubstr("capacity provider ondemand"));
  v1::DescribeClustersResponse clusters;
  ASSERT_TRUE(Do(&ClusterActions::DescribeClusters, v1::DescribeClustersRequest(), &clusters).ok());
  EXPECT_EQ(clusters.clusters(0).pending_tasks_count(), 0);
  EXPECT_TRUE(state().FindCluster("default")->provisioning.empty());
}

TEST_F(CapacityTest, AProviderWithWaitingTasksCannotLeaveItsCluster) {
  SetUpProviders();
  AddTaskDefinition("web", 1024, 2048);
  ASSERT_TRUE(
      Run(R"({"taskDefinition":"web","capacityProviderStrategy":[{"capacityProvider":"spot","weight":1}]})").ok());
  absl::Status s =
      Put(R"({"cluster":"default","capacityProviders":["ondemand"],"defaultCapacityProviderStrategy":[]})");
  EXPECT_EQ(ErrorType(s), "ResourceInUseException");
  EXPECT_THAT(std::string(s.message()), HasSubstr("waiting for capacity"));
}

TEST_F(CapacityTest, AServiceTakesTheClusterDefaultStrategyAndWaitsForCapacity) {
  SetUpProviders();
  AddTaskDefinition("web", 1024, 2048);
  v1::CreateServiceResponse created;
  ASSERT_TRUE(Do(&ServiceActions::CreateService,
                 Json<v1::CreateServiceRequest>(R"({"serviceName":"svc","taskDefinition":"web","desiredCount":2})"),
                 &created)
                  .ok());
  ASSERT_EQ(created.service().capacity_provider_strategy_size(), 1);
  EXPECT_EQ(created.service().capacity_provider_strategy(0).capacity_provider(), "ondemand");
  Flush();
  EXPECT_EQ(state().FindCluster("default")->provisioning.size(), 2u);

  AddGroupInstance("g-od");
  CapacityPass();
  EXPECT_TRUE(state().FindCluster("default")->provisioning.empty());
  v1::DescribeServicesResponse services;
  ASSERT_TRUE(
      Do(&ServiceActions::DescribeServices, Json<v1::DescribeServicesRequest>(R"({"services":["svc"]})"), &services)
          .ok());
  EXPECT_EQ(services.services(0).pending_count(), 2);

  absl::Status daemon = Do<v1::CreateServiceResponse>(
      &ServiceActions::CreateService, R"({"serviceName":"d","taskDefinition":"web","schedulingStrategy":"DAEMON",)"
                                      R"("capacityProviderStrategy":[{"capacityProvider":"spot","weight":1}]})");
  EXPECT_THAT(std::string(daemon.message()), HasSubstr("not supported with the DAEMON scheduling strategy"));
  absl::Status update = Do<v1::UpdateServiceResponse>(
      &ServiceActions::UpdateService,
      R"({"service":"svc","capacityProviderStrategy":[{"capacityProvider":"spot","weight":1}]})");
  EXPECT_TRUE(absl::IsUnimplemented(update)) << update;
}

TEST_F(CapacityTest, ProvidersSurviveARestart) {
  ASSERT_TRUE(CreateProvider("p", "g", R"(,"managedScaling":{"status":"ENABLED","targetCapacity":75})").ok());
  const std::string arn = api_->arns().CapacityProvider("p");
  ASSERT_TRUE(Do<v1::TagResourceResponse>(&TagActions::TagResource,
                                          R"({"resourceArn":")" + arn + R"(","tags":[{"key":"k","value":"v"}]})")
                  .ok());
  ASSERT_TRUE(Put(R"({"cluster":"default","capacityProviders":["p"],"defaultCapacityProviderStrategy":[]})").ok());
  Restart();
  EXPECT_EQ(Describe("p").auto_scaling_group_provider().managed_scaling().target_capacity(), 75);
  v1::ListTagsForResourceResponse tags;
  ASSERT_TRUE(Do(&TagActions::ListTagsForResource,
                 Json<v1::ListTagsForResourceRequest>(R"({"resourceArn":")" + arn + R"("})"), &tags)
                  .ok());
  ASSERT_EQ(tags.tags_size(), 1);
  EXPECT_EQ(tags.tags(0).key(), "k");
  EXPECT_THAT(std::string(CreateProvider("p", "g").message()), HasSubstr("already exists"));
}

TEST_F(CapacityTest, CapacityUsageCountsBusyHostsAndWaitingTasks) {
  SetUpProviders();
  AddTaskDefinition("web", 1024, 2048);
  // Two hosts of g-od known by their provider host ids; one gets a task.
  auto host = [&](const std::string& id) {
    v1::RegisterContainerInstanceResponse resp;
    EXPECT_TRUE(Do(&InstanceActions::RegisterContainerInstance,
                   Json<v1::RegisterContainerInstanceRequest>(
                       R"({"totalResources":[{"name":"CPU","type":"INTEGER","integerValue":1024},)"
                       R"({"name":"MEMORY","type":"INTEGER","integerValue":2048}],"attributes":[)"
                       R"({"name":"berth.instance-group","value":"g-od"},{"name":"berth.provider-host-id","value":")" +
                       id + R"("}]})"),
                   &resp)
                    .ok());
  };
  host("h1");
  host("h2");
  auto run = Run(R"({"taskDefinition":"web","count":3})");
  ASSERT_TRUE(run.ok());
  std::map<std::string, CapacityActions::GroupUsage> usage = api_->capacity().CapacityUsage();
  ASSERT_TRUE(usage.contains("g-od"));
  ASSERT_TRUE(usage.contains("g-spot"));
  const CapacityActions::GroupUsage& od = usage.at("g-od");
  EXPECT_EQ(od.provider, "ondemand");
  EXPECT_EQ(od.cluster, "default");
  ASSERT_EQ(od.hosts.size(), 2u);
  EXPECT_TRUE(od.hosts.at("h1").busy);
  EXPECT_TRUE(od.hosts.at("h2").busy);
  EXPECT_EQ(od.hosts.at("h1").memory, 2048);
  ASSERT_EQ(od.waiting.size(), 1u) << "two fit, the third waits";
  EXPECT_EQ(od.waiting[0], std::make_pair(int64_t{1024}, int64_t{2048}));
  EXPECT_TRUE(usage.at("g-spot").hosts.empty());

  // A provider without managed scaling is not reported.
  ASSERT_TRUE(Do<v1::UpdateCapacityProviderResponse>(
                  &CapacityActions::UpdateCapacityProvider,
                  R"({"name":"spot","autoScalingGroupProvider":{"managedScaling":{"status":"DISABLED"}}})")
                  .ok());
  EXPECT_FALSE(api_->capacity().CapacityUsage().contains("g-spot"));
}

TEST(CapacityConfigTest, ParsesGroupsAndNamesTheFieldOfEveryMistake) {
  auto config = ParseCapacityConfig(R"({"intervalSeconds":0.5,"instanceGroups":[
      {"name":"web","minSize":1,"maxSize":4,"hostCpu":2048,"hostMemory":4096,
       "local":{"agentBinary":"/bin/true","workDir":"/tmp/h","agentFlags":["--runtime","sim"]}},
      {"name":"metal","cluster":"prod","maxSize":9,"command":{"program":"/bin/hosts","timeoutSeconds":60}}]})");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->interval_seconds, 0.5);
  ASSERT_EQ(config->groups.size(), 2u);
  EXPECT_EQ(config->groups[0].cluster, "default");
  EXPECT_EQ(config->groups[0].desired_capacity, 1) << "desired defaults to min";
  ASSERT_TRUE(config->groups[0].local.has_value());
  EXPECT_EQ(config->groups[0].local->agent_flags.size(), 2u);
  EXPECT_EQ(config->groups[1].cluster, "prod");
  ASSERT_TRUE(config->groups[1].command.has_value());
  EXPECT_EQ(config->groups[1].command->timeout_ms, 60000);

  const std::pair<std::string, std::string> bad[] = {
      {"[]", "not a JSON object"},
      {R"({"groups":[]})", ".groups: unknown setting"},
      {R"({"instanceGroups":[{"name":"a","command":{"program":"p"}}]})", "instanceGroups[0].maxSize: required"},
      {R"({"instanceGroups":[{"name":"a","maxSize":2,"minSize":3,"command":{"program":"p"}}]})",
       "instanceGroups[0].minSize: must be between 0 and 2"},
      {R"({"instanceGroups":[{"name":"a","maxSize":2}]})", "give exactly one provider"},
      {R"({"instanceGroups":[{"name":"a b","maxSize":2,"command":{"program":"p"}}]})", "instanceGroups[0].name"},
      {R"({"instanceGroups":[{"name":"a","maxSize":2,"command":{"program":"p"}},)"
       R"({"name":"a","maxSize":2,"command":{"program":"p"}}]})",
       "instanceGroups[1].name: 'a' is declared twice"},
      {R"({"instanceGroups":[{"name":"a","maxSize":2,"local":{"agentBinary":"b","workDir":"w",)"
       R"("agentFlags":["--endpoint","x:1"]}}]})",
       "instanceGroups[0].local.agentFlags: --endpoint is set by berthd"},
      {R"({"instanceGroups":[{"name":"a","maxSize":2,"local":{"workDir":"w"}}]})",
       "instanceGroups[0].local.agentBinary: required"},
      {R"({"intervalSeconds":0,"instanceGroups":[]})", "intervalSeconds: must be"},
  };
  for (const auto& [json, error] : bad) {
    auto parsed = ParseCapacityConfig(json);
    ASSERT_FALSE(parsed.ok()) << json;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(error)) << json;
  }
}

}  // namespace
}  // namespace berth::controlplane
