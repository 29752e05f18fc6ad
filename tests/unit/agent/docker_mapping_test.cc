// The Docker mapping of ECS-SEMANTICS.md: a container spec -> the Engine API's create body.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "src/agent/docker_runtime.h"

namespace berth::agent {
namespace {

ContainerSpec Spec(const std::string& definition_json, const std::string& network_mode = "bridge") {
  ContainerSpec spec;
  auto s = google::protobuf::util::JsonStringToMessage(definition_json, &spec.definition);
  EXPECT_TRUE(s.ok()) << s.ToString();
  spec.name = "berth-web-1-app-0123";
  spec.task_arn = "arn:aws:ecs:local:000000000000:task/default/0123";
  spec.network_mode = network_mode;
  spec.labels = {{kLabelTaskArn, spec.task_arn}, {kLabelContainerName, spec.definition.name()}};
  return spec;
}

TEST(DockerMappingTest, ResourcesProcessAndLabels) {
  nlohmann::json c = DockerRuntime::ContainerConfig(Spec(R"({"name":"app","image":"busybox","cpu":256,
      "memory":128,"memoryReservation":64,"command":["sleep","1"],"entryPoint":["/bin/sh","-c"],
      "environment":[{"name":"A","value":"1"},{"name":"B","value":"x=y"}],"workingDirectory":"/srv",
      "user":"nobody","privileged":true,"readonlyRootFilesystem":true,"stopTimeout":7,
      "ulimits":[{"name":"nofile","softLimit":1024,"hardLimit":4096}],
      "dockerLabels":{"team":"blue"}})"));
  EXPECT_EQ(c["Image"], "busybox");
  EXPECT_EQ(c["Cmd"], nlohmann::json({"sleep", "1"}));
  EXPECT_EQ(c["Entrypoint"], nlohmann::json({"/bin/sh", "-c"}));
  EXPECT_EQ(c["Env"], nlohmann::json({"A=1", "B=x=y"}));
  EXPECT_EQ(c["WorkingDir"], "/srv");
  EXPECT_EQ(c["User"], "nobody");
  EXPECT_EQ(c["StopTimeout"], 7);
  EXPECT_EQ(c["Labels"][kLabelTaskArn], "arn:aws:ecs:local:000000000000:task/default/0123");
  const nlohmann::json& h = c["HostConfig"];
  EXPECT_EQ(h["CpuShares"], 256);
  EXPECT_EQ(h["Memory"], 128LL * 1024 * 1024);
  EXPECT_EQ(h["MemoryReservation"], 64LL * 1024 * 1024);
  EXPECT_EQ(h["Privileged"], true);
  EXPECT_EQ(h["ReadonlyRootfs"], true);
  EXPECT_EQ(h["Ulimits"], nlohmann::json::parse(R"([{"Name":"nofile","Soft":1024,"Hard":4096}])"));
  EXPECT_EQ(h["NetworkMode"], "bridge");
}

TEST(DockerMappingTest, TheTaskSizeCapsEveryContainer) {
  // A container without its own limit gets the task's memory; every one a CPU quota of the task's.
  ContainerSpec spec = Spec(R"({"name":"app","image":"busybox","memoryReservation":600})");
  spec.task_cpu = 256;
  spec.task_memory = 512;
  nlohmann::json h = DockerRuntime::ContainerConfig(spec)["HostConfig"];
  EXPECT_EQ(h["Memory"], 512LL * 1024 * 1024);
  EXPECT_EQ(h["MemoryReservation"], 512LL * 1024 * 1024) << "never above the limit";
  EXPECT_EQ(h["NanoCpus"], 250'000'000);
  // A lower limit of its own stays; a higher one is capped.
  spec = Spec(R"({"name":"app","image":"busybox","memory":128})");
  spec.task_memory = 512;
  EXPECT_EQ(DockerRuntime::ContainerConfig(spec)["HostConfig"]["Memory"], 128LL * 1024 * 1024);
  spec = Spec(R"({"name":"app","image":"busybox","memory":1024})");
  spec.task_memory = 512;
  EXPECT_EQ(DockerRuntime::ContainerConfig(spec)["HostConfig"]["Memory"], 512LL * 1024 * 1024);
  // Without a task size, nothing is added.
  h = DockerRuntime::ContainerConfig(Spec(R"({"name":"app","image":"busybox"})"))["HostConfig"];
  EXPECT_FALSE(h.contains("Memory"));
  EXPECT_FALSE(h.contains("NanoCpus"));
  EXPECT_FALSE(h.contains("CgroupParent"));
}

TEST(DockerMappingTest, TheTaskCgroupIsTheContainersCgroupParent) {
  ContainerSpec spec = Spec(R"({"name":"app","image":"busybox"})");
  spec.task_memory = 512;
  spec.cgroup_parent = "/berth/0123abcd";
  EXPECT_EQ(DockerRuntime::ContainerConfig(spec)["HostConfig"]["CgroupParent"], "/berth/0123abcd");
}

TEST(DockerMappingTest, CpuOfOneOrLessBecomesTwoShares) {
  for (const char* cpu : {"", R"(,"cpu":0)", R"(,"cpu":1)"}) {
    nlohmann::json c =
        DockerRuntime::ContainerConfig(Spec(std::string(R"({"name":"app","image":"busybox")") + cpu + "}"));
    EXPECT_EQ(c["HostConfig"]["CpuShares"], 2) << cpu;
  }
}

TEST(DockerMappingTest, HealthCheckDefaultsAreEcsOnesInNanoseconds) {
  nlohmann::json c = DockerRuntime::ContainerConfig(
      Spec(R"({"name":"app","image":"busybox","healthCheck":{"command":["CMD-SHELL","true"],"interval":10}})"));
  EXPECT_EQ(c["Healthcheck"]["Test"], nlohmann::json({"CMD-SHELL", "true"}));
  EXPECT_EQ(c["Healthcheck"]["Interval"], 10LL * 1000000000);
  EXPECT_EQ(c["Healthcheck"]["Timeout"], 5LL * 1000000000);
  EXPECT_EQ(c["Healthcheck"]["Retries"], 3);
  EXPECT_EQ(c["Healthcheck"]["StartPeriod"], 0);
}

TEST(DockerMappingTest, BridgePortsArePublishedWithTheChosenHostPorts) {
  ContainerSpec spec = Spec(R"({"name":"app","image":"busybox"})");
  spec.ports = {{80, 49153, "tcp", ""}, {53, 0, "udp", ""}};
  nlohmann::json c = DockerRuntime::ContainerConfig(spec);
  EXPECT_TRUE(c["ExposedPorts"].contains("80/tcp"));
  EXPECT_TRUE(c["ExposedPorts"].contains("53/udp"));
  EXPECT_EQ(c["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"], "49153");
  EXPECT_EQ(c["HostConfig"]["PortBindings"]["53/udp"][0]["HostPort"], "");  // the engine chooses
}

TEST(DockerMappingTest, NetworkModes) {
  EXPECT_EQ(DockerRuntime::ContainerConfig(Spec(R"({"name":"a","image":"b"})", "host"))["HostConfig"]["NetworkMode"],
            "host");
  EXPECT_EQ(DockerRuntime::ContainerConfig(Spec(R"({"name":"a","image":"b"})", "none"))["HostConfig"]["NetworkMode"],
            "none");
  ContainerSpec vpc = Spec(R"({"name":"a","image":"b","hostname":"ignored"})", "awsvpc");
  vpc.network_container = "holder123";
  nlohmann::json c = DockerRuntime::ContainerConfig(vpc);
  EXPECT_EQ(c["HostConfig"]["NetworkMode"], "container:holder123");
  EXPECT_FALSE(c.contains("Hostname"));  // the namespace's owner sets it
  EXPECT_FALSE(c.contains("ExposedPorts"));
}

TEST(DockerMappingTest, VolumesBindHostPathsAndMountDockerVolumes) {
  ContainerSpec spec = Spec(R"({"name":"app","image":"busybox","mountPoints":[
      {"sourceVolume":"data","containerPath":"/data","readOnly":true},
      {"sourceVolume":"scratch","containerPath":"/scratch"}]})");
  spec.volumes = {{"data", "/srv/data", "", "", {}, {}}, {"scratch", "", "berth-0123-scratch", "local", {}, {}}};
  nlohmann::json h = DockerRuntime::ContainerConfig(spec)["HostConfig"];
  EXPECT_EQ(h["Binds"], nlohmann::json({"/srv/data:/data:ro"}));
  EXPECT_EQ(h["Mounts"],
            nlohmann::json::parse(
                R"([{"Type":"volume","Source":"berth-0123-scratch","Target":"/scratch","ReadOnly":false}])"));
}

TEST(DockerMappingTest, LinuxParameters) {
  nlohmann::json h = DockerRuntime::ContainerConfig(Spec(R"({"name":"app","image":"busybox","memory":100,
      "linuxParameters":{"capabilities":{"add":["NET_ADMIN"],"drop":["MKNOD"]},"initProcessEnabled":true,
        "sharedMemorySize":64,"devices":[{"hostPath":"/dev/fuse","permissions":["read","write"]}],
        "tmpfs":[{"containerPath":"/run","size":16,"mountOptions":["noexec"]}],"maxSwap":50,"swappiness":10},
      "systemControls":[{"namespace":"net.core.somaxconn","value":"1024"}]})"))["HostConfig"];
  EXPECT_EQ(h["CapAdd"], nlohmann::json({"NET_ADMIN"}));
  EXPECT_EQ(h["CapDrop"], nlohmann::json({"MKNOD"}));
  EXPECT_EQ(h["Init"], true);
  EXPECT_EQ(h["ShmSize"], 64LL * 1024 * 1024);
  EXPECT_EQ(h["Devices"][0]["PathInContainer"], "/dev/fuse");
  EXPECT_EQ(h["Devices"][0]["CgroupPermissions"], "rw");
  EXPECT_EQ(h["Tmpfs"]["/run"], "size=16m,noexec");
  EXPECT_EQ(h["MemorySwap"], 150LL * 1024 * 1024);
  EXPECT_EQ(h["MemorySwappiness"], 10);
  EXPECT_EQ(h["Sysctls"]["net.core.somaxconn"], "1024");
}

}  // namespace
}  // namespace berth::agent
