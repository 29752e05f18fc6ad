// Api: construction, the proposal plumbing shared by every action, and rendering of records into
// API shapes. The actions themselves live in api_<resource>.cc.
#include "src/controlplane/actions/api.h"

#include <future>

#include "berth/common/strings.h"
#include "berth/store/keys.h"
#include "src/controlplane/doors/errors.h"

namespace berth::controlplane {

Api::Api(ApiOptions options, State* state, absl::Mutex* mu, CommitPipeline* pipeline, const Clock* clock)
    : options_(std::move(options)),
      arns_(options_.arn_context),
      state_(state),
      mu_(mu),
      pipeline_(pipeline),
      clock_(clock),
      started_at_(clock->NowSeconds()),
      jitter_rng_(options_.agent.poll_jitter_seed != 0 ? options_.agent.poll_jitter_seed : std::random_device{}()) {
  waker_ = std::thread([this] { RunPollWaker(); });
}

Api::~Api() {
  {
    absl::MutexLock lock(&waker_mu_);
    waker_stopping_ = true;
  }
  waker_.join();
}

void Api::OnInstancesTouched(std::vector<InstanceKey> instances) {
  absl::MutexLock lock(&waker_mu_);
  if (waker_queue_.empty()) {
    waker_queue_ = std::move(instances);
  } else {
    waker_queue_.insert(waker_queue_.end(), std::make_move_iterator(instances.begin()),
                        std::make_move_iterator(instances.end()));
  }
}

// Woken polls rendered under one hold of the state lock (about 20 us each: a delta of a few tasks).
constexpr size_t kPollsPerRender = 32;

void Api::RunPollWaker() {
  for (;;) {
    std::vector<InstanceKey> touched;
    {
      absl::MutexLock lock(&waker_mu_);
      waker_mu_.Await(absl::Condition(
          +[](Api* api) ABSL_EXCLUSIVE_LOCKS_REQUIRED(api->waker_mu_) {
            return !api->waker_queue_.empty() || api->waker_stopping_;
          },
          this));
      if (waker_queue_.empty()) return;  // stopping, nothing left
      touched.swap(waker_queue_);
      waker_busy_ = true;
    }
    // An instance touched twice has one waiter at most: the first TakeChanged hit removes it.
    std::vector<AgentSessions::Parked> woken = sessions_.TakeChanged(touched);
    AnswerWoken(std::move(woken));
    absl::MutexLock lock(&waker_mu_);
    waker_busy_ = false;
  }
}

void Api::AnswerWoken(std::vector<AgentSessions::Parked> woken) {
  // In chunks, so the pipeline (which waits for readers to leave, and makes new readers wait
  // behind it) is never held up for long by a burst of polls.
  std::vector<absl::Status> rendered(woken.size());
  for (size_t begin = 0; begin < woken.size(); begin += kPollsPerRender) {
    const size_t end = std::min(woken.size(), begin + kPollsPerRender);
    {
      absl::ReaderMutexLock lock(mu_);
      for (size_t i = begin; i < end; ++i) rendered[i] = woken[i].render();
    }
    for (size_t i = begin; i < end; ++i) {
      woken[i].answer(AgentSessions::WakeReason::kChanged, std::move(rendered[i]));
    }
  }
}

void Api::DrainPollWaker() {
  absl::MutexLock lock(&waker_mu_);
  waker_mu_.Await(absl::Condition(
      +[](Api* api)
           ABSL_EXCLUSIVE_LOCKS_REQUIRED(api->waker_mu_) { return api->waker_queue_.empty() && !api->waker_busy_; },
      this));
}

Api::Done Api::AnswerWhenDurable(Done done) const {
  return [pipeline = pipeline_, done = std::move(done)](absl::Status status) {
    if (pipeline->OnCompletionThread()) return done(std::move(status));
    // Everything this answer could have seen was applied by now, so the applied revision bounds it.
    pipeline->WhenDurable(pipeline->applied_revision(),
                          [done, status = std::move(status)]() mutable { done(std::move(status)); });
  };
}

void Api::Submit(std::function<absl::Status(Applier&)> apply, Done done) {
  pipeline_->Submit(MakeProposal(state_, std::move(apply), std::move(done)));
}

absl::StatusOr<const ClusterEntry*> Api::ActiveCluster(const std::string& name) const {
  const ClusterEntry* c = state_->FindCluster(name);
  if (c == nullptr || !c->active()) return ClusterNotFound(name);
  return c;
}

std::string Api::ClusterFromRequest(bool has, const std::string& value, absl::Status* error) const {
  if (!has || value.empty()) return "default";
  auto name = arns_.ClusterName(value, "cluster");
  if (!name.ok()) {
    *error = WithType(name.status(), "InvalidParameterException");
    return {};
  }
  return *std::move(name);
}

absl::StatusOr<std::vector<std::string>> Api::ParseIds(const google::protobuf::RepeatedPtrField<std::string>& items,
                                                       const std::string& cluster, std::string_view field,
                                                       ResourceKind kind, int max) const {
  const char* noun = kind == ResourceKind::kTask ? "task" : "container instance";
  if (items.empty() || items.size() > max) {
    return InvalidParameter(field, ": give 1 to ", max, " ", noun, " ids or ARNs (got ", items.size(), ")");
  }
  std::vector<std::string> ids;
  ids.reserve(items.size());
  for (int i = 0; i < items.size(); ++i) {
    std::string item_field = StrCat(field, "[", i, "]");
    auto id = kind == ResourceKind::kTask ? arns_.TaskId(items[i], cluster, item_field)
                                          : arns_.ContainerInstanceId(items[i], cluster, item_field);
    if (!id.ok()) return WithType(id.status(), "InvalidParameterException");
    ids.push_back(*std::move(id));
  }
  return ids;
}

absl::Status Api::Bootstrap() {
  std::promise<absl::Status> result;
  Submit(
      [this](Applier& txn) -> absl::Status {
        if (state_->schema_version() != 0) return absl::OkStatus();
        txn.SetSchemaVersion(kSchemaVersion);
        if (state_->FindCluster("default") != nullptr) return absl::OkStatus();
        v1::ClusterRecord rec;
        rec.mutable_cluster()->set_cluster_name("default");
        rec.mutable_cluster()->set_status("ACTIVE");
        rec.set_created_at(clock_->NowSeconds());
        txn.AddCluster(std::move(rec));
        return absl::OkStatus();
      },
      [&result](absl::Status s) { result.set_value(std::move(s)); });
  return result.get_future().get();
}

// --- rendering ---

void Api::RenderCluster(const ClusterEntry& cluster, bool with_tags, v1::Cluster* out) const {
  *out = cluster.record.cluster();
  out->set_cluster_arn(arns_.Cluster(out->cluster_name()));
  out->set_registered_container_instances_count(static_cast<int32_t>(cluster.registered_instances()));
  out->set_running_tasks_count(static_cast<int32_t>(cluster.running_tasks));
  out->set_pending_tasks_count(static_cast<int32_t>(cluster.pending_tasks));
  out->set_active_services_count(static_cast<int32_t>(cluster.active_services));
  if (!with_tags) out->clear_tags();
}

void Api::RenderTaskDefinition(const v1::TaskDefinitionRecord& record, v1::TaskDefinition* out) const {
  *out = record.task_definition();
  out->set_task_definition_arn(arns_.TaskDefinition(out->family(), static_cast<uint32_t>(out->revision())));
}

namespace {
void AddIntegerResource(google::protobuf::RepeatedPtrField<v1::Resource>* out, const char* name, int64_t value) {
  auto* r = out->Add();
  r->set_name(name);
  r->set_type("INTEGER");
  r->set_double_value(0);
  r->set_long_value(0);
  r->set_integer_value(static_cast<int32_t>(value));
}

void AddPortsResource(google::protobuf::RepeatedPtrField<v1::Resource>* out, const char* name,
                      const absl::flat_hash_set<int32_t>& ports) {
  auto* r = out->Add();
  r->set_name(name);
  r->set_type("STRINGSET");
  r->set_double_value(0);
  r->set_long_value(0);
  r->set_integer_value(0);
  std::vector<int32_t> sorted(ports.begin(), ports.end());
  std::sort(sorted.begin(), sorted.end());
  for (int32_t p : sorted) r->add_string_set_value(std::to_string(p));
}
}  // namespace

void Api::RenderInstance(const ClusterEntry& cluster, const InstanceEntry& instance, bool with_tags,
                         v1::ContainerInstance* out) const {
  *out = instance.record.instance();
  out->set_container_instance_arn(arns_.ContainerInstance(instance.record.cluster(), instance.record.id()));
  out->set_running_tasks_count(instance.running_tasks);
  out->set_pending_tasks_count(instance.pending_tasks);
  if (std::string provider = CapacityProviderOf(cluster, instance); !provider.empty()) {
    out->set_capacity_provider_name(std::move(provider));
  }
  if (const placement::InstanceView* view = cluster.view.Find(instance.record.id())) {
    AddIntegerResource(out->mutable_remaining_resources(), "CPU", view->cpu_remaining());
    AddIntegerResource(out->mutable_remaining_resources(), "MEMORY", view->memory_remaining());
    AddPortsResource(out->mutable_remaining_resources(), "PORTS", view->tcp_ports_used);
    AddPortsResource(out->mutable_remaining_resources(), "PORTS_UDP", view->udp_ports_used);
  }
  for (const auto& [name, rec] : instance.attributes) {
    auto* a = out->add_attributes();
    a->set_name(rec.attribute().name());
    if (rec.attribute().has_value()) a->set_value(rec.attribute().value());
  }
  if (!with_tags) out->clear_tags();
}

void Api::RenderTask(const TaskEntry& task, bool with_tags, v1::Task* out) const {
  RenderTask(task.record(), with_tags, out);
}

void Api::RenderTask(const v1::TaskRecord& rec, bool with_tags, v1::Task* out) const {
  *out = rec.task();
  out->set_task_arn(arns_.Task(rec.cluster(), rec.id()));
  out->set_cluster_arn(arns_.Cluster(rec.cluster()));
  out->set_task_definition_arn(arns_.TaskDefinition(rec.family(), rec.task_definition_revision()));
  // A FARGATE task's host is Berth's, not the user's: ECS shows no container instance for it.
  if (!rec.container_instance_id().empty() && rec.task().launch_type() != "FARGATE") {
    out->set_container_instance_arn(arns_.ContainerInstance(rec.cluster(), rec.container_instance_id()));
  }
  for (auto& c : *out->mutable_containers()) {
    c.set_task_arn(out->task_arn());
    c.set_container_arn(arns_.Container(rec.cluster(), rec.id(), c.name()));
  }
  if (!with_tags) out->clear_tags();
}

}  // namespace berth::controlplane
