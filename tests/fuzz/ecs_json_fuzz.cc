// libFuzzer target for the ECS JSON library (berth/common/ecs_json.h): how every JSON door reads a
// request body (ecsjson::FromJson) and prints a message (ecsjson::ToJson), for every message of
// the API: those of ecs.proto and of the berth.v1 files it imports (ecs_*.proto).
//
// An input is:
//   MESSAGE NAME\n      (e.g. berth.v1.RunTaskRequest; an unknown name picks a message by its bytes)
//   BODY                (the JSON the door would be handed)
// Invariants, for every body FromJson accepts:
//   - ToJson succeeds, with and without tags included, and prints a JSON object that parses;
//   - the printed document reads back (FromJson) and prints the same again: what a client reads
//     and sends back means the same (deploy tools feed describe output to register);
//   - every member marked JSON_ALWAYS in the message is printed, and one marked
//     JSON_WITH_TAGS_INCLUDED is printed when tags are included.
// A body FromJson refuses must come with a non-empty message.
//
// This file has no main(): the fuzzer build links libFuzzer's, and the unit test
// tests/unit/common/ecs_json_corpus_test.cc links gtest's and feeds it the seed corpus
// (tests/fuzz/corpus/ecs_json/).
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "berth/common/ecs_json.h"
#include "berth/v1/ecs.pb.h"
#include "berth/v1/ecs_options.pb.h"

namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;
using Json = nlohmann::ordered_json;

constexpr size_t kMaxInputLength = 64 * 1024;

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "ecs_json_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

// The messages of the API, in a fixed order: those of ecs.proto's file (the service's requests and
// responses), then those of the berth.v1 files it imports, depth first (the shapes, ecs_*.proto).
const std::vector<const Descriptor*>& ApiMessages() {
  static const std::vector<const Descriptor*> messages = [] {
    std::vector<const Descriptor*> out;
    std::vector<const FileDescriptor*> seen;
    std::vector<const FileDescriptor*> todo = {berth::v1::CreateClusterRequest::descriptor()->file()};
    while (!todo.empty()) {
      const FileDescriptor* file = todo.back();
      todo.pop_back();
      if (file->package() != "berth.v1" || std::find(seen.begin(), seen.end(), file) != seen.end()) continue;
      seen.push_back(file);
      for (int i = 0; i < file->message_type_count(); ++i) out.push_back(file->message_type(i));
      for (int i = file->dependency_count() - 1; i >= 0; --i) todo.push_back(file->dependency(i));
    }
    return out;
  }();
  return messages;
}

const Descriptor* Pick(std::string_view name) {
  const std::vector<const Descriptor*>& messages = ApiMessages();
  const std::string_view short_name = name.substr(name.rfind('.') + 1);
  for (const Descriptor* d : messages) {
    if (d->name() == short_name) return d;
  }
  size_t hash = 0;
  for (char c : name) hash = hash * 31 + static_cast<unsigned char>(c);
  return messages[hash % messages.size()];
}

void CheckPresence(const Descriptor& d, const Json& doc, bool tags_included) {
  for (int i = 0; i < d.field_count(); ++i) {
    const FieldDescriptor& f = *d.field(i);
    const auto presence = f.options().GetExtension(berth::v1::json_presence);
    const bool expected =
        presence == berth::v1::JSON_ALWAYS || (presence == berth::v1::JSON_WITH_TAGS_INCLUDED && tags_included);
    if (expected && !doc.contains(f.json_name())) Fail("a member ECS always sends is missing", f.full_name());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxInputLength) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  const std::string_view name = input.substr(0, newline);
  const std::string_view body = newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);
  const Descriptor* descriptor = Pick(name);
  // The generated class, so extensions and well-known types resolve as in the doors.
  const google::protobuf::Message* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(descriptor);
  std::unique_ptr<google::protobuf::Message> message(prototype->New());
  absl::Status parsed = berth::ecsjson::FromJson(body, message.get());
  if (!parsed.ok()) {
    if (parsed.message().empty()) Fail("a refusal without a message", std::string(body));
    return 0;
  }
  for (bool tags : {false, true}) {
    auto printed = berth::ecsjson::ToJson(*message, {.tags_included = tags, .omit_extensions = false});
    if (!printed.ok()) Fail("ToJson failed on a message FromJson accepted", std::string(printed.status().message()));
    if (!printed->is_object()) Fail("ToJson printed no object", printed->dump());
    CheckPresence(*descriptor, *printed, tags);
    const std::string text = printed->dump(-1, ' ', false, Json::error_handler_t::replace);
    if (Json::parse(text, nullptr, false).is_discarded()) Fail("printed JSON does not parse", text);
    std::unique_ptr<google::protobuf::Message> again(prototype->New());
    if (absl::Status s = berth::ecsjson::FromJson(text, again.get()); !s.ok()) {
      Fail("printed JSON does not read back", std::string(s.message()) + ": " + text);
    }
    auto reprinted = berth::ecsjson::ToJson(*again, {.tags_included = tags, .omit_extensions = false});
    if (!reprinted.ok() || *reprinted != *printed) {
      Fail("read back, it prints differently", text + " -> " + (reprinted.ok() ? reprinted->dump() : ""));
    }
  }
  return 0;
}
