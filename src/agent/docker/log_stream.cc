#include "src/agent/docker/log_stream.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

#include "berth/common/status.h"
#include "berth/common/strings.h"

namespace berth::agent::docker {
namespace {

// "2024-01-02T03:04:05.123456789+05:30" is 35 bytes; a few more for extra fractional digits.
constexpr size_t kMaxTimestampBytes = 48;
// The most of an engine's in-band error message kept for the status.
constexpr size_t kMaxEngineErrorBytes = 2048;
// The most of a malformed message quoted in an error.
constexpr size_t kMaxQuotedBytes = 80;

constexpr int64_t kNanosPerSecond = 1'000'000'000;

// Days from 1970-01-01 to year-month-day in the proleptic Gregorian calendar.
int64_t DaysFromCivil(int64_t year, int month, int day) {
  year -= month <= 2 ? 1 : 0;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const int64_t year_of_era = year - era * 400;
  const int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

int DaysInMonth(int64_t year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

// Reads `digits` decimal digits at text[*pos]; false when there are not that many.
bool ReadDigits(std::string_view text, size_t* pos, int digits, int* out) {
  if (*pos + digits > text.size()) return false;
  int value = 0;
  for (int k = 0; k < digits; ++k) {
    const char c = text[*pos + k];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  *pos += digits;
  *out = value;
  return true;
}

bool Expect(std::string_view text, size_t* pos, char c) {
  if (*pos >= text.size() || text[*pos] != c) return false;
  ++*pos;
  return true;
}

// `bytes` for an error message: at most kMaxQuotedBytes, control characters escaped.
std::string Quote(std::string_view bytes) {
  std::string out = "\"";
  for (unsigned char c : bytes.substr(0, kMaxQuotedBytes)) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c == 0x7f) {
      StrAppend(&out, "\\x", "0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
  if (bytes.size() > kMaxQuotedBytes) out.append("...");
  return out;
}

}  // namespace

absl::StatusOr<int64_t> ParseDockerTimestamp(std::string_view text) {
  auto invalid = [&](std::string_view rule) {
    return absl::InvalidArgumentError(StrCat("timestamp ", Quote(text), ": ", rule));
  };
  size_t pos = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!ReadDigits(text, &pos, 4, &year) || !Expect(text, &pos, '-') || !ReadDigits(text, &pos, 2, &month) ||
      !Expect(text, &pos, '-') || !ReadDigits(text, &pos, 2, &day) || !Expect(text, &pos, 'T') ||
      !ReadDigits(text, &pos, 2, &hour) || !Expect(text, &pos, ':') || !ReadDigits(text, &pos, 2, &minute) ||
      !Expect(text, &pos, ':') || !ReadDigits(text, &pos, 2, &second)) {
    return invalid("must be YYYY-MM-DDTHH:MM:SS[.fraction] followed by Z or +hh:mm / -hh:mm");
  }
  if (month < 1 || month > 12) return invalid("the month must be 01 to 12");
  if (day < 1 || day > DaysInMonth(year, month)) return invalid("the day does not exist in that month");
  if (hour > 23 || minute > 59 || second > 59) return invalid("the time of day must be 00:00:00 to 23:59:59");
  int64_t nanos = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits < 9) nanos = nanos * 10 + (text[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return invalid("a '.' must be followed by fractional digits");
    for (int k = digits; k < 9; ++k) nanos *= 10;
  }
  int64_t offset_seconds = 0;
  if (pos < text.size() && text[pos] == 'Z') {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const int sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    int offset_hours = 0, offset_minutes = 0;
    if (!ReadDigits(text, &pos, 2, &offset_hours) || !Expect(text, &pos, ':') ||
        !ReadDigits(text, &pos, 2, &offset_minutes) || offset_hours > 23 || offset_minutes > 59) {
      return invalid("the offset must be +hh:mm or -hh:mm");
    }
    offset_seconds = sign * (offset_hours * 3600 + offset_minutes * 60);
  } else {
    return invalid("must end with Z or an offset +hh:mm / -hh:mm");
  }
  if (pos != text.size()) return invalid("unexpected characters after the offset");

  const int64_t seconds = DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset_seconds;
  int64_t result = 0;
  if (__builtin_mul_overflow(seconds, kNanosPerSecond, &result) || __builtin_add_overflow(result, nanos, &result)) {
    return invalid("outside what int64 nanoseconds since 1970 hold (1677-09-21 to 2262-04-11)");
  }
  return result;
}

std::string DockerSince(int64_t timestamp_ns) {
  // Floor division: the engine reads "-1.500000000" as -1 s + 0.5 s.
  int64_t seconds = timestamp_ns / kNanosPerSecond;
  int64_t nanos = timestamp_ns % kNanosPerSecond;
  if (nanos < 0) {
    nanos += kNanosPerSecond;
    --seconds;
  }
  std::string digits = std::to_string(nanos);
  return StrCat(seconds, ".", std::string(9 - digits.size(), '0'), digits);
}

LogStreamDecoder::LogStreamDecoder(bool tty) : tty_(tty) {}

absl::Status LogStreamDecoder::Feed(std::string_view bytes, const std::function<void(LogLine)>& emit) {
  if (!tty_) return FeedFrames(bytes, emit);
  RETURN_IF_ERROR(Consume(streams_[0], 1, bytes, offset_, emit));
  offset_ += bytes.size();
  return absl::OkStatus();
}

absl::Status LogStreamDecoder::FeedFrames(std::string_view bytes, const std::function<void(LogLine)>& emit) {
  size_t i = 0;
  while (i < bytes.size()) {
    if (frame_stream_ == 0) {
      const size_t take = std::min(sizeof(frame_header_) - frame_header_size_, bytes.size() - i);
      std::memcpy(frame_header_ + frame_header_size_, bytes.data() + i, take);
      frame_header_size_ += take;
      i += take;
      offset_ += take;
      if (frame_header_size_ < sizeof(frame_header_)) break;
      frame_header_size_ = 0;
      const uint64_t at = offset_ - sizeof(frame_header_);
      if (frame_header_[0] < 1 || frame_header_[0] > 3) {
        return absl::InternalError(StrCat("Docker log stream: the frame header at byte ", at, " names stream ",
                                          int{frame_header_[0]},
                                          ", not 1 (stdout), 2 (stderr) or 3 (the engine's errors)"));
      }
      if (frame_header_[1] != 0 || frame_header_[2] != 0 || frame_header_[3] != 0) {
        return absl::InternalError(StrCat("Docker log stream: the frame header at byte ", at,
                                          " has non-zero bytes 1 to 3 (", int{frame_header_[1]}, ", ",
                                          int{frame_header_[2]}, ", ", int{frame_header_[3]}, ")"));
      }
      frame_stream_ = frame_header_[0];
      frame_remaining_ = (uint64_t{frame_header_[4]} << 24) | (uint64_t{frame_header_[5]} << 16) |
                         (uint64_t{frame_header_[6]} << 8) | uint64_t{frame_header_[7]};
      engine_error_.clear();
    }
    const size_t take = static_cast<size_t>(std::min<uint64_t>(frame_remaining_, bytes.size() - i));
    const std::string_view payload = bytes.substr(i, take);
    if (frame_stream_ == 3) {
      engine_error_.append(
          payload.substr(0, kMaxEngineErrorBytes - std::min(kMaxEngineErrorBytes, engine_error_.size())));
    } else {
      RETURN_IF_ERROR(Consume(streams_[frame_stream_ - 1], frame_stream_, payload, offset_, emit));
    }
    i += take;
    offset_ += take;
    frame_remaining_ -= take;
    if (frame_remaining_ > 0) continue;
    if (frame_stream_ == 3) {
      while (!engine_error_.empty() && (engine_error_.back() == '\n' || engine_error_.back() == '\r')) {
        engine_error_.pop_back();
      }
      return absl::UnknownError(StrCat("the Docker engine reported an error in the log stream: ", engine_error_));
    }
    RETURN_IF_ERROR(EndFrame(streams_[frame_stream_ - 1], offset_));
    frame_stream_ = 0;
  }
  return absl::OkStatus();
}

absl::Status LogStreamDecoder::EndFrame(Stream& s, uint64_t offset) {
  switch (s.phase) {
    case Stream::Phase::kTimestamp:
      if (!s.header.empty()) {
        return absl::InternalError(StrCat("Docker log stream: the frame ending at byte ", offset,
                                          " ends inside a message's timestamp ", Quote(s.header)));
      }
      return absl::OkStatus();
    case Stream::Phase::kText:
      // A partial message: the stream's next message continues the line.
      s.phase = Stream::Phase::kTimestamp;
      return absl::OkStatus();
    case Stream::Phase::kContinuation:
      break;  // TTY bodies have no frames
  }
  return absl::OkStatus();
}

absl::Status LogStreamDecoder::Consume(Stream& s, int stream, std::string_view bytes, uint64_t offset,
                                       const std::function<void(LogLine)>& emit) {
  size_t i = 0;
  while (i < bytes.size()) {
    const std::string_view rest = bytes.substr(i);
    switch (s.phase) {
      case Stream::Phase::kTimestamp: {
        const size_t end = rest.find_first_of(" \n");
        const size_t take = end == std::string_view::npos ? rest.size() : end;
        if (s.header.size() + take > kMaxTimestampBytes || (end != std::string_view::npos && rest[end] == '\n')) {
          std::string quoted = s.header;
          quoted.append(rest.substr(0, kMaxQuotedBytes));
          return absl::InternalError(StrCat("Docker log stream: the message at byte ", offset + i - s.header.size(),
                                            " does not start with a timestamp and a space: ", Quote(quoted)));
        }
        s.header.append(rest.substr(0, take));
        i += take;
        if (end == std::string_view::npos) break;
        ++i;  // the space
        absl::StatusOr<int64_t> timestamp = ParseDockerTimestamp(s.header);
        if (!timestamp.ok()) {
          return absl::InternalError(StrCat("Docker log stream: the message at byte ", offset + i - 1 - s.header.size(),
                                            ": ", timestamp.status().message()));
        }
        s.header.clear();
        if (!s.line_open) {
          s.line = LogLine{.stream = stream, .timestamp_ns = *timestamp, .text = {}, .truncated = false};
          s.line_open = true;
        }
        s.phase = Stream::Phase::kText;
        s.message_bytes = 0;
        s.may_split = tty_;
        break;
      }
      case Stream::Phase::kText: {
        size_t limit = rest.size();
        if (s.may_split) limit = std::min(limit, kPartialMessageBytes - s.message_bytes);
        const size_t newline = rest.substr(0, limit).find('\n');
        if (newline != std::string_view::npos) {
          AppendText(s, rest.substr(0, newline));
          i += newline + 1;
          EmitLine(s, emit);
          s.phase = Stream::Phase::kTimestamp;
          break;
        }
        AppendText(s, rest.substr(0, limit));
        s.message_bytes += limit;
        i += limit;
        if (s.may_split && s.message_bytes == kPartialMessageBytes) s.phase = Stream::Phase::kContinuation;
        break;
      }
      case Stream::Phase::kContinuation: {
        // The part was cut at kPartialMessageBytes if a timestamp and a space follow; otherwise what
        // follows is more of this message's text.
        const size_t end = rest.find_first_of(" \n");
        const size_t available = end == std::string_view::npos ? rest.size() : end;
        const size_t take = std::min(available, kMaxTimestampBytes + 1 - s.header.size());
        s.header.append(rest.substr(0, take));
        i += take;
        const bool delimited = end != std::string_view::npos && take == end;
        if (!delimited && s.header.size() <= kMaxTimestampBytes) break;  // needs more bytes to tell
        if (delimited && rest[end] == ' ') {
          absl::StatusOr<int64_t> timestamp = ParseDockerTimestamp(s.header);
          if (timestamp.ok()) {
            ++i;  // the space
            s.header.clear();
            s.phase = Stream::Phase::kText;
            s.message_bytes = 0;
            break;
          }
        }
        AppendText(s, s.header);
        s.message_bytes += s.header.size();
        s.header.clear();
        s.phase = Stream::Phase::kText;
        s.may_split = false;
        break;
      }
    }
  }
  return absl::OkStatus();
}

void LogStreamDecoder::AppendText(Stream& s, std::string_view text) {
  if (s.line.truncated) return;
  const size_t room = kMaxLineBytes - s.line.text.size();
  if (text.size() > room) {
    s.line.text.append(text.substr(0, room));
    s.line.truncated = true;
    return;
  }
  s.line.text.append(text);
}

void LogStreamDecoder::EmitLine(Stream& s, const std::function<void(LogLine)>& emit) {
  // A terminal ends lines with "\r\n".
  if (tty_ && !s.line.truncated && !s.line.text.empty() && s.line.text.back() == '\r') s.line.text.pop_back();
  s.line_open = false;
  emit(std::exchange(s.line, LogLine{}));
}

void LogStreamDecoder::Finish(const std::function<void(LogLine)>& emit) {
  Stream* pending[2] = {&streams_[0], &streams_[1]};
  // The earlier line first, as the engine sent them.
  if (streams_[1].line_open &&
      (!streams_[0].line_open || streams_[1].line.timestamp_ns < streams_[0].line.timestamp_ns)) {
    std::swap(pending[0], pending[1]);
  }
  for (Stream* s : pending) {
    if (s->phase == Stream::Phase::kContinuation) AppendText(*s, s->header);
    if (s->line_open) EmitLine(*s, emit);
    *s = Stream{};
  }
  frame_header_size_ = 0;
  frame_remaining_ = 0;
  frame_stream_ = 0;
}

}  // namespace berth::agent::docker
