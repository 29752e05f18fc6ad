// berth-bench taskstart: time from RunTask to RUNNING on a real agent, one task at a time, split
// into the control plane (RunTask until the agent begins: placement, commit, long-poll delivery),
// the image pull, container creation and container start. The split comes from the task's own
// timestamps (createdAt, pullStartedAt, pullStoppedAt, startedAt) and Berth's
// berthTimings.containersCreatedAt (DescribeTasks include BERTH_TIMINGS). Each task is stopped and
// seen STOPPED before the next starts.
//
// The agent is one already registered in --cluster, or one this scenario starts (--spawn-agent,
// e.g. build/src/agent/berth-agent with --agent-arg=--runtime=docker).
#include <algorithm>
#include <thread>

#include <nlohmann/json.hpp>

#include "berth/common/status.h"
#include "berth/v1/ecs.grpc.pb.h"
#include "src/bench/agent_child.h"
#include "src/bench/scenario.h"
#include "src/bench/timing.h"

namespace berth::bench {
namespace {

class TaskStartScenario final : public Scenario {
 public:
  std::string name() const override { return "taskstart"; }
  std::string description() const override {
    return "RunTask to RUNNING on a real agent, split into control plane, pull, create and start";
  }
  void AddFlags(CLI::App* command) override {
    command->add_option("--tasks", tasks_, "Tasks to start, one after another")
        ->check(CLI::Range(1, 10000))
        ->capture_default_str();
    command->add_option("--cluster", cluster_, "Cluster whose agent runs the tasks")->capture_default_str();
    command->add_option("--image", image_, "Image of the task's one container")->capture_default_str();
    command->add_option("--spawn-agent", agent_binary_, "Start this berth-agent for the run");
    command->add_option("--agent-arg", agent_args_, "Extra flag for the spawned agent (repeatable)")
        ->allow_extra_args(false);
    command->add_option("--timeout", timeout_text_, "Longest wait for one task")->capture_default_str();
  }
  absl::Status Validate() override {
    ASSIGN_OR_RETURN(timeout_, ParseDuration(timeout_text_));
    return absl::OkStatus();
  }
  absl::StatusOr<ScenarioResult> Run(Target& target, const Console& console) override;

 private:
  int tasks_ = 50;
  std::string cluster_ = "default";
  std::string image_ = "127.0.0.1:5000/berth/busybox:latest";
  std::string agent_binary_;
  std::vector<std::string> agent_args_;
  std::string timeout_text_ = "60s";
  std::chrono::microseconds timeout_{};
};

absl::StatusOr<ScenarioResult> TaskStartScenario::Run(Target& target, const Console& console) {
  auto stub = v1::ContainerService::NewStub(target.NewChannel());
  auto call = [&](auto method, const auto& req, auto* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return FromGrpc(((*stub).*method)(&ctx, req, resp));
  };
  {
    v1::CreateClusterRequest req;
    req.set_cluster_name(cluster_);
    v1::CreateClusterResponse resp;
    RETURN_IF_ERROR(call(&v1::ContainerService::Stub::CreateCluster, req, &resp));
  }
  AgentChild agent;
  if (!agent_binary_.empty()) {
    console.Note("starting {}", agent_binary_);
    RETURN_IF_ERROR(agent.Start(agent_binary_, target.grpc_endpoint(), cluster_, agent_args_));
  }
  {
    v1::RegisterTaskDefinitionRequest req;
    req.set_family("bench-start");
    auto* c = req.add_container_definitions();
    c->set_name("app");
    c->set_image(image_);
    c->set_memory(32);
    c->add_command("sleep");
    c->add_command("3600");
    c->set_stop_timeout(2);
    v1::RegisterTaskDefinitionResponse resp;
    RETURN_IF_ERROR(call(&v1::ContainerService::Stub::RegisterTaskDefinition, req, &resp));
  }

  std::vector<double> total, observed, control, pull, create, start;
  for (int i = 0; i < tasks_; ++i) {
    v1::RunTaskRequest run;
    run.set_cluster(cluster_);
    run.set_task_definition("bench-start");
    v1::RunTaskResponse ran;
    const auto t0 = Clock::now();
    RETURN_IF_ERROR(call(&v1::ContainerService::Stub::RunTask, run, &ran));
    if (ran.tasks_size() != 1) {
      return absl::FailedPreconditionError(fmt::format(
          "RunTask placed nothing in cluster '{}': {} (is an agent registered?)", cluster_,
          ran.failures_size() > 0 ? ran.failures(0).reason() + " " + ran.failures(0).detail() : "no answer"));
    }
    const std::string arn = ran.tasks(0).task_arn();
    v1::Task task;
    const auto deadline = Clock::now() + timeout_;
    for (;;) {
      v1::DescribeTasksRequest d;
      d.set_cluster(cluster_);
      d.add_tasks(arn);
      d.add_include("BERTH_TIMINGS");
      v1::DescribeTasksResponse dr;
      RETURN_IF_ERROR(call(&v1::ContainerService::Stub::DescribeTasks, d, &dr));
      if (dr.tasks_size() == 1) task = dr.tasks(0);
      if (task.last_status() == "RUNNING" || task.last_status() == "STOPPED") break;
      if (Clock::now() > deadline) return absl::DeadlineExceededError("task " + arn + " did not start in time");
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (task.last_status() != "RUNNING") {
      return absl::FailedPreconditionError("task " + arn + " stopped: " + task.stopped_reason());
    }
    observed.push_back(Seconds(Clock::now() - t0));
    total.push_back(task.started_at() - task.created_at());
    control.push_back(task.pull_started_at() - task.created_at());
    pull.push_back(task.pull_stopped_at() - task.pull_started_at());
    const double created = task.berth_timings().containers_created_at();
    create.push_back(created - task.pull_stopped_at());
    start.push_back(task.started_at() - created);

    v1::StopTaskRequest stop;
    stop.set_cluster(cluster_);
    stop.set_task(arn);
    v1::StopTaskResponse stopped;
    RETURN_IF_ERROR(call(&v1::ContainerService::Stub::StopTask, stop, &stopped));
    for (;;) {
      v1::DescribeTasksRequest d;
      d.set_cluster(cluster_);
      d.add_tasks(arn);
      v1::DescribeTasksResponse dr;
      RETURN_IF_ERROR(call(&v1::ContainerService::Stub::DescribeTasks, d, &dr));
      if (dr.tasks_size() == 1 && dr.tasks(0).last_status() == "STOPPED") break;
      if (Clock::now() > deadline + timeout_) return absl::DeadlineExceededError("task " + arn + " did not stop");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  ScenarioResult result;
  auto& r = result.report;
  r["scenario"] = "taskstart";
  r["tasks"] = tasks_;
  r["image"] = image_;
  r["runtask_to_running"] = Stats(total);
  r["observed_by_client"] = Stats(observed);
  r["control_plane"] = Stats(control);
  r["pull"] = Stats(pull);
  r["create"] = Stats(create);
  r["start"] = Stats(start);
  result.summary = fmt::format(
      "taskstart: {} tasks, RunTask->RUNNING p50 {} ms p99 {} ms (control plane p50 {} ms, pull {} ms, create {} ms, "
      "start {} ms)\n",
      tasks_, r["runtask_to_running"]["p50_ms"].dump(), r["runtask_to_running"]["p99_ms"].dump(),
      r["control_plane"]["p50_ms"].dump(), r["pull"]["p50_ms"].dump(), r["create"]["p50_ms"].dump(),
      r["start"]["p50_ms"].dump());
  return result;
}

}  // namespace

std::unique_ptr<Scenario> NewTaskStartScenario() { return std::make_unique<TaskStartScenario>(); }

}  // namespace berth::bench
