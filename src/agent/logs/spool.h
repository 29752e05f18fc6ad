// LogSpool: the agent's bounded buffer of captured container output, between the capturers that
// read it and the sender that ships it to berthd.
//
// Every event appended gets the next sequence number: consecutive, starting at 1 for a new spool,
// never reused (also across a reopen after every event was acknowledged and deleted). The sender
// reads events after the last sequence it shipped and acknowledges what berthd accepted.
//
// Storage. With a directory, events live in segment files there (`<first sequence, 20 digits>.seg`,
// each a magic header followed by records framed with their length and a CRC-32C), and a state
// file (`state`) holds the acknowledged sequence, the highest sequence ever assigned, the drop count
// and the source positions. Without one, the segments are held in memory with the same framing, so
// both modes have the same sizes, bound and drops; nothing survives the spool.
//
// Bound. A segment is closed once the next record would take it past `segment_bytes`; when the
// spool holds more than `max_bytes` after an append, the oldest segments are deleted until it fits
// (the newest too, when one record alone is past the bound). Unacknowledged events in them are
// counted in dropped(). Appends never wait for the sender.
//
// Durability. Appends reach the files with pwrite(2) before Append returns, so a killed agent
// (SIGKILL included) loses nothing it appended; the files written since the last sync are
// fdatasync'ed from Append at most once per `sync_interval` (and on destruction), outside the
// spool's lock, so a power loss loses at most about that much. At reopen, a torn or corrupt record
// and everything after it in its segment are truncated away: a torn record is one whose Append
// never returned, so nobody saw its sequence; the sequences of whole records lost to corruption of
// the disk may be assigned again unless a state write after them recorded them. The state file is
// replaced atomically and durably (WriteFileDurably: two fsyncs) on Ack, on ForgetSource and when
// segments are deleted, so ack batches rather than single events; segment files are unlinked only
// once the state that covers them (their source positions, the highest sequence) is on disk.
//
// Thread safety: every method may be called from any thread. Capturers Append while the sender
// Reads, Waits and Acks. Reads of segment files happen outside the spool's lock, and Ack's state
// write holds only a lock of its own, so neither holds up an Append.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace berth::agent::logs {

struct SpoolEvent {
  // Opaque to the spool: the capturer's encoding of where the event goes.
  std::string destination;
  int64_t timestamp_ms = 0;
  std::string message;
  // Opaque: the capture source (a container's runtime id). Events with an empty source track no
  // position.
  std::string source;
  // Opaque, monotonic per source: how far into the source this event is (e.g. the container log
  // timestamp in nanoseconds).
  int64_t source_position = 0;
};

struct SpooledEvent {
  uint64_t sequence = 0;
  SpoolEvent event;
};

struct LogSpoolOptions {
  // Where the segments and the state file live (created if missing). Empty: in memory only.
  std::string dir;
  // Bound on the bytes held (records with their framing and the segments' headers).
  int64_t max_bytes = int64_t{256} << 20;
  // A segment is closed when the next record would take it past this size. Lowered to
  // max_bytes / 2 when larger, so that the bound never drops everything for one record.
  // Each segment on disk holds an open file descriptor: keep max_bytes / segment_bytes modest.
  int64_t segment_bytes = int64_t{4} << 20;
  // At most how often Append fdatasyncs the files written since the last sync: zero syncs on
  // every Append, absl::InfiniteDuration() never (then only on destruction).
  absl::Duration sync_interval = absl::Seconds(1);
};

class SegmentFile;  // spool_format.h

class LogSpool {
 public:
  // Opens (or creates) the spool in `options.dir`, recovering from a torn tail, a segment fully
  // acknowledged but not yet deleted, or a missing state file; or an empty in-memory spool.
  // InvalidArgument for bad options; DataLoss for a state file or segment header that is not the
  // spool's; Internal for I/O failures (naming the file).
  static absl::StatusOr<std::unique_ptr<LogSpool>> Open(LogSpoolOptions options);
  ~LogSpool();
  LogSpool(const LogSpool&) = delete;
  LogSpool& operator=(const LogSpool&) = delete;

  // The bytes an event takes in the spool (record and framing): what bytes() and Read's
  // max_bytes count.
  static int64_t SpooledBytes(const SpoolEvent& event);

  // Appends `events` in order, each with the next sequence number; returns the last sequence
  // assigned (last_sequence() when `events` is empty). Then enforces the bound (see above).
  // InvalidArgument for an event over 64 MiB; Internal for an I/O failure, after which a prefix
  // of `events` may have been appended (last_sequence() tells how far).
  absl::StatusOr<uint64_t> Append(std::vector<SpoolEvent> events);

  // The events with sequence > `after`, oldest first: up to `max_events` of them and up to
  // `max_bytes` (SpooledBytes), but at least one when there is any. Events dropped for the bound
  // are skipped, so the first may be past `after + 1`. A segment that cannot be read (I/O error,
  // corruption) is logged and skipped.
  std::vector<SpooledEvent> Read(uint64_t after, size_t max_events, size_t max_bytes) const;

  // Blocks until an event with sequence > `after` was appended, `timeout` passes, or StopWaiting()
  // is called; true when such an event exists.
  bool WaitForEvents(uint64_t after, absl::Duration timeout) const;
  // Makes every WaitForEvents, those waiting now and those to come, return at once (shutdown).
  // Sticky, so that a sender that checks its stop flag and then waits cannot miss it.
  void StopWaiting();

  // The receiver has every event up to `sequence`: persisted (survives reopen), and segments
  // wholly at or below it are deleted. At or below acked(): no-op. InvalidArgument past
  // last_sequence(); Internal when the state file cannot be written (then acked() has moved, and
  // the next Ack, ForgetSource or Append retries the write).
  absl::Status Ack(uint64_t sequence);

  uint64_t acked() const;
  uint64_t last_sequence() const;
  // Unacknowledged events deleted for the bound since the spool was created (persisted).
  uint64_t dropped() const;
  // Bytes held: the segments' sizes.
  int64_t bytes() const;

  // For each source appended and not forgotten since, the highest source_position appended.
  // Survives reopen, also once the segments holding those events are deleted, so that a restarted
  // agent resumes reading each container's output where it stopped.
  std::map<std::string, int64_t> SourcePositions() const;
  // Forgets a source's position (its container is gone for good); persisted. Events of the source
  // appended later record a position again.
  absl::Status ForgetSource(const std::string& source);

 private:
  // A segment: records with consecutive sequences [first, last] (last == first - 1 while empty),
  // `size` bytes including the header, with a sparse index of (sequence, offset) checkpoints.
  struct Segment {
    uint64_t first = 0;
    uint64_t last = 0;
    int64_t size = 0;
    std::vector<std::pair<uint64_t, int64_t>> checkpoints;
    std::shared_ptr<SegmentFile> file;
  };
  // A part of one segment file to read: [offset, end).
  struct ReadRange {
    std::shared_ptr<SegmentFile> file;
    int64_t offset = 0;
    int64_t end = 0;
  };
  struct EncodedBatch;  // spool.cc

  explicit LogSpool(LogSpoolOptions options);
  bool in_memory() const { return options_.dir.empty(); }
  std::string StatePath() const;

  absl::Status Recover() ABSL_LOCKS_EXCLUDED(mu_, state_mu_);
  absl::Status RecoverSegmentLocked(uint64_t first, const std::string& path, uint64_t known_last)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Status AppendLocked(const std::vector<SpoolEvent>& events) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status StartSegmentLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteBatchLocked(EncodedBatch& batch, const std::vector<SpoolEvent>& events)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NotePositionLocked(uint64_t sequence, const SpoolEvent& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EnforceBoundLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RetireFrontLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<std::shared_ptr<SegmentFile>> TakeDueSyncsLocked(bool* sync_dir) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SyncFiles(const std::vector<std::shared_ptr<SegmentFile>>& files, bool sync_dir) const;
  std::string EncodeStateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes the state file when it changed, then unlinks the segment files retired before it.
  absl::Status PersistState() ABSL_LOCKS_EXCLUDED(mu_, state_mu_);

  std::vector<ReadRange> PlanReadLocked(uint64_t after) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static std::vector<SpooledEvent> ReadRanges(const std::vector<ReadRange>& ranges, uint64_t after, size_t max_events,
                                              size_t max_bytes);

  const LogSpoolOptions options_;

  // Serializes state-file writes, so that they land in the order of their snapshots. Taken before
  // mu_, and held while writing, which mu_ never is.
  absl::Mutex state_mu_ ABSL_ACQUIRED_BEFORE(mu_);

  mutable absl::Mutex mu_;
  mutable absl::CondVar appended_;  // signalled on Append and StopWaiting
  std::deque<Segment> segments_ ABSL_GUARDED_BY(mu_);
  // Whether segments_.back() takes appends (false after Open: appends start a new segment).
  bool writable_ ABSL_GUARDED_BY(mu_) = false;
  int64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t acked_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_waiting_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, int64_t> positions_ ABSL_GUARDED_BY(mu_);
  // Sources forgotten, with last_sequence_ when they were: their events at or below it, still in
  // segments, must not bring their positions back at reopen. Pruned once those segments are gone.
  std::map<std::string, uint64_t> forgotten_ ABSL_GUARDED_BY(mu_);
  // Segments taken out of segments_ whose files await unlinking after the next state write.
  std::vector<Segment> retired_ ABSL_GUARDED_BY(mu_);
  bool state_dirty_ ABSL_GUARDED_BY(mu_) = false;
  // Files written, and whether segments were created, since the last sync.
  std::vector<std::shared_ptr<SegmentFile>> unsynced_ ABSL_GUARDED_BY(mu_);
  bool dir_unsynced_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_sync_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::agent::logs
