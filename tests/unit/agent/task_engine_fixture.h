// Shared by the TaskEngine tests (task_engine_test.cc: the lifecycle; task_engine_state_test.cc:
// local state, adoption, credentials and cleanup; task_engine_concurrency_test.cc: the worker pool
// and shared pulls): builders of desired states and task definitions, a recorder of the engine's
// reports, and the fixture that runs an engine over FakeRuntime.
//
// The engine runs worker threads; each test drives it with a stimulus (ApplyDesired, a container
// state change that calls the listener, Tick) followed by WaitIdle, then checks the reports, the
// engine's snapshot and the runtime calls.
#pragma once

#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "berth/common/strings.h"
#include "src/agent/task_engine.h"
#include "tests/testutil/fake_clock.h"
#include "tests/unit/agent/fake_runtime.h"

namespace berth::agent {

inline constexpr char kCluster[] = "default";
inline constexpr char kInstance[] = "arn:aws:ecs:us-east-1:123456789012:container-instance/default/0f1e2d3c4b5a6978";

inline std::string TaskArn(const std::string& id) {
  return StrCat("arn:aws:ecs:us-east-1:123456789012:task/default/", id);
}
inline std::string TdArn(const std::string& family) {
  return StrCat("arn:aws:ecs:us-east-1:123456789012:task-definition/", family, ":1");
}

template <typename Message>
Message Json(const std::string& json) {
  Message m;
  auto status = google::protobuf::util::JsonStringToMessage(json, &m);
  EXPECT_TRUE(status.ok()) << status.ToString() << " in " << json;
  return m;
}

// A task definition `family`, revision 1, with `containers` (a JSON array) and `extra` fields
// (",\"networkMode\":\"host\"").
inline std::string Td(const std::string& family, const std::string& containers, const std::string& extra = "") {
  return StrCat(R"({"taskDefinitionArn":")", TdArn(family), R"(","family":")", family,
                R"(","revision":1,"containerDefinitions":)", containers, extra, "}");
}

// A desired task `id` of the definition `family`, with `extra` fields.
inline std::string Task(const std::string& id, const std::string& family, const std::string& desired = "RUNNING",
                        const std::string& known = "PENDING", const std::string& extra = "") {
  return StrCat(R"({"taskArn":")", TaskArn(id), R"(","taskDefinitionArn":")", TdArn(family), R"(","desiredStatus":")",
                desired, R"(","knownStatus":")", known, "\"", extra, "}");
}

inline v1::PollResponse Desired(const std::vector<std::string>& tasks, const std::vector<std::string>& definitions,
                                const std::string& instance_status = "ACTIVE") {
  static std::atomic<uint64_t> version{1};
  v1::PollResponse response;
  response.set_version(version++);
  response.set_instance_status(instance_status);
  for (const auto& t : tasks) *response.add_tasks() = Json<v1::DesiredTask>(t);
  for (const auto& d : definitions) *response.add_task_definitions() = Json<v1::TaskDefinition>(d);
  return response;
}

// Three containers: app and sidecar essential, log not; app and log share an image.
inline const std::string kWebTd = Td("web", R"([
  {"name":"app","image":"nginx:1.25","dockerLabels":{"team":"blue"}},
  {"name":"sidecar","image":"envoy:1.29"},
  {"name":"log","image":"nginx:1.25","essential":false}])");

// What the report callback received, in order. Thread-safe.
class Reports {
 public:
  TaskEngine::ReportFn Callback() {
    return [this](v1::TaskStateChange change) {
      std::lock_guard lock(mu_);
      all_.push_back(std::move(change));
      cv_.notify_all();
    };
  }
  // Waits until `done` holds of the reports so far. The deadline only keeps a failing test from
  // hanging: false when it passed.
  bool WaitFor(const std::function<bool(const std::vector<v1::TaskStateChange>&)>& done,
               std::chrono::seconds deadline = std::chrono::seconds(60)) const {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, deadline, [&] { return done(all_); });
  }
  // Waits until `arn` was reported with `status`.
  bool WaitForStatus(const std::string& arn, const std::string& status) const {
    return WaitFor([&](const std::vector<v1::TaskStateChange>& all) {
      return std::any_of(all.begin(), all.end(),
                         [&](const v1::TaskStateChange& r) { return r.task_arn() == arn && r.status() == status; });
    });
  }
  std::vector<v1::TaskStateChange> For(const std::string& arn) const {
    std::lock_guard lock(mu_);
    std::vector<v1::TaskStateChange> out;
    for (const auto& r : all_) {
      if (r.task_arn() == arn) out.push_back(r);
    }
    return out;
  }
  std::vector<std::string> Statuses(const std::string& arn) const {
    std::vector<std::string> out;
    for (const auto& r : For(arn)) out.push_back(r.status());
    return out;
  }
  v1::TaskStateChange Last(const std::string& arn) const {
    auto reports = For(arn);
    if (reports.empty()) {
      ADD_FAILURE() << "no report of " << arn;
      return {};
    }
    return reports.back();
  }
  size_t size() const {
    std::lock_guard lock(mu_);
    return all_.size();
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<v1::TaskStateChange> all_;
};

// The container `name` of a snapshot.
inline v1::ContainerStateChange ContainerOf(const v1::TaskStateChange& snapshot, const std::string& name) {
  for (const auto& c : snapshot.containers()) {
    if (c.name() == name) return c;
  }
  ADD_FAILURE() << "no container " << name << " in " << snapshot.ShortDebugString();
  return {};
}

inline int Occurrences(const std::vector<std::string>& log, const std::string& entry) {
  return static_cast<int>(std::count(log.begin(), log.end(), entry));
}

class TaskEngineTest : public ::testing::Test {
 protected:
  void TearDown() override { engine_.reset(); }

  EngineOptions Options() const {
    EngineOptions o;
    o.cluster = kCluster;
    o.instance_arn = kInstance;
    o.default_stop_timeout_seconds = 30;
    o.cleanup_after_us = 3600LL * 1'000'000;
    return o;
  }

  // A new engine over runtime_ (recovered, started); the calls it made recovering are cleared.
  void Boot(EngineOptions options) {
    engine_ = std::make_unique<TaskEngine>(std::move(options), &runtime_, &clock_, reports_.Callback());
    ASSERT_TRUE(engine_->Recover().ok());
    engine_->Start();
    engine_->WaitIdle();
    runtime_.ClearCalls();
  }
  void Boot() { Boot(Options()); }

  void Apply(const v1::PollResponse& desired) {
    engine_->ApplyDesired(desired);
    engine_->WaitIdle();
  }
  void Tick() {
    engine_->Tick();
    engine_->WaitIdle();
  }
  // After a container state change that called the listener.
  void Settle() { engine_->WaitIdle(); }

  v1::TaskStateChange Snap(const std::string& task) {
    auto s = engine_->Snapshot(TaskArn(task));
    if (!s) {
      ADD_FAILURE() << "the engine has no task " << task;
      return {};
    }
    return *s;
  }
  std::string Status(const std::string& task) { return Snap(task).status(); }
  std::string Id(const std::string& task, const std::string& container) {
    return runtime_.IdOf(TaskArn(task), container);
  }
  ContainerSpec SpecOf(const std::string& task, const std::string& container) {
    auto spec = runtime_.SpecOf(Id(task, container));
    if (!spec) {
      ADD_FAILURE() << "no container " << container << " of " << task;
      return {};
    }
    return *spec;
  }

  // t1 of kWebTd, RUNNING.
  void RunWeb() {
    Apply(Desired({Task("t1", "web")}, {kWebTd}));
    ASSERT_EQ(Status("t1"), "RUNNING");
  }

  testutil::FakeClock clock_;
  FakeRuntime runtime_;
  Reports reports_;
  std::unique_ptr<TaskEngine> engine_;  // last: destroyed before what it uses
};

// An awsvpc task: app publishes a port, envoy shares its network namespace.
inline const std::string kVpcTd = Td("vpc", R"([
  {"name":"app","image":"app:1","portMappings":[{"containerPort":8080}]},
  {"name":"envoy","image":"envoy:1"}])",
                                     R"(,"networkMode":"awsvpc")");

}  // namespace berth::agent
