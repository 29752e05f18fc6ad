#include "src/bench/fleet.h"

#include <atomic>
#include <chrono>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "berth/common/strings.h"
#include "src/bench/target.h"

namespace berth::bench {
namespace {

constexpr auto kSetupCallTimeout = std::chrono::seconds(30);

std::unique_ptr<grpc::ClientContext> SetupContext() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + kSetupCallTimeout);
  context->set_wait_for_ready(true);  // the channel may still be connecting
  return context;
}

v1::Resource IntegerResource(const char* name, int32_t value) {
  v1::Resource r;
  r.set_name(name);
  r.set_type("INTEGER");
  r.set_integer_value(value);
  return r;
}

}  // namespace

Fleet::Fleet(std::shared_ptr<grpc::Channel> channel, FleetSpec spec)
    : channel_(std::move(channel)), stub_(v1::ContainerService::NewStub(channel_)), spec_(std::move(spec)) {}

absl::StatusOr<Fleet> Fleet::Create(const std::shared_ptr<grpc::Channel>& channel, const FleetSpec& spec) {
  if (spec.instances < 0) return absl::InvalidArgumentError("instances: must not be negative");
  Fleet fleet(channel, spec);
  if (absl::Status s = fleet.CreateCluster(); !s.ok()) return s;
  if (absl::Status s = fleet.RegisterInstances(); !s.ok()) return s;
  return fleet;
}

absl::Status Fleet::CreateCluster() {
  v1::CreateClusterRequest request;
  request.set_cluster_name(spec_.cluster);
  v1::CreateClusterResponse response;
  grpc::Status status = stub_->CreateCluster(SetupContext().get(), request, &response);
  if (!status.ok() && status.error_code() != grpc::StatusCode::ALREADY_EXISTS) {
    return absl::Status(FromGrpc(status).code(),
                        StrCat("CreateCluster(", spec_.cluster, "): ", status.error_message()));
  }
  return absl::OkStatus();
}

absl::Status Fleet::RegisterInstances() {
  instance_arns_.assign(static_cast<size_t>(spec_.instances), "");
  std::atomic<int> next{0};
  absl::Mutex mu;
  absl::Status first_error;
  auto worker = [&] {
    v1::RegisterContainerInstanceRequest request;
    request.set_cluster(spec_.cluster);
    *request.add_total_resources() = IntegerResource("CPU", spec_.cpu_units);
    *request.add_total_resources() = IntegerResource("MEMORY", spec_.memory_mib);
    for (int i = next++; i < spec_.instances; i = next++) {
      {
        absl::MutexLock lock(&mu);
        if (!first_error.ok()) return;
      }
      request.set_instance_identity_document(StrCat("{\"instanceId\": \"i-bench", fmt::format("{:08d}", i), "\"}"));
      v1::RegisterContainerInstanceResponse response;
      grpc::Status status = stub_->RegisterContainerInstance(SetupContext().get(), request, &response);
      absl::MutexLock lock(&mu);
      if (!status.ok()) {
        if (first_error.ok()) {
          first_error = absl::Status(FromGrpc(status).code(),
                                     StrCat("RegisterContainerInstance #", i, ": ", status.error_message()));
        }
        return;
      }
      instance_arns_[static_cast<size_t>(i)] = response.container_instance().container_instance_arn();
    }
  };
  std::vector<std::thread> threads;
  const int n = std::max(1, std::min(spec_.parallelism, spec_.instances));
  for (int t = 0; t < n; ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  return first_error;
}

absl::StatusOr<std::string> Fleet::RegisterTaskDefinition(const TaskDefinitionSpec& spec) {
  v1::RegisterTaskDefinitionRequest request;
  request.set_family(spec.family);
  request.set_network_mode(spec.network_mode);
  v1::ContainerDefinition* c = request.add_container_definitions();
  c->set_name(spec.container);
  c->set_image(spec.image);
  c->set_cpu(spec.cpu);
  c->set_memory(spec.memory_mib);
  c->set_essential(true);
  v1::RegisterTaskDefinitionResponse response;
  grpc::Status status = stub_->RegisterTaskDefinition(SetupContext().get(), request, &response);
  if (!status.ok()) {
    return absl::Status(FromGrpc(status).code(),
                        StrCat("RegisterTaskDefinition(", spec.family, "): ", status.error_message()));
  }
  return StrCat(response.task_definition().family(), ":", response.task_definition().revision());
}

}  // namespace berth::bench
