// Clusters, task definitions, container instances, attributes and tags through the Api.
#include <map>
#include <string>

#include <gmock/gmock.h>

#include "tests/unit/controlplane/api_fixture.h"

namespace berth::controlplane {
namespace {

class ResourcesTest : public ApiFixture {};

// Berth's runtime restrictions: cluster settings that forbid privileged containers and host
// networking for launches from then on (RunTask, StartTask, CreateService, UpdateService).
TEST_F(ResourcesTest, ClusterSettingsForbidPrivilegedContainersAndHostNetworking) {
  ASSERT_TRUE((Do<v1::CreateClusterResponse, v1::CreateClusterRequest>(
                   &ClusterActions::CreateCluster,
                   R"({"clusterName":"locked","settings":[{"name":"berth:privilegedContainers","value":"forbidden"}]})")
                   .ok()));
  AddInstance("locked", 4096, 4096);
  v1::RegisterTaskDefinitionResponse td;
  ASSERT_TRUE(Do(&TaskDefinitionActions::RegisterTaskDefinition,
                 Json<v1::RegisterTaskDefinitionRequest>(
                     R"({"family":"root","containerDefinitions":[{"name":"sidecar","image":"busybox","memory":16},
                         {"name":"admin","image":"busybox","memory":16,"privileged":true}]})"),
                 &td)
                  .ok());
  ASSERT_TRUE(Do(&TaskDefinitionActions::RegisterTaskDefinition,
                 Json<v1::RegisterTaskDefinitionRequest>(
                     R"({"family":"hostnet","networkMode":"host",
                         "containerDefinitions":[{"name":"app","image":"busybox","memory":16}]})"),
                 &td)
                  .ok());
  const uint64_t before = revision();
  absl::Status refused = Do<v1::RunTaskResponse, v1::RunTaskRequest>(&TaskActions::RunTask,
                                                                     R"({"cluster":"locked","taskDefinition":"root"})");
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.message(),
            "taskDefinition: root:1 container 'admin' is privileged, which cluster 'locked' forbids (setting "
            "berth:privilegedContainers)");
  absl::Status service = Do<v1::CreateServiceResponse, v1::CreateServiceRequest>(
      &ServiceActions::CreateService,
      R"({"cluster":"locked","serviceName":"s","taskDefinition":"root","desiredCount":1})");
  EXPECT_THAT(service.message(), ::testing::HasSubstr("berth:privilegedContainers"));
  EXPECT_EQ(revision(), before);
  // Host networking is still allowed there; elsewhere privileged is too.
  v1::RunTaskResponse run;
  ASSERT_TRUE(
      Do(&TaskActions::RunTask, Json<v1::RunTaskRequest>(R"({"cluster":"locked","taskDefinition":"hostnet"})"), &run)
          .ok());
  EXPECT_EQ(run.tasks_size(), 1);

  // UpdateClusterSettings sets what it names and keeps the rest.
  v1::UpdateClusterSettingsResponse updated;
  ASSERT_TRUE(Do(&ClusterActions::UpdateClusterSettings,
                 Json<v1::UpdateClusterSettingsRequest>(
                     R"({"cluster":"locked","settings":[{"name":"berth:hostNetworking","value":"forbidden"},
                                                       {"name":"containerInsights","value":"enabled"}]})"),
                 &updated)
                  .ok());
  EXPECT_EQ(updated.cluster().settings_size(), 3);
  absl::Status hostnet = Do<v1::RunTaskResponse, v1::RunTaskRequest>(
      &TaskActions::RunTask, R"({"cluster":"locked","taskDefinition":"hostnet"})");
  EXPECT_THAT(hostnet.message(), ::testing::HasSubstr("uses networkMode host, which cluster 'locked' forbids"));
  ASSERT_TRUE(Do(&ClusterActions::UpdateClusterSettings,
                 Json<v1::UpdateClusterSettingsRequest>(
                     R"({"cluster":"locked","settings":[{"name":"berth:privilegedContainers","value":"allowed"}]})"),
                 &updated)
                  .ok());
  EXPECT_EQ(updated.cluster().settings_size(), 3);
  EXPECT_TRUE(
      Do(&TaskActions::RunTask, Json<v1::RunTaskRequest>(R"({"cluster":"locked","taskDefinition":"root"})"), &run)
          .ok());
  // The privileged setting covers every way to the host's powers; host paths have their own.
  ASSERT_TRUE(Do(&ClusterActions::UpdateClusterSettings,
                 Json<v1::UpdateClusterSettingsRequest>(
                     R"({"cluster":"locked","settings":[{"name":"berth:privilegedContainers","value":"forbidden"},
                                                       {"name":"berth:hostPathVolumes","value":"forbidden"}]})"),
                 &updated)
                  .ok());
  struct Case {
    const char* family;
    const char* extra;
    const char* error;
  };
  const Case cases[] = {
      {"caps", R"("linuxParameters":{"capabilities":{"add":["SYS_ADMIN"]}})", "adds Linux capabilities (SYS_ADMIN)"},
      {"devs", R"("linuxParameters":{"devices":[{"hostPath":"/dev/sda"}]})", "maps host devices"},
      {"secopt", R"("dockerSecurityOptions":["apparmor:unconfined"])", "sets dockerSecurityOptions"},
  };
  for (const Case& c : cases) {
    ASSERT_TRUE((Do<v1::RegisterTaskDefinitionResponse, v1::RegisterTaskDefinitionRequest>(
                     &TaskDefinitionActions::RegisterTaskDefinition,
                     std::string(R"({"family":")") + c.family +
                         R"(","containerDefinitions":[{"name":"app","image":"busybox",)"
                         R"("memory":16,)" +
                         c.extra + "}]}")
                     .ok()))
        << c.family;
    absl::Status st = Do<v1::RunTaskResponse, v1::RunTaskRequest>(
        &TaskActions::RunTask, std::string(R"({"cluster":"locked","taskDefinition":")") + c.family + R"("})");
    EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr(c.error)) << c.family;
  }
  ASSERT_TRUE((Do<v1::RegisterTaskDefinitionResponse, v1::RegisterTaskDefinitionRequest>(
                   &TaskDefinitionActions::RegisterTaskDefinition,
                   R"({"family":"hostpath","volumes":[{"name":"root","host":{"sourcePath":"/"}}],
                       "containerDefinitions":[{"name":"app","image":"busybox","memory":16}]})")
                   .ok()));
  EXPECT_THAT(std::string(Do<v1::RunTaskResponse, v1::RunTaskRequest>(
                              &TaskActions::RunTask, R"({"cluster":"locked","taskDefinition":"hostpath"})")
                              .message()),
              ::testing::HasSubstr("mounts the host path / (volume 'root'), which cluster 'locked' forbids (setting "
                                   "berth:hostPathVolumes)"));
  ASSERT_TRUE(Do(&ClusterActions::UpdateClusterSettings,
                 Json<v1::UpdateClusterSettingsRequest>(
                     R"({"cluster":"locked","settings":[{"name":"berth:privilegedContainers","value":"allowed"},
                                                       {"name":"berth:hostPathVolumes","value":"allowed"}]})"),
                 &updated)
                  .ok());
  // Settings survive a restart.
  Restart();
  EXPECT_THAT((Do<v1::RunTaskResponse, v1::RunTaskRequest>(&TaskActions::RunTask,
                                                           R"({"cluster":"locked","taskDefinition":"hostnet"})")
                   .message()),
              ::testing::HasSubstr("berth:hostNetworking"));

  // Bad settings are refused naming the member.
  auto update = [&](const std::string& json) {
    return Do<v1::UpdateClusterSettingsResponse, v1::UpdateClusterSettingsRequest>(
        &ClusterActions::UpdateClusterSettings, json);
  };
  EXPECT_EQ(update(R"({"cluster":"locked","settings":[{"name":"berth:hostNetworking","value":"no"}]})").message(),
            "settings[0].value: berth:hostNetworking must be allowed or forbidden (got 'no')");
  EXPECT_THAT(update(R"({"cluster":"locked","settings":[{"name":"colour","value":"red"}]})").message(),
              ::testing::HasSubstr("settings[0].name: must be containerInsights"));
  EXPECT_THAT(update(R"({"cluster":"locked","settings":[{"name":"containerInsights","value":"enabled"},
                                                      {"name":"containerInsights","value":"disabled"}]})")
                  .message(),
              ::testing::HasSubstr("settings[1].name: 'containerInsights' is given twice"));
  EXPECT_THAT(update(R"({"cluster":"locked"})").message(), ::testing::HasSubstr("settings: required"));
  EXPECT_EQ(update(R"({"cluster":"nope","settings":[{"name":"containerInsights","value":"enabled"}]})").code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ResourcesTest, ClusterLifecycleAndCounts) {
  v1::CreateClusterResponse created;
  ASSERT_TRUE(Do(&ClusterActions::CreateCluster,
                 Json<v1::CreateClusterRequest>(
                     R"({"clusterName":"prod","tags":[{"key":"team","value":"a"}],
                                              "settings":[{"name":"containerInsights","value":"enabled"}]})"),
                 &created)
                  .ok());
  EXPECT_EQ(created.cluster().cluster_arn(), "arn:aws:ecs:local:000000000000:cluster/prod");
  EXPECT_EQ(created.cluster().status(), "ACTIVE");
  // Creating it again returns it unchanged.
  const uint64_t before = revision();
  ASSERT_TRUE(
      Do(&ClusterActions::CreateCluster, Json<v1::CreateClusterRequest>(R"({"clusterName":"prod"})"), &created).ok());
  EXPECT_EQ(created.cluster().tags_size(), 1);
  EXPECT_EQ(revision(), before);

  std::string instance = AddInstance("prod", 1024, 1024);
  AddTaskDefinition("web", 1, 6);
  v1::RunTaskResponse run;
  ASSERT_TRUE(Do(&TaskActions::RunTask,
                 Json<v1::RunTaskRequest>(R"({"cluster":"prod","taskDefinition":"web","count":2})"), &run)
                  .ok());
  v1::DescribeClustersResponse described;
  ASSERT_TRUE(Do(&ClusterActions::DescribeClusters,
                 Json<v1::DescribeClustersRequest>(R"({"clusters":["prod","ghost"],"include":["TAGS"]})"), &described)
                  .ok());
  ASSERT_EQ(described.clusters_size(), 1);
  EXPECT_EQ(described.clusters(0).registered_container_instances_count(), 1);
  EXPECT_EQ(described.clusters(0).pending_tasks_count(), 2);
  EXPECT_EQ(described.clusters(0).running_tasks_count(), 0);
  EXPECT_EQ(described.clusters(0).tags_size(), 1);
  ASSERT_EQ(described.failures_size(), 1);
  EXPECT_EQ(described.failures(0).reason(), "MISSING");
  EXPECT_EQ(described.failures(0).arn(), "arn:aws:ecs:local:000000000000:cluster/ghost");

  // Delete refuses while instances are registered, then while tasks are not stopped.
  absl::Status s =
      Do<v1::DeleteClusterResponse, v1::DeleteClusterRequest>(&ClusterActions::DeleteCluster, R"({"cluster":"prod"})");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("registered container instances"), std::string::npos) << s;
  s = Do<v1::DeregisterContainerInstanceResponse, v1::DeregisterContainerInstanceRequest>(
      &InstanceActions::DeregisterContainerInstance, R"({"cluster":"prod","containerInstance":")" + instance + R"("})");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << "tasks still there, no force";
  v1::DeregisterContainerInstanceResponse dereg;
  ASSERT_TRUE(Do(&InstanceActions::DeregisterContainerInstance,
                 Json<v1::DeregisterContainerInstanceRequest>(R"({"cluster":"prod","containerInstance":")" + instance +
                                                              R"(","force":true})"),
                 &dereg)
                  .ok());
  EXPECT_EQ(dereg.container_instance().status(), "INACTIVE");
  // Forced deregistration stops the instance's tasks with it; StopTask on them changes nothing.
  for (const auto& t : run.tasks()) {
    v1::StopTaskResponse stop;
    ASSERT_TRUE(Do(&TaskActions::StopTask,
                   Json<v1::StopTaskRequest>(R"({"cluster":"prod","task":")" + t.task_arn() + R"("})"), &stop)
                    .ok());
    EXPECT_EQ(stop.task().last_status(), "STOPPED");
    EXPECT_NE(stop.task().stopped_reason().find("deregistered with force"), std::string::npos);
  }

  v1::CreateClusterResponse empty;
  ASSERT_TRUE(
      Do(&ClusterActions::CreateCluster, Json<v1::CreateClusterRequest>(R"({"clusterName":"empty"})"), &empty).ok());
  v1::DeleteClusterResponse deleted;
  ASSERT_TRUE(
      Do(&ClusterActions::DeleteCluster, Json<v1::DeleteClusterRequest>(R"({"cluster":"empty"})"), &deleted).ok());
  EXPECT_EQ(deleted.cluster().status(), "INACTIVE");
  v1::ListClustersResponse listed;
  ASSERT_TRUE(Do(&ClusterActions::ListClusters, v1::ListClustersRequest(), &listed).ok());
  EXPECT_EQ(listed.cluster_arns_size(), 2);  // default, prod
  EXPECT_EQ((Do<v1::RunTaskResponse, v1::RunTaskRequest>(&TaskActions::RunTask,
                                                         R"({"cluster":"empty","taskDefinition":"web"})"))
                .code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ResourcesTest, ListClustersPaginates) {
  for (int i = 0; i < 7; ++i) {
    v1::CreateClusterResponse r;
    ASSERT_TRUE(Do(&ClusterActions::CreateCluster,
                   Json<v1::CreateClusterRequest>(R"({"clusterName":"c)" + std::to_string(i) + R"("})"), &r)
                    .ok());
  }
  std::set<std::string> seen;
  v1::ListClustersRequest req;
  req.set_max_results(3);
  for (;;) {
    v1::ListClustersResponse resp;
    ASSERT_TRUE(Do(&ClusterActions::ListClusters, req, &resp).ok());
    EXPECT_LE(resp.cluster_arns_size(), 3);
    for (const auto& a : resp.cluster_arns()) EXPECT_TRUE(seen.insert(a).second);
    if (!resp.has_next_token()) break;
    req.set_next_token(resp.next_token());
  }
  EXPECT_EQ(seen.size(), 8u);
}

TEST_F(ResourcesTest, TaskDefinitionRevisionsAndListing) {
  for (int i = 0; i < 3; ++i) AddTaskDefinition("web", 1, 6);
  AddTaskDefinition("worker", 1, 6);
  v1::DescribeTaskDefinitionResponse d;
  ASSERT_TRUE(Do(&TaskDefinitionActions::DescribeTaskDefinition,
                 Json<v1::DescribeTaskDefinitionRequest>(R"({"taskDefinition":"web"})"), &d)
                  .ok());
  EXPECT_EQ(d.task_definition().revision(), 3);
  EXPECT_EQ(d.task_definition().status(), "ACTIVE");
  EXPECT_EQ(d.task_definition().network_mode(), "bridge");
  ASSERT_GE(d.task_definition().compatibilities_size(), 1);
  EXPECT_EQ(d.task_definition().compatibilities(0), "EC2");
  ASSERT_TRUE(Do(&TaskDefinitionActions::DescribeTaskDefinition,
                 Json<v1::DescribeTaskDefinitionRequest>(
                     R"({"taskDefinition":"arn:aws:ecs:local:000000000000:task-definition/web:2"})"),
                 &d)
                  .ok());
  EXPECT_EQ(d.task_definition().revision(), 2);

  v1::DeregisterTaskDefinitionResponse dr;
  ASSERT_TRUE(Do(&TaskDefinitionActions::DeregisterTaskDefinition,
                 Json<v1::DeregisterTaskDefinitionRequest>(R"({"taskDefinition":"web:3"})"), &dr)
                  .ok());
  ASSERT_TRUE(Do(&TaskDefinitionActions::DescribeTaskDefinition,
                 Json<v1::DescribeTaskDefinitionRequest>(R"({"taskDefinition":"web"})"), &d)
                  .ok());
  EXPECT_EQ(d.task_definition().revision(), 2) << "family alone means the latest ACTIVE revision";
  EXPECT_EQ((Do<v1::DeregisterTaskDefinitionResponse, v1::DeregisterTaskDefinitionRequest>(
                 &TaskDefinitionActions::DeregisterTaskDefinition, R"({"taskDefinition":"web"})"))
                .code(),
            absl::StatusCode::kInvalidArgument)
      << "deregistering needs a revision";
  // A new registration never reuses a revision.
  AddTaskDefinition("web", 1, 6);
  ASSERT_TRUE(Do(&TaskDefinitionActions::DescribeTaskDefinition,
                 Json<v1::DescribeTaskDefinitionRequest>(R"({"taskDefinition":"web"})"), &d)
                  .ok());
  EXPECT_EQ(d.task_definition().revision(), 4);

  auto list = [&](const std::string& json) {
    v1::ListTaskDefinitionsResponse resp;
    EXPECT_TRUE(Do(&TaskDefinitionActions::ListTaskDefinitions, Json<v1::ListTaskDefinitionsRequest>(json), &resp).ok())
        << json;
    std::vector<std::string> out;
    for (const auto& a : resp.task_definition_arns()) out.push_back(a.substr(a.rfind('/') + 1));
    return out;
  };
  EXPECT_EQ(list("{}"), (std::vector<std::string>{"web:1", "web:2", "web:4", "worker:1"}));
  EXPECT_EQ(list(R"({"sort":"DESC"})"), (std::vector<std::string>{"worker:1", "web:4", "web:2", "web:1"}));
  EXPECT_EQ(list(R"({"status":"INACTIVE"})"), (std::vector<std::string>{"web:3"}));
  // familyPrefix is the full family name (ECS): a prefix of another family's name matches nothing.
  EXPECT_EQ(list(R"({"familyPrefix":"worker"})"), (std::vector<std::string>{"worker:1"}));
  EXPECT_EQ(list(R"({"familyPrefix":"wor"})"), (std::vector<std::string>{}));
  EXPECT_EQ(list(R"({"familyPrefix":"web","status":"INACTIVE"})"), (std::vector<std::string>{"web:3"}));

  // DESC pagination in pages of one.
  std::vector<std::string> paged;
  v1::ListTaskDefinitionsRequest req = Json<v1::ListTaskDefinitionsRequest>(R"({"sort":"DESC","maxResults":1})");
  for (;;) {
    v1::ListTaskDefinitionsResponse resp;
    ASSERT_TRUE(Do(&TaskDefinitionActions::ListTaskDefinitions, req, &resp).ok());
    for (const auto& a : resp.task_definition_arns()) paged.push_back(a.substr(a.rfind('/') + 1));
    if (!resp.has_next_token()) break;
    req.set_next_token(resp.next_token());
  }
  EXPECT_EQ(paged, (std::vector<std::string>{"worker:1", "web:4", "web:2", "web:1"}));

  v1::ListTaskDefinitionFamiliesResponse fams;
  ASSERT_TRUE(
      Do(&TaskDefinitionActions::ListTaskDefinitionFamilies, v1::ListTaskDefinitionFamiliesRequest(), &fams).ok());
  EXPECT_EQ(fams.families_size(), 2);
  // ListTaskDefinitionFamilies' familyPrefix is a real prefix.
  v1::ListTaskDefinitionFamiliesResponse by_prefix;
  ASSERT_TRUE(Do(&TaskDefinitionActions::ListTaskDefinitionFamilies,
                 Json<v1::ListTaskDefinitionFamiliesRequest>(R"({"familyPrefix":"wor"})"), &by_prefix)
                  .ok());
  ASSERT_EQ(by_prefix.families_size(), 1);
  EXPECT_EQ(by_prefix.families(0), "worker");

  // web-worker's revisions are not web's.
  AddTaskDefinition("web-worker", 1, 6);
  EXPECT_EQ(list(R"({"familyPrefix":"web"})"), (std::vector<std::string>{"web:1", "web:2", "web:4"}));
  EXPECT_EQ(list(R"({"familyPrefix":"web-worker"})"), (std::vector<std::string>{"web-worker:1"}));
  for (const char* bad : {R"({"status":"GONE"})", R"({"sort":"UP"})", R"({"familyPrefix":"a b"})"}) {
    EXPECT_EQ((Do<v1::ListTaskDefinitionsResponse, v1::ListTaskDefinitionsRequest>(
                   &TaskDefinitionActions::ListTaskDefinitions, bad))
                  .code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST_F(ResourcesTest, TaskLevelCpuAndMemoryAreStoredInUnits) {
  v1::RegisterTaskDefinitionResponse resp;
  ASSERT_TRUE(
      Do(&TaskDefinitionActions::RegisterTaskDefinition,
         Json<v1::RegisterTaskDefinitionRequest>(
             R"({"family":"f","cpu":"1 vCPU","memory":"2GB","containerDefinitions":[{"name":"a","image":"i"}]})"),
         &resp)
          .ok());
  EXPECT_EQ(resp.task_definition().cpu(), "1024");
  EXPECT_EQ(resp.task_definition().memory(), "2048");
}

TEST_F(ResourcesTest, PropagateTagsFromTheTaskDefinition) {
  AddInstance("default", 1024, 1024);
  v1::RegisterTaskDefinitionResponse td;
  ASSERT_TRUE(Do(&TaskDefinitionActions::RegisterTaskDefinition,
                 Json<v1::RegisterTaskDefinitionRequest>(
                     R"({"family":"f","tags":[{"key":"team","value":"a"},{"key":"env","value":"td"}],
                         "containerDefinitions":[{"name":"a","image":"i","memory":6}]})"),
                 &td)
                  .ok());
  v1::RunTaskResponse run;
  ASSERT_TRUE(Do(&TaskActions::RunTask,
                 Json<v1::RunTaskRequest>(R"({"taskDefinition":"f","propagateTags":"TASK_DEFINITION",
                                              "enableExecuteCommand":true,"tags":[{"key":"env","value":"run"}]})"),
                 &run)
                  .ok());
  ASSERT_EQ(run.tasks_size(), 1);
  EXPECT_TRUE(run.tasks(0).enable_execute_command());
  std::map<std::string, std::string> tags;
  for (const auto& t : run.tasks(0).tags()) tags[t.key()] = t.value();
  EXPECT_EQ(tags, (std::map<std::string, std::string>{{"env", "run"}, {"team", "a"}}))
      << "the request's tags win over the definition's";
}

TEST_F(ResourcesTest, ContainerInstanceRegistrationRules) {
  struct Row {
    const char* name;
    std::string resources;
    const char* message_part;
  };
  const std::string cpu = R"({"name":"CPU","type":"INTEGER","integerValue":1024})";
  const std::string mem = R"({"name":"MEMORY","type":"INTEGER","integerValue":1024})";
  std::string many_ports = R"({"name":"PORTS","type":"STRINGSET","stringSetValue":[)";
  for (int p = 1; p <= 101; ++p) many_ports += (p > 1 ? "," : "") + ("\"" + std::to_string(p) + "\"");
  many_ports += "]}";
  std::vector<Row> rows = {
      {"negative cpu", R"({"name":"CPU","type":"INTEGER","integerValue":-1},)" + mem, "totalResources[0].integerValue"},
      {"cpu must be INTEGER", R"({"name":"CPU","type":"DOUBLE","doubleValue":1},)" + mem, "totalResources[0].type"},
      {"unknown resource", cpu + "," + mem + R"(,{"name":"DISK","type":"INTEGER","integerValue":1})",
       "totalResources[2].name"},
      {"duplicate resource", cpu + "," + cpu + "," + mem, "given twice"},
      {"bad port", cpu + "," + mem + R"(,{"name":"PORTS","type":"STRINGSET","stringSetValue":["70000"]})",
       "totalResources[2].stringSetValue[0]"},
      {"too many reserved ports", cpu + "," + mem + "," + many_ports, "at most 100 reserved ports"},
  };
  for (const auto& row : rows) {
    absl::Status s = Do<v1::RegisterContainerInstanceResponse, v1::RegisterContainerInstanceRequest>(
        &InstanceActions::RegisterContainerInstance, R"({"totalResources":[)" + row.resources + "]}");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << row.name;
    EXPECT_NE(s.message().find(row.message_part), std::string::npos) << row.name << ": " << s;
  }
  EXPECT_EQ(state().instance_count(), 0);

  // Re-registration with the ARN keeps the id and replaces resources.
  std::string id = AddInstance("default", 1024, 1024);
  v1::RegisterContainerInstanceResponse again;
  ASSERT_TRUE(Do(&InstanceActions::RegisterContainerInstance,
                 Json<v1::RegisterContainerInstanceRequest>(
                     R"({"containerInstanceArn":")" + id + R"(","totalResources":[)" + cpu +
                     R"(,{"name":"MEMORY","type":"INTEGER","integerValue":2048}]})"),
                 &again)
                  .ok());
  EXPECT_NE(again.container_instance().container_instance_arn().find(id), std::string::npos);
  EXPECT_EQ(state().instance_count(), 1);
  for (const auto& r : again.container_instance().remaining_resources()) {
    if (r.name() == "MEMORY") {
      EXPECT_EQ(r.integer_value(), 2048);
    }
  }
}

// totalResources is optional in ECS's model: what is not given registers as 0.
TEST_F(ResourcesTest, ContainerInstanceRegistersWithoutTotalResources) {
  v1::RegisterContainerInstanceResponse resp;
  ASSERT_TRUE(Do(&InstanceActions::RegisterContainerInstance, v1::RegisterContainerInstanceRequest(), &resp).ok());
  std::map<std::string, int64_t> registered;
  for (const auto& r : resp.container_instance().registered_resources()) registered[r.name()] = r.integer_value();
  EXPECT_EQ(registered, (std::map<std::string, int64_t>{{"CPU", 0}, {"MEMORY", 0}}));

  ASSERT_TRUE(Do(&InstanceActions::RegisterContainerInstance,
                 Json<v1::RegisterContainerInstanceRequest>(
                     R"({"totalResources":[{"name":"MEMORY","type":"INTEGER","integerValue":512}]})"),
                 &resp)
                  .ok());
  registered.clear();
  for (const auto& r : resp.container_instance().registered_resources()) registered[r.name()] = r.integer_value();
  EXPECT_EQ(registered, (std::map<std::string, int64_t>{{"CPU", 0}, {"MEMORY", 512}}));
}

// The ecs.* attributes ECS derives from an EC2 instance identity document; the caller's own win.
TEST_F(ResourcesTest, ContainerInstanceAttributesFromTheIdentityDocument) {
  const std::string document = R"({\"instanceId\":\"i-0123456789abcdef0\",\"availabilityZone\":\"eu-west-1b\",)"
                               R"(\"instanceType\":\"m5.large\",\"imageId\":\"ami-0abcdef1234567890\"})";
  v1::RegisterContainerInstanceResponse resp;
  ASSERT_TRUE(Do(&InstanceActions::RegisterContainerInstance,
                 Json<v1::RegisterContainerInstanceRequest>(
                     R"({"instanceIdentityDocument":")" + document +
                     R"(","attributes":[{"name":"ecs.instance-type","value":"custom.size"}]})"),
                 &resp)
                  .ok());
  std::map<std::string, std::string> attributes;
  for (const auto& a : resp.container_instance().attributes()) attributes[a.name()] = a.value();
  EXPECT_EQ(attributes["ecs.availability-zone"], "eu-west-1b");
  EXPECT_EQ(attributes["ecs.ami-id"], "ami-0abcdef1234567890");
  EXPECT_EQ(attributes["ecs.instance-type"], "custom.size") << "the caller's attribute wins";
  EXPECT_EQ(resp.container_instance().ec2_instance_id(), "i-0123456789abcdef0");

  absl::Status bad = Do<v1::RegisterContainerInstanceResponse, v1::RegisterContainerInstanceRequest>(
      &InstanceActions::RegisterContainerInstance, R"({"instanceIdentityDocument":"{\"availabilityZone\":\"a;b\"}"})");
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("instanceIdentityDocument.availabilityZone"), std::string::npos) << bad;
}

TEST_F(ResourcesTest, AttributesPutListDelete) {
  std::string a = AddInstance("default", 1024, 1024);
  std::string b = AddInstance("default", 1024, 1024);
  v1::PutAttributesResponse put;
  ASSERT_TRUE(Do(&InstanceActions::PutAttributes,
                 Json<v1::PutAttributesRequest>(R"({"attributes":[{"name":"stack","value":"prod","targetId":")" + a +
                                                R"("},{"name":"stack","value":"dev","targetId":")" + b +
                                                R"("},{"name":"gpu","targetId":")" + b + R"("}]})"),
                 &put)
                  .ok());
  EXPECT_EQ(put.attributes_size(), 3);
  auto list = [&](const std::string& json) {
    v1::ListAttributesResponse resp;
    EXPECT_TRUE(Do(&InstanceActions::ListAttributes, Json<v1::ListAttributesRequest>(json), &resp).ok()) << json;
    return resp.attributes_size();
  };
  EXPECT_EQ(list(R"({"targetType":"container-instance"})"), 3);
  EXPECT_EQ(list(R"({"targetType":"container-instance","attributeName":"stack"})"), 2);
  EXPECT_EQ(list(R"({"targetType":"container-instance","attributeName":"stack","attributeValue":"dev"})"), 1);

  struct Bad {
    std::string json;
    const char* part;
  };
  std::vector<Bad> bad = {
      {R"({"attributes":[]})", "attributes: give 1 to 10"},
      {R"({"attributes":[{"name":"x y","targetId":")" + a + R"("}]})", "attributes[0].name"},
      {R"({"attributes":[{"name":")" + std::string(129, 'n') + R"(","targetId":")" + a + R"("}]})",
       "attributes[0].name"},
      {R"({"attributes":[{"name":"n","value":" padded","targetId":")" + a + R"("}]})", "attributes[0].value"},
      {R"({"attributes":[{"name":"n","value":"v"}]})", "attributes[0].targetId: required"},
      {R"({"attributes":[{"name":"n","targetType":"task","targetId":")" + a + R"("}]})", "attributes[0].targetType"},
      {R"({"attributes":[{"name":"n","targetId":")" + std::string(32, 'e') + R"("}]})", "not registered"},
  };
  const uint64_t before = revision();
  for (const auto& row : bad) {
    absl::Status s = Do<v1::PutAttributesResponse, v1::PutAttributesRequest>(&InstanceActions::PutAttributes, row.json);
    EXPECT_FALSE(s.ok()) << row.json;
    EXPECT_NE(s.message().find(row.part), std::string::npos) << s;
  }
  EXPECT_EQ(revision(), before);

  // At most 10 custom attributes per instance.
  for (int i = 0; i < 9; ++i) {
    ASSERT_TRUE((Do<v1::PutAttributesResponse, v1::PutAttributesRequest>(
                     &InstanceActions::PutAttributes,
                     R"({"attributes":[{"name":"c)" + std::to_string(i) + R"(","targetId":")" + a + R"("}]})"))
                    .ok());
  }
  absl::Status s = Do<v1::PutAttributesResponse, v1::PutAttributesRequest>(
      &InstanceActions::PutAttributes, R"({"attributes":[{"name":"c99","targetId":")" + a + R"("}]})");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;

  v1::DeleteAttributesResponse del;
  ASSERT_TRUE(Do(&InstanceActions::DeleteAttributes,
                 Json<v1::DeleteAttributesRequest>(R"({"attributes":[{"name":"stack","targetId":")" + b + R"("}]})"),
                 &del)
                  .ok());
  EXPECT_EQ(del.attributes_size(), 1);
  EXPECT_EQ(list(R"({"targetType":"container-instance","attributeName":"stack"})"), 1);
  EXPECT_EQ(
      (Do<v1::ListAttributesResponse, v1::ListAttributesRequest>(&InstanceActions::ListAttributes, R"({})")).code(),
      absl::StatusCode::kInvalidArgument);
}

TEST_F(ResourcesTest, TagsOnEveryResourceKind) {
  std::string instance = AddInstance("default", 1024, 1024);
  AddTaskDefinition("web", 1, 6);
  v1::RunTaskResponse run;
  ASSERT_TRUE(Do(&TaskActions::RunTask, Json<v1::RunTaskRequest>(R"({"taskDefinition":"web"})"), &run).ok());
  const std::vector<std::string> arns = {
      "arn:aws:ecs:local:000000000000:cluster/default",
      "arn:aws:ecs:local:000000000000:task-definition/web:1",
      "arn:aws:ecs:local:000000000000:container-instance/default/" + instance,
      run.tasks(0).task_arn(),
  };
  for (const auto& arn : arns) {
    v1::TagResourceResponse tagged;
    ASSERT_TRUE(Do(&TagActions::TagResource,
                   Json<v1::TagResourceRequest>(R"({"resourceArn":")" + arn +
                                                R"(","tags":[{"key":"a","value":"1"},{"key":"b","value":"2"}]})"),
                   &tagged)
                    .ok())
        << arn;
    ASSERT_TRUE(Do(&TagActions::TagResource,
                   Json<v1::TagResourceRequest>(R"({"resourceArn":")" + arn + R"(","tags":[{"key":"a","value":"9"}]})"),
                   &tagged)
                    .ok());
    v1::UntagResourceResponse untagged;
    ASSERT_TRUE(Do(&TagActions::UntagResource,
                   Json<v1::UntagResourceRequest>(R"({"resourceArn":")" + arn + R"(","tagKeys":["b"]})"), &untagged)
                    .ok());
    v1::ListTagsForResourceResponse listed;
    ASSERT_TRUE(Do(&TagActions::ListTagsForResource,
                   Json<v1::ListTagsForResourceRequest>(R"({"resourceArn":")" + arn + R"("})"), &listed)
                    .ok());
    ASSERT_EQ(listed.tags_size(), 1) << arn;
    EXPECT_EQ(listed.tags(0).key(), "a");
    EXPECT_EQ(listed.tags(0).value(), "9");
  }
  EXPECT_EQ(
      (Do<v1::ListTagsForResourceResponse, v1::ListTagsForResourceRequest>(
           &TagActions::ListTagsForResource, R"({"resourceArn":"arn:aws:ecs:local:000000000000:service/default/x"})"))
          .code(),
      absl::StatusCode::kNotFound);
  EXPECT_EQ((Do<v1::ListTagsForResourceResponse, v1::ListTagsForResourceRequest>(&TagActions::ListTagsForResource,
                                                                                 R"({"resourceArn":"nonsense"})"))
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace berth::controlplane
