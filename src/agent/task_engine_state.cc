// TaskEngine's local state: the state file (tasks.json) it writes after every change and reads at
// start, and the adoption of the runtime's containers at Recover.
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "berth/common/files.h"
#include "berth/common/logging.h"
#include "berth/common/strings.h"
#include "src/agent/task_engine.h"

namespace berth::agent {

void TaskEngine::Persist() {
  if (options_.state_path.empty()) return;
  nlohmann::json tasks = nlohmann::json::array();
  for (const auto& [arn, t] : tasks_) {
    nlohmann::json containers = nlohmann::json::array();
    for (const auto& c : t->containers) {
      nlohmann::json jc = {{"name", c.def.name()}, {"runtimeId", c.runtime_id},   {"status", c.status},
                           {"started", c.started}, {"startOrder", c.start_order}, {"reason", c.reason}};
      if (c.exit_code) jc["exitCode"] = *c.exit_code;
      containers.push_back(std::move(jc));
    }
    nlohmann::json jt = {{"arn", arn},
                         {"desired", t->desired},
                         {"status", t->status},
                         {"stopRequested", t->stop_requested},
                         {"stopCode", t->stop_code},
                         {"stoppedReason", t->stopped_reason},
                         {"pulled", t->pulled},
                         {"removed", t->removed},
                         {"networkHolder", t->network.holder_id},
                         {"address", t->network.address},
                         {"credentialsId", t->credentials_id},
                         {"cgroup", t->cgroup_parent},
                         {"containers", std::move(containers)}};
    if (t->pull_started_at) jt["pullStartedAt"] = *t->pull_started_at;
    if (t->pull_stopped_at) jt["pullStoppedAt"] = *t->pull_stopped_at;
    if (t->created_at) jt["containersCreatedAt"] = *t->created_at;
    if (t->started_at) jt["startedAt"] = *t->started_at;
    if (t->stopped_at) jt["stoppedAt"] = *t->stopped_at;
    tasks.push_back(std::move(jt));
  }
  nlohmann::json doc = {{"version", 1}, {"tasks", std::move(tasks)}};
  // Written to a temporary file, synced, then renamed over the old one: a crash leaves either.
  // It holds the tasks' credentials ids: readable by the agent's user only.
  if (absl::Status s = WriteFileDurably(options_.state_path, doc.dump(), 0600); !s.ok()) {
    log::Error("cannot write agent state: {}", std::string(s.message()));
  }
}

absl::Status TaskEngine::LoadState() {
  if (options_.state_path.empty() || !std::filesystem::exists(options_.state_path)) return absl::OkStatus();
  std::ifstream in(options_.state_path);
  nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
  if (doc.is_discarded() || !doc.contains("tasks")) {
    return absl::DataLossError(StrCat("agent state ", options_.state_path, " is not valid JSON"));
  }
  for (const auto& jt : doc["tasks"]) {
    auto t = std::make_unique<TaskRun>();
    t->arn = jt.value("arn", "");
    t->desired = jt.value("desired", "RUNNING");
    t->status = jt.value("status", "PENDING");
    t->stop_requested = jt.value("stopRequested", false);
    t->stop_code = jt.value("stopCode", "");
    t->stopped_reason = jt.value("stoppedReason", "");
    t->pulled = jt.value("pulled", false);
    t->removed = jt.value("removed", false);
    t->network.holder_id = jt.value("networkHolder", "");
    t->network.address = jt.value("address", "");
    t->credentials_id = jt.value("credentialsId", "");
    t->cgroup_parent = jt.value("cgroup", "");
    if (jt.contains("pullStartedAt")) t->pull_started_at = jt["pullStartedAt"].get<double>();
    if (jt.contains("pullStoppedAt")) t->pull_stopped_at = jt["pullStoppedAt"].get<double>();
    if (jt.contains("containersCreatedAt")) t->created_at = jt["containersCreatedAt"].get<double>();
    if (jt.contains("startedAt")) t->started_at = jt["startedAt"].get<double>();
    if (jt.contains("stoppedAt")) {
      t->stopped_at = jt["stoppedAt"].get<double>();
      t->stopped_mono_us = clock_->MonotonicMicros();  // cleanup counts from the restart
    }
    for (const auto& jc : jt.value("containers", nlohmann::json::array())) {
      ContainerRun c;
      c.def.set_name(jc.value("name", ""));
      c.runtime_id = jc.value("runtimeId", "");
      c.status = jc.value("status", "PENDING");
      c.started = jc.value("started", false);
      c.start_order = jc.value("startOrder", 0);
      c.reason = jc.value("reason", "");
      if (jc.contains("exitCode")) c.exit_code = jc["exitCode"].get<int32_t>();
      next_start_order_ = std::max(next_start_order_, c.start_order + 1);
      t->containers.push_back(std::move(c));
    }
    if (t->arn.empty()) continue;
    tasks_[t->arn] = std::move(t);
  }
  return absl::OkStatus();
}

absl::Status TaskEngine::Recover() {
  std::unique_lock lock(mu_);
  absl::Status loaded;
  try {
    loaded = LoadState();
  } catch (const nlohmann::json::exception& e) {
    // JSON of the wrong shape (a field of another type) is as unreadable as a torn file.
    tasks_.clear();
    loaded = absl::DataLossError(StrCat("agent state ", options_.state_path, " is not valid: ", e.what()));
  }
  if (!loaded.ok()) return loaded;
  auto managed = runtime_->ListManaged(options_.cluster, options_.instance_arn);
  if (!managed.ok()) return managed.status();
  std::vector<std::string> strays;
  for (const auto& m : *managed) {
    auto it = tasks_.find(m.task_arn);
    if (it == tasks_.end()) {
      // Started by an earlier run that crashed before saving it: adopt it as a task to converge
      // (berthd's desired state decides whether it keeps running).
      auto t = std::make_unique<TaskRun>();
      t->arn = m.task_arn;
      t->pulled = true;
      it = tasks_.emplace(m.task_arn, std::move(t)).first;
    }
    TaskRun& t = *it->second;
    if (m.network_holder) {
      t.network.holder_id = m.id;
      task_of_container_[m.id] = t.arn;
      continue;
    }
    ContainerRun* c = nullptr;
    for (auto& existing : t.containers) {
      if (existing.def.name() == m.container_name) c = &existing;
    }
    if (c == nullptr) {
      t.containers.emplace_back();
      c = &t.containers.back();
      c->def.set_name(m.container_name);
    }
    if (!c->runtime_id.empty() && c->runtime_id != m.id) {
      strays.push_back(m.id);  // a duplicate of a container already known: never run both
      continue;
    }
    c->runtime_id = m.id;
    task_of_container_[m.id] = t.arn;
    auto status = runtime_->Inspect(m.id);
    if (status.ok() && status->state != ContainerState::kCreated && status->state != ContainerState::kMissing) {
      c->started = true;
    }
  }
  // Containers the state file names but the runtime no longer has.
  for (auto& [arn, t] : tasks_) {
    for (auto& c : t->containers) {
      if (c.runtime_id.empty() || task_of_container_.contains(c.runtime_id)) continue;
      if (!c.started && c.status == "PENDING") {
        c.runtime_id.clear();  // created but never started: create it again
        continue;
      }
      if (c.status != "STOPPED" && !t->removed) {
        c.status = "STOPPED";
        if (c.reason.empty()) c.reason = "the container disappeared while the agent was down";
      }
    }
  }
  const size_t recovered = tasks_.size();
  // The runtime is called without the lock, as everywhere else: Stop and Remove may call the
  // listener, which takes it, on this very thread.
  lock.unlock();
  for (const auto& id : strays) {
    log::Warn("removing duplicate container {}", id);
    (void)runtime_->Stop(id, 1);
    (void)runtime_->Remove(id);
  }
  log::Info("recovered {} tasks and {} containers of this instance", recovered, managed->size());
  return absl::OkStatus();
}

}  // namespace berth::agent
