// Time and CPU accounting shared by the scenarios of berth-bench.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace berth::bench {

// Every interval berth-bench measures is taken on this clock (monotonic; vDSO, cheap to read).
using Clock = std::chrono::steady_clock;

// Parses a duration flag: a decimal number with a unit "ms", "s" or "m" ("10s", "500ms", "1.5m");
// a bare number is seconds. Negative durations are refused.
absl::StatusOr<std::chrono::microseconds> ParseDuration(std::string_view text);

inline double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// CPU time (user + system, seconds) this process has used so far.
double SelfCpuSeconds();

// CPU time (user + system, seconds) process `pid` has used so far, from /proc; nullopt if it cannot
// be read (not Linux, process gone, another user's process).
std::optional<double> ProcessCpuSeconds(pid_t pid);

// Resident memory (VmRSS, bytes) of process `pid`, from /proc; nullopt if it cannot be read.
std::optional<int64_t> ProcessRssBytes(pid_t pid);

// Bytes of the regular files under `dir`, recursively (0 for a missing directory).
int64_t DirectoryBytes(const std::string& dir);

// CPU time (seconds, summed over all cores) the whole machine has spent busy so far: every state
// of /proc/stat's "cpu" line except idle and iowait. Set against the bench's and berthd's own CPU
// it shows how much other load shared the machine during a run. nullopt if /proc/stat is unreadable.
std::optional<double> MachineBusyCpuSeconds();

}  // namespace berth::bench
