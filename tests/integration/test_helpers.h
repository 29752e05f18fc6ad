// Builders and small helpers shared by the integration tests.
#pragma once

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "berth/v1/ecs.grpc.pb.h"

namespace berth::testutil {

// Parses ECS JSON into a request message; fails the test on malformed JSON.
template <typename Message>
Message FromJson(const std::string& json) {
  Message m;
  auto status = google::protobuf::util::JsonStringToMessage(json, &m);
  EXPECT_TRUE(status.ok()) << status.ToString() << " in " << json;
  return m;
}

inline v1::RegisterContainerInstanceRequest InstanceRequest(const std::string& cluster, int cpu, int memory,
                                                            const std::string& az = "az-1") {
  return FromJson<v1::RegisterContainerInstanceRequest>(
      R"({"cluster":")" + cluster + R"(","totalResources":[)" + R"({"name":"CPU","type":"INTEGER","integerValue":)" +
      std::to_string(cpu) + R"(},{"name":"MEMORY","type":"INTEGER","integerValue":)" + std::to_string(memory) +
      R"(},{"name":"PORTS","type":"STRINGSET","stringSetValue":["22","2375"]}],)" +
      R"("attributes":[{"name":"ecs.availability-zone","value":")" + az + R"("}]})");
}

inline v1::RegisterTaskDefinitionRequest SmallTaskDefinition(const std::string& family, int cpu = 10, int memory = 64) {
  return FromJson<v1::RegisterTaskDefinitionRequest>(
      R"({"family":")" + family + R"(","containerDefinitions":[{"name":"app","image":"busybox","cpu":)" +
      std::to_string(cpu) + R"(,"memory":)" + std::to_string(memory) + R"(}]})");
}

// Polls `done` every `poll_ms` until it holds or `timeout_ms` have passed; returns its last answer.
// Generous by default: a condition that holds returns at once, so the timeout only bounds failures.
inline bool WaitFor(const std::function<bool()>& done, int timeout_ms = 90000, int poll_ms = 100) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
  }
  return done();
}

// Unary call helper with a deadline.
template <typename Request, typename Response, typename Stub, typename Method>
grpc::Status Call(Stub& stub, Method method, const Request& request, Response* response, int timeout_ms = 10000) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  return (stub.*method)(&ctx, request, response);
}

// Calls a ContainerService method with a JSON request that must succeed (a test failure naming the
// request otherwise); the response.
template <typename Request, typename Response>
Response MustCall(v1::ContainerService::Stub& stub,
                  grpc::Status (v1::ContainerService::Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                  const std::string& json) {
  Response response;
  grpc::Status s = Call(stub, method, FromJson<Request>(json), &response);
  EXPECT_TRUE(s.ok()) << json << ": " << s.error_message();
  return response;
}

}  // namespace berth::testutil
