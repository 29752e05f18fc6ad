// TcpProxy: a loopback TCP relay that a test can cut, to partition a client (an agent) from a
// server (berthd) while both keep running. Cut() closes every relayed connection and answers new
// ones by closing them at once; Heal() relays again.
#pragma once

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace berth::testutil {

class TcpProxy {
 public:
  // Relays 127.0.0.1:port() to 127.0.0.1:`target_port`.
  explicit TcpProxy(int target_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }
  void Cut();
  void Heal();

 private:
  void AcceptLoop();
  void Relay(int client);
  void CloseAll();

  const int target_port_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> cut_{false};
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::set<int> open_;  // relayed sockets, both sides
  std::vector<std::thread> relays_;
  std::thread acceptor_;
};

}  // namespace berth::testutil
