// Sockets of this process.
#pragma once

namespace berth {

// Shuts down the reading side of every connected TCP socket of this process whose local port is
// `local_port`: the connections a server accepted on that port. A server thread waiting for the
// next request on an idle keep-alive connection then reads the end of the stream and closes it,
// while an answer being written still goes out. For HTTP servers that offer no way to close their
// idle connections when they stop (cpp-httplib 0.11 waits out its keep-alive timeout, 5 s, for
// each). Linux only (/proc/self/fd). Returns how many connections it shut down.
int ShutdownConnectionsOnPort(int local_port);

}  // namespace berth
