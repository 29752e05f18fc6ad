// ECS JSON: Berth's API messages printed as ECS prints them, for every door that speaks JSON (the
// AWS JSON 1.1 door in berthd and the berth CLI). Both print through here, so a response has one
// shape whichever door it leaves by.
//
// protobuf's JSON mapping gives ECS's member names (ecs.proto's conventions) but differs from
// ECS in two ways this corrects:
// - 64-bit integers (ECS's Long members) are printed as numbers, not strings;
// - empty members that ECS always sends are printed: each member's `json_presence` option in
//   ecs.proto says whether ECS sends it empty always ([] or the zero value), only when the request
//   asked for tags (`include: ["TAGS"]`), or never (the default).
//
// Thread-safe: pure functions.
#pragma once

#include <google/protobuf/message.h>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace berth::ecsjson {

struct PrintOptions {
  // The request's `include` named TAGS: members marked JSON_WITH_TAGS_INCLUDED are printed.
  bool tags_included = false;
};

// Whether `request` has an `include` list that names TAGS (DescribeTasks, DescribeServices, ...).
bool IncludesTags(const google::protobuf::Message& request);

// `message` as an ECS JSON document, members in the schema's order.
absl::StatusOr<nlohmann::ordered_json> ToJson(const google::protobuf::Message& message,
                                              const PrintOptions& options = {});

}  // namespace berth::ecsjson
