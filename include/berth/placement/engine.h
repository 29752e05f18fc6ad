// The placement engine: decides on which container instances tasks land.
//
// Pure and deterministic: Place() reads a ClusterView and a request and returns a result; it
// mutates nothing. "Does not fit" is a result with reasons, not an error.
//
// Current policy: candidates in the ClusterView's order (which is not registration order: removal
// moves the last instance into the gap, recovery adds them in id order); filters in order
// INACTIVE/DRAINING, AGENT,
// RESOURCE:CPU, RESOURCE:MEMORY, RESOURCE:PORTS; first fit. Multi-task requests place tasks one
// after another, each seeing the reservations of the ones before.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "berth/placement/cluster_view.h"

namespace berth::placement {

// ECS failure reasons (exact strings).
inline constexpr char kReasonInactive[] = "INACTIVE";
inline constexpr char kReasonAgent[] = "AGENT";
inline constexpr char kReasonCpu[] = "RESOURCE:CPU";
inline constexpr char kReasonMemory[] = "RESOURCE:MEMORY";
inline constexpr char kReasonPorts[] = "RESOURCE:PORTS";
inline constexpr char kReasonMissing[] = "MISSING";

struct PlacementRequest {
  TaskDemand demand;
  int count = 1;
  // When non-empty, only these instance ids are candidates (StartTask).
  std::vector<std::string> only_instances;
};

struct PlacementFailure {
  std::string reason;  // the ECS reason that eliminated the most candidates
  std::string detail;  // e.g. "RESOURCE:MEMORY on 812 instances, AGENT on 3 instances"
};

struct PlacementResult {
  // One entry per placed task, in order: the chosen instance id.
  std::vector<std::string> placed;
  // One entry per task that could not be placed (count - placed.size()).
  std::vector<PlacementFailure> failures;
};

class Engine {
 public:
  PlacementResult Place(const ClusterView& view, const PlacementRequest& request) const;
};

}  // namespace berth::placement
