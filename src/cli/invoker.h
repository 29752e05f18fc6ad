// A generic unary gRPC call: serialized request bytes to "/berth.v1.ContainerService/<Method>"
// through grpc::GenericStub, response bytes parsed into the method's output message. No code per
// RPC; the method descriptor says everything.
//
// One Invoker per endpoint (one channel). Thread-safe: Call may run on several threads at once.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <grpcpp/grpcpp.h>

namespace berth::cli {

class Invoker {
 public:
  // `token`, when not empty, is sent as `authorization: Bearer <token>` on every call.
  // `credentials` secure the channel (TLS); null: plaintext.
  explicit Invoker(std::string endpoint, std::string token = "",
                   std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);

  // Calls `method` with `request`, waiting at most `timeout`. On OK, `response` (of the method's
  // output type) holds the reply.
  grpc::Status Call(const google::protobuf::MethodDescriptor& method, const google::protobuf::Message& request,
                    google::protobuf::Message* response, std::chrono::milliseconds timeout);

  // True when the channel holds no connection to the endpoint. After a failed Call it tells
  // "berthd was not reached" apart from an UNAVAILABLE that berthd itself answered.
  bool NotConnected() const;

  const std::string& endpoint() const { return endpoint_; }

 private:
  std::string endpoint_;
  std::string token_;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace berth::cli
