// LogStore: container output, kept apart from control-plane state (DESIGN.md: bulk data stays out
// of the commit pipeline). Log groups hold log streams; a stream holds events (a timestamp and a
// message), stored in chunks: one chunk per append, its events sorted by timestamp, keyed by the
// chunk's first timestamp and an append sequence. Reads walk a stream's chunks in key order;
// filters scan a group's streams one after another.
//
// Retention: a group with a retention of N days loses each chunk whose newest event is older than
// N days (Expire). A total size cap deletes the oldest appended chunks first, whatever their group.
//
// Durability of an acknowledged Append (docs/logs.md, "Durability"): it survives berthd's crash
// at once, and a power loss once the periodic WAL sync after it has run (RocksDbLogStore syncs
// every second).
//
// Names are checked by the caller (the doors); the store checks existence and ordering only.
// Thread-safe: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "berth/logs/filter_pattern.h"

namespace berth::logs {

struct LogEvent {
  int64_t timestamp_ms = 0;  // when it happened, epoch milliseconds
  std::string message;
  // AppendBatch only: the writer's number for the event (0: none). An event at or below the
  // writer's sequence is already stored and is skipped.
  uint64_t sequence = 0;
};

// An event as stored: with when berthd took it in, and an id unique in its group.
struct StoredEvent {
  int64_t timestamp_ms = 0;
  int64_t ingestion_ms = 0;
  std::string message;
  std::string stream;    // Filter only: the stream it belongs to
  std::string event_id;  // Filter only
};

struct GroupInfo {
  std::string name;
  int64_t creation_ms = 0;
  int32_t retention_days = 0;  // 0: kept until the size cap needs the room
  int64_t stored_bytes = 0;
  std::map<std::string, std::string> tags;
};

struct StreamInfo {
  std::string name;
  int64_t creation_ms = 0;
  int64_t first_event_ms = 0;  // 0 while the stream is empty
  int64_t last_event_ms = 0;
  int64_t last_ingestion_ms = 0;
  int64_t stored_bytes = 0;
};

// A page of a listing: items after `token` (empty: from the start), at most `limit`.
struct Page {
  std::string token;
  int limit = 50;
};

struct ReadRequest {
  std::string group;
  std::string stream;
  std::optional<int64_t> start_ms;  // inclusive
  std::optional<int64_t> end_ms;    // exclusive
  // A token from an earlier ReadResult; empty: from the head (start_from_head) or the tail.
  std::string token;
  bool start_from_head = false;
  int limit = 10000;
};

// GetLogEvents' answer. A forward token resumes after the last event returned (or where the read
// began, when it returned none); a backward token resumes before the first one.
struct ReadResult {
  std::vector<StoredEvent> events;  // oldest first
  std::string next_forward_token;
  std::string next_backward_token;
};

struct FilterRequest {
  std::string group;
  std::vector<std::string> streams;  // empty: every stream (or those with stream_prefix)
  std::string stream_prefix;
  std::optional<int64_t> start_ms;         // inclusive
  std::optional<int64_t> end_ms;           // exclusive
  const FilterPattern* pattern = nullptr;  // null: every event
  std::string token;
  int limit = 10000;
};

struct FilterResult {
  std::vector<StoredEvent> events;  // by stream name, then as the stream holds them
  std::string next_token;           // empty: nothing more
};

struct AppendResult {
  int64_t stored_bytes = 0;
};

// One stream's part of an AppendBatch. A missing stream is created; a missing group only with
// `create_group`.
struct StreamAppend {
  std::string group;
  std::string stream;
  bool create_group = false;
  std::vector<LogEvent> events;
};

struct WriterBatch {
  std::string writer;
  uint64_t sequence = 0;
  std::vector<StreamAppend> streams;
};

struct BatchAppendResult {
  uint64_t applied_sequence = 0;  // the writer's sequence after the call
  bool duplicate = false;         // the batch was at or below the writer's sequence: nothing stored
  int64_t stored_bytes = 0;
  // The parts not stored (index into the request's streams) and why: NotFound for a missing group
  // without create_group, InvalidArgument for a bad name. The rest of the batch is stored.
  std::vector<std::pair<size_t, absl::Status>> rejected;
};

class LogStore {
 public:
  virtual ~LogStore() = default;

  // AlreadyExists, NotFound as their names say.
  virtual absl::Status CreateGroup(const std::string& group, int64_t now_ms,
                                   const std::map<std::string, std::string>& tags) = 0;
  // Deletes the group, its streams and their events.
  virtual absl::Status DeleteGroup(const std::string& group) = 0;
  virtual absl::StatusOr<GroupInfo> GetGroup(const std::string& group) const = 0;
  // Groups whose name starts with `prefix`, by name; `next` is the token of the next page ("" at
  // the end).
  virtual std::vector<GroupInfo> ListGroups(const std::string& prefix, const Page& page, std::string* next) const = 0;
  // 0 days: no retention.
  virtual absl::Status SetRetention(const std::string& group, int32_t days) = 0;
  virtual absl::Status TagGroup(const std::string& group, const std::map<std::string, std::string>& tags) = 0;
  virtual absl::Status UntagGroup(const std::string& group, const std::vector<std::string>& keys) = 0;

  virtual absl::Status CreateStream(const std::string& group, const std::string& stream, int64_t now_ms) = 0;
  virtual absl::Status DeleteStream(const std::string& group, const std::string& stream) = 0;
  // Streams of `group` whose name starts with `prefix`, by name.
  virtual absl::StatusOr<std::vector<StreamInfo>> ListStreams(const std::string& group, const std::string& prefix,
                                                              const Page& page, std::string* next) const = 0;

  // Appends `events` (any order; stored sorted) to the stream as one chunk. With
  // `create_missing`, a missing group and stream are created first (as the awslogs driver's
  // awslogs-create-group and the agent do); otherwise NotFound names which is missing.
  virtual absl::StatusOr<AppendResult> Append(const std::string& group, const std::string& stream,
                                              std::vector<LogEvent> events, int64_t now_ms, bool create_missing) = 0;

  // Appends the batch of a writer that numbers its batches (an agent shipping its spool): every
  // stream's chunk and the writer's new `sequence` in one atomic write. A batch at or below the
  // writer's sequence (sent again after its answer was lost) stores nothing; events numbered at or
  // below it (LogEvent::sequence) are skipped, so a resend that overlaps is stored once.
  absl::StatusOr<BatchAppendResult> AppendBatch(const std::string& writer, uint64_t sequence,
                                                std::vector<StreamAppend> streams, int64_t now_ms) {
    std::vector<WriterBatch> batches(1);
    batches[0] = {.writer = writer, .sequence = sequence, .streams = std::move(streams)};
    auto results = AppendBatches(std::move(batches), now_ms);
    if (!results.ok()) return results.status();
    return std::move(results->front());
  }
  // AppendBatch of several batches (several writers', or one writer's in order) in one atomic write:
  // the group commit of an ingest thread. One result per batch, in order; an error fails them all
  // (nothing stored).
  virtual absl::StatusOr<std::vector<BatchAppendResult>> AppendBatches(std::vector<WriterBatch> batches,
                                                                       int64_t now_ms) = 0;
  // The sequence of the writer's last batch stored; 0 for a writer never seen.
  virtual uint64_t WriterSequence(const std::string& writer) const = 0;

  virtual absl::StatusOr<ReadResult> Read(const ReadRequest& request) const = 0;
  virtual absl::StatusOr<FilterResult> Filter(const FilterRequest& request) const = 0;

  // Deletes what retention and the size cap say must go; returns the bytes deleted. Works a stream
  // (or 1,000 chunks of the size cap) at a time, so appends are not held up for a whole pass.
  virtual int64_t Expire(int64_t now_ms) = 0;

  // Bytes of events stored, all groups.
  virtual int64_t stored_bytes() const = 0;
  // Counts appends (since the store was opened).
  virtual uint64_t appends() const = 0;
};

struct RocksDbLogStoreOptions {
  std::string path;                               // a directory of its own
  int64_t max_bytes = 10LL * 1024 * 1024 * 1024;  // the size cap (stored event bytes)
  int64_t wal_sync_interval_ms = 1000;
};

absl::StatusOr<std::unique_ptr<LogStore>> OpenRocksDbLogStore(const RocksDbLogStoreOptions& options);

}  // namespace berth::logs
