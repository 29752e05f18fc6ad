#include "src/controlplane/auth/instance_subject.h"

#include "berth/common/status.h"
#include "berth/common/strings.h"

namespace berth::controlplane {

std::optional<std::string_view> InstanceSubject::Attribute(std::string_view name) const {
  // Abseil's btree_map<std::string, ...> looks up by absl::string_view without a copy.
  auto it = instance_.attributes.find(ToAbsl(name));
  if (it == instance_.attributes.end()) return std::nullopt;
  return std::string_view(it->second.attribute().value());
}

bool InstanceSubject::AgentConnected() const { return instance_.record.instance().agent_connected(); }

std::string_view InstanceSubject::AgentVersion() const {
  return instance_.record.instance().version_info().agent_version();
}

std::string_view InstanceSubject::Ec2InstanceId() const { return instance_.record.instance().ec2_instance_id(); }

double InstanceSubject::RegisteredAt() const { return instance_.record.instance().registered_at(); }

int64_t InstanceSubject::RunningTasksCount() const { return instance_.running_tasks; }

bool InstanceSubject::HasTaskGroup(std::string_view group) const {
  // An instance in the placement view counts its tasks' groups; others (INACTIVE) are rare.
  if (const placement::InstanceView* view = cluster_.view.Find(instance_.record.id()); view != nullptr) {
    return view->GroupCount(group) > 0;
  }
  v1::TaskRecord record;
  for (const TaskId& id : instance_.task_ids) {
    auto it = cluster_.tasks.find(id);
    BERTH_CHECK_MSG(it != cluster_.tasks.end(), "an instance's task id names no task of its cluster");
    it->second.Decode(&record);
    if (record.task().group() == group) return true;
  }
  return false;
}

}  // namespace berth::controlplane
