// Helpers of the integration tests that read container output back from berthd's log store.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "berth/v1/logs.grpc.pb.h"
#include "tests/integration/test_helpers.h"

namespace berth::testutil {

// Every message of a stream, oldest first (GetLogEvents from the head, page by page); empty when
// the stream does not exist (yet).
inline std::vector<std::string> StreamMessages(v1::LogsService::Stub& logs, const std::string& group,
                                               const std::string& stream) {
  std::vector<std::string> out;
  std::string token;
  for (int page = 0; page < 10'000; ++page) {
    v1::GetLogEventsRequest req;
    req.set_log_group_name(group);
    req.set_log_stream_name(stream);
    req.set_start_from_head(true);
    if (!token.empty()) req.set_next_token(token);
    v1::GetLogEventsResponse resp;
    if (!Call(logs, &v1::LogsService::Stub::GetLogEvents, req, &resp).ok()) return out;
    for (const auto& e : resp.events()) out.push_back(e.message());
    if (resp.events_size() == 0 || resp.next_forward_token() == token) break;
    token = resp.next_forward_token();
  }
  return out;
}

// The numbers of lines "<prefix> N ..." in `messages`, in order (lines not of that shape are left
// out).
inline std::vector<int> LineNumbers(const std::vector<std::string>& messages, const std::string& prefix) {
  std::vector<int> out;
  for (const std::string& m : messages) {
    if (m.rfind(prefix + " ", 0) != 0) continue;
    out.push_back(std::atoi(m.c_str() + prefix.size() + 1));
  }
  return out;
}

// 1, 2, ..., n.
inline std::vector<int> OneTo(int n) {
  std::vector<int> out;
  for (int i = 1; i <= n; ++i) out.push_back(i);
  return out;
}

}  // namespace berth::testutil
