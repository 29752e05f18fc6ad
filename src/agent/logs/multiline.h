// Multi-line assembly of a container's log lines into log events, as Docker's awslogs log driver
// does it for the options `awslogs-multiline-pattern` and `awslogs-datetime-format`, so that a
// task definition's logConfiguration groups lines under Berth as it does under ECS.
//
// With a pattern, a line that matches it (anywhere in the line, like the driver's Go regexps,
// whose syntax RE2 shares) starts a new event and every other line is appended to the current
// event, joined with "\n"; a line before any match starts an event too. A datetime format is a
// strftime-like format turned into a pattern anchored at the start of the line
// (DatetimeFormatToRegex). Without either, every line is an event of its own.
//
// An event's timestamp is its first line's. A pending event goes out when a line starts a new one,
// when adding a line would make it longer than kMaxEventBytes, when Flush finds it has waited
// `flush_after` (measured from its timestamp, as the driver measures it), and at Finish. A single
// line longer than kMaxEventBytes goes out as several events of at most that size, cut between
// UTF-8 characters. Sizes count each byte that is not part of valid UTF-8 as 3 (CloudWatch
// replaces it with U+FFFD). An event whose message would be empty is not emitted (CloudWatch
// refuses empty messages; the driver skips empty lines).
//
// Where this differs from the driver, on purpose: the datetime format's literal characters are
// matched literally (the driver pastes them into its regexp unescaped) and the pattern is anchored
// at the line start; an unknown %-directive is an error (the driver drops it); "%%" is a percent
// sign; a multi-line event carries no trailing "\n" (the driver ends every line of one with "\n").
//
// Not thread-safe: one assembler per container, fed in arrival order with the lines of both its
// streams (the driver groups them together too).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace re2 {
class RE2;
}  // namespace re2

namespace berth::agent::logs {

struct AssembledEvent {
  int64_t timestamp_ns = 0;  // the event's first line's
  std::string message;       // its lines joined with "\n"; never empty
};

// Checks the two options as a task definition's logConfiguration carries them ("" = not set): not
// both set, the format converts, the pattern compiles. INVALID_ARGUMENT naming the option and the
// rule.
absl::Status CheckMultilineOptions(std::string_view datetime_format, std::string_view multiline_pattern);

class MultilineAssembler {
 public:
  // CloudWatch's limit on an event, 262,144 bytes, less its 26 bytes of per-event overhead.
  static constexpr size_t kMaxEventBytes = 262144 - 26;
  // The driver's default `awslogs-force-flush-interval-seconds`.
  static constexpr absl::Duration kDefaultFlushAfter = absl::Seconds(5);

  // `datetime_format` and `multiline_pattern` as CheckMultilineOptions takes them; `flush_after`
  // must be positive. INVALID_ARGUMENT naming the option and the rule.
  static absl::StatusOr<std::unique_ptr<MultilineAssembler>> Create(std::string_view datetime_format,
                                                                    std::string_view multiline_pattern,
                                                                    absl::Duration flush_after = kDefaultFlushAfter);

  // The regular expression (RE2 syntax) that `format` stands for: "^" then each directive's
  // expression and each other character escaped. Directives: %a %A %b %B %d %f (microseconds,
  // 6 digits) %H %I %j %L (".", then milliseconds) %m %M %p %S %U %w %W %y %Y %z (+hhmm) %Z (a
  // zone abbreviation ending in T) %% (a percent sign). INVALID_ARGUMENT for an empty format, an
  // unknown directive or a lone trailing '%'.
  static absl::StatusOr<std::string> DatetimeFormatToRegex(std::string_view format);

  ~MultilineAssembler();
  MultilineAssembler(const MultilineAssembler&) = delete;
  MultilineAssembler& operator=(const MultilineAssembler&) = delete;

  // Adds the next line (without its newline); calls `emit` for the events it completes.
  void Add(int64_t timestamp_ns, std::string_view line, const std::function<void(AssembledEvent)>& emit);
  // Emits the pending event if it has waited at least `flush_after` by `now_ns`, or if its
  // timestamp is after `now_ns` (a clock that went back: the driver flushes then too).
  void Flush(int64_t now_ns, const std::function<void(AssembledEvent)>& emit);
  // The lines ended: emits the pending event.
  void Finish(const std::function<void(AssembledEvent)>& emit);

  // True when lines wait in a pending event.
  bool has_pending() const { return has_pending_; }

 private:
  MultilineAssembler(std::unique_ptr<re2::RE2> pattern, absl::Duration flush_after);
  void EmitPending(const std::function<void(AssembledEvent)>& emit);

  const std::unique_ptr<re2::RE2> pattern_;  // null: every line is an event
  const int64_t flush_after_ns_;
  bool has_pending_ = false;
  int64_t pending_timestamp_ns_ = 0;
  std::string pending_;
  size_t pending_size_ = 0;  // pending_'s size as CloudWatch counts it
};

}  // namespace berth::agent::logs
