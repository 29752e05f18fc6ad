// End-to-end tests of the real berthd binary over gRPC: health, reflection, metrics, the ECS
// actions of the foundation, errors, restart and clean shutdown.
#include <curl/curl.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <future>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tests/integration/test_helpers.h"
#include "tests/testutil/berthd_process.h"
#include "tests/testutil/temp_dir.h"

namespace berth {
namespace {

using testutil::Call;
using testutil::FromJson;
using CS = v1::ContainerService::Stub;

std::string HttpGet(const std::string& url, long* code) {
  std::string body;
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION, +[](char* p, size_t s, size_t n, void* out) {
        static_cast<std::string*>(out)->append(p, s * n);
        return s * n;
      });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, code);
  curl_easy_cleanup(curl);
  return body;
}

// A unary call with raw bytes, for services whose generated code Berth does not build.
grpc::Status RawUnary(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                      const std::string& request, std::string* response) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::Slice slice(request);
  grpc::ByteBuffer req(&slice, 1), resp;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, method, grpc::StubOptions(), &req, &resp, [&](grpc::Status s) { done.set_value(s); });
  grpc::Status status = done.get_future().get();
  std::vector<grpc::Slice> slices;
  if (status.ok() && resp.Dump(&slices).ok()) {
    for (auto& s : slices) response->append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return status;
}

class BerthdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    berthd_ = std::make_unique<testutil::BerthdProcess>(dir_.Sub("data"));
    ASSERT_TRUE(berthd_->Start()) << berthd_->Log();
    stub_ = berthd_->NewStub();
  }

  testutil::TempDir dir_;
  std::unique_ptr<testutil::BerthdProcess> berthd_;
  std::unique_ptr<CS> stub_;
};

TEST_F(BerthdTest, ServesHealthReflectionAndMetrics) {
  std::string health;
  ASSERT_TRUE(RawUnary(berthd_->channel(), "/grpc.health.v1.Health/Check", "", &health).ok());
  EXPECT_EQ(health, std::string("\x08\x01", 2));  // HealthCheckResponse{status: SERVING}

  // ServerReflectionRequest{list_services: "*"} over the bidi stream.
  grpc::GenericStub stub(berthd_->channel());
  grpc::ClientContext ctx;
  grpc::CompletionQueue cq;
  auto call = stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag;
  bool ok;
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  grpc::Slice slice(std::string("\x3a\x01*", 3));
  grpc::ByteBuffer req(&slice, 1), resp;
  call->WriteLast(req, grpc::WriteOptions(), reinterpret_cast<void*>(2));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  call->Read(&resp, reinterpret_cast<void*>(3));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(resp.Dump(&slices).ok());
  std::string bytes;
  for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_NE(bytes.find("berth.v1.ContainerService"), std::string::npos);
  ctx.TryCancel();
  call->Finish(nullptr, reinterpret_cast<void*>(4));
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }

  v1::ListClustersResponse lc;
  ASSERT_TRUE(Call(*stub_, &CS::ListClusters, v1::ListClustersRequest(), &lc).ok());
  long code = 0;
  std::string metrics = HttpGet("http://" + berthd_->http_address() + "/metrics", &code);
  EXPECT_EQ(code, 200);
  EXPECT_NE(metrics.find("berth_rpc_requests_total{code=\"OK\",door=\"grpc\",method=\"ListClusters\"} 1"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("berth_commit_fsync_seconds_bucket"), std::string::npos);
  // Where commit time goes, per stage; the default cluster's creation was one batch at least.
  for (const char* stage : {"queued", "lock_wait", "apply", "write_wait", "write", "complete"}) {
    const std::string series = std::string("berth_commit_stage_seconds_count{stage=\"") + stage + "\"} ";
    const size_t at = metrics.find(series);
    ASSERT_NE(at, std::string::npos) << series;
    EXPECT_GE(std::stod(metrics.substr(at + series.size())), 1) << series;
  }
  EXPECT_NE(metrics.find("berth_entities{kind=\"cluster\"} 1"), std::string::npos);
  EXPECT_EQ(HttpGet("http://" + berthd_->http_address() + "/healthz", &code), "ok\n");
  EXPECT_EQ(code, 200);
}

TEST_F(BerthdTest, DefaultClusterExistsFromFirstStart) {
  v1::DescribeClustersResponse resp;
  ASSERT_TRUE(Call(*stub_, &CS::DescribeClusters, v1::DescribeClustersRequest(), &resp).ok());
  ASSERT_EQ(resp.clusters_size(), 1);
  EXPECT_EQ(resp.clusters(0).cluster_name(), "default");
  EXPECT_EQ(resp.clusters(0).cluster_arn(), "arn:aws:ecs:local:000000000000:cluster/default");
  EXPECT_EQ(resp.clusters(0).status(), "ACTIVE");
}

TEST_F(BerthdTest, RunTaskReservesResourcesAndSurvivesRestart) {
  v1::CreateClusterResponse cc;
  ASSERT_TRUE(
      Call(*stub_, &CS::CreateCluster, FromJson<v1::CreateClusterRequest>(R"({"clusterName":"prod"})"), &cc).ok());
  v1::RegisterContainerInstanceResponse ri;
  ASSERT_TRUE(Call(*stub_, &CS::RegisterContainerInstance, testutil::InstanceRequest("prod", 1024, 1000), &ri).ok());
  const std::string instance_arn = ri.container_instance().container_instance_arn();
  v1::RegisterTaskDefinitionResponse td;
  ASSERT_TRUE(Call(*stub_, &CS::RegisterTaskDefinition, testutil::SmallTaskDefinition("web", 256, 300), &td).ok());
  EXPECT_EQ(td.task_definition().revision(), 1);
  EXPECT_EQ(td.task_definition().task_definition_arn(), "arn:aws:ecs:local:000000000000:task-definition/web:1");

  v1::RunTaskResponse run;
  ASSERT_TRUE(Call(*stub_, &CS::RunTask,
                   FromJson<v1::RunTaskRequest>(R"({"cluster":"prod","taskDefinition":"web","count":5})"), &run)
                  .ok());
  // 1000 MiB fit three 300 MiB tasks; the other two fail on memory.
  ASSERT_EQ(run.tasks_size(), 3);
  ASSERT_EQ(run.failures_size(), 2);
  EXPECT_EQ(run.failures(0).reason(), "RESOURCE:MEMORY");
  EXPECT_EQ(run.failures(0).detail(), "RESOURCE:MEMORY on 1 instance");
  for (const auto& t : run.tasks()) {
    EXPECT_EQ(t.last_status(), "PENDING");
    EXPECT_EQ(t.desired_status(), "RUNNING");
    EXPECT_EQ(t.group(), "family:web");
    EXPECT_EQ(t.container_instance_arn(), instance_arn);
    EXPECT_EQ(t.availability_zone(), "az-1");
  }

  auto describe_instance = [&](v1::ContainerInstance* out) {
    v1::DescribeContainerInstancesRequest req;
    req.set_cluster("prod");
    req.add_container_instances(instance_arn);
    v1::DescribeContainerInstancesResponse resp;
    ASSERT_TRUE(Call(*stub_, &CS::DescribeContainerInstances, req, &resp).ok());
    ASSERT_EQ(resp.container_instances_size(), 1);
    *out = resp.container_instances(0);
  };
  v1::ContainerInstance ci;
  describe_instance(&ci);
  EXPECT_EQ(ci.pending_tasks_count(), 3);
  for (const auto& r : ci.remaining_resources()) {
    if (r.name() == "CPU") {
      EXPECT_EQ(r.integer_value(), 1024 - 3 * 256);
    }
    if (r.name() == "MEMORY") {
      EXPECT_EQ(r.integer_value(), 1000 - 3 * 300);
    }
  }

  v1::StopTaskRequest stop;
  stop.set_cluster("prod");
  stop.set_task(run.tasks(0).task_arn());
  stop.set_reason("scaling down");
  v1::StopTaskResponse stopped;
  ASSERT_TRUE(Call(*stub_, &CS::StopTask, stop, &stopped).ok());
  EXPECT_EQ(stopped.task().desired_status(), "STOPPED");
  EXPECT_EQ(stopped.task().stop_code(), "UserInitiated");
  EXPECT_EQ(stopped.task().stopped_reason(), "scaling down");

  // Restart (clean) and check everything is as it was.
  ASSERT_EQ(berthd_->Terminate(), 0) << berthd_->Log();
  ASSERT_TRUE(berthd_->Start()) << berthd_->Log();
  stub_ = berthd_->NewStub();
  v1::ContainerInstance after;
  describe_instance(&after);
  EXPECT_EQ(after.pending_tasks_count(), 3);
  for (const auto& r : after.remaining_resources()) {
    if (r.name() == "MEMORY") {
      EXPECT_EQ(r.integer_value(), 1000 - 3 * 300);
    }
  }
  v1::DescribeClustersResponse dc;
  ASSERT_TRUE(
      Call(*stub_, &CS::DescribeClusters, FromJson<v1::DescribeClustersRequest>(R"({"clusters":["prod"]})"), &dc).ok());
  ASSERT_EQ(dc.clusters_size(), 1);
  EXPECT_EQ(dc.clusters(0).registered_container_instances_count(), 1);
  EXPECT_EQ(dc.clusters(0).pending_tasks_count(), 3);
  v1::ListTasksResponse running, stopped_list;
  ASSERT_TRUE(Call(*stub_, &CS::ListTasks, FromJson<v1::ListTasksRequest>(R"({"cluster":"prod"})"), &running).ok());
  EXPECT_EQ(running.task_arns_size(), 2);
  ASSERT_TRUE(Call(*stub_, &CS::ListTasks,
                   FromJson<v1::ListTasksRequest>(R"({"cluster":"prod","desiredStatus":"STOPPED"})"), &stopped_list)
                  .ok());
  ASSERT_EQ(stopped_list.task_arns_size(), 1);
  EXPECT_EQ(stopped_list.task_arns(0), run.tasks(0).task_arn());
  v1::DescribeTaskDefinitionResponse dtd;
  ASSERT_TRUE(Call(*stub_, &CS::DescribeTaskDefinition,
                   FromJson<v1::DescribeTaskDefinitionRequest>(R"({"taskDefinition":"web"})"), &dtd)
                  .ok());
  EXPECT_EQ(dtd.task_definition().revision(), 1);
}

TEST_F(BerthdTest, BadInputIsRefusedWithTheFieldNamed) {
  struct Row {
    const char* name;
    std::function<grpc::Status()> call;
    grpc::StatusCode code;
    const char* message_part;
  };
  v1::RunTaskResponse run;
  v1::CreateClusterResponse cc;
  v1::RegisterTaskDefinitionResponse td;
  v1::DescribeTasksResponse dt;
  std::vector<Row> rows = {
      {"unknown cluster",
       [&] {
         return Call(*stub_, &CS::RunTask, FromJson<v1::RunTaskRequest>(R"({"cluster":"nope","taskDefinition":"x"})"),
                     &run);
       },
       grpc::StatusCode::NOT_FOUND, "cluster 'nope' not found"},
      {"count out of range",
       [&] {
         return Call(*stub_, &CS::RunTask, FromJson<v1::RunTaskRequest>(R"({"taskDefinition":"x","count":11})"), &run);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "count: must be between 1 and 10"},
      {"missing task definition",
       [&] { return Call(*stub_, &CS::RunTask, FromJson<v1::RunTaskRequest>(R"({})"), &run); },
       grpc::StatusCode::INVALID_ARGUMENT, "taskDefinition: required"},
      {"malformed ARN",
       [&] {
         return Call(*stub_, &CS::DescribeTasks,
                     FromJson<v1::DescribeTasksRequest>(R"({"tasks":["arn:aws:ecs:local:000000000000:bogus/x"]})"),
                     &dt);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "tasks[0]"},
      {"empty cluster name",
       [&] {
         return Call(*stub_, &CS::CreateCluster, FromJson<v1::CreateClusterRequest>(R"({"clusterName":"a b"})"), &cc);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "clusterName"},
      {"duplicate container names",
       [&] {
         return Call(
             *stub_, &CS::RegisterTaskDefinition,
             FromJson<v1::RegisterTaskDefinitionRequest>(
                 R"({"family":"f","containerDefinitions":[{"name":"a","image":"i","memory":10},{"name":"a","image":"i","memory":10}]})"),
             &td);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "containerDefinitions[1].name"},
  };
  for (const auto& row : rows) {
    grpc::Status s = row.call();
    EXPECT_EQ(s.error_code(), row.code) << row.name << ": " << s.error_message();
    EXPECT_NE(s.error_message().find(row.message_part), std::string::npos) << row.name << ": " << s.error_message();
  }
  // Nothing changed: no task definition family, only the default cluster.
  v1::ListTaskDefinitionFamiliesResponse fams;
  ASSERT_TRUE(Call(*stub_, &CS::ListTaskDefinitionFamilies, v1::ListTaskDefinitionFamiliesRequest(), &fams).ok());
  EXPECT_EQ(fams.families_size(), 0);
  v1::ListClustersResponse lc;
  ASSERT_TRUE(Call(*stub_, &CS::ListClusters, v1::ListClustersRequest(), &lc).ok());
  EXPECT_EQ(lc.cluster_arns_size(), 1);
}

TEST_F(BerthdTest, OversizeMessageIsRefused) {
  v1::RegisterTaskDefinitionRequest req = testutil::SmallTaskDefinition("big");
  req.mutable_container_definitions(0)->set_image(std::string(5 << 20, 'x'));
  v1::RegisterTaskDefinitionResponse resp;
  grpc::Status s = Call(*stub_, &CS::RegisterTaskDefinition, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
}

TEST_F(BerthdTest, LogsItsAllocatorWithHugePagesForTheHeap) {
  const std::string log = berthd_->Log();
#ifdef BERTH_WITH_JEMALLOC
  EXPECT_NE(log.find("allocator: jemalloc "), std::string::npos) << log;
  // The compiled-in jemalloc configuration (main.cc), unless the environment overrides it.
  if (std::getenv("MALLOC_CONF") == nullptr) {
    // "not supported": jemalloc found no transparent huge pages in this kernel (or container).
    EXPECT_TRUE(log.find("transparent huge pages: always (the kernel's mode: ") != std::string::npos ||
                log.find("transparent huge pages: not supported") != std::string::npos)
        << log;
  }
#else
  EXPECT_NE(log.find("allocator: the C library's malloc"), std::string::npos) << log;
#endif
}

TEST_F(BerthdTest, SigtermExitsCleanly) {
  int status = berthd_->Terminate();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_NE(berthd_->Log().find("stopped cleanly"), std::string::npos);
}

}  // namespace
}  // namespace berth

namespace berth {
namespace {

TEST(BerthdConfigTest, ConfigFileSetsOptionsAndFlagsOverrideIt) {
  testutil::TempDir dir;
  {
    std::ofstream config(dir.Sub("berthd.toml"));
    config << "region = \"eu-test-1\"\naccount = \"123456789012\"\nlog-format = \"text\"\n";
  }
  // The flag overrides the file's log format; the file's region and account apply.
  testutil::BerthdProcess berthd(dir.Sub("data"), {"--config", dir.Sub("berthd.toml"), "--log-format", "json"});
  ASSERT_TRUE(berthd.Start()) << berthd.Log();
  auto stub = berthd.NewStub();
  v1::DescribeClustersResponse resp;
  ASSERT_TRUE(Call(*stub, &CS::DescribeClusters, v1::DescribeClustersRequest(), &resp).ok());
  ASSERT_EQ(resp.clusters_size(), 1);
  EXPECT_EQ(resp.clusters(0).cluster_arn(), "arn:aws:ecs:eu-test-1:123456789012:cluster/default");
  ASSERT_EQ(berthd.Terminate(), 0);
  std::istringstream log(berthd.Log());
  int lines = 0;
  for (std::string line; std::getline(log, line); ++lines) {
    auto doc = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(doc.is_object()) << "not a JSON log line: " << line;
    EXPECT_TRUE(doc.contains("ts") && doc.contains("level") && doc.contains("msg")) << line;
  }
  EXPECT_GE(lines, 3);
}

TEST(BerthdConfigTest, UnusableFlagsFailFast) {
  testutil::TempDir dir;
  struct Row {
    std::vector<std::string> flags;
    std::string config;  // written to a config file when not empty
    std::string log_part;
  };
  const std::vector<Row> rows = {
      {{"--log-format", "xml"}, "", "--log-format must be text or json"},
      {{"--max-batch", "0"}, "", "--max-batch"},
      {{"--store-background-priority", "high"}, "", "--store-background-priority"},
      {{"--region", "EU:1"}, "", "region may contain only"},
      {{"--account", "12345"}, "", "account must be 12 digits"},
      {{}, "grpc_listen = \"127.0.0.1:1\"\n", "grpc_listen"},  // a typo in the config file
  };
  int n = 0;
  for (const auto& row : rows) {
    std::string name = "case" + std::to_string(n++);
    std::vector<std::string> flags = row.flags;
    if (!row.config.empty()) {
      std::ofstream(dir.Sub(name + ".toml")) << row.config;
      flags.push_back("--config");
      flags.push_back(dir.Sub(name + ".toml"));
    }
    testutil::BerthdProcess berthd(dir.Sub(name), flags);
    EXPECT_FALSE(berthd.Start()) << row.log_part;
    EXPECT_NE(berthd.Log().find(row.log_part), std::string::npos) << berthd.Log();
  }
}

TEST(BerthdConfigTest, SecondBerthdCannotShareAPort) {
  testutil::TempDir dir;
  testutil::BerthdProcess first(dir.Sub("first"));
  ASSERT_TRUE(first.Start()) << first.Log();
  testutil::BerthdProcess same_grpc(dir.Sub("second"), {"--grpc-listen", first.grpc_address()});
  EXPECT_FALSE(same_grpc.Start()) << "a second berthd bound the gRPC port in use";
  testutil::BerthdProcess same_http(dir.Sub("third"), {"--http-listen", first.http_address()});
  EXPECT_FALSE(same_http.Start()) << "a second berthd bound the HTTP port in use";
}

TEST(BerthdConfigTest, SecondBerthdOnTheSameDataDirIsRefused) {
  testutil::TempDir dir;
  testutil::BerthdProcess first(dir.Sub("data"));
  ASSERT_TRUE(first.Start()) << first.Log();
  testutil::BerthdProcess second(dir.Sub("data"));
  EXPECT_FALSE(second.Start());
  EXPECT_NE(second.Log().find("already open"), std::string::npos) << second.Log();
}

}  // namespace
}  // namespace berth
