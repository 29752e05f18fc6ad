// FakeClock: a Clock that moves only when told to. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>

#include "berth/common/clock.h"

namespace berth::testutil {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t now_micros = 1'700'000'000'000'000) : now_(now_micros) {}
  int64_t NowMicros() const override { return now_.load(); }
  int64_t MonotonicMicros() const override { return now_.load(); }
  void Advance(int64_t micros) { now_ += micros; }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace berth::testutil
