#include "src/controlplane/server.h"

#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "berth/common/status.h"

namespace berth::controlplane {

absl::StatusOr<std::unique_ptr<Server>> Server::Open(store::Store* store, Options options) {
  std::unique_ptr<Server> server(new Server());
  RETURN_IF_ERROR(server->state_.Load(*store, &server->recovered_revision_));
  server->pipeline_ = std::make_unique<CommitPipeline>(store, &server->state_mu_, server->recovered_revision_,
                                                       options.pipeline, options.observer);
  server->api_ =
      std::make_unique<Api>(std::move(options.api), &server->state_, &server->state_mu_, server->pipeline_.get(),
                            options.clock != nullptr ? options.clock : &RealClock());
  Api* api = server->api_.get();
  server->pipeline_->SetTouchListener(
      [api](std::vector<InstanceKey> touched) { api->agent().OnInstancesTouched(std::move(touched)); });
  server->pipeline_->SetBatchHook(
      MakeBatchHook(&server->state_, [api](Applier& txn) { api->services().OnBatchApplied(txn); }));
  return server;
}

Server::~Server() { Stop(); }

absl::Status Server::Start() {
  pipeline_->Start();
  return api_->Bootstrap();
}

void Server::StartHousekeeping() {
  // Long-poll deadlines, disconnect detection, stopped-task retention, the service scheduler's
  // queue, timers and resync, and the tasks waiting in PROVISIONING.
  housekeeping_ = std::thread([this] {
    for (int64_t wake = 1; !stop_housekeeping_.WaitForNotificationWithTimeout(absl::Milliseconds(10)); ++wake) {
      if (wake % 10 != 0) {
        api_->agent().ExpirePolls();
        continue;
      }
      api_->agent().AgentTick();
      api_->services().ServiceTick();
      api_->capacity().CapacityTick();
      api_->logs().Tick();
    }
  });
}

void Server::StopPolls() {
  if (!stop_housekeeping_.HasBeenNotified()) stop_housekeeping_.Notify();
  if (housekeeping_.joinable()) housekeeping_.join();
  api_->agent().ShutdownPolls();
}

void Server::Stop() {
  StopPolls();
  pipeline_->Stop();
}

Metrics::EntityCounts Server::EntityCounts() const {
  absl::ReaderMutexLock lock(&state_mu_);
  int64_t services = 0;
  for (const auto& [name, cluster] : state_.clusters()) services += cluster->active_services;
  return {static_cast<int64_t>(state_.clusters().size()), state_.task_definition_count(), state_.instance_count(),
          state_.task_count(), services};
}

}  // namespace berth::controlplane
