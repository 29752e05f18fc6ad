#include "src/cli/invoker.h"

#include <grpcpp/generic/generic_stub.h>

#include <future>
#include <vector>

#include "berth/common/strings.h"

namespace berth::cli {
namespace {

// Describe* of many resources can be large; berthd bounds what it sends.
constexpr int kMaxMessageBytes = 64 << 20;

}  // namespace

Invoker::Invoker(std::string endpoint, std::string token, std::shared_ptr<grpc::ChannelCredentials> credentials)
    : endpoint_(std::move(endpoint)), token_(std::move(token)) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  channel_ = grpc::CreateCustomChannel(
      endpoint_, credentials != nullptr ? std::move(credentials) : grpc::InsecureChannelCredentials(), args);
}

grpc::Status Invoker::Call(const google::protobuf::MethodDescriptor& method, const google::protobuf::Message& request,
                           google::protobuf::Message* response, std::chrono::milliseconds timeout) {
  std::string bytes;
  if (!request.SerializeToString(&bytes)) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "cannot serialize the request");
  }
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::ByteBuffer response_buffer;

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  if (!token_.empty()) context.AddMetadata("authorization", StrCat("Bearer ", token_));
  grpc::GenericStub stub(channel_);
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, StrCat("/", method.service()->full_name(), "/", method.name()), grpc::StubOptions(),
                 &request_buffer, &response_buffer,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  grpc::Status status = done.get_future().get();
  if (!status.ok()) return status;

  std::vector<grpc::Slice> slices;
  if (!response_buffer.Dump(&slices).ok()) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "cannot read the response");
  }
  std::string reply;
  for (const grpc::Slice& s : slices) reply.append(reinterpret_cast<const char*>(s.begin()), s.size());
  if (!response->ParseFromString(reply)) {
    return grpc::Status(grpc::StatusCode::INTERNAL,
                        StrCat("cannot parse the response as ", method.output_type()->full_name()));
  }
  return status;
}

bool Invoker::NotConnected() const { return channel_->GetState(/*try_to_connect=*/false) != GRPC_CHANNEL_READY; }

}  // namespace berth::cli
