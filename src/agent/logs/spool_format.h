// The log spool's formats and files (private to src/agent/logs).
//
// A segment is kSegmentMagic followed by records. A record is a frame: the payload's length
// (u32), the CRC-32C of those four length bytes and the payload (u32), then the payload. An event's
// payload: sequence (u64), timestamp_ms (i64), source_position (i64), then destination, source and
// message, each a u32 length and its bytes. Integers are little-endian. The state file is
// kStateMagic followed by one record whose payload is SpoolState (see EncodeState).
//
// The formats are written to disk: change them only with a new magic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/agent/logs/spool.h"

namespace berth::agent::logs {

inline constexpr std::string_view kSegmentMagic = "BRTHSEG1";
inline constexpr std::string_view kStateMagic = "BRTHSTA1";
inline constexpr int64_t kMagicBytes = 8;
inline constexpr int64_t kFrameBytes = 8;
// Larger frames are taken for garbage at reopen, so Append refuses larger events.
inline constexpr int64_t kMaxRecordBytes = int64_t{64} << 20;

// The framed record of `event` with `sequence`, appended to `out`; its size.
int64_t EventRecordBytes(const SpoolEvent& event);
void AppendEventRecord(uint64_t sequence, const SpoolEvent& event, std::string* out);
// Decodes an event payload (a frame's contents); false when it is malformed.
bool DecodeEvent(std::string_view payload, SpooledEvent* out);

// What the state file holds.
struct SpoolState {
  uint64_t acked = 0;
  uint64_t last_sequence = 0;  // the highest sequence ever assigned, when written
  uint64_t dropped = 0;
  std::map<std::string, int64_t> positions;
  std::map<std::string, uint64_t> forgotten;  // source -> last sequence when forgotten
};
std::string EncodeState(const SpoolState& state);
// False when `bytes` is not a whole state file.
bool DecodeState(std::string_view bytes, SpoolState* out);

// One segment's bytes: a file (its descriptor, closed on destruction) or, for an in-memory spool,
// a string. A file's written range is immutable, so reads of it need no lock; an in-memory
// segment must be read and written under the spool's lock.
class SegmentFile {
 public:
  // Creates `path` (which must not exist) with the segment header.
  static absl::StatusOr<std::shared_ptr<SegmentFile>> Create(const std::string& path);
  // Opens an existing segment file for recovery; `*size` is its length.
  static absl::StatusOr<std::shared_ptr<SegmentFile>> OpenExisting(const std::string& path, int64_t* size);
  // An in-memory segment, holding the header.
  static std::shared_ptr<SegmentFile> InMemory();

  SegmentFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~SegmentFile();
  SegmentFile(const SegmentFile&) = delete;
  SegmentFile& operator=(const SegmentFile&) = delete;

  // Writes all of `bytes` at `offset`.
  absl::Status Write(int64_t offset, std::string_view bytes);
  // Up to `n` bytes at `offset` (fewer at the end) into `*out`.
  absl::Status ReadAt(int64_t offset, size_t n, std::string* out) const;
  absl::Status Truncate(int64_t size);
  absl::Status Sync() const;
  const std::string& path() const { return path_; }  // empty in memory

 private:
  std::string path_;
  int fd_ = -1;
  std::string bytes_;  // in memory
};

// Reads the records of [offset, end) of a segment in order, in chunks.
class RecordScanner {
 public:
  enum class Result { kRecord, kEnd, kTorn, kIoError };

  RecordScanner(const SegmentFile* file, int64_t offset, int64_t end) : file_(file), pos_(offset), end_(end) {}

  // The next record's payload (valid until the next call), kEnd at `end`, kTorn when what
  // follows is not a whole record with a good checksum, kIoError (see io_error()).
  Result Next(std::string_view* payload);
  // Where the record last returned starts; after kEnd, kTorn or kIoError, where scanning stopped.
  int64_t record_offset() const { return record_offset_; }
  const absl::Status& io_error() const { return io_error_; }

 private:
  // Makes [pos_, pos_ + n) available in buf_; false at the end of the range or on an I/O error.
  bool Ensure(int64_t n);

  const SegmentFile* file_;
  int64_t pos_;
  int64_t end_;
  int64_t record_offset_ = 0;
  std::string buf_;
  int64_t buf_offset_ = 0;  // the file offset of buf_[0]
  absl::Status io_error_;
};

}  // namespace berth::agent::logs
