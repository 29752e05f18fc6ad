// berth-bench on the local Docker engine, against Docker itself (docs/benchmarks.md, "Local
// Docker"). Three scenarios, each alternating Berth and its Docker counterpart in one run so both
// see the same machine:
//
//   swarm     a 20-replica service: `berth create-service` (the CLI) against `docker service
//             create -d --replicas 20` on the same engine (a single-node swarm this scenario
//             initialises when the engine has none, and leaves at the end). Time from the create
//             command to the last replica RUNNING, by each system's own timestamps: Berth's
//             startedAt, Swarm's task Status.Timestamp of its "running" state.
//   dockerrun RunTask to RUNNING for one task against `docker run -d`: the client's view (until
//             DescribeTasks shows RUNNING; until the docker command returns), Berth's own
//             startedAt - createdAt, and its phases (control plane, pull, create, start).
//   slowstop  a task launched while `--slow-tasks` tasks whose containers ignore SIGTERM are being
//             stopped (each waits out its stopTimeout), against the same launch with nothing
//             stopping: the launch's startedAt - createdAt.
//
// The agent is one this scenario starts (--spawn-agent, with --runtime docker) or one already
// registered in --cluster. The docker CLI must be on PATH and speak to the agent's engine.
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "berth/common/status.h"
#include "berth/v1/ecs.grpc.pb.h"
#include "src/bench/agent_child.h"
#include "src/bench/scenario.h"
#include "src/bench/timing.h"

namespace berth::bench {
namespace {

// Epoch seconds now (the clock the agent stamps tasks with, on this same machine).
double WallNow() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

// Runs `command` with sh; its stdout. An exit status other than 0 is an error naming it.
absl::StatusOr<std::string> Shell(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError("popen failed: " + command);
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), pipe)) > 0;) out.append(buf, n);
  const int status = pclose(pipe);
  if (status != 0) {
    return absl::FailedPreconditionError(
        fmt::format("`{}` exited with {}: {}", command, WIFEXITED(status) ? WEXITSTATUS(status) : -1, out));
  }
  return out;
}

std::vector<std::string> Lines(const std::string& text) { return absl::StrSplit(text, '\n', absl::SkipWhitespace()); }

double Median(const std::vector<double>& v) { return Percentile(v, 0.5); }

// The ContainerService calls the scenarios make, each with a 30 s deadline.
class Api {
 public:
  Api(Target& target, std::string cluster)
      : stub_(v1::ContainerService::NewStub(target.NewChannel())), cluster_(std::move(cluster)) {}
  const std::string& cluster() const { return cluster_; }

  template <typename Method, typename Request, typename Response>
  absl::Status Call(Method method, Request req, Response* resp) {
    if constexpr (requires { req.set_cluster(cluster_); }) {
      if (!req.has_cluster()) req.set_cluster(cluster_);
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return FromGrpc(((*stub_).*method)(&ctx, req, resp));
  }

  absl::Status CreateCluster() {
    v1::CreateClusterRequest req;
    req.set_cluster_name(cluster_);
    v1::CreateClusterResponse resp;
    return Call(&v1::ContainerService::Stub::CreateCluster, req, &resp);
  }

  // One container `app` of `image` running `command`, 32 MiB, with `stop_timeout` and `cpu` units
  // (0: none given, which the agent maps to CpuShares 2 as ECS does).
  absl::Status Register(const std::string& family, const std::string& image, const std::vector<std::string>& command,
                        int stop_timeout, int cpu = 0) {
    v1::RegisterTaskDefinitionRequest req;
    req.set_family(family);
    auto* c = req.add_container_definitions();
    c->set_name("app");
    c->set_image(image);
    c->set_memory(32);
    for (const auto& arg : command) c->add_command(arg);
    c->set_stop_timeout(stop_timeout);
    if (cpu > 0) c->set_cpu(cpu);
    v1::RegisterTaskDefinitionResponse resp;
    return Call(&v1::ContainerService::Stub::RegisterTaskDefinition, req, &resp);
  }

  absl::StatusOr<std::vector<std::string>> RunTask(const std::string& family, int count) {
    v1::RunTaskRequest req;
    req.set_task_definition(family);
    req.set_count(count);
    v1::RunTaskResponse resp;
    RETURN_IF_ERROR(Call(&v1::ContainerService::Stub::RunTask, req, &resp));
    if (resp.tasks_size() != count) {
      return absl::FailedPreconditionError(
          fmt::format("RunTask placed {} of {} tasks in cluster '{}': {} (is an agent registered?)", resp.tasks_size(),
                      count, cluster_, resp.failures_size() > 0 ? resp.failures(0).reason() : "no failure given"));
    }
    std::vector<std::string> arns;
    for (const auto& t : resp.tasks()) arns.push_back(t.task_arn());
    return arns;
  }

  absl::Status StopTask(const std::string& arn) {
    v1::StopTaskRequest req;
    req.set_task(arn);
    v1::StopTaskResponse resp;
    return Call(&v1::ContainerService::Stub::StopTask, req, &resp);
  }

  absl::StatusOr<std::vector<v1::Task>> Describe(const std::vector<std::string>& arns) {
    std::vector<v1::Task> out;
    for (size_t i = 0; i < arns.size(); i += 100) {
      v1::DescribeTasksRequest req;
      for (size_t j = i; j < std::min(arns.size(), i + 100); ++j) req.add_tasks(arns[j]);
      req.add_include("BERTH_TIMINGS");
      v1::DescribeTasksResponse resp;
      RETURN_IF_ERROR(Call(&v1::ContainerService::Stub::DescribeTasks, req, &resp));
      out.insert(out.end(), resp.tasks().begin(), resp.tasks().end());
    }
    return out;
  }

  // Polls every `interval` until every task is `status` (a STOPPED one while waiting for RUNNING
  // is an error); the tasks as last described.
  absl::StatusOr<std::vector<v1::Task>> WaitFor(const std::vector<std::string>& arns, const std::string& status,
                                                std::chrono::microseconds timeout,
                                                std::chrono::milliseconds interval = std::chrono::milliseconds(2)) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      ASSIGN_OR_RETURN(std::vector<v1::Task> tasks, Describe(arns));
      size_t done = 0;
      for (const auto& t : tasks) {
        if (t.last_status() == status) ++done;
        if (status == "RUNNING" && t.last_status() == "STOPPED") {
          return absl::FailedPreconditionError("task " + t.task_arn() + " stopped: " + t.stopped_reason());
        }
      }
      if (done == arns.size()) return tasks;
      if (Clock::now() > deadline) {
        return absl::DeadlineExceededError(fmt::format("{} of {} tasks {} in time", done, arns.size(), status));
      }
      std::this_thread::sleep_for(interval);
    }
  }

  // The service's tasks (desired status `desired`).
  absl::StatusOr<std::vector<std::string>> ServiceTasks(const std::string& service, const std::string& desired) {
    v1::ListTasksRequest req;
    req.set_service_name(service);
    req.set_desired_status(desired);
    req.set_max_results(100);
    v1::ListTasksResponse resp;
    RETURN_IF_ERROR(Call(&v1::ContainerService::Stub::ListTasks, req, &resp));
    return std::vector<std::string>(resp.task_arns().begin(), resp.task_arns().end());
  }

 private:
  std::unique_ptr<v1::ContainerService::Stub> stub_;
  std::string cluster_;
};

// Waits until the engine holds no container matching the `docker ps` filter `filter`.
absl::Status WaitNoContainers(const std::string& filter, std::chrono::seconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    ASSIGN_OR_RETURN(std::string out, Shell("docker ps -aq --filter " + filter));
    if (Lines(out).empty()) return absl::OkStatus();
    if (Clock::now() > deadline) return absl::DeadlineExceededError("containers with " + filter + " remain");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// What every scenario here shares: flags for the agent and the image, and the setup.
class LocalDockerScenario : public Scenario {
 public:
  void AddFlags(CLI::App* command) override {
    command->add_option("--cluster", cluster_, "Cluster whose agent runs the tasks")->capture_default_str();
    command->add_option("--image", image_, "Image of every container (Berth's and Docker's)")->capture_default_str();
    command->add_option("--spawn-agent", agent_binary_, "Start this berth-agent for the run (--runtime docker)");
    command->add_option("--agent-arg", agent_args_, "Extra flag for the spawned agent (repeatable)")
        ->allow_extra_args(false);
    command->add_option("--timeout", timeout_text_, "Longest wait for one step")->capture_default_str();
    AddOwnFlags(command);
  }
  absl::Status Validate() override {
    ASSIGN_OR_RETURN(timeout_, ParseDuration(timeout_text_));
    return absl::OkStatus();
  }
  absl::StatusOr<ScenarioResult> Run(Target& target, const Console& console) override {
    RETURN_IF_ERROR(Shell("docker version --format '{{.Server.Version}}' >/dev/null").status());
    Api api(target, cluster_);
    RETURN_IF_ERROR(api.CreateCluster());
    AgentChild agent;
    if (!agent_binary_.empty()) {
      console.Note("starting {}", agent_binary_);
      std::vector<std::string> args = {"--runtime", "docker"};
      args.insert(args.end(), agent_args_.begin(), agent_args_.end());
      RETURN_IF_ERROR(agent.Start(agent_binary_, target.grpc_endpoint(), cluster_, args));
    }
    // Present in the engine before the first timed run, for both sides alike.
    RETURN_IF_ERROR(Shell("docker pull -q " + image_ + " >/dev/null").status());
    absl::StatusOr<ScenarioResult> result = RunOwn(target, api, console);
    if (!agent_binary_.empty()) {
      // The spawned agent goes, and with it whatever containers its last tasks left.
      agent.Stop();
      (void)Shell("docker ps -aq --filter label=com.berth.cluster=" + cluster_ + " | xargs -r docker rm -f >/dev/null");
    }
    return result;
  }

 protected:
  virtual void AddOwnFlags(CLI::App* command) = 0;
  virtual absl::StatusOr<ScenarioResult> RunOwn(Target& target, Api& api, const Console& console) = 0;

  // A container that exits at once on SIGTERM (a shell trapping it), so stops do not wait.
  std::vector<std::string> QuickCommand() const { return {"sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"}; }

  std::string cluster_ = "bench-docker";
  std::string image_ = "127.0.0.1:5000/berth/busybox:latest";
  std::string agent_binary_;
  std::vector<std::string> agent_args_;
  std::string timeout_text_ = "120s";
  std::chrono::microseconds timeout_{};
};

// --- swarm ---

class SwarmScenario final : public LocalDockerScenario {
 public:
  std::string name() const override { return "swarm"; }
  std::string description() const override {
    return "A replica service to all RUNNING: berth create-service against docker service create, alternated";
  }

 private:
  void AddOwnFlags(CLI::App* command) override {
    command->add_option("--pairs", pairs_, "Berth/Swarm pairs (the order alternates)")->capture_default_str();
    command->add_option("--replicas", replicas_, "Replicas of each service")
        ->check(CLI::Range(1, 100))
        ->capture_default_str();
    command->add_option("--berth-cli", berth_cli_, "The berth CLI binary that creates Berth's service")
        ->capture_default_str();
    command
        ->add_option("--task-cpu", task_cpu_,
                     "CPU units of Berth's containers; 0 gives none, which becomes CpuShares 2 as in ECS (Swarm's "
                     "containers have Docker's default, 1024)")
        ->capture_default_str();
  }
  absl::StatusOr<ScenarioResult> RunOwn(Target& target, Api& api, const Console& console) override;
  // Seconds from the create command to the last replica RUNNING, and to the first pull.
  absl::StatusOr<std::pair<double, double>> RunBerth(Target& target, Api& api, int round);
  absl::StatusOr<double> RunSwarm(int round);

  int pairs_ = 5;
  int replicas_ = 20;
  int task_cpu_ = 0;
  std::string berth_cli_ = "build/src/cli/berth";
};

absl::StatusOr<std::pair<double, double>> SwarmScenario::RunBerth(Target& target, Api& api, int round) {
  const std::string service = fmt::format("bench-svc-{}", round);
  const double t0 = WallNow();
  RETURN_IF_ERROR(Shell(fmt::format("{} --endpoint {} create-service --cluster {} --service-name {} "
                                    "--task-definition bench-swarm --desired-count {} >/dev/null",
                                    berth_cli_, target.grpc_endpoint(), cluster_, service, replicas_))
                      .status());
  std::vector<std::string> arns;
  const auto deadline = Clock::now() + timeout_;
  while (static_cast<int>(arns.size()) < replicas_) {
    if (Clock::now() > deadline) return absl::DeadlineExceededError("the service's tasks were not all placed");
    ASSIGN_OR_RETURN(arns, api.ServiceTasks(service, "RUNNING"));
    if (static_cast<int>(arns.size()) < replicas_) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSIGN_OR_RETURN(std::vector<v1::Task> tasks, api.WaitFor(arns, "RUNNING", timeout_, std::chrono::milliseconds(10)));
  double last_started = 0, first_pull = 1e300;
  for (const auto& t : tasks) {
    last_started = std::max(last_started, t.started_at());
    first_pull = std::min(first_pull, t.pull_started_at());
  }
  // Down again: the service goes, its containers are stopped and removed (--cleanup-after 1).
  v1::DeleteServiceRequest del;
  del.set_service(service);
  del.set_force(true);
  v1::DeleteServiceResponse deleted;
  RETURN_IF_ERROR(api.Call(&v1::ContainerService::Stub::DeleteService, del, &deleted));
  RETURN_IF_ERROR(api.WaitFor(arns, "STOPPED", timeout_, std::chrono::milliseconds(50)).status());
  RETURN_IF_ERROR(WaitNoContainers("label=com.berth.task-definition=bench-swarm:1", std::chrono::seconds(60)));
  return std::make_pair(last_started - t0, first_pull - t0);
}

absl::StatusOr<double> SwarmScenario::RunSwarm(int round) {
  const std::string service = fmt::format("bench-swarm-{}", round);
  const double t0 = WallNow();
  RETURN_IF_ERROR(Shell(fmt::format("docker service create -d -q --name {} --replicas {} --limit-memory 32M "
                                    "--stop-grace-period 1s {} sleep 3600 >/dev/null",
                                    service, replicas_, image_))
                      .status());
  std::vector<std::string> ids;
  const auto deadline = Clock::now() + timeout_;
  for (;;) {
    ASSIGN_OR_RETURN(std::string out, Shell(fmt::format("docker service ps {} --filter desired-state=running "
                                                        "--format '{{{{.ID}}}} {{{{.CurrentState}}}}'",
                                                        service)));
    ids.clear();
    for (const auto& line : Lines(out)) {
      std::vector<std::string> parts = absl::StrSplit(line, ' ');
      if (parts.size() >= 2 && parts[1] == "Running") ids.push_back(parts[0]);
    }
    if (static_cast<int>(ids.size()) >= replicas_) break;
    if (Clock::now() > deadline) return absl::DeadlineExceededError("swarm's replicas were not all running");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSIGN_OR_RETURN(std::string stamps,
                   Shell("docker inspect --format '{{json .Status.Timestamp}}' " + absl::StrJoin(ids, " ")));
  double last_running = 0;
  for (std::string line : Lines(stamps)) {
    line.erase(std::remove(line.begin(), line.end(), '"'), line.end());  // a JSON string
    absl::Time t;
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, line, &t, &error)) {
      return absl::InternalError("cannot read swarm's task timestamp '" + line + "': " + error);
    }
    last_running = std::max(last_running, absl::ToDoubleSeconds(t - absl::UnixEpoch()));
  }
  RETURN_IF_ERROR(Shell("docker service rm " + service + " >/dev/null").status());
  RETURN_IF_ERROR(WaitNoContainers("label=com.docker.swarm.service.name=" + service, std::chrono::seconds(60)));
  return last_running - t0;
}

absl::StatusOr<ScenarioResult> SwarmScenario::RunOwn(Target& target, Api& api, const Console& console) {
  RETURN_IF_ERROR(api.Register("bench-swarm", image_, {"sleep", "3600"}, 1, task_cpu_));
  ASSIGN_OR_RETURN(std::string state, Shell("docker info --format '{{.Swarm.LocalNodeState}}'"));
  const bool init = Lines(state).empty() || Lines(state)[0] == "inactive";
  if (init) {
    console.Note("docker swarm init (left again at the end)");
    RETURN_IF_ERROR(Shell("docker swarm init --advertise-addr 127.0.0.1 >/dev/null").status());
  }
  std::vector<double> berth, swarm, berth_first_pull;
  absl::Status failed;
  for (int i = 0; i < pairs_ && failed.ok(); ++i) {
    for (int side = 0; side < 2 && failed.ok(); ++side) {
      if ((side == 0) == (i % 2 == 0)) {
        auto r = RunBerth(target, api, i);
        if (!r.ok()) failed = r.status();
        if (r.ok()) {
          berth.push_back(r->first);
          berth_first_pull.push_back(r->second);
          console.Note("pair {}: berth {:.0f} ms (first pull began at {:.0f} ms)", i, r->first * 1000,
                       r->second * 1000);
        }
      } else {
        auto r = RunSwarm(i);
        if (!r.ok()) failed = r.status();
        if (r.ok()) {
          swarm.push_back(*r);
          console.Note("pair {}: swarm {:.0f} ms", i, *r * 1000);
        }
      }
    }
  }
  if (init) (void)Shell("docker swarm leave --force >/dev/null");
  RETURN_IF_ERROR(failed);

  ScenarioResult result;
  auto& r = result.report;
  r["scenario"] = "swarm";
  r["replicas"] = replicas_;
  r["task_cpu"] = task_cpu_;
  r["pairs"] = pairs_;
  r["image"] = image_;
  std::vector<double> b_ms, s_ms;
  for (double v : berth) b_ms.push_back(Round(v * 1000, 1));
  for (double v : swarm) s_ms.push_back(Round(v * 1000, 1));
  r["berth_ms"] = b_ms;
  r["swarm_ms"] = s_ms;
  r["berth_median_ms"] = Round(Median(berth) * 1000, 1);
  r["swarm_median_ms"] = Round(Median(swarm) * 1000, 1);
  r["berth_first_pull_median_ms"] = Round(Median(berth_first_pull) * 1000, 1);
  r["ratio_of_medians"] = Round(Median(berth) / Median(swarm), 3);
  result.summary =
      fmt::format("swarm: {} replicas, {} pairs: berth median {} ms, swarm median {} ms, ratio {}\n", replicas_, pairs_,
                  r["berth_median_ms"].dump(), r["swarm_median_ms"].dump(), r["ratio_of_medians"].dump());
  return result;
}

// --- dockerrun ---

class DockerRunScenario final : public LocalDockerScenario {
 public:
  std::string name() const override { return "dockerrun"; }
  std::string description() const override {
    return "RunTask to RUNNING for one task against docker run -d, alternated";
  }

 private:
  void AddOwnFlags(CLI::App* command) override {
    command->add_option("--runs", runs_, "Runs of each (the order alternates)")->capture_default_str();
  }
  absl::StatusOr<ScenarioResult> RunOwn(Target& target, Api& api, const Console& console) override;

  int runs_ = 30;
};

absl::StatusOr<ScenarioResult> DockerRunScenario::RunOwn(Target&, Api& api, const Console& console) {
  RETURN_IF_ERROR(api.Register("bench-run", image_, QuickCommand(), 2));
  std::vector<double> observed, own, control, pull, create, start, docker;
  const std::string quick = "sh -c \"trap 'exit 0' TERM; sleep 3600 & wait\"";
  for (int i = 0; i < runs_; ++i) {
    for (int side = 0; side < 2; ++side) {
      if ((side == 0) == (i % 2 == 0)) {
        const auto t0 = Clock::now();
        ASSIGN_OR_RETURN(std::vector<std::string> arns, api.RunTask("bench-run", 1));
        ASSIGN_OR_RETURN(std::vector<v1::Task> tasks, api.WaitFor(arns, "RUNNING", timeout_));
        observed.push_back(Seconds(Clock::now() - t0));
        const v1::Task& t = tasks[0];
        own.push_back(t.started_at() - t.created_at());
        control.push_back(t.pull_started_at() - t.created_at());
        pull.push_back(t.pull_stopped_at() - t.pull_started_at());
        create.push_back(t.berth_timings().containers_created_at() - t.pull_stopped_at());
        start.push_back(t.started_at() - t.berth_timings().containers_created_at());
        RETURN_IF_ERROR(api.StopTask(arns[0]));
        RETURN_IF_ERROR(api.WaitFor(arns, "STOPPED", timeout_, std::chrono::milliseconds(20)).status());
      } else {
        const auto t0 = Clock::now();
        ASSIGN_OR_RETURN(std::string id, Shell("docker run -d --memory 32m " + image_ + " " + quick));
        docker.push_back(Seconds(Clock::now() - t0));
        RETURN_IF_ERROR(Shell("docker rm -f " + Lines(id).at(0) + " >/dev/null").status());
      }
    }
    if ((i + 1) % 10 == 0) console.Note("{} of {} runs", i + 1, runs_);
  }
  ScenarioResult result;
  auto& r = result.report;
  r["scenario"] = "dockerrun";
  r["runs"] = runs_;
  r["image"] = image_;
  r["berth_observed_by_client"] = Stats(observed);
  r["berth_runtask_to_running"] = Stats(own);
  r["berth_control_plane"] = Stats(control);
  r["berth_pull"] = Stats(pull);
  r["berth_create"] = Stats(create);
  r["berth_start"] = Stats(start);
  r["docker_run_d"] = Stats(docker);
  result.summary = fmt::format(
      "dockerrun: {} runs each: berth RunTask->RUNNING p50 {} ms p99 {} ms (client's view p50 {} ms; control plane "
      "p50 {} ms p99 {} ms), docker run -d p50 {} ms p99 {} ms\n",
      runs_, r["berth_runtask_to_running"]["p50_ms"].dump(), r["berth_runtask_to_running"]["p99_ms"].dump(),
      r["berth_observed_by_client"]["p50_ms"].dump(), r["berth_control_plane"]["p50_ms"].dump(),
      r["berth_control_plane"]["p99_ms"].dump(), r["docker_run_d"]["p50_ms"].dump(),
      r["docker_run_d"]["p99_ms"].dump());
  return result;
}

// --- slowstop ---

class SlowStopScenario final : public LocalDockerScenario {
 public:
  std::string name() const override { return "slowstop"; }
  std::string description() const override {
    return "A launch while tasks ignoring SIGTERM are being stopped, against the same launch alone";
  }

 private:
  void AddOwnFlags(CLI::App* command) override {
    command->add_option("--runs", runs_, "Launches of each kind (alternated)")->capture_default_str();
    command->add_option("--slow-tasks", slow_tasks_, "Tasks being stopped during the launch")
        ->check(CLI::Range(1, 10))
        ->capture_default_str();
    command->add_option("--stop-timeout", stop_timeout_, "stopTimeout of the slow tasks (seconds)")
        ->check(CLI::Range(1, 120))
        ->capture_default_str();
  }
  absl::StatusOr<ScenarioResult> RunOwn(Target& target, Api& api, const Console& console) override;
  // The launch's startedAt - createdAt; with `slow`, launched right after StopTask of those.
  absl::StatusOr<double> Launch(Api& api, const std::vector<std::string>& slow);

  int runs_ = 10;
  int slow_tasks_ = 4;
  int stop_timeout_ = 10;
  int launches_after_a_stop_ended_ = 0;
};

absl::StatusOr<double> SlowStopScenario::Launch(Api& api, const std::vector<std::string>& slow) {
  for (const auto& arn : slow) RETURN_IF_ERROR(api.StopTask(arn));
  ASSIGN_OR_RETURN(std::vector<std::string> arns, api.RunTask("bench-quick", 1));
  ASSIGN_OR_RETURN(std::vector<v1::Task> tasks, api.WaitFor(arns, "RUNNING", timeout_));
  const double launch = tasks[0].started_at() - tasks[0].created_at();
  if (!slow.empty()) {
    // A launch that ends after a slow stop ended waited for it (or --stop-timeout is too short to
    // tell): counted in the report.
    ASSIGN_OR_RETURN(std::vector<v1::Task> stopping, api.Describe(slow));
    for (const auto& t : stopping) {
      if (t.last_status() == "STOPPED" && t.stopped_at() <= tasks[0].started_at()) {
        ++launches_after_a_stop_ended_;
        break;
      }
    }
    RETURN_IF_ERROR(api.WaitFor(slow, "STOPPED", timeout_, std::chrono::milliseconds(50)).status());
  }
  RETURN_IF_ERROR(api.StopTask(arns[0]));
  RETURN_IF_ERROR(api.WaitFor(arns, "STOPPED", timeout_, std::chrono::milliseconds(20)).status());
  return launch;
}

absl::StatusOr<ScenarioResult> SlowStopScenario::RunOwn(Target&, Api& api, const Console& console) {
  // `sleep` as the container's init ignores SIGTERM: its stop waits out the stopTimeout.
  RETURN_IF_ERROR(api.Register("bench-slow", image_, {"sleep", "3600"}, stop_timeout_));
  RETURN_IF_ERROR(api.Register("bench-quick", image_, QuickCommand(), 2));
  std::vector<double> alone, beside_stops;
  for (int i = 0; i < runs_; ++i) {
    for (int side = 0; side < 2; ++side) {
      if ((side == 0) == (i % 2 == 0)) {
        ASSIGN_OR_RETURN(double s, Launch(api, {}));
        alone.push_back(s);
      } else {
        ASSIGN_OR_RETURN(std::vector<std::string> slow, api.RunTask("bench-slow", slow_tasks_));
        RETURN_IF_ERROR(api.WaitFor(slow, "RUNNING", timeout_).status());
        ASSIGN_OR_RETURN(double s, Launch(api, slow));
        beside_stops.push_back(s);
      }
    }
    console.Note("run {}: alone {:.0f} ms, beside {} slow stops {:.0f} ms", i, alone.back() * 1000, slow_tasks_,
                 beside_stops.back() * 1000);
  }
  ScenarioResult result;
  auto& r = result.report;
  r["scenario"] = "slowstop";
  r["runs"] = runs_;
  r["slow_tasks"] = slow_tasks_;
  r["stop_timeout_s"] = stop_timeout_;
  r["launch_alone"] = Stats(alone);
  r["launch_beside_slow_stops"] = Stats(beside_stops);
  r["delay_of_medians_ms"] = Round((Median(beside_stops) - Median(alone)) * 1000, 1);
  // Launches beside the stops that reached RUNNING only after one of the stops had ended.
  r["launches_after_a_stop_ended"] = launches_after_a_stop_ended_;
  result.summary = fmt::format(
      "slowstop: launch p50 {} ms alone, {} ms while {} tasks wait out a {} s stop (delay {} ms; {} of {} "
      "launches ended after a stop had)\n",
      r["launch_alone"]["p50_ms"].dump(), r["launch_beside_slow_stops"]["p50_ms"].dump(), slow_tasks_, stop_timeout_,
      r["delay_of_medians_ms"].dump(), launches_after_a_stop_ended_, runs_);
  return result;
}

}  // namespace

std::unique_ptr<Scenario> NewSwarmScenario() { return std::make_unique<SwarmScenario>(); }
std::unique_ptr<Scenario> NewDockerRunScenario() { return std::make_unique<DockerRunScenario>(); }
std::unique_ptr<Scenario> NewSlowStopScenario() { return std::make_unique<SlowStopScenario>(); }

}  // namespace berth::bench
