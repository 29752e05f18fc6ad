#include "berth/common/status.h"
#include "berth/store/store.h"

namespace berth::store {

// These strings are column family names on disk: never change one (see Table).
std::string_view TableName(Table table) {
  switch (table) {
    case Table::kMeta:
      return "meta";
    case Table::kClusters:
      return "clusters";
    case Table::kTaskDefinitions:
      return "task_definitions";
    case Table::kContainerInstances:
      return "container_instances";
    case Table::kTasks:
      return "tasks";
    case Table::kServices:
      return "services";
    case Table::kAttributes:
      return "attributes";
    case Table::kCapacityProviders:
      return "capacity_providers";
  }
  // Only a cast from an out-of-range integer gets here.
  BERTH_CHECK_MSG(false, "TableName: not a valid berth::store::Table value");
  return {};
}

}  // namespace berth::store
