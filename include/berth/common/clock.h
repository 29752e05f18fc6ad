// Clock: the source of time for everything that decides on time (timeouts, retention,
// timestamps in records). Tests use testutil::FakeClock.
#pragma once

#include <cstdint>

namespace berth {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time in microseconds since the Unix epoch (what records and the API show).
  virtual int64_t NowMicros() const = 0;
  // Monotonic time in microseconds (for durations and deadlines).
  virtual int64_t MonotonicMicros() const = 0;

  double NowSeconds() const { return static_cast<double>(NowMicros()) / 1e6; }
};

// The real clock. Thread-safe; a process-wide instance.
Clock& RealClock();

}  // namespace berth
