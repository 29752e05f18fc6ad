// ShutdownConnectionsOnPort on real loopback sockets: the connections accepted on the port read
// the end of the stream, a connection on another port and the listener are left alone.
#include "berth/common/sockets.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace berth {
namespace {

// A loopback listener on a free port, with one accepted connection (both ends kept).
struct Connected {
  int listener = -1;
  int client = -1;
  int accepted = -1;
  int port = 0;

  Connected() {
    listener = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(listener, 4), 0);
    socklen_t len = sizeof(addr);
    getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
    client = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_EQ(connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    accepted = accept(listener, nullptr, nullptr);
    EXPECT_GE(accepted, 0);
  }
  ~Connected() {
    for (int fd : {listener, client, accepted}) {
      if (fd >= 0) close(fd);
    }
  }
};

// Whether a read on `fd` would return at once (data or the end of the stream).
bool Readable(int fd) {
  char byte;
  return recv(fd, &byte, 1, MSG_DONTWAIT | MSG_PEEK) >= 0;
}

TEST(ShutdownConnectionsOnPortTest, TheAcceptedConnectionsReadTheEndAndOthersAreLeftAlone) {
  Connected a;
  Connected b;
  ASSERT_FALSE(Readable(a.accepted));
  ASSERT_FALSE(Readable(b.accepted));

  // The accepted end has the port as its local port; the client end of the same connection has
  // an ephemeral one, and the listener no peer.
  EXPECT_EQ(ShutdownConnectionsOnPort(a.port), 1);
  char byte;
  EXPECT_EQ(recv(a.accepted, &byte, 1, MSG_DONTWAIT), 0);  // the end of the stream
  EXPECT_FALSE(Readable(b.accepted));
  EXPECT_FALSE(Readable(a.client));
  // The writing side is still open: an answer being sent still goes out.
  EXPECT_EQ(send(a.accepted, "x", 1, MSG_NOSIGNAL), 1);
  EXPECT_EQ(recv(a.client, &byte, 1, 0), 1);
  // The listener still accepts (a server stops it on its own).
  int late = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(a.port));
  EXPECT_EQ(connect(late, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  close(late);
}

}  // namespace
}  // namespace berth
