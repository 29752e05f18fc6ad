#include "src/agent/logs/spool.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <utility>

#include <fmt/format.h>

#include "berth/common/files.h"
#include "berth/common/logging.h"
#include "berth/common/status.h"
#include "berth/common/strings.h"
#include "src/agent/logs/spool_format.h"

namespace berth::agent::logs {
namespace {

// A Read starts scanning at most this far before the record it wants.
constexpr int64_t kCheckpointBytes = 64 << 10;
constexpr std::string_view kStateFileName = "state";
constexpr std::string_view kSegmentSuffix = ".seg";
constexpr size_t kSegmentDigits = 20;

std::string SegmentName(uint64_t first) { return fmt::format("{:020}{}", first, kSegmentSuffix); }

// The first sequence a segment file's name spells, or 0 when the name is not a segment's.
uint64_t ParseSegmentName(const std::string& name) {
  if (name.size() != kSegmentDigits + kSegmentSuffix.size() || !name.ends_with(kSegmentSuffix)) return 0;
  uint64_t first = 0;
  for (size_t i = 0; i < kSegmentDigits; ++i) {
    if (name[i] < '0' || name[i] > '9') return 0;
    if (first > (std::numeric_limits<uint64_t>::max() - 9) / 10) return 0;
    first = first * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  return first;
}

// The whole of `path` into `*out`; false (and OK) when it does not exist.
absl::StatusOr<bool> ReadFileIfExists(const std::string& path, std::string* out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return false;
    return absl::InternalError(StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  out->clear();
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status s = absl::InternalError(StrCat("cannot read ", path, ": ", std::strerror(errno)));
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return true;
}

void UnlinkOrWarn(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    log::Warn("log spool: cannot delete {}: {}", path, std::strerror(errno));
  }
}

}  // namespace

// Records encoded for the active segment and not yet written: events[begin, begin + count) with
// sequences from `first`.
struct LogSpool::EncodedBatch {
  std::string bytes;
  uint64_t first = 0;
  size_t begin = 0;
  size_t count = 0;
  std::vector<std::pair<uint64_t, int64_t>> checkpoints;
};

LogSpool::LogSpool(LogSpoolOptions options) : options_(std::move(options)) {}

LogSpool::~LogSpool() {
  std::vector<std::shared_ptr<SegmentFile>> files;
  bool sync_dir = false;
  {
    absl::MutexLock lock(&mu_);
    files.swap(unsynced_);
    sync_dir = dir_unsynced_;
  }
  SyncFiles(files, sync_dir);
}

absl::StatusOr<std::unique_ptr<LogSpool>> LogSpool::Open(LogSpoolOptions options) {
  if (options.max_bytes <= 0) {
    return absl::InvalidArgumentError(StrCat("log spool max_bytes must be positive, got ", options.max_bytes));
  }
  if (options.segment_bytes <= 0) {
    return absl::InvalidArgumentError(StrCat("log spool segment_bytes must be positive, got ", options.segment_bytes));
  }
  if (options.sync_interval < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("log spool sync_interval must not be negative");
  }
  options.segment_bytes = std::min(options.segment_bytes, std::max<int64_t>(1, options.max_bytes / 2));
  std::unique_ptr<LogSpool> spool(new LogSpool(std::move(options)));
  if (!spool->in_memory()) RETURN_IF_ERROR(spool->Recover());
  return spool;
}

int64_t LogSpool::SpooledBytes(const SpoolEvent& event) { return EventRecordBytes(event); }

std::string LogSpool::StatePath() const { return StrCat(options_.dir, "/", kStateFileName); }

absl::Status LogSpool::Recover() {
  std::error_code ec;
  std::filesystem::create_directories(options_.dir, ec);
  if (ec) return absl::InternalError(StrCat("cannot create log spool directory ", options_.dir, ": ", ec.message()));

  SpoolState state;
  std::string state_bytes;
  ASSIGN_OR_RETURN(const bool has_state, ReadFileIfExists(StatePath(), &state_bytes));
  if (has_state && !DecodeState(state_bytes, &state)) {
    return absl::DataLossError(StrCat("log spool state file ", StatePath(), " is not a whole state file"));
  }

  std::vector<std::pair<uint64_t, std::string>> files;
  for (std::filesystem::directory_iterator it(options_.dir, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    const uint64_t first = ParseSegmentName(it->path().filename().string());
    if (first != 0) files.emplace_back(first, it->path().string());
  }
  if (ec) return absl::InternalError(StrCat("cannot list log spool directory ", options_.dir, ": ", ec.message()));
  std::sort(files.begin(), files.end());

  {
    absl::MutexLock lock(&mu_);
    acked_ = state.acked;
    dropped_ = state.dropped;
    positions_ = std::move(state.positions);
    forgotten_ = std::move(state.forgotten);
    last_sequence_ = std::max(state.last_sequence, state.acked);
    for (size_t i = 0; i < files.size(); ++i) {
      // A segment's records end before the next segment's first: one wholly acknowledged needs no
      // scan (the state written before its deletion began already holds its positions).
      const uint64_t known_last = i + 1 < files.size() ? files[i + 1].first - 1 : std::numeric_limits<uint64_t>::max();
      last_sequence_ = std::max(last_sequence_, files[i].first - 1);
      if (known_last <= acked_) {
        UnlinkOrWarn(files[i].second);
        continue;
      }
      RETURN_IF_ERROR(RecoverSegmentLocked(files[i].first, files[i].second, known_last));
    }
    EnforceBoundLocked();
    state_dirty_ = true;
  }
  return PersistState();
}

absl::Status LogSpool::RecoverSegmentLocked(uint64_t first, const std::string& path, uint64_t known_last) {
  int64_t size = 0;
  ASSIGN_OR_RETURN(std::shared_ptr<SegmentFile> file, SegmentFile::OpenExisting(path, &size));
  std::string header;
  RETURN_IF_ERROR(file->ReadAt(0, kMagicBytes, &header));
  if (header != kSegmentMagic.substr(0, header.size())) {
    return absl::DataLossError(StrCat("log spool file ", path, " is not a segment (bad header)"));
  }
  if (static_cast<int64_t>(header.size()) < kMagicBytes) {  // torn before its first record
    UnlinkOrWarn(path);
    return absl::OkStatus();
  }

  Segment segment{.first = first, .last = first - 1, .size = kMagicBytes, .checkpoints = {}, .file = file};
  RecordScanner scanner(file.get(), kMagicBytes, size);
  std::string_view payload;
  SpooledEvent event;
  for (;;) {
    RecordScanner::Result result = scanner.Next(&payload);
    if (result == RecordScanner::Result::kRecord) {
      if (DecodeEvent(payload, &event) && event.sequence == segment.last + 1 && event.sequence <= known_last) {
        const int64_t offset = scanner.record_offset();
        if (segment.checkpoints.empty() || offset >= segment.checkpoints.back().second + kCheckpointBytes) {
          segment.checkpoints.emplace_back(event.sequence, offset);
        }
        segment.last = event.sequence;
        NotePositionLocked(event.sequence, event.event);
        continue;
      }
      result = RecordScanner::Result::kTorn;
    }
    if (result == RecordScanner::Result::kIoError) return scanner.io_error();
    segment.size = scanner.record_offset();
    if (result == RecordScanner::Result::kTorn) {
      log::Warn("log spool: {} holds {} bytes after its last whole record (sequence {}): truncated", path,
                size - segment.size, segment.last);
      RETURN_IF_ERROR(file->Truncate(segment.size));
    }
    break;
  }

  last_sequence_ = std::max(last_sequence_, segment.last);
  if (segment.last < segment.first || segment.last <= acked_) {
    UnlinkOrWarn(path);
    return absl::OkStatus();
  }
  bytes_ += segment.size;
  segments_.push_back(std::move(segment));
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> LogSpool::Append(std::vector<SpoolEvent> events) {
  for (const SpoolEvent& event : events) {
    if (EventRecordBytes(event) > kMaxRecordBytes) {
      return absl::InvalidArgumentError(
          StrCat("log event of ", EventRecordBytes(event), " bytes is over the spool's limit of ", kMaxRecordBytes));
    }
  }
  absl::Status status;
  uint64_t last = 0;
  bool persist = false;
  std::vector<std::shared_ptr<SegmentFile>> to_sync;
  bool sync_dir = false;
  {
    absl::MutexLock lock(&mu_);
    const uint64_t before = last_sequence_;
    status = AppendLocked(events);
    if (last_sequence_ != before) appended_.SignalAll();
    last = last_sequence_;
    persist = state_dirty_;
    to_sync = TakeDueSyncsLocked(&sync_dir);
  }
  SyncFiles(to_sync, sync_dir);
  if (persist) {
    // The events are in; a failed state write is retried by the next Ack, ForgetSource or drop.
    if (absl::Status s = PersistState(); !s.ok()) log::Warn("log spool: {}", s.ToString());
  }
  RETURN_IF_ERROR(status);
  return last;
}

absl::Status LogSpool::AppendLocked(const std::vector<SpoolEvent>& events) {
  // A batch is non-empty only while segments_.back() is writable: it is written before the
  // segment is closed, and writing it is what may drop the segment.
  EncodedBatch batch;
  for (size_t i = 0; i < events.size(); ++i) {
    const int64_t record = EventRecordBytes(events[i]);
    if (writable_ && !segments_.empty()) {
      const Segment& active = segments_.back();
      const int64_t size = active.size + static_cast<int64_t>(batch.bytes.size());
      const bool has_records = active.last >= active.first || batch.count > 0;
      if (has_records && size + record > options_.segment_bytes) {
        RETURN_IF_ERROR(WriteBatchLocked(batch, events));
        writable_ = false;
      }
    }
    if (!writable_ || segments_.empty()) RETURN_IF_ERROR(StartSegmentLocked());
    const Segment& active = segments_.back();
    if (batch.count == 0) {
      batch.first = last_sequence_ + 1;
      batch.begin = i;
    }
    const uint64_t sequence = batch.first + batch.count;
    const int64_t offset = active.size + static_cast<int64_t>(batch.bytes.size());
    const int64_t last_checkpoint = !batch.checkpoints.empty()    ? batch.checkpoints.back().second
                                    : !active.checkpoints.empty() ? active.checkpoints.back().second
                                                                  : -kCheckpointBytes;
    if (offset >= last_checkpoint + kCheckpointBytes) batch.checkpoints.emplace_back(sequence, offset);
    AppendEventRecord(sequence, events[i], &batch.bytes);
    ++batch.count;
  }
  return WriteBatchLocked(batch, events);
}

absl::Status LogSpool::StartSegmentLocked() {
  const uint64_t first = last_sequence_ + 1;
  std::shared_ptr<SegmentFile> file;
  if (in_memory()) {
    file = SegmentFile::InMemory();
  } else {
    ASSIGN_OR_RETURN(file, SegmentFile::Create(StrCat(options_.dir, "/", SegmentName(first))));
    dir_unsynced_ = true;
  }
  segments_.push_back(
      Segment{.first = first, .last = first - 1, .size = kMagicBytes, .checkpoints = {}, .file = std::move(file)});
  bytes_ += kMagicBytes;
  writable_ = true;
  return absl::OkStatus();
}

absl::Status LogSpool::WriteBatchLocked(EncodedBatch& batch, const std::vector<SpoolEvent>& events) {
  if (batch.count == 0) return absl::OkStatus();
  Segment& active = segments_.back();
  if (absl::Status s = active.file->Write(active.size, batch.bytes); !s.ok()) {
    // Best effort: what did get written would otherwise be read back at reopen.
    (void)active.file->Truncate(active.size);
    batch = EncodedBatch{};
    return s;
  }
  active.size += static_cast<int64_t>(batch.bytes.size());
  bytes_ += static_cast<int64_t>(batch.bytes.size());
  active.last = batch.first + batch.count - 1;
  last_sequence_ = active.last;
  active.checkpoints.insert(active.checkpoints.end(), batch.checkpoints.begin(), batch.checkpoints.end());
  for (size_t k = 0; k < batch.count; ++k) NotePositionLocked(batch.first + k, events[batch.begin + k]);
  if (!in_memory() && (unsynced_.empty() || unsynced_.back() != active.file)) unsynced_.push_back(active.file);
  batch = EncodedBatch{};
  EnforceBoundLocked();
  return absl::OkStatus();
}

void LogSpool::NotePositionLocked(uint64_t sequence, const SpoolEvent& event) {
  if (event.source.empty()) return;
  if (auto f = forgotten_.find(event.source); f != forgotten_.end() && sequence <= f->second) return;
  auto [it, inserted] = positions_.try_emplace(event.source, event.source_position);
  if (!inserted) it->second = std::max(it->second, event.source_position);
}

void LogSpool::EnforceBoundLocked() {
  while (bytes_ > options_.max_bytes && !segments_.empty()) {
    const Segment& oldest = segments_.front();
    if (oldest.last > acked_) dropped_ += oldest.last - std::max(acked_, oldest.first - 1);
    RetireFrontLocked();
  }
}

void LogSpool::RetireFrontLocked() {
  bytes_ -= segments_.front().size;
  std::erase(unsynced_, segments_.front().file);  // to be deleted: no use syncing it
  if (!in_memory()) retired_.push_back(std::move(segments_.front()));
  segments_.pop_front();
  if (segments_.empty()) writable_ = false;
  state_dirty_ = true;
}

std::vector<std::shared_ptr<SegmentFile>> LogSpool::TakeDueSyncsLocked(bool* sync_dir) {
  if (unsynced_.empty() && !dir_unsynced_) return {};
  if (options_.sync_interval == absl::InfiniteDuration()) return {};
  const absl::Time now = absl::Now();
  if (now - last_sync_ < options_.sync_interval) return {};
  last_sync_ = now;
  *sync_dir = dir_unsynced_;
  dir_unsynced_ = false;
  std::vector<std::shared_ptr<SegmentFile>> files;
  files.swap(unsynced_);
  return files;
}

void LogSpool::SyncFiles(const std::vector<std::shared_ptr<SegmentFile>>& files, bool sync_dir) const {
  for (const auto& file : files) {
    if (absl::Status s = file->Sync(); !s.ok()) log::Warn("log spool: {}", s.ToString());
  }
  if (!sync_dir) return;
  const int fd = ::open(options_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) log::Warn("log spool: cannot sync {}: {}", options_.dir, std::strerror(errno));
  if (fd >= 0) ::close(fd);
}

std::string LogSpool::EncodeStateLocked() {
  // A forgotten source's events at or below its sequence can only come back from a segment that
  // still exists (or awaits unlinking); past the oldest of them, the entry has done its work.
  uint64_t oldest = segments_.empty() ? last_sequence_ + 1 : segments_.front().first;
  for (const Segment& segment : retired_) oldest = std::min(oldest, segment.first);
  std::erase_if(forgotten_, [&](const auto& entry) { return entry.second < oldest; });
  return EncodeState({.acked = acked_,
                      .last_sequence = last_sequence_,
                      .dropped = dropped_,
                      .positions = positions_,
                      .forgotten = forgotten_});
}

absl::Status LogSpool::PersistState() {
  if (in_memory()) return absl::OkStatus();
  absl::MutexLock state_lock(&state_mu_);
  std::vector<Segment> retired;
  std::string state;
  {
    absl::MutexLock lock(&mu_);
    if (!state_dirty_) return absl::OkStatus();
    state = EncodeStateLocked();
    retired.swap(retired_);
    state_dirty_ = false;
  }
  if (absl::Status s = WriteFileDurably(StatePath(), state, 0640); !s.ok()) {
    absl::MutexLock lock(&mu_);
    for (Segment& segment : retired) retired_.push_back(std::move(segment));
    state_dirty_ = true;
    return s;
  }
  for (const Segment& segment : retired) UnlinkOrWarn(segment.file->path());
  return absl::OkStatus();
}

std::vector<SpooledEvent> LogSpool::Read(uint64_t after, size_t max_events, size_t max_bytes) const {
  if (max_events == 0) return {};
  std::vector<ReadRange> ranges;
  {
    absl::MutexLock lock(&mu_);
    ranges = PlanReadLocked(after);
    // In-memory segments change under the lock; files only grow past the ranges planned.
    if (in_memory()) return ReadRanges(ranges, after, max_events, max_bytes);
  }
  return ReadRanges(ranges, after, max_events, max_bytes);
}

std::vector<LogSpool::ReadRange> LogSpool::PlanReadLocked(uint64_t after) const {
  std::vector<ReadRange> ranges;
  auto it =
      std::partition_point(segments_.begin(), segments_.end(), [after](const Segment& s) { return s.last <= after; });
  for (; it != segments_.end(); ++it) {
    if (it->last < it->first) continue;
    int64_t offset = kMagicBytes;
    if (after >= it->first) {
      // The last checkpoint at or before the record wanted (the first record is always one).
      auto cp = std::upper_bound(it->checkpoints.begin(), it->checkpoints.end(), after + 1,
                                 [](uint64_t sequence, const auto& c) { return sequence < c.first; });
      offset = std::prev(cp)->second;
    }
    ranges.push_back({.file = it->file, .offset = offset, .end = it->size});
  }
  return ranges;
}

std::vector<SpooledEvent> LogSpool::ReadRanges(const std::vector<ReadRange>& ranges, uint64_t after, size_t max_events,
                                               size_t max_bytes) {
  std::vector<SpooledEvent> out;
  size_t bytes = 0;
  for (const ReadRange& range : ranges) {
    RecordScanner scanner(range.file.get(), range.offset, range.end);
    std::string_view payload;
    for (;;) {
      const RecordScanner::Result result = scanner.Next(&payload);
      if (result == RecordScanner::Result::kEnd) break;
      SpooledEvent event;
      if (result != RecordScanner::Result::kRecord || !DecodeEvent(payload, &event)) {
        log::Error("log spool: cannot read {} at offset {}, skipping the rest of it: {}",
                   range.file->path().empty() ? "an in-memory segment" : range.file->path(), scanner.record_offset(),
                   result == RecordScanner::Result::kIoError ? scanner.io_error().ToString() : "corrupt record");
        break;
      }
      if (event.sequence <= after) continue;
      const size_t size = static_cast<size_t>(kFrameBytes) + payload.size();
      if (!out.empty() && bytes + size > max_bytes) return out;
      bytes += size;
      out.push_back(std::move(event));
      if (out.size() >= max_events) return out;
    }
  }
  return out;
}

bool LogSpool::WaitForEvents(uint64_t after, absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  while (last_sequence_ <= after && !stop_waiting_) {
    if (appended_.WaitWithDeadline(&mu_, deadline)) break;
  }
  return last_sequence_ > after;
}

void LogSpool::StopWaiting() {
  absl::MutexLock lock(&mu_);
  stop_waiting_ = true;
  appended_.SignalAll();
}

absl::Status LogSpool::Ack(uint64_t sequence) {
  {
    absl::MutexLock lock(&mu_);
    if (sequence <= acked_) return absl::OkStatus();
    if (sequence > last_sequence_) {
      return absl::InvalidArgumentError(
          StrCat("log spool ack ", sequence, " is past the last sequence appended, ", last_sequence_));
    }
    acked_ = sequence;
    while (!segments_.empty() && segments_.front().last >= segments_.front().first &&
           segments_.front().last <= acked_) {
      RetireFrontLocked();
    }
    state_dirty_ = true;
  }
  return PersistState();
}

absl::Status LogSpool::ForgetSource(const std::string& source) {
  {
    absl::MutexLock lock(&mu_);
    if (positions_.erase(source) == 0) return absl::OkStatus();
    if (!in_memory()) forgotten_[source] = last_sequence_;
    state_dirty_ = true;
  }
  return PersistState();
}

uint64_t LogSpool::acked() const {
  absl::MutexLock lock(&mu_);
  return acked_;
}

uint64_t LogSpool::last_sequence() const {
  absl::MutexLock lock(&mu_);
  return last_sequence_;
}

uint64_t LogSpool::dropped() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

int64_t LogSpool::bytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

std::map<std::string, int64_t> LogSpool::SourcePositions() const {
  absl::MutexLock lock(&mu_);
  return positions_;
}

}  // namespace berth::agent::logs
