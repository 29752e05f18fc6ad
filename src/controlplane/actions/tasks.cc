// Task actions: RunTask, StartTask, StopTask, DescribeTasks, ListTasks,
// ExplainPlacement. Launches go through the Launcher.
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <optional>
#include <random>

#include "berth/common/strings.h"
#include "berth/scheduler/launch.h"
#include "src/controlplane/actions/pagination.h"
#include "src/controlplane/actions/tasks.h"
#include "src/controlplane/doors/errors.h"
#include "src/controlplane/providers/instance_provider.h"

namespace berth::controlplane {

void TaskActions::RunTask(const v1::RunTaskRequest& request, v1::RunTaskResponse* response, Done done) {
  auto launch = launcher_->NewRunLaunch(request);
  if (!launch.ok()) return done(launch.status());
  Submit(
      [this, launch = *std::move(launch), response](Applier& txn) {
        return launcher_->ApplyLaunch(txn, *launch, response->mutable_tasks(), response->mutable_failures());
      },
      std::move(done));
}

void TaskActions::ExplainPlacement(const v1::ExplainPlacementRequest& request, v1::ExplainPlacementResponse* response,
                                   Done done) {
  // The same request RunTask would get, checked by the same code.
  v1::RunTaskRequest run;
  if (request.has_cluster()) run.set_cluster(request.cluster());
  if (request.has_task_definition()) run.set_task_definition(request.task_definition());
  if (request.has_overrides()) *run.mutable_overrides() = request.overrides();
  if (request.has_group()) run.set_group(request.group());
  if (request.has_launch_type()) run.set_launch_type(request.launch_type());
  *run.mutable_placement_constraints() = request.placement_constraints();
  *run.mutable_placement_strategy() = request.placement_strategy();
  auto launch = launcher_->NewRunLaunch(run);
  if (!launch.ok()) return done(launch.status());
  const std::string& cluster = (*launch)->cluster;
  std::string instance_id;
  if (request.has_container_instance() && !request.container_instance().empty()) {
    auto id = arns_.ContainerInstanceId(request.container_instance(), cluster, "containerInstance");
    if (!id.ok()) return done(WithType(id.status(), "InvalidParameterException"));
    instance_id = *std::move(id);
  }
  const int max_candidates = request.has_max_candidates() ? request.max_candidates() : 5;
  if (max_candidates < 0 || max_candidates > 100) {
    return done(InvalidParameter("maxCandidates: must be between 0 and 100 (got ", max_candidates, ")"));
  }

  absl::ReaderMutexLock lock(mu_);
  auto resolved = launcher_->ResolveLaunch(**launch);
  if (!resolved.ok()) return done(resolved.status());
  const placement::PlacementRequest& preq = resolved->request;
  const placement::Explanation e = engine_.Explain(resolved->cluster->view, preq, 0, instance_id, max_candidates);

  for (const auto& s : preq.strategies) response->add_strategies(s.ToString());
  response->set_candidates(e.candidates);
  response->set_feasible(e.feasible);
  for (int r = 0; r < placement::kReasonCount; ++r) {
    if (e.rejected[r] == 0) continue;
    auto* out = response->add_rejections();
    out->set_reason(std::string(placement::ReasonName(static_cast<placement::Reason>(r))));
    out->set_instances(e.rejected[r]);
  }
  auto add_scores = [&](const placement::CandidateScore& c, auto* out) {
    for (size_t j = 0; j < c.scores.size(); ++j) {
      auto* score = out->add_scores();
      score->set_strategy(preq.strategies[j].ToString());
      score->set_value(c.scores[j]);
    }
  };
  for (size_t i = 0; i < e.top.size(); ++i) {
    auto* out = response->add_top_candidates();
    out->set_container_instance_arn(arns_.ContainerInstance(cluster, e.top[i].instance_id));
    out->set_rank(static_cast<int32_t>(i) + 1);
    add_scores(e.top[i], out);
  }
  if (e.decision) {
    response->set_chosen_container_instance_arn(arns_.ContainerInstance(cluster, e.decision->instance_id));
  } else {
    response->mutable_failure()->set_reason(e.failure.reason);
    response->mutable_failure()->set_detail(e.failure.detail);
  }
  if (!instance_id.empty()) {
    auto* v = response->mutable_container_instance();
    v->set_container_instance_arn(arns_.ContainerInstance(cluster, instance_id));
    v->set_registered(e.instance_found);
    if (!e.instance_found) {
      v->set_feasible(false);
      v->set_summary("not an ACTIVE or DRAINING container instance of this cluster");
    } else if (e.instance_rejected) {
      v->set_feasible(false);
      v->set_rejected_by(std::string(placement::ReasonName(*e.instance_rejected)));
      v->set_summary(StrCat("rejected: ", placement::ReasonName(*e.instance_rejected)));
    } else {
      v->set_feasible(true);
      v->set_rank(e.instance_rank);
      add_scores(*e.instance_score, v);
      v->set_summary(e.instance_rank == 1
                         ? std::string("would be chosen")
                         : StrCat("feasible, ranked ", e.instance_rank, " of ", e.feasible, " by the strategies"));
    }
  }
  done(absl::OkStatus());
}

void TaskActions::StartTask(const v1::StartTaskRequest& request, v1::StartTaskResponse* response, Done done) {
  auto new_launch = launcher_->NewStartLaunch(request);
  if (!new_launch.ok()) return done(new_launch.status());
  std::shared_ptr<Launcher::Launch> launch = *std::move(new_launch);
  auto ids = ParseIds(request.container_instances(), launch->cluster, "containerInstances",
                      ResourceKind::kContainerInstance, 10);
  if (!ids.ok()) return done(ids.status());
  launch->instance_ids = *std::move(ids);
  launch->launch_type = "EC2";
  Submit(
      [this, launch, response](Applier& txn) {
        return launcher_->ApplyLaunch(txn, *launch, response->mutable_tasks(), response->mutable_failures());
      },
      std::move(done));
}

void TaskActions::StopTask(const v1::StopTaskRequest& request, v1::StopTaskResponse* response, Done done) {
  absl::Status error;
  std::string cluster = ClusterFromRequest(request.has_cluster(), request.cluster(), &error);
  if (!error.ok()) return done(error);
  if (!request.has_task() || request.task().empty())
    return done(InvalidParameter("task: required: the task id or ARN"));
  auto id = arns_.TaskId(request.task(), cluster, "task");
  if (!id.ok()) return done(WithType(id.status(), "InvalidParameterException"));
  if (request.reason().size() > 255) {
    return done(InvalidParameter("reason: at most 255 characters (got ", request.reason().size(), ")"));
  }
  std::string reason = request.has_reason() && !request.reason().empty() ? request.reason() : "Task stopped by user";
  Submit(
      [this, response, cluster, id = *id, reason](Applier& txn) -> absl::Status {
        ASSIGN_OR_RETURN(const ClusterEntry* c, ActiveCluster(cluster));
        auto it = c->tasks.find(id);
        if (it == c->tasks.end()) {  // ECS's exception and words, with the task and cluster named
          return WithType(absl::NotFoundError(StrCat("The referenced task was not found: task: task ", id,
                                                     " not found in cluster '", cluster, "'")),
                          "InvalidParameterException");
        }
        const TaskEntry& task = it->second;
        launcher_->StopTaskRecord(txn, *c, task, "UserInitiated", reason);
        RenderTask(task, true, response->mutable_task());
        return absl::OkStatus();
      },
      std::move(done));
}

void TaskActions::DescribeTasks(const v1::DescribeTasksRequest& request, v1::DescribeTasksResponse* response,
                                Done done) {
  absl::Status error;
  std::string cluster = ClusterFromRequest(request.has_cluster(), request.cluster(), &error);
  if (!error.ok()) return done(error);
  bool with_tags = false;
  bool with_timings = false;
  for (int i = 0; i < request.include_size(); ++i) {
    if (request.include(i) == "TAGS") {
      with_tags = true;
    } else if (request.include(i) == "BERTH_TIMINGS") {
      with_timings = true;
    } else {
      return done(InvalidParameter("include[", i, "]: must be TAGS or BERTH_TIMINGS (got '", request.include(i), "')"));
    }
  }
  auto ids = ParseIds(request.tasks(), cluster, "tasks", ResourceKind::kTask, 100);
  if (!ids.ok()) return done(ids.status());
  absl::Status result = [&]() -> absl::Status {
    absl::ReaderMutexLock lock(mu_);
    const ClusterEntry* c = state_->FindCluster(cluster);
    if (c == nullptr) return ClusterNotFound(cluster);
    for (const auto& id : *ids) {
      auto it = c->tasks.find(id);
      if (it == c->tasks.end()) {
        auto* f = response->add_failures();
        f->set_arn(arns_.Task(cluster, id));
        f->set_reason("MISSING");
        continue;
      }
      const v1::TaskRecord record = it->second.record();
      v1::Task* out = response->add_tasks();
      RenderTask(record, with_tags, out);
      if (with_timings && record.containers_created_at() > 0) {
        out->mutable_berth_timings()->set_containers_created_at(record.containers_created_at());
      }
    }
    return absl::OkStatus();
  }();
  done(result);
}

void TaskActions::ListTasks(const v1::ListTasksRequest& request, v1::ListTasksResponse* response, Done done) {
  absl::Status error;
  std::string cluster = ClusterFromRequest(request.has_cluster(), request.cluster(), &error);
  if (!error.ok()) return done(error);
  std::string instance_id;
  if (request.has_container_instance() && !request.container_instance().empty()) {
    auto id = arns_.ContainerInstanceId(request.container_instance(), cluster, "containerInstance");
    if (!id.ok()) return done(WithType(id.status(), "InvalidParameterException"));
    instance_id = *std::move(id);
  }
  std::string desired = request.has_desired_status() ? request.desired_status() : "RUNNING";
  if (desired != "RUNNING" && desired != "PENDING" && desired != "STOPPED") {
    return done(InvalidParameter("desiredStatus: must be RUNNING, PENDING or STOPPED (got '", desired, "')"));
  }
  if (request.has_launch_type() && request.launch_type() != "EC2" && request.launch_type() != "FARGATE" &&
      request.launch_type() != "EXTERNAL" && request.launch_type() != "MANAGED_INSTANCES") {
    return done(InvalidParameter("launchType: must be EC2, FARGATE, EXTERNAL or MANAGED_INSTANCES (got '",
                                 request.launch_type(), "')"));
  }
  if (request.has_family() && !request.family().empty() && !IsValidName(request.family())) {
    return done(InvalidParameter("family: '", request.family(), "' is not a valid task definition family"));
  }
  std::string service;
  if (request.has_service_name() && !request.service_name().empty()) {
    auto name = arns_.ServiceName(request.service_name(), cluster, "serviceName");
    if (!name.ok()) return done(WithType(name.status(), "InvalidParameterException"));
    service = *std::move(name);
  }
  auto after = DecodePageToken(request.has_next_token(), request.next_token());
  if (!after.ok()) return done(after.status());
  auto limit = PageSize(request.has_max_results(), request.max_results());
  if (!limit.ok()) return done(limit.status());
  absl::Status result = [&]() -> absl::Status {
    absl::ReaderMutexLock lock(mu_);
    const ClusterEntry* c = state_->FindCluster(cluster);
    if (c == nullptr) return ClusterNotFound(cluster);
    if (desired == "PENDING") return absl::OkStatus();  // as in ECS: no task has desiredStatus PENDING
    // Adds the task if it passes every filter; false once the page is full (next token set).
    std::string last_listed;
    const bool by_family = request.has_family() && !request.family().empty();
    const bool decode =
        !instance_id.empty() || by_family || request.has_started_by() || request.has_launch_type() || !service.empty();
    v1::TaskRecord r;
    auto visit = [&](std::string_view id, const TaskEntry& entry) {
      if (entry.desired_status() != desired) return true;
      if (decode) {
        entry.Decode(&r);
        const v1::Task& t = r.task();
        if (!instance_id.empty() && r.container_instance_id() != instance_id) return true;
        if (by_family && r.family() != request.family()) return true;
        if (request.has_started_by() && t.started_by() != request.started_by()) return true;
        if (request.has_launch_type() && t.launch_type() != request.launch_type()) return true;
        if (!service.empty() && r.service() != service) return true;
      }
      if (response->task_arns_size() == *limit) {
        response->set_next_token(EncodePageToken(last_listed));
        return false;
      }
      response->add_task_arns(arns_.Task(cluster, id));
      last_listed = std::string(id);
      return true;
    };
    // A task desired RUNNING is not STOPPED yet, so it is in its instance's and its service's
    // index (ordered by id like the cluster's): those filters walk the index, not every task.
    const absl::btree_set<TaskId>* index = nullptr;
    if (desired == "RUNNING" && !instance_id.empty()) {
      auto inst = c->instances.find(instance_id);
      if (inst == c->instances.end()) return absl::OkStatus();
      index = &inst->second.task_ids;
    } else if (desired == "RUNNING" && !service.empty()) {
      auto svc = c->services.find(service);
      if (svc == c->services.end()) return absl::OkStatus();
      index = &svc->second.task_ids;
    }
    if (index != nullptr) {
      for (auto id = after->empty() ? index->begin() : index->upper_bound(*after); id != index->end(); ++id) {
        auto task = c->tasks.find(*id);
        if (task != c->tasks.end() && !visit(task->first, task->second)) break;
      }
      return absl::OkStatus();
    }
    const absl::btree_set<TaskId>& ids = c->tasks.ordered_ids();
    for (auto id = after->empty() ? ids.begin() : ids.upper_bound(*after); id != ids.end(); ++id) {
      if (!visit(*id, c->tasks.at(*id))) break;
    }
    return absl::OkStatus();
  }();
  done(result);
}

}  // namespace berth::controlplane
