// ServiceActions: CreateService, UpdateService, DeleteService, DescribeServices, ListServices and
// task scale-in protection (services.cc), and the service scheduler that keeps each service's
// tasks as its deployments say (services_reconcile.cc; the plans come from
// scheduler::ReconcileService). Starts and stops go through the Launcher.
#pragma once

#include <deque>

#include "absl/container/btree_map.h"
#include "src/controlplane/actions/action_base.h"
#include "src/controlplane/actions/launcher.h"

namespace berth::controlplane {

class ServiceActions : public ActionBase {
 public:
  ServiceActions(const ActionContext& context, Launcher* launcher) : ActionBase(context), launcher_(launcher) {}

  void CreateService(const v1::CreateServiceRequest& request, v1::CreateServiceResponse* response, Done done);
  void UpdateService(const v1::UpdateServiceRequest& request, v1::UpdateServiceResponse* response, Done done);
  void DeleteService(const v1::DeleteServiceRequest& request, v1::DeleteServiceResponse* response, Done done);
  void DescribeServices(const v1::DescribeServicesRequest& request, v1::DescribeServicesResponse* response, Done done);
  void ListServices(const v1::ListServicesRequest& request, v1::ListServicesResponse* response, Done done);
  // Task scale-in protection: a protected task is not stopped when its service scales in.
  void UpdateTaskProtection(const v1::UpdateTaskProtectionRequest& request, v1::UpdateTaskProtectionResponse* response,
                            Done done);
  void GetTaskProtection(const v1::GetTaskProtectionRequest& request, v1::GetTaskProtectionResponse* response,
                         Done done);

  // The pipeline's batch hook: counts service tasks that reached STOPPED against their
  // deployments, and queues the services the batch changed for reconciliation.
  void OnBatchApplied(Applier& txn);
  // Called periodically from one thread: submits one proposal reconciling the services that are
  // queued, due (a timer of theirs expired) or due for their periodic resync. At most one such
  // proposal is in flight.
  void ServiceTick();

 private:
  void RenderService(const ClusterEntry& cluster, const ServiceEntry& service, bool with_tags, v1::Service* out) const;
  // A service's task definition (family, revision 0 = latest ACTIVE), checked: it exists, is
  // ACTIVE and is compatible with the launch type. State lock held.
  absl::StatusOr<const v1::TaskDefinitionRecord*> ServiceTaskDefinition(const ClusterEntry& cluster,
                                                                        const std::string& family, uint32_t revision,
                                                                        const std::string& launch_type);
  // The service scheduler (proposal side): reconciles one service and carries out the plan.
  // Returns whether the service record changed (the Applier writes it).
  bool ReconcileService(Applier& txn, const ClusterEntry& cluster, const ServiceEntry& service);
  // How a service's placement strategies shape its scale-in.
  struct ScaleInShape {
    std::vector<placement::Strategy> strategies;
    scheduler::ScaleInPolicy policy;
    placement::Strategy::Field binpack_field = placement::Strategy::Field::kNone;
  };
  ScaleInShape ServiceScaleIn(const v1::Service& svc) const;
  // The scheduler's snapshot of a service: each live task with the facts of its instance.
  std::vector<scheduler::ServiceTask> ServiceSnapshot(const ClusterEntry& cluster, const ServiceEntry& service,
                                                      const ScaleInShape& shape) const;
  // DAEMON: the cluster's instances, each marked whether a task of the service belongs on it.
  std::vector<scheduler::DaemonInstance> DaemonInstances(const ClusterEntry& cluster,
                                                         const v1::ServiceRecord& rec) const;
  // What one reconcile pass leaves for later: when to look again, and whether tasks went unplaced.
  struct PassOutcome {
    double wake_at = 0;
    bool unplaced = false;
  };
  // Launches the starts of `plan` and records them (and failures) as events in `rec`; true when
  // `rec` changed.
  bool StartPlanned(Applier& txn, const ClusterEntry& cluster, const ServiceEntry& service, v1::ServiceRecord& rec,
                    const scheduler::Plan& plan, double now, PassOutcome* outcome);
  // The cluster and service name of UpdateService / DeleteService; errors name the field.
  absl::Status ServiceRef(bool has_cluster, const std::string& cluster_in, bool has_service,
                          const std::string& service_in, std::string* cluster, std::string* name) const;
  // Counts the service tasks that reached STOPPED since the last call against their deployments
  // (scheduler::OnTaskStopped), persisting each changed service once.
  void ApplyStoppedServiceTasks(Applier& txn);
  // Queues services for ServiceTick (scheduler_mu_ held).
  void QueueService(const ServiceKey& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(scheduler_mu_);
  // A service's launch of its PRIMARY deployment (state lock held); constraints and strategies
  // from the service record.
  absl::StatusOr<Launcher::Launch> ServiceLaunch(const ClusterEntry& cluster, const ServiceEntry& service) const;

  Launcher* const launcher_;

  // Service scheduler bookkeeping (scheduler_mu_ is taken after the state mutex, never before).
  absl::Mutex scheduler_mu_;
  // Services waiting to be reconciled, first queued first served (a service is queued once).
  std::deque<ServiceKey> queue_ ABSL_GUARDED_BY(scheduler_mu_);
  absl::flat_hash_set<ServiceKey> queued_ ABSL_GUARDED_BY(scheduler_mu_);
  absl::btree_map<ServiceKey, int64_t> service_wake_us_ ABSL_GUARDED_BY(scheduler_mu_);  // monotonic
  bool reconcile_in_flight_ ABSL_GUARDED_BY(scheduler_mu_) = false;
  int64_t next_resync_us_ ABSL_GUARDED_BY(scheduler_mu_) = 0;
};

}  // namespace berth::controlplane
