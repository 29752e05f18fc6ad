// Helpers for the tests of src/controlplane/actions/validation.cc: strict JSON parsing of a row,
// the expected outcome ("ok" or a substring of an InvalidArgument error), gtest names from row
// names, and the task-definition builders the rows share. Shared by validation_test.cc (one row per
// rule) and validation_facts_test.cc (what validation computes, and the helpers other doors call).
#pragma once

#include <google/protobuf/util/json_util.h>

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace berth::controlplane {

inline constexpr char kOk[] = "ok";

template <typename Message>
Message Parse(const std::string& json) {
  Message m;
  auto status = google::protobuf::util::JsonStringToMessage(json, &m);
  EXPECT_TRUE(status.ok()) << "test JSON does not parse: " << status.ToString() << "\n" << json;
  return m;
}

// A test name from a row name: gtest accepts only [A-Za-z0-9_].
inline std::string TestName(const std::string& name) {
  std::string out = name;
  for (char& c : out) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return out;
}

inline void ExpectOutcome(const absl::Status& status, const std::string& expected) {
  if (expected == kOk) {
    EXPECT_TRUE(status.ok()) << status;
  } else {
    ASSERT_FALSE(status.ok()) << "accepted, but must be refused with: " << expected;
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr(expected));
  }
}

// {"family":"f","containerDefinitions":[<containers>]<extra>}
inline std::string Td(const std::string& containers, const std::string& extra = "") {
  return absl::StrCat(R"({"family":"f","containerDefinitions":[)", containers, "]", extra, "}");
}
// A container named `name` with 64 MiB and `extra` members.
inline std::string C(const std::string& name = "a", const std::string& extra = "") {
  return absl::StrCat(R"({"name":")", name, R"(","image":"nginx:1.25","memory":64)", extra, "}");
}
// A container without memory, for rows that set memory themselves.
inline std::string Bare(const std::string& name, const std::string& extra) {
  return absl::StrCat(R"({"name":")", name, R"(","image":"nginx:1.25")", extra, "}");
}
// `n` containers c0, c1, ... as C() makes them.
inline std::string Containers(int n) {
  std::vector<std::string> cs;
  for (int i = 0; i < n; ++i) cs.push_back(C(absl::StrCat("c", i)));
  return absl::StrJoin(cs, ",");
}

}  // namespace berth::controlplane
