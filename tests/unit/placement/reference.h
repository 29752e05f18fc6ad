// A brute-force reference implementation of the placement decision defined in the top comment of
// include/berth/placement/engine.h, written literally from that comment and nothing else: no
// indexes, one pass over the candidates per decision, every score computed from scratch.
//
// The engine's tests compare Engine::PlaceOne and Engine::Explain against it. It is meant to be
// obviously right rather than fast (a spread by attribute sums the group's tasks over the whole
// view for every decision).
//
// Thread safety: stateless functions over a const ClusterView.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"

#include "berth/placement/cluster_view.h"
#include "berth/placement/engine.h"

namespace berth::placement::reference {

// One feasible instance with its full ordering tuple.
struct Scored {
  const InstanceView* instance = nullptr;
  std::vector<int64_t> scores;  // one per strategy of the request
  uint64_t tiebreak = 0;
  uint32_t slot = 0;
  std::vector<int32_t> dynamic_tcp_ports;
  std::vector<int32_t> dynamic_udp_ports;
};

// Whether `a` is placed before `b`: the lexicographic order of (scores..., tiebreak, slot).
bool Better(const Scored& a, const Scored& b);

struct Outcome {
  int32_t candidates = 0;
  std::array<int32_t, kReasonCount> rejected{};
  // Every feasible instance, best first.
  std::vector<Scored> feasible;

  // The decision: feasible.front() when there is one.
  std::optional<Placement> placement;
  // When !placement: the reason (nullopt = MISSING, no candidates at all).
  std::optional<Reason> reason;
  // The ECS string of the failure: ReasonName(*reason), or "MISSING".
  std::string reason_name;
};

// The first filter `instance` fails for `request`, or nullopt when it is feasible.
std::optional<Reason> Reject(const InstanceView& instance, const PlacementRequest& request);

// The lowest free ports of the instance's ephemeral range for `count` dynamic mappings of one
// protocol: not in `used`, not among the task's own static ports of that protocol. Fewer than
// `count` when the range runs out.
std::vector<int32_t> DynamicPorts(const InstanceView& instance, const absl::flat_hash_set<int32_t>& used,
                                  const std::vector<int32_t>& own_static, int32_t count);

// The whole decision for task `index` of `request` against the view as it is.
Outcome Place(const ClusterView& view, const PlacementRequest& request, int index);

}  // namespace berth::placement::reference
