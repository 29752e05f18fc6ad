// ApiFixture: an in-process control plane (a Server on a memory store, with a fake clock) with a
// synchronous call helper, for table-driven tests of the actions.
#pragma once

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <string>

#include "berth/store/store.h"
#include "src/controlplane/actions/api.h"
#include "src/controlplane/server.h"
#include "src/controlplane/state/pipeline.h"
#include "src/controlplane/state/state.h"
#include "tests/testutil/fake_clock.h"

namespace berth::controlplane {

template <typename Message>
Message Json(const std::string& json) {
  Message m;
  auto status = google::protobuf::util::JsonStringToMessage(json, &m);
  EXPECT_TRUE(status.ok()) << status.ToString() << " in " << json;
  return m;
}

class ApiFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = NewStore();
    Start();
  }
  // The store the control plane runs on (a memory store unless a test needs to see its writes).
  virtual std::unique_ptr<store::Store> NewStore() { return store::NewMemoryStore(); }
  // Recovers the control plane from the store and starts it, as berthd does (no housekeeping
  // thread: tests call the ticks).
  void Start() {
    auto server = Server::Open(store_.get(), {.api = Options(), .pipeline = {}, .observer = nullptr, .clock = &clock_});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    api_ = &server_->api();
    pipeline_ = &server_->pipeline();
    ASSERT_TRUE(server_->Start().ok());
  }
  // berthd restarts on the same store: state is rebuilt from it, and a new pipeline and Api start
  // on it.
  void Restart() {
    server_.reset();
    Start();
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Stop();
  }
  virtual ApiOptions Options() const { return ApiOptions{}; }

  State& state() { return server_->state(); }
  absl::Mutex& state_mu() { return server_->state_mu(); }

  // Waits until every proposal submitted so far is committed and completed.
  void Flush() {
    std::promise<void> done;
    pipeline_->Submit(Proposal{[](Txn&) { return absl::OkStatus(); }, [&](absl::Status) { done.set_value(); }});
    done.get_future().get();
  }

  // Calls an action and waits for its completion.
  template <typename Actions, typename Request, typename Response>
  absl::Status Do(void (Actions::*action)(const Request&, Response*, Api::Done), const Request& request,
                  Response* response) {
    std::promise<absl::Status> done;
    (api_->actions<Actions>().*action)(request, response, [&](absl::Status s) { done.set_value(std::move(s)); });
    return done.get_future().get();
  }
  template <typename Response, typename Request, typename Actions>
  absl::Status Do(void (Actions::*action)(const Request&, Response*, Api::Done), const std::string& json) {
    Response response;
    return Do(action, Json<Request>(json), &response);
  }

  // Polls as the agent of `instance` (of the default cluster) with nothing known, not waiting.
  absl::Status PollNow(const std::string& instance, v1::PollResponse* response) {
    const auto request = Json<v1::PollRequest>(R"({"cluster":"default","containerInstance":")" + instance +
                                               R"(","knownVersion":"0","waitMillis":0})");
    std::promise<absl::Status> polled;
    api_->agent().Poll(request, response, [&](absl::Status s) { polled.set_value(std::move(s)); });
    return polled.get_future().get();
  }

  // Registers an instance with `cpu`/`memory` in `cluster`; returns its id.
  std::string AddInstance(const std::string& cluster, int cpu, int memory) {
    v1::RegisterContainerInstanceResponse resp;
    EXPECT_TRUE(Do(&InstanceActions::RegisterContainerInstance,
                   Json<v1::RegisterContainerInstanceRequest>(
                       R"({"cluster":")" + cluster +
                       R"(","totalResources":[{"name":"CPU","type":"INTEGER","integerValue":)" + std::to_string(cpu) +
                       R"(},{"name":"MEMORY","type":"INTEGER","integerValue":)" + std::to_string(memory) + "}]}"),
                   &resp)
                    .ok());
    const std::string& arn = resp.container_instance().container_instance_arn();
    return arn.substr(arn.rfind('/') + 1);
  }

  void AddTaskDefinition(const std::string& family, int cpu, int memory) {
    v1::RegisterTaskDefinitionResponse resp;
    ASSERT_TRUE(
        Do(&TaskDefinitionActions::RegisterTaskDefinition,
           Json<v1::RegisterTaskDefinitionRequest>(
               R"({"family":")" + family + R"(","containerDefinitions":[{"name":"app","image":"busybox","cpu":)" +
               std::to_string(cpu) + R"(,"memory":)" + std::to_string(memory) + "}]}"),
           &resp)
            .ok());
  }

  uint64_t revision() const { return pipeline_->committed_revision(); }

  testutil::FakeClock clock_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Server> server_;
  Api* api_ = nullptr;                  // server_'s
  CommitPipeline* pipeline_ = nullptr;  // server_'s
};

}  // namespace berth::controlplane
