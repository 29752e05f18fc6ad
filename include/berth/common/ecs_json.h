// ECS JSON: Berth's API messages read and printed as ECS's JSON, for every door that speaks JSON
// (the AWS JSON 1.1 door in berthd and the berth CLI). Both print through here, so a response has
// one shape whichever door it leaves by.
//
// protobuf's JSON mapping gives ECS's member names (ecs.proto's conventions) but differs from
// ECS in two ways this corrects:
// - 64-bit integers (ECS's Long members) are printed as numbers, not strings;
// - empty members that ECS always sends are printed: each member's `json_presence` option (in
//   ecs.proto and the ecs_*.proto files it imports) says whether ECS sends it empty always ([] or
//   the zero value), only when the request asked for tags (`include: ["TAGS"]`), or never (the
//   default).
//
// Thread-safe: pure functions.
#pragma once

#include <google/protobuf/message.h>

#include <nlohmann/json.hpp>

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace berth::ecsjson {

// Berth's extensions to ECS's messages are numbered from here (ecs.proto's conventions).
inline constexpr int kFirstExtensionField = 1000;

struct PrintOptions {
  // The request's `include` named TAGS: members marked JSON_WITH_TAGS_INCLUDED are printed.
  bool tags_included = false;
  // Leave out Berth's extensions (members numbered from kFirstExtensionField): the AWS door does,
  // so that what it answers is ECS's shape; the berth CLI prints them.
  bool omit_extensions = false;
};

// Whether `request` has an `include` list that names TAGS (DescribeTasks, DescribeServices, ...).
bool IncludesTags(const google::protobuf::Message& request);

// A request body parsed into `message` as the AWS JSON door takes it: "" is {}; members the
// schema does not know (from a newer SDK model) are ignored; nesting deeper than kMaxDepth is
// refused before protobuf's parser sees it (that parser flattens nested arrays, so it would
// accept a 100,000-level `[[[...]]]`). Errors say what is wrong, naming the member when the
// parser does; `message` is then unspecified.
inline constexpr int kMaxDepth = 32;  // no ECS request nests deeper than about 8 levels
absl::Status FromJson(std::string_view body, google::protobuf::Message* message);

// `message` as an ECS JSON document, members in the schema's order.
absl::StatusOr<nlohmann::ordered_json> ToJson(const google::protobuf::Message& message,
                                              const PrintOptions& options = {});

}  // namespace berth::ecsjson
