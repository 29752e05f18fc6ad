#include "src/cli/table.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <map>

#include "berth/common/strings.h"

namespace berth::cli {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using Json = nlohmann::ordered_json;

constexpr char kNone[] = "-";

std::string Cell(const Json& value) {
  if (value.is_null()) return kNone;
  if (value.is_string()) {
    const std::string& text = value.get_ref<const std::string&>();
    return text.empty() ? kNone : text;
  }
  return value.dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

std::string Member(const Json& item, std::string_view name) {
  if (!item.is_object()) return kNone;
  auto member = item.find(name);
  return member == item.end() ? kNone : Cell(*member);
}

std::string ShortMember(const Json& item, std::string_view name) {
  std::string value = Member(item, name);
  return value == kNone ? value : ShortId(value);
}

// "2026-11-25 00:33:28" (UTC) from ECS's seconds since the epoch.
std::string Timestamp(const Json& item, std::string_view name) {
  auto member = item.find(name);
  if (member == item.end() || !member->is_number()) return kNone;
  double seconds = member->get<double>();
  if (!std::isfinite(seconds)) return kNone;
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return kNone;
  char buffer[32];
  size_t n = std::strftime(buffer, sizeof(buffer), "%Y-%m-%d %H:%M:%S", &tm);
  return std::string(buffer, n);
}

// "49153->80/tcp,49154->443/tcp" from every container's networkBindings.
std::string Ports(const Json& task) {
  std::string ports;
  auto containers = task.find("containers");
  if (containers == task.end() || !containers->is_array()) return kNone;
  for (const Json& container : *containers) {
    auto bindings = container.find("networkBindings");
    if (bindings == container.end() || !bindings->is_array()) continue;
    for (const Json& binding : *bindings) {
      std::string host =
          binding.contains("hostPortRange") ? Member(binding, "hostPortRange") : Member(binding, "hostPort");
      std::string target = binding.contains("containerPortRange") ? Member(binding, "containerPortRange")
                                                                  : Member(binding, "containerPort");
      std::string protocol = binding.contains("protocol") ? Member(binding, "protocol") : "tcp";
      StrAppend(&ports, ports.empty() ? "" : ",", host, "->", target, "/", protocol);
    }
  }
  return ports.empty() ? kNone : ports;
}

// The integer value of resource `name` in `resources` (a list of ECS Resource), or null.
const Json* ResourceValue(const Json& item, std::string_view list, std::string_view name) {
  auto resources = item.find(list);
  if (resources == item.end() || !resources->is_array()) return nullptr;
  for (const Json& resource : *resources) {
    if (resource.value("name", "") != name) continue;
    for (const char* kind : {"integerValue", "longValue", "doubleValue"}) {
      if (auto value = resource.find(kind); value != resource.end()) return &*value;
    }
  }
  return nullptr;
}

// "1664/2048": remaining of registered.
std::string Capacity(const Json& instance, std::string_view name) {
  const Json* remaining = ResourceValue(instance, "remainingResources", name);
  const Json* registered = ResourceValue(instance, "registeredResources", name);
  if (remaining == nullptr && registered == nullptr) return kNone;
  return StrCat(remaining == nullptr ? kNone : Cell(*remaining), "/",
                registered == nullptr ? kNone : Cell(*registered));
}

std::string Counts(const Json& item, std::initializer_list<std::string_view> names) {
  std::string out;
  for (std::string_view name : names) {
    std::string value = Member(item, name);
    StrAppend(&out, out.empty() ? "" : "/", value == kNone ? "0" : value);
  }
  return out;
}

const Json* PrimaryDeployment(const Json& service) {
  auto deployments = service.find("deployments");
  if (deployments == service.end() || !deployments->is_array()) return nullptr;
  for (const Json& deployment : *deployments) {
    if (deployment.value("status", "") == "PRIMARY") return &deployment;
  }
  return nullptr;
}

using RowBuilder = std::vector<std::string> (*)(const Json&);

struct Shape {
  std::vector<std::string> header;
  RowBuilder row;
};

const std::map<std::string, Shape, std::less<>>& Shapes() {
  static const auto* shapes = new std::map<std::string, Shape, std::less<>>{
      {"berth.v1.Task",
       {{"TASK", "LAST", "DESIRED", "TASK DEFINITION", "INSTANCE", "PORTS", "HEALTH", "STOP CODE"},
        [](const Json& t) -> std::vector<std::string> {
          std::string td = Member(t, "taskDefinitionArn");
          return {ShortMember(t, "taskArn"),
                  Member(t, "lastStatus"),
                  Member(t, "desiredStatus"),
                  td == kNone ? td : TaskDefinitionName(td),
                  ShortMember(t, "containerInstanceArn"),
                  Ports(t),
                  Member(t, "healthStatus"),
                  Member(t, "stopCode")};
        }}},
      {"berth.v1.ContainerInstance",
       {{"INSTANCE", "STATUS", "AGENT CONNECTED", "RUNNING/PENDING", "CPU FREE/TOTAL", "MEMORY FREE/TOTAL"},
        [](const Json& ci) -> std::vector<std::string> {
          return {ShortMember(ci, "containerInstanceArn"),
                  Member(ci, "status"),
                  Member(ci, "agentConnected"),
                  Counts(ci, {"runningTasksCount", "pendingTasksCount"}),
                  Capacity(ci, "CPU"),
                  Capacity(ci, "MEMORY")};
        }}},
      {"berth.v1.Service",
       {{"SERVICE", "STATUS", "DESIRED/RUNNING/PENDING", "ROLLOUT", "TASK DEFINITION"},
        [](const Json& s) -> std::vector<std::string> {
          const Json* primary = PrimaryDeployment(s);
          std::string td = Member(s, "taskDefinition");
          return {Member(s, "serviceName"), Member(s, "status"),
                  Counts(s, {"desiredCount", "runningCount", "pendingCount"}),
                  primary == nullptr ? kNone : Member(*primary, "rolloutState"),
                  td == kNone ? td : TaskDefinitionName(td)};
        }}},
      {"berth.v1.Deployment",
       {{"DEPLOYMENT", "STATUS", "TASK DEFINITION", "DESIRED/RUNNING/PENDING/FAILED", "ROLLOUT"},
        [](const Json& d) -> std::vector<std::string> {
          std::string td = Member(d, "taskDefinition");
          return {Member(d, "id"), Member(d, "status"), td == kNone ? td : TaskDefinitionName(td),
                  Counts(d, {"desiredCount", "runningCount", "pendingCount", "failedTasks"}),
                  Member(d, "rolloutState")};
        }}},
      {"berth.v1.Cluster",
       {{"CLUSTER", "STATUS", "INSTANCES", "RUNNING", "PENDING", "SERVICES"},
        [](const Json& c) -> std::vector<std::string> {
          return {Member(c, "clusterName"),
                  Member(c, "status"),
                  Member(c, "registeredContainerInstancesCount"),
                  Member(c, "runningTasksCount"),
                  Member(c, "pendingTasksCount"),
                  Member(c, "activeServicesCount")};
        }}},
      {"berth.v1.TaskDefinition",
       {{"TASK DEFINITION", "STATUS", "CONTAINERS", "CPU", "MEMORY", "NETWORK MODE"},
        [](const Json& td) -> std::vector<std::string> {
          std::string containers;
          if (auto defs = td.find("containerDefinitions"); defs != td.end() && defs->is_array()) {
            for (const Json& def : *defs) StrAppend(&containers, containers.empty() ? "" : ",", Member(def, "name"));
          }
          std::string arn = Member(td, "taskDefinitionArn");
          return {arn == kNone ? StrCat(Member(td, "family"), ":", Member(td, "revision")) : TaskDefinitionName(arn),
                  Member(td, "status"),
                  containers.empty() ? kNone : containers,
                  Member(td, "cpu"),
                  Member(td, "memory"),
                  Member(td, "networkMode")};
        }}},
  };
  return *shapes;
}

// "containerInstanceArns" -> "CONTAINER INSTANCE ARNS".
std::string HeaderName(std::string_view camel) {
  std::string out;
  for (size_t i = 0; i < camel.size(); ++i) {
    char c = camel[i];
    if (std::isupper(static_cast<unsigned char>(c)) && i > 0 &&
        !std::isupper(static_cast<unsigned char>(camel[i - 1]))) {
      out.push_back(' ');
    }
    out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return out;
}

// A table of items of `descriptor`: its chosen shape, or its scalar members in schema order.
Table ItemsTable(const Descriptor& descriptor, const std::vector<const Json*>& items) {
  Table table;
  const auto& shapes = Shapes();
  if (auto it = shapes.find(descriptor.full_name()); it != shapes.end()) {
    table.header = it->second.header;
    for (const Json* item : items) table.rows.push_back(it->second.row(*item));
    return table;
  }
  std::vector<const FieldDescriptor*> columns;
  for (int i = 0; i < descriptor.field_count(); ++i) {
    const FieldDescriptor* field = descriptor.field(i);
    if (field->is_repeated() || field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) continue;
    bool present = std::any_of(items.begin(), items.end(), [&](const Json* item) {
      return item->is_object() && item->contains(field->json_name());
    });
    if (present) columns.push_back(field);
  }
  for (const FieldDescriptor* field : columns) table.header.push_back(HeaderName(field->json_name()));
  for (const Json* item : items) {
    std::vector<std::string> row;
    for (const FieldDescriptor* field : columns) row.push_back(Member(*item, field->json_name()));
    table.rows.push_back(std::move(row));
  }
  return table;
}

// The deployments and newest events of each service, under the services table.
void AppendServiceDetails(const std::vector<const Json*>& services, std::string* out) {
  const Descriptor* deployment =
      google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName("berth.v1.Deployment");
  for (const Json* service : services) {
    const std::string name = Member(*service, "serviceName");
    if (auto deployments = service->find("deployments");
        deployment != nullptr && deployments != service->end() && deployments->is_array() && !deployments->empty()) {
      std::vector<const Json*> items;
      for (const Json& d : *deployments) items.push_back(&d);
      StrAppend(out, "\nDeployments of ", name, ":\n", FormatTable(ItemsTable(*deployment, items)));
    }
    if (auto events = service->find("events"); events != service->end() && events->is_array() && !events->empty()) {
      // ECS lists events newest first.
      Table table{{"TIME (UTC)", "MESSAGE"}, {}};
      for (size_t i = 0; i < events->size() && i < static_cast<size_t>(kServiceEventsShown); ++i) {
        table.rows.push_back({Timestamp((*events)[i], "createdAt"), Member((*events)[i], "message")});
      }
      StrAppend(out, "\nEvents of ", name, " (newest ", table.rows.size(), " of ", events->size(), "):\n",
                FormatTable(table));
    }
  }
}

}  // namespace

std::string FormatTable(const Table& table) {
  std::vector<size_t> widths(table.header.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  };
  measure(table.header);
  for (const auto& row : table.rows) measure(row);
  std::string out;
  auto print = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    StrAppend(&out, line, "\n");
  };
  print(table.header);
  for (const auto& row : table.rows) print(row);
  return out;
}

std::string ShortId(std::string_view arn) {
  size_t slash = arn.rfind('/');
  return std::string(slash == std::string_view::npos ? arn : arn.substr(slash + 1));
}

std::string TaskDefinitionName(std::string_view arn) {
  constexpr std::string_view kMarker = ":task-definition/";
  size_t at = arn.find(kMarker);
  return std::string(at == std::string_view::npos ? arn : arn.substr(at + kMarker.size()));
}

std::string RenderTable(const Json& doc, const Descriptor& descriptor) {
  std::string out;
  for (int i = 0; i < descriptor.field_count(); ++i) {
    const FieldDescriptor& field = *descriptor.field(i);
    if (field.json_name() == "failures" || field.json_name() == "nextToken") continue;
    auto member = doc.find(field.json_name());
    if (member == doc.end()) continue;
    if (!out.empty()) out += "\n";
    const bool is_message = field.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !field.is_map();
    if (is_message) {
      std::vector<const Json*> items;
      if (field.is_repeated() && member->is_array()) {
        for (const Json& item : *member) items.push_back(&item);
      } else {
        items.push_back(&*member);
      }
      out += FormatTable(ItemsTable(*field.message_type(), items));
      if (field.message_type()->full_name() == "berth.v1.Service") AppendServiceDetails(items, &out);
    } else if (field.is_repeated() && member->is_array()) {
      Table table{{HeaderName(field.json_name())}, {}};
      for (const Json& item : *member) table.rows.push_back({Cell(item)});
      out += FormatTable(table);
    } else {
      out += FormatTable(Table{{HeaderName(field.json_name())}, {{Cell(*member)}}});
    }
  }
  return out;
}

std::string FailureTable(const Json& doc) {
  auto failures = doc.find("failures");
  if (failures == doc.end() || !failures->is_array() || failures->empty()) return "";
  Table table{{"ARN", "REASON", "DETAIL"}, {}};
  for (const Json& failure : *failures) {
    table.rows.push_back({Member(failure, "arn"), Member(failure, "reason"), Member(failure, "detail")});
  }
  return FormatTable(table);
}

}  // namespace berth::cli
