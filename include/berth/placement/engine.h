// The placement engine: decides on which container instance each task lands.
//
// Pure and deterministic: PlaceOne() reads a ClusterView and a request and returns a decision; it
// mutates nothing. "Does not fit" is a decision with reasons, not an error.
//
// The exact definition (what every fast path must agree with, and what the brute-force reference
// in the tests implements literally):
//
// 1. Candidates: every instance of the view, or the named ones (StartTask).
// 2. Filters, in order; an instance is counted under the first one it fails:
//      INACTIVE        status is not ACTIVE (DRAINING instances take no new tasks)
//      AGENT           agent not connected
//      ATTRIBUTE       launch type not served (EC2 task on an external or Fargate host, ...),
//                      or a required attribute missing / with another value
//      RESOURCE:CPU    remaining cpu < demand
//      RESOURCE:MEMORY remaining memory < demand
//      RESOURCE:GPU    remaining gpus < demand
//      RESOURCE:ENI    awsvpc task and no free attachment slot (instances without a limit always fit)
//      RESOURCE:PORTS  a static host port in use, or fewer free ephemeral ports than dynamic mappings
//      "DistinctInstance placement constraint unsatisfied."  a task of the group is already there
//      "MemberOf placement constraint unsatisfied."          an expression does not match
//      "MaxTasksPerInstance limit reached."  max_per_instance > 0, the group is not empty, and the
//                      instance holds max_per_instance or more tasks of the group
//    The Reason enum lists the filters in this order, so "first failed" and "ties: the earlier
//    filter" (5.) are the same order. The cap comes last, after memberOf: the expression mostly
//    describes the instance itself, which explains a rejection better than a count that drops as
//    tasks stop. distinctInstance (a cap of 1 with its own reason) comes before both.
// 3. Among the feasible instances, the one with the lexicographically smallest tuple
//      (score(strategy 1), ..., score(strategy k), tiebreak, slot)
//    where score is:
//      binpack(cpu|memory)         the remaining amount before placing (least first)
//      spread(instanceId|host)     tasks of the request's group on the instance
//      spread(attribute:<name>)    tasks of the group on all instances with the instance's value of
//                                  the attribute (instances without it share the value "")
//      random                      RandomScore(seed, task index, tiebreak): uniform, seedable
//    and tiebreak is a stable hash of the instance id (InstanceView::tiebreak).
// 4. Dynamic host ports: the lowest free ports of the instance's ephemeral range.
// 5. Failure: the reason that rejected the most instances (ties: the first in the order above),
//    with a detail counting instances per reason, most first. No instances at all: MISSING.
//
// Speed: the decision is found by walking the ClusterView's ordered indexes (binpack: by remaining
// resource from the demand upwards; spread: per attribute value, levels of equal count; spread by
// instance: instances without a task of the group first), stopping as soon as the rest cannot win.
// A chain the indexes do not cover (random first, or an index not prepared) takes a pass over the
// candidates: same answer, slower. Every walk and pass, Explain and the failure counts decide
// feasibility with one function that applies the filters of 2. in order, so a filter (the cap
// included) has no path of its own; the indexes only order the walks.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "berth/placement/cluster_view.h"
#include "berth/placement/expression.h"

namespace berth::placement {

// ECS failure reasons (exact strings).
inline constexpr char kReasonMissing[] = "MISSING";

enum class Reason : uint8_t {
  kInactive,
  kAgent,
  kAttribute,
  kCpu,
  kMemory,
  kGpu,
  kEni,
  kPorts,
  kDistinctInstance,
  kMemberOf,
  kMaxTasksPerInstance,  // a Berth extension (services' maxTasksPerInstance)
};
inline constexpr int kReasonCount = 11;
// The ECS string of a reason.
std::string_view ReasonName(Reason reason);

struct Strategy {
  enum class Type : uint8_t { kBinpack, kSpread, kRandom };
  enum class Field : uint8_t { kNone, kCpu, kMemory, kInstanceId, kAttribute };
  Type type = Type::kRandom;
  Field field = Field::kNone;
  std::string attribute;  // kAttribute: the attribute name

  // From the ECS API's (type, field): binpack cpu|memory; spread instanceId|host|attribute:<name>;
  // random (field ignored). INVALID_ARGUMENT "type: ..." or "field: ...".
  static absl::StatusOr<Strategy> FromApi(std::string_view type, std::string_view field);
  // ECS spelling: "binpack(memory)", "spread(attribute:ecs.availability-zone)", "random".
  std::string ToString() const;
};

struct Constraint {
  enum class Type : uint8_t { kDistinctInstance, kMemberOf };
  Type type = Type::kDistinctInstance;
  std::shared_ptr<const Expression> expression;  // kMemberOf

  // From the ECS API's (type, expression). INVALID_ARGUMENT "type: ..." or "expression: ..." (with
  // the column for a malformed expression).
  static absl::StatusOr<Constraint> FromApi(std::string_view type, std::string_view expression);
};

struct RequiredAttribute {
  std::string name;
  std::optional<std::string> value;  // nullopt: any value
};

struct PlacementRequest {
  TaskDemand demand;
  int count = 1;
  LaunchType launch_type = LaunchType::kEc2;
  // The task group: spread counts, distinctInstance and max_per_instance are per group. Empty: no
  // group (no task counts towards it, so spread scores 0 and neither constraint nor cap applies).
  std::string group;
  // At most this many tasks of `group` on one instance, counting those already there (Berth
  // extension: a service's maxTasksPerInstance). 0 or less: no limit. Ignored when `group` is empty.
  int32_t max_per_instance = 0;
  std::vector<RequiredAttribute> required_attributes;
  std::vector<Constraint> constraints;
  std::vector<Strategy> strategies;  // empty: only the tiebreak decides
  uint64_t seed = 0;                 // for random
  // When non-empty, only these instance ids are candidates (StartTask).
  std::vector<std::string> only_instances;
};

struct Placement {
  std::string instance_id;
  std::vector<int32_t> dynamic_tcp_ports;
  std::vector<int32_t> dynamic_udp_ports;
  // What the task holds once placed: demand, static and dynamic ports, group.
  TaskHold Hold(const PlacementRequest& request) const;
};

struct PlacementFailure {
  std::string reason;  // the ECS reason that eliminated the most candidates
  std::string detail;  // e.g. "RESOURCE:MEMORY on 812 instances, AGENT on 3 instances"
  std::array<int32_t, kReasonCount> rejected{};
};

struct Decision {
  std::optional<Placement> placement;
  PlacementFailure failure;  // when !placement
};

struct PlacementResult {
  std::vector<Placement> placed;
  // One entry per task that could not be placed (count - placed.size()).
  std::vector<PlacementFailure> failures;
};

// One candidate's scores, for explain.
struct CandidateScore {
  std::string instance_id;
  std::vector<int64_t> scores;  // one per strategy of the request
  uint64_t tiebreak = 0;
};

struct Explanation {
  int32_t candidates = 0;  // instances considered
  int32_t feasible = 0;
  std::array<int32_t, kReasonCount> rejected{};
  std::vector<CandidateScore> top;    // best first
  std::optional<Placement> decision;  // what PlaceOne would choose
  PlacementFailure failure;           // when !decision

  // The instance asked about, when one was named.
  bool instance_found = false;
  std::optional<Reason> instance_rejected;  // why it is not feasible
  std::optional<CandidateScore> instance_score;
  int32_t instance_rank = 0;  // 1 = would be chosen; among feasible instances
};

// The random strategy's score of an instance for task `index` of a request: a mix of the three.
int64_t RandomScore(uint64_t seed, int index, uint64_t tiebreak);

// Adapts an InstanceView for the cluster query language.
class ViewSubject final : public ExpressionSubject {
 public:
  explicit ViewSubject(const InstanceView& instance) : instance_(instance) {}
  std::optional<std::string_view> Attribute(std::string_view name) const override;
  bool AgentConnected() const override { return instance_.agent_connected; }
  std::string_view AgentVersion() const override { return instance_.agent_version; }
  std::string_view Ec2InstanceId() const override { return instance_.ec2_instance_id; }
  double RegisteredAt() const override { return instance_.registered_at; }
  int64_t RunningTasksCount() const override { return instance_.running_task_count; }
  bool HasTaskGroup(std::string_view group) const override { return instance_.GroupCount(group) > 0; }

 private:
  const InstanceView& instance_;
};

class Engine {
 public:
  // Builds the view indexes the request's strategies use. Optional: placement is exact without it.
  static void Prepare(ClusterView& view, const PlacementRequest& request);

  // Task number `index` (0-based; it varies the random strategy) of the request, against the view
  // as it is: earlier tasks of the same request must already be reserved in it.
  Decision PlaceOne(const ClusterView& view, const PlacementRequest& request, int index) const;

  // All `count` tasks, reserving each placed one in the view before placing the next (library users,
  // benchmarks and tests; the control plane reserves through its own records instead).
  PlacementResult PlaceAll(ClusterView& view, const PlacementRequest& request) const;

  // Dry run of task `index`: per-reason rejections, the `top_n` best candidates with their scores,
  // and, when `instance_id` is not empty, that instance's verdict. Takes a pass over the candidates.
  Explanation Explain(const ClusterView& view, const PlacementRequest& request, int index, std::string_view instance_id,
                      int top_n) const;
};

}  // namespace berth::placement
