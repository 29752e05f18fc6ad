// Reading the body of the Docker engine's GET /containers/{id}/logs with timestamps=1
// (DockerClient::FollowLogs) back into the lines a container printed.
//
// The body, as the engine writes it:
//   - For a container without a TTY, frames: an 8-byte header [stream (1 stdout, 2 stderr, 3 an
//     error of the engine's own), 0, 0, 0, payload size as uint32 big-endian] and the payload. Each
//     frame carries one message.
//   - For a container with a TTY, the messages back to back, with no header (all stdout).
// A message is "<RFC3339Nano timestamp> <text>" and ends with '\n', unless the engine cut a long
// line (longer than kPartialMessageBytes) into partial messages: then each part but the last ends
// without '\n' and the next message of the same stream continues the line. Partial messages end
// where their frame ends; in a TTY body, where a part reaches exactly kPartialMessageBytes and a
// timestamp follows (the engine cuts every part but the last at that size).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace berth::agent::docker {

// One line a container printed.
struct LogLine {
  int stream = 1;            // 1 stdout, 2 stderr
  int64_t timestamp_ns = 0;  // when the engine read the line (its first part), ns since the epoch
  std::string text;          // without the trailing newline (nor, with a TTY, the '\r' before it)
  bool truncated = false;    // the line was longer than LogStreamDecoder::kMaxLineBytes: cut there
};

// "2024-01-02T03:04:05.123456789Z" -> ns since the epoch. Takes 0 to 9 fractional digits (more are
// cut, as the engine's parser does) and "Z" or a "+hh:mm" / "-hh:mm" offset; the time must lie
// within what int64 nanoseconds hold (years 1678 to 2261). INVALID_ARGUMENT naming the rule.
absl::StatusOr<int64_t> ParseDockerTimestamp(std::string_view text);

// ns since the epoch -> "SECONDS.NANOSECONDS" with 9 digits ("1733650000.000000001"), the form of
// FollowLogs' `since`.
std::string DockerSince(int64_t timestamp_ns);

// Turns the body's bytes, however they are cut, into lines. Partial messages of one stream are
// joined into one line whatever the other stream sends in between; a line is emitted when it is
// complete, so lines of different streams come out in the order they were completed.
//
// Not thread-safe: one decoder per body, fed from one thread.
class LogStreamDecoder {
 public:
  // A longer line is cut to this size (LogLine::truncated) and the rest of it skipped.
  static constexpr size_t kMaxLineBytes = size_t{1} << 20;
  // The engine cuts lines into parts of this size (its log copier's buffer).
  static constexpr size_t kPartialMessageBytes = size_t{16} << 10;

  // `tty`: the container has a TTY (Config.Tty), so the body has no frame headers.
  explicit LogStreamDecoder(bool tty);

  // Feeds the next bytes of the body; calls `emit` for every line completed. INTERNAL naming the
  // byte offset and what was wrong when the body is malformed (a frame header with an unknown
  // stream or non-zero padding, a message without a readable timestamp); UNKNOWN with the
  // engine's message when the engine reports an error in the stream ("Error grabbing logs: ...").
  // After an error the decoder must not be fed again.
  absl::Status Feed(std::string_view bytes, const std::function<void(LogLine)>& emit);

  // The body ended: emits the lines still pending (a last line without its newline, which the
  // engine sends when the container's output ended in the middle of a line).
  void Finish(const std::function<void(LogLine)>& emit);

 private:
  // One output stream's messages.
  struct Stream {
    enum class Phase {
      kTimestamp,     // at the start of a message: reading its timestamp up to the space
      kText,          // reading the message's text up to '\n'
      kContinuation,  // TTY only: a part reached kPartialMessageBytes; does a timestamp follow?
    };
    Phase phase = Phase::kTimestamp;
    std::string header;      // kTimestamp / kContinuation: the bytes read so far
    bool line_open = false;  // `line` holds a line whose end has not been read yet
    LogLine line;
    size_t message_bytes = 0;  // text bytes of the current message
    bool may_split = true;     // TTY: the current message may still be cut at kPartialMessageBytes
  };

  // Consumes `bytes` of a message stream; `offset` is the body offset of bytes[0], for messages.
  absl::Status Consume(Stream& s, int stream, std::string_view bytes, uint64_t offset,
                       const std::function<void(LogLine)>& emit);
  // The frame carrying `s`'s bytes ended.
  absl::Status EndFrame(Stream& s, uint64_t offset);
  absl::Status FeedFrames(std::string_view bytes, const std::function<void(LogLine)>& emit);
  void AppendText(Stream& s, std::string_view text);
  void EmitLine(Stream& s, const std::function<void(LogLine)>& emit);

  const bool tty_;
  Stream streams_[2];    // stdout, stderr
  uint64_t offset_ = 0;  // body bytes consumed
  unsigned char frame_header_[8] = {};
  size_t frame_header_size_ = 0;
  uint64_t frame_remaining_ = 0;  // payload bytes of the current frame still to come
  int frame_stream_ = 0;          // 0 between frames
  std::string engine_error_;      // the payload of a stream-3 frame
};

}  // namespace berth::agent::docker
