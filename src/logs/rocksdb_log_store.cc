// RocksDbLogStore: the log store on a RocksDB database of its own (not berthd's state store), with
// four column families:
//   log_groups   group                                 -> LogGroupRecord
//   log_streams  group \0 stream                       -> LogStreamRecord
//   log_chunks   group \0 stream \0 be64(first ms) be64(seq) -> LogChunk
//   log_age      be64(seq)                             -> LogChunkRef (for the size cap)
// and in the default family `next_seq` and, per AppendBatch writer, `writer/<name>` -> its sequence. Writes are not
// synced one by one: a thread syncs the WAL every wal_sync_interval_ms (log_store.h, "Durability").
#include <algorithm>
#include <atomic>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "berth/common/status.h"
#include "berth/common/strings.h"
#include "berth/logs/log_store.h"
#include "berth/v1/log_records.pb.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/table.h"
#include "rocksdb/utilities/options_util.h"

namespace berth::logs {
namespace {

constexpr size_t kSuffixBytes = 16;     // be64(first ms) be64(seq)
constexpr int64_t kEventOverhead = 26;  // bytes counted per event beside its message, as CloudWatch counts
constexpr char kNextSeqKey[] = "next_seq";
constexpr char kWriterPrefix[] = "writer/";  // + writer -> be64(its last batch's sequence)

std::string Be64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) out[static_cast<size_t>(i)] = static_cast<char>(v & 0xff);
  return out;
}

uint64_t ReadBe64(std::string_view s) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < s.size(); ++i) v = (v << 8) | static_cast<unsigned char>(s[i]);
  return v;
}

std::string WriterKey(const std::string& writer) { return StrCat(kWriterPrefix, writer); }

std::string StreamKey(const std::string& group, const std::string& stream) {
  return StrCat(group, std::string(1, '\0'), stream);
}
std::string ChunkPrefix(const std::string& group, const std::string& stream) {
  return StrCat(StreamKey(group, stream), std::string(1, '\0'));
}
// The smallest key after every key that starts with `prefix`.
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xff) prefix.pop_back();
  if (!prefix.empty()) prefix.back() = static_cast<char>(static_cast<unsigned char>(prefix.back()) + 1);
  return prefix;
}

absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  return absl::UnavailableError(StrCat("log store: ", what, ": ", s.ToString()));
}

absl::Status GroupNotFound() { return absl::NotFoundError("The specified log group does not exist."); }
absl::Status StreamNotFound() { return absl::NotFoundError("The specified log stream does not exist."); }

// A position in a stream: before event `index` of the chunk whose key ends in `suffix`; an empty
// suffix is the stream's start.
struct Position {
  std::string suffix;
  uint32_t index = 0;
};

std::string EncodePosition(const Position& p) { return StrCat(absl::BytesToHexString(p.suffix), "/", p.index); }

absl::StatusOr<Position> DecodePosition(const std::string& text, std::string_view field) {
  std::vector<std::string> parts = absl::StrSplit(text, '/');
  Position p;
  if (parts.size() != 2 || (parts[0].size() != 0 && parts[0].size() != 2 * kSuffixBytes) ||
      !absl::SimpleAtoi(parts[1], &p.index)) {
    return absl::InvalidArgumentError(StrCat(field, ": not a token this log store issued"));
  }
  p.suffix = absl::HexStringToBytes(parts[0]);
  return p;
}

// A chunk read back: its events' timestamps and messages (views into `record`).
struct Chunk {
  v1::LogChunk record;
  std::vector<int64_t> ts;
  std::vector<std::string_view> messages;

  bool Parse(const rocksdb::Slice& value) {
    if (!record.ParseFromArray(value.data(), static_cast<int>(value.size()))) return false;
    const int n = record.lengths_size();
    if (record.delta_ms_size() != n) return false;
    ts.resize(static_cast<size_t>(n));
    messages.resize(static_cast<size_t>(n));
    int64_t t = record.first_ms();
    size_t offset = 0;
    const std::string& buffer = record.messages();
    for (int i = 0; i < n; ++i) {
      t += record.delta_ms(i);
      ts[static_cast<size_t>(i)] = t;
      const size_t len = record.lengths(i);
      if (offset + len > buffer.size()) return false;
      messages[static_cast<size_t>(i)] = std::string_view(buffer).substr(offset, len);
      offset += len;
    }
    return true;
  }
};

// An iterator over the chunks whose keys start with `prefix`, with the bounds it reads within.
class ChunkIterator {
 public:
  ChunkIterator(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* chunks, const std::string& prefix)
      : lower_(prefix), upper_(PrefixEnd(prefix)), lower_slice_(lower_), upper_slice_(upper_) {
    rocksdb::ReadOptions ro;
    ro.iterate_lower_bound = &lower_slice_;
    ro.iterate_upper_bound = &upper_slice_;
    it_.reset(db->NewIterator(ro, chunks));
  }
  rocksdb::Iterator* get() const { return it_.get(); }

 private:
  const std::string lower_, upper_;
  const rocksdb::Slice lower_slice_, upper_slice_;
  std::unique_ptr<rocksdb::Iterator> it_;
};

class RocksDbLogStore final : public LogStore {
 public:
  RocksDbLogStore(RocksDbLogStoreOptions options, std::unique_ptr<rocksdb::DB> db,
                  std::vector<rocksdb::ColumnFamilyHandle*> handles)
      : options_(std::move(options)), db_(std::move(db)), handles_(std::move(handles)) {}

  ~RocksDbLogStore() override {
    stop_.Notify();
    if (syncer_.joinable()) syncer_.join();
    (void)db_->SyncWAL();
    for (auto* h : handles_) (void)db_->DestroyColumnFamilyHandle(h);
  }

  absl::Status Load();
  void StartSyncer() {
    syncer_ = std::thread([this] {
      // Only when something was appended since the last sync: an idle log store adds no fsync
      // beside the state store's.
      uint64_t synced = writes_.load();
      while (!stop_.WaitForNotificationWithTimeout(absl::Milliseconds(options_.wal_sync_interval_ms))) {
        const uint64_t now = writes_.load();
        if (now == synced) continue;
        (void)db_->SyncWAL();
        synced = now;
      }
    });
  }

  absl::Status CreateGroup(const std::string& group, int64_t now_ms,
                           const std::map<std::string, std::string>& tags) override;
  absl::Status DeleteGroup(const std::string& group) override;
  absl::StatusOr<GroupInfo> GetGroup(const std::string& group) const override;
  std::vector<GroupInfo> ListGroups(const std::string& prefix, const Page& page, std::string* next) const override;
  absl::Status SetRetention(const std::string& group, int32_t days) override;
  absl::Status TagGroup(const std::string& group, const std::map<std::string, std::string>& tags) override;
  absl::Status UntagGroup(const std::string& group, const std::vector<std::string>& keys) override;
  absl::Status CreateStream(const std::string& group, const std::string& stream, int64_t now_ms) override;
  absl::Status DeleteStream(const std::string& group, const std::string& stream) override;
  absl::StatusOr<std::vector<StreamInfo>> ListStreams(const std::string& group, const std::string& prefix,
                                                      const Page& page, std::string* next) const override;
  absl::StatusOr<AppendResult> Append(const std::string& group, const std::string& stream, std::vector<LogEvent> events,
                                      int64_t now_ms, bool create_missing) override;
  absl::StatusOr<std::vector<BatchAppendResult>> AppendBatches(std::vector<WriterBatch> batches,
                                                               int64_t now_ms) override;
  uint64_t WriterSequence(const std::string& writer) const override;
  absl::StatusOr<ReadResult> Read(const ReadRequest& request) const override;
  absl::StatusOr<FilterResult> Filter(const FilterRequest& request) const override;
  int64_t Expire(int64_t now_ms) override;

  int64_t stored_bytes() const override {
    absl::ReaderMutexLock lock(&mu_);
    return total_bytes_;
  }
  uint64_t appends() const override {
    absl::ReaderMutexLock lock(&mu_);
    return appends_;
  }

 private:
  enum Family { kGroups = 1, kStreams = 2, kChunks = 3, kAge = 4 };

  struct GroupState {
    v1::LogGroupRecord record;
    int64_t stored_bytes = 0;
  };

  // Appends staged into one batch, applied in memory once it is committed (mu_ held throughout).
  struct Staging {
    rocksdb::WriteBatch batch;
    std::map<std::string, v1::LogGroupRecord> new_groups;
    std::map<std::string, v1::LogStreamRecord> streams;  // by StreamKey, as they will be
    std::map<std::string, int64_t> group_bytes;
    std::map<std::string, uint64_t> writers;
    int64_t bytes = 0;
    uint64_t next_seq = 1;
    uint64_t appends = 0;
  };
  // Adds one stream's append to `st`: its chunk, and its group and stream when missing and allowed.
  absl::Status Stage(Staging& st, const std::string& group, const std::string& stream, std::vector<LogEvent> events,
                     int64_t now_ms, bool create_group, bool create_stream) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CommitStaged(Staging& st) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  rocksdb::ColumnFamilyHandle* cf(Family f) const { return handles_[static_cast<size_t>(f)]; }
  absl::Status WriteGroup(rocksdb::WriteBatch& batch, const v1::LogGroupRecord& record) {
    return FromRocks(batch.Put(cf(kGroups), record.name(), record.SerializeAsString()), "put group");
  }
  absl::Status Commit(rocksdb::WriteBatch& batch) {
    writes_.fetch_add(1);
    return FromRocks(db_->Write(rocksdb::WriteOptions(), &batch), "write");
  }
  GroupInfo InfoOf(const GroupState& g) const;
  static StreamInfo InfoOf(const v1::LogStreamRecord& r);
  // Adds to `batch` the deletion of the streams and chunks of keys `[begin, end)`, commits it, and
  // forgets those streams and their bytes in memory (mu_ held). Their age entries stay and are
  // dropped when the size cap reaches them.
  absl::Status DropRange(rocksdb::WriteBatch& batch, const std::string& begin, const std::string& end);
  // Deletes one chunk (mu_ held); returns its bytes, 0 if it was gone.
  int64_t DropChunk(rocksdb::WriteBatch& batch, const std::string& key);
  // Reads forward from `from`; appends to `out` (at most `limit` in all) what passes `keep`.
  // Returns the position after the last event taken (or `from` if none).
  template <typename Keep>
  absl::StatusOr<Position> ScanForward(const std::string& prefix, const Position& from, std::optional<int64_t> start_ms,
                                       std::optional<int64_t> end_ms, const FilterPattern* pattern, size_t limit,
                                       Keep keep) const;
  absl::StatusOr<ReadResult> ReadBackward(const std::string& prefix, const Position& before,
                                          const ReadRequest& request) const;

  const RocksDbLogStoreOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // default, groups, streams, chunks, age
  absl::Notification stop_;
  std::thread syncer_;
  std::atomic<uint64_t> writes_{0};  // batches written, for the syncer

  mutable absl::Mutex mu_;  // writers hold it exclusively; readers of the maps shared
  std::map<std::string, GroupState> groups_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, v1::LogStreamRecord> streams_ ABSL_GUARDED_BY(mu_);  // by StreamKey
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t total_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t appends_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, uint64_t> writers_ ABSL_GUARDED_BY(mu_);  // AppendBatch's writers and their sequences
};

absl::Status RocksDbLogStore::Load() {
  absl::MutexLock lock(&mu_);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kGroups)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    GroupState g;
    if (!g.record.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError(StrCat("log store: group record ", it->key().ToString(), " does not parse"));
    }
    groups_[g.record.name()] = std::move(g);
  }
  it.reset(db_->NewIterator(rocksdb::ReadOptions(), cf(kStreams)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    v1::LogStreamRecord r;
    if (!r.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError(StrCat("log store: stream record ", it->key().ToString(), " does not parse"));
    }
    const std::string key = it->key().ToString();
    auto group = groups_.find(key.substr(0, key.find('\0')));
    if (group == groups_.end()) continue;  // a stream without its group: deletions are one batch, so none is written
    group->second.stored_bytes += r.stored_bytes();
    total_bytes_ += r.stored_bytes();
    streams_[key] = std::move(r);
  }
  std::string next;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), handles_[0], kNextSeqKey, &next);
  if (s.ok()) next_seq_ = ReadBe64(next);
  if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "read next_seq");
  it.reset(db_->NewIterator(rocksdb::ReadOptions(), handles_[0]));
  for (it->Seek(kWriterPrefix); it->Valid() && it->key().starts_with(kWriterPrefix); it->Next()) {
    writers_[it->key().ToString().substr(sizeof(kWriterPrefix) - 1)] = ReadBe64(it->value().ToStringView());
  }
  return absl::OkStatus();
}

GroupInfo RocksDbLogStore::InfoOf(const GroupState& g) const {
  GroupInfo info{.name = g.record.name(),
                 .creation_ms = g.record.creation_ms(),
                 .retention_days = g.record.retention_days(),
                 .stored_bytes = g.stored_bytes,
                 .tags = {g.record.tags().begin(), g.record.tags().end()}};
  return info;
}

StreamInfo RocksDbLogStore::InfoOf(const v1::LogStreamRecord& r) {
  return StreamInfo{.name = r.name(),
                    .creation_ms = r.creation_ms(),
                    .first_event_ms = r.first_event_ms(),
                    .last_event_ms = r.last_event_ms(),
                    .last_ingestion_ms = r.last_ingestion_ms(),
                    .stored_bytes = r.stored_bytes()};
}

absl::Status RocksDbLogStore::CreateGroup(const std::string& group, int64_t now_ms,
                                          const std::map<std::string, std::string>& tags) {
  absl::MutexLock lock(&mu_);
  if (groups_.contains(group)) return absl::AlreadyExistsError("The specified log group already exists");
  GroupState g;
  g.record.set_name(group);
  g.record.set_creation_ms(now_ms);
  g.record.mutable_tags()->insert(tags.begin(), tags.end());
  rocksdb::WriteBatch batch;
  RETURN_IF_ERROR(WriteGroup(batch, g.record));
  RETURN_IF_ERROR(Commit(batch));
  groups_[group] = std::move(g);
  return absl::OkStatus();
}

absl::Status RocksDbLogStore::DropRange(rocksdb::WriteBatch& batch, const std::string& begin, const std::string& end) {
  RETURN_IF_ERROR(FromRocks(batch.DeleteRange(cf(kChunks), begin, end), "delete chunks"));
  RETURN_IF_ERROR(FromRocks(batch.DeleteRange(cf(kStreams), begin, end), "delete streams"));
  RETURN_IF_ERROR(Commit(batch));
  for (auto it = streams_.lower_bound(begin); it != streams_.end() && it->first < end;) {
    total_bytes_ -= it->second.stored_bytes();
    const std::string group = it->first.substr(0, it->first.find('\0'));
    if (auto g = groups_.find(group); g != groups_.end()) g->second.stored_bytes -= it->second.stored_bytes();
    it = streams_.erase(it);
  }
  return absl::OkStatus();
}

absl::Status RocksDbLogStore::DeleteGroup(const std::string& group) {
  absl::MutexLock lock(&mu_);
  if (!groups_.contains(group)) return GroupNotFound();
  // The group's record, streams and chunks go in one batch: after a crash either all of it is
  // there or none.
  rocksdb::WriteBatch batch;
  RETURN_IF_ERROR(FromRocks(batch.Delete(cf(kGroups), group), "delete group"));
  RETURN_IF_ERROR(DropRange(batch, StrCat(group, std::string(1, '\0')), StrCat(group, std::string(1, '\1'))));
  groups_.erase(group);
  return absl::OkStatus();
}

absl::StatusOr<GroupInfo> RocksDbLogStore::GetGroup(const std::string& group) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = groups_.find(group);
  if (it == groups_.end()) return GroupNotFound();
  return InfoOf(it->second);
}

std::vector<GroupInfo> RocksDbLogStore::ListGroups(const std::string& prefix, const Page& page,
                                                   std::string* next) const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<GroupInfo> out;
  next->clear();
  auto it = page.token.empty() ? groups_.lower_bound(prefix) : groups_.upper_bound(page.token);
  for (; it != groups_.end() && it->first.starts_with(prefix); ++it) {
    if (static_cast<int>(out.size()) == page.limit) {
      *next = out.back().name;
      break;
    }
    out.push_back(InfoOf(it->second));
  }
  return out;
}

absl::Status RocksDbLogStore::SetRetention(const std::string& group, int32_t days) {
  absl::MutexLock lock(&mu_);
  auto it = groups_.find(group);
  if (it == groups_.end()) return GroupNotFound();
  v1::LogGroupRecord record = it->second.record;
  record.set_retention_days(days);
  rocksdb::WriteBatch batch;
  RETURN_IF_ERROR(WriteGroup(batch, record));
  RETURN_IF_ERROR(Commit(batch));
  it->second.record = std::move(record);
  return absl::OkStatus();
}

absl::Status RocksDbLogStore::TagGroup(const std::string& group, const std::map<std::string, std::string>& tags) {
  absl::MutexLock lock(&mu_);
  auto it = groups_.find(group);
  if (it == groups_.end()) return GroupNotFound();
  v1::LogGroupRecord record = it->second.record;
  for (const auto& [k, v] : tags) (*record.mutable_tags())[k] = v;
  rocksdb::WriteBatch batch;
  RETURN_IF_ERROR(WriteGroup(batch, record));
  RETURN_IF_ERROR(Commit(batch));
  it->second.record = std::move(record);
  return absl::OkStatus();
}

absl::Status RocksDbLogStore::UntagGroup(const std::string& group, const std::vector<std::string>& keys) {
  absl::MutexLock lock(&mu_);
  auto it = groups_.find(group);
  if (it == groups_.end()) return GroupNotFound();
  v1::LogGroupRecord record = it->second.record;
  for (const auto& k : keys) record.mutable_tags()->erase(k);
  rocksdb::WriteBatch batch;
  RETURN_IF_ERROR(WriteGroup(batch, record));
  RETURN_IF_ERROR(Commit(batch));
  it->second.record = std::move(record);
  return absl::OkStatus();
}

absl::Status RocksDbLogStore::CreateStream(const std::string& group, const std::string& stream, int64_t now_ms) {
  absl::MutexLock lock(&mu_);
  if (!groups_.contains(group)) return GroupNotFound();
  const std::string key = StreamKey(group, stream);
  if (streams_.contains(key)) return absl::AlreadyExistsError("The specified log stream already exists");
  v1::LogStreamRecord r;
  r.set_name(stream);
  r.set_creation_ms(now_ms);
  rocksdb::WriteBatch batch;
  RETURN_IF_ERROR(FromRocks(batch.Put(cf(kStreams), key, r.SerializeAsString()), "put stream"));
  RETURN_IF_ERROR(Commit(batch));
  streams_[key] = std::move(r);
  return absl::OkStatus();
}

absl::Status RocksDbLogStore::DeleteStream(const std::string& group, const std::string& stream) {
  absl::MutexLock lock(&mu_);
  if (!groups_.contains(group)) return GroupNotFound();
  const std::string key = StreamKey(group, stream);
  if (!streams_.contains(key)) return StreamNotFound();
  rocksdb::WriteBatch batch;
  return DropRange(batch, key, PrefixEnd(ChunkPrefix(group, stream)));
}

absl::StatusOr<std::vector<StreamInfo>> RocksDbLogStore::ListStreams(const std::string& group,
                                                                     const std::string& prefix, const Page& page,
                                                                     std::string* next) const {
  absl::ReaderMutexLock lock(&mu_);
  if (!groups_.contains(group)) return GroupNotFound();
  next->clear();
  std::vector<StreamInfo> out;
  const std::string start = StreamKey(group, prefix);
  auto it = page.token.empty() ? streams_.lower_bound(start) : streams_.upper_bound(StreamKey(group, page.token));
  for (; it != streams_.end() && it->first.starts_with(start); ++it) {
    if (static_cast<int>(out.size()) == page.limit) {
      *next = out.back().name;
      break;
    }
    out.push_back(InfoOf(it->second));
  }
  return out;
}

// The chunk of one append: `events` sorted by timestamp; `bytes` counts them as CloudWatch does.
v1::LogChunk BuildChunk(std::vector<LogEvent>& events, int64_t now_ms, int64_t* bytes) {
  std::stable_sort(events.begin(), events.end(),
                   [](const LogEvent& a, const LogEvent& b) { return a.timestamp_ms < b.timestamp_ms; });
  v1::LogChunk chunk;
  *bytes = 0;
  int64_t prev = events.empty() ? 0 : events.front().timestamp_ms;
  chunk.set_first_ms(prev);
  chunk.set_ingestion_ms(now_ms);
  std::string* buffer = chunk.mutable_messages();
  for (const LogEvent& e : events) {
    chunk.add_delta_ms(e.timestamp_ms - prev);
    prev = e.timestamp_ms;
    chunk.add_lengths(static_cast<uint32_t>(e.message.size()));
    buffer->append(e.message);
    *bytes += static_cast<int64_t>(e.message.size()) + kEventOverhead;
  }
  chunk.set_last_ms(prev);
  return chunk;
}

absl::Status CheckNames(const std::string& group, const std::string& stream) {
  if (group.find('\0') != std::string::npos || stream.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("log group and stream names may not contain NUL");
  }
  return absl::OkStatus();
}

absl::Status RocksDbLogStore::Stage(Staging& st, const std::string& group, const std::string& stream,
                                    std::vector<LogEvent> events, int64_t now_ms, bool create_group,
                                    bool create_stream) {
  RETURN_IF_ERROR(CheckNames(group, stream));
  if (!groups_.contains(group) && !st.new_groups.contains(group)) {
    if (!create_group) return GroupNotFound();
    v1::LogGroupRecord record;
    record.set_name(group);
    record.set_creation_ms(now_ms);
    RETURN_IF_ERROR(WriteGroup(st.batch, record));
    st.new_groups[group] = std::move(record);
  }
  const std::string stream_key = StreamKey(group, stream);
  auto staged = st.streams.find(stream_key);
  if (staged == st.streams.end()) {
    v1::LogStreamRecord record;
    if (auto s = streams_.find(stream_key); s != streams_.end()) {
      record = s->second;
    } else if (!create_stream) {
      return StreamNotFound();
    } else {
      record.set_name(stream);
      record.set_creation_ms(now_ms);
    }
    staged = st.streams.emplace(stream_key, std::move(record)).first;
  }
  v1::LogStreamRecord& record = staged->second;
  if (!events.empty()) {
    int64_t bytes = 0;
    v1::LogChunk chunk = BuildChunk(events, now_ms, &bytes);
    const uint64_t seq = st.next_seq++;
    const std::string key = StrCat(ChunkPrefix(group, stream),
                                   Be64(static_cast<uint64_t>(std::max<int64_t>(0, chunk.first_ms()))), Be64(seq));
    v1::LogChunkRef ref;
    ref.set_chunk_key(key);
    ref.set_bytes(bytes);
    RETURN_IF_ERROR(FromRocks(st.batch.Put(cf(kChunks), key, chunk.SerializeAsString()), "put chunk"));
    RETURN_IF_ERROR(FromRocks(st.batch.Put(cf(kAge), Be64(seq), ref.SerializeAsString()), "put age"));
    if (record.first_event_ms() == 0 || chunk.first_ms() < record.first_event_ms()) {
      record.set_first_event_ms(chunk.first_ms());
    }
    record.set_last_event_ms(std::max(record.last_event_ms(), chunk.last_ms()));
    record.set_last_ingestion_ms(now_ms);
    record.set_stored_bytes(record.stored_bytes() + bytes);
    st.group_bytes[group] += bytes;
    st.bytes += bytes;
    ++st.appends;
  }
  return absl::OkStatus();
}

absl::Status RocksDbLogStore::CommitStaged(Staging& st) {
  for (const auto& [key, record] : st.streams) {
    RETURN_IF_ERROR(FromRocks(st.batch.Put(cf(kStreams), key, record.SerializeAsString()), "put stream"));
  }
  RETURN_IF_ERROR(FromRocks(st.batch.Put(handles_[0], kNextSeqKey, Be64(st.next_seq)), "put next_seq"));
  for (const auto& [writer, sequence] : st.writers) {
    RETURN_IF_ERROR(FromRocks(st.batch.Put(handles_[0], WriterKey(writer), Be64(sequence)), "put writer"));
  }
  RETURN_IF_ERROR(Commit(st.batch));
  for (auto& [name, record] : st.new_groups) groups_[name].record = std::move(record);
  for (auto& [key, record] : st.streams) streams_[key] = std::move(record);
  for (const auto& [group, bytes] : st.group_bytes) groups_[group].stored_bytes += bytes;
  for (const auto& [writer, sequence] : st.writers) writers_[writer] = sequence;
  next_seq_ = st.next_seq;
  total_bytes_ += st.bytes;
  appends_ += st.appends;
  return absl::OkStatus();
}

absl::StatusOr<AppendResult> RocksDbLogStore::Append(const std::string& group, const std::string& stream,
                                                     std::vector<LogEvent> events, int64_t now_ms,
                                                     bool create_missing) {
  absl::MutexLock lock(&mu_);
  Staging st;
  st.next_seq = next_seq_;
  RETURN_IF_ERROR(Stage(st, group, stream, std::move(events), now_ms, create_missing, create_missing));
  const int64_t bytes = st.bytes;
  RETURN_IF_ERROR(CommitStaged(st));
  return AppendResult{.stored_bytes = bytes};
}

absl::StatusOr<std::vector<BatchAppendResult>> RocksDbLogStore::AppendBatches(std::vector<WriterBatch> batches,
                                                                              int64_t now_ms) {
  absl::MutexLock lock(&mu_);
  std::vector<BatchAppendResult> results(batches.size());
  Staging st;
  st.next_seq = next_seq_;
  for (size_t b = 0; b < batches.size(); ++b) {
    WriterBatch& batch = batches[b];
    BatchAppendResult& result = results[b];
    // The writer's sequence as it will be: an earlier batch of this group may have moved it.
    uint64_t applied = 0;
    if (auto staged = st.writers.find(batch.writer); staged != st.writers.end()) {
      applied = staged->second;
    } else if (auto stored = writers_.find(batch.writer); stored != writers_.end()) {
      applied = stored->second;
    }
    if (batch.sequence <= applied) {
      result.applied_sequence = applied;
      result.duplicate = true;
      continue;
    }
    const int64_t bytes_before = st.bytes;
    for (size_t i = 0; i < batch.streams.size(); ++i) {
      StreamAppend& append = batch.streams[i];
      std::erase_if(append.events, [applied](const LogEvent& e) { return e.sequence != 0 && e.sequence <= applied; });
      absl::Status status =
          Stage(st, append.group, append.stream, std::move(append.events), now_ms, append.create_group, true);
      if (!status.ok()) {
        if (absl::IsUnavailable(status)) return status;
        result.rejected.emplace_back(i, std::move(status));
      }
    }
    st.writers[batch.writer] = batch.sequence;
    result.applied_sequence = batch.sequence;
    result.stored_bytes = st.bytes - bytes_before;
  }
  RETURN_IF_ERROR(CommitStaged(st));
  return results;
}

uint64_t RocksDbLogStore::WriterSequence(const std::string& writer) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = writers_.find(writer);
  return it == writers_.end() ? 0 : it->second;
}

template <typename Keep>
absl::StatusOr<Position> RocksDbLogStore::ScanForward(const std::string& prefix, const Position& from,
                                                      std::optional<int64_t> start_ms, std::optional<int64_t> end_ms,
                                                      const FilterPattern* pattern, size_t limit, Keep keep) const {
  ChunkIterator chunks(db_.get(), cf(kChunks), prefix);
  rocksdb::Iterator* const it = chunks.get();
  if (!from.suffix.empty()) {
    it->Seek(prefix + from.suffix);
  } else if (start_ms.has_value()) {
    // The chunk before the first one that starts at start_ms may hold later events too.
    it->Seek(prefix + Be64(static_cast<uint64_t>(std::max<int64_t>(0, *start_ms))));
    if (it->Valid()) {
      it->Prev();
      if (!it->Valid()) it->Seek(prefix);
    } else {
      it->SeekToLast();
    }
  } else {
    it->Seek(prefix);
  }
  Position at = from;
  const std::vector<std::string>* required = pattern != nullptr ? &pattern->required_terms() : nullptr;
  Chunk chunk;
  for (; it->Valid(); it->Next()) {
    const std::string suffix = it->key().ToString().substr(prefix.size());
    if (!chunk.Parse(it->value())) return absl::DataLossError("log store: a chunk does not parse");
    if (end_ms.has_value() && chunk.record.first_ms() >= *end_ms) break;
    uint32_t i = suffix == from.suffix ? from.index : 0;
    if (start_ms.has_value() && chunk.record.last_ms() < *start_ms) continue;
    bool skip = false;
    if (required != nullptr) {
      for (const auto& term : *required) {
        if (chunk.record.messages().find(term) == std::string::npos) skip = true;
      }
    }
    if (skip) {
      at = Position{suffix, static_cast<uint32_t>(chunk.ts.size())};
      continue;
    }
    for (; i < chunk.ts.size(); ++i) {
      const int64_t t = chunk.ts[i];
      if ((start_ms.has_value() && t < *start_ms) || (end_ms.has_value() && t >= *end_ms)) continue;
      if (pattern != nullptr && !pattern->Matches(chunk.messages[i])) continue;
      if (keep(suffix, i, t, chunk.record.ingestion_ms(), chunk.messages[i]) >= limit) {
        return Position{suffix, i + 1};
      }
      at = Position{suffix, i + 1};
    }
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "scan"));
  return at;
}

absl::StatusOr<ReadResult> RocksDbLogStore::ReadBackward(const std::string& prefix, const Position& before,
                                                         const ReadRequest& request) const {
  ChunkIterator chunks(db_.get(), cf(kChunks), prefix);
  rocksdb::Iterator* const it = chunks.get();
  const bool from_end = before.suffix.empty();
  if (from_end) {
    it->SeekToLast();
  } else {
    it->SeekForPrev(prefix + before.suffix);
  }
  ReadResult result;
  std::vector<std::pair<Position, StoredEvent>> taken;  // newest first
  Chunk chunk;
  for (; it->Valid() && static_cast<int>(taken.size()) < request.limit; it->Prev()) {
    const std::string suffix = it->key().ToString().substr(prefix.size());
    if (!chunk.Parse(it->value())) return absl::DataLossError("log store: a chunk does not parse");
    if (request.start_ms.has_value() && chunk.record.last_ms() < *request.start_ms) break;
    size_t i = !from_end && suffix == before.suffix ? std::min<size_t>(before.index, chunk.ts.size()) : chunk.ts.size();
    while (i > 0 && static_cast<int>(taken.size()) < request.limit) {
      --i;
      const int64_t t = chunk.ts[i];
      if ((request.start_ms.has_value() && t < *request.start_ms) ||
          (request.end_ms.has_value() && t >= *request.end_ms)) {
        continue;
      }
      taken.push_back(
          {Position{suffix, static_cast<uint32_t>(i)}, StoredEvent{.timestamp_ms = t,
                                                                   .ingestion_ms = chunk.record.ingestion_ms(),
                                                                   .message = std::string(chunk.messages[i]),
                                                                   .stream = {},
                                                                   .event_id = {}}});
    }
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "scan"));
  std::reverse(taken.begin(), taken.end());
  if (taken.empty()) {
    result.next_backward_token = StrCat("b/", EncodePosition(before));
    result.next_forward_token = StrCat("f/", EncodePosition(before));
    return result;
  }
  result.next_backward_token = StrCat("b/", EncodePosition(taken.front().first));
  Position after = taken.back().first;
  ++after.index;
  result.next_forward_token = StrCat("f/", EncodePosition(after));
  for (auto& [pos, e] : taken) result.events.push_back(std::move(e));
  return result;
}

absl::StatusOr<ReadResult> RocksDbLogStore::Read(const ReadRequest& request) const {
  {
    absl::ReaderMutexLock lock(&mu_);
    if (!groups_.contains(request.group)) return GroupNotFound();
    if (!streams_.contains(StreamKey(request.group, request.stream))) return StreamNotFound();
  }
  const std::string prefix = ChunkPrefix(request.group, request.stream);
  Position from;
  bool forward = request.start_from_head;
  if (!request.token.empty()) {
    if (request.token.size() < 2 || (request.token[0] != 'f' && request.token[0] != 'b') || request.token[1] != '/') {
      return absl::InvalidArgumentError("nextToken: not a token this log store issued");
    }
    ASSIGN_OR_RETURN(from, DecodePosition(request.token.substr(2), "nextToken"));
    forward = request.token[0] == 'f';
  }
  if (!forward) {
    if (request.token.empty()) from = Position{};  // the end
    return ReadBackward(prefix, from, request);
  }
  ReadResult result;
  Position first;
  bool have_first = false;
  ASSIGN_OR_RETURN(
      Position after,
      ScanForward(prefix, from, request.start_ms, request.end_ms, nullptr, static_cast<size_t>(request.limit),
                  [&](const std::string& suffix, uint32_t i, int64_t t, int64_t ingestion, std::string_view message) {
                    if (!have_first) {
                      first = Position{suffix, i};
                      have_first = true;
                    }
                    result.events.push_back(StoredEvent{.timestamp_ms = t,
                                                        .ingestion_ms = ingestion,
                                                        .message = std::string(message),
                                                        .stream = {},
                                                        .event_id = {}});
                    return result.events.size();
                  }));
  // With no event read, the forward token stays where the read began, so a follower asks again.
  result.next_forward_token = StrCat("f/", EncodePosition(result.events.empty() ? from : after));
  result.next_backward_token = StrCat("b/", EncodePosition(have_first ? first : from));
  return result;
}

absl::StatusOr<FilterResult> RocksDbLogStore::Filter(const FilterRequest& request) const {
  std::vector<std::string> streams;
  {
    absl::ReaderMutexLock lock(&mu_);
    if (!groups_.contains(request.group)) return GroupNotFound();
    if (!request.streams.empty()) {
      for (const auto& name : request.streams) {
        if (streams_.contains(StreamKey(request.group, name))) streams.push_back(name);
      }
      std::sort(streams.begin(), streams.end());
    } else {
      const std::string start = StreamKey(request.group, request.stream_prefix);
      for (auto it = streams_.lower_bound(start); it != streams_.end() && it->first.starts_with(start); ++it) {
        streams.push_back(it->second.name());
      }
    }
  }
  std::string from_stream;
  Position from;
  if (!request.token.empty()) {
    std::vector<std::string> parts = absl::StrSplit(request.token, absl::MaxSplits('/', 1));
    if (parts.size() != 2 || parts[0].empty() || absl::BytesToHexString(absl::HexStringToBytes(parts[0])) != parts[0]) {
      return absl::InvalidArgumentError("nextToken: not a token this log store issued");
    }
    from_stream = absl::HexStringToBytes(parts[0]);
    ASSIGN_OR_RETURN(from, DecodePosition(parts[1], "nextToken"));
  }
  FilterResult result;
  const size_t limit = static_cast<size_t>(request.limit);
  for (const std::string& stream : streams) {
    if (!from_stream.empty() && stream < from_stream) continue;
    const Position start = stream == from_stream ? from : Position{};
    ASSIGN_OR_RETURN(
        Position after,
        ScanForward(ChunkPrefix(request.group, stream), start, request.start_ms, request.end_ms, request.pattern, limit,
                    [&](const std::string& suffix, uint32_t i, int64_t t, int64_t ingestion, std::string_view message) {
                      result.events.push_back(
                          StoredEvent{.timestamp_ms = t,
                                      .ingestion_ms = ingestion,
                                      .message = std::string(message),
                                      .stream = stream,
                                      .event_id = StrCat(ReadBe64(std::string_view(suffix).substr(8)), "-", i)});
                      return result.events.size();
                    }));
    if (result.events.size() >= limit) {
      result.next_token = StrCat(absl::BytesToHexString(stream), "/", EncodePosition(after));
      break;
    }
  }
  return result;
}

int64_t RocksDbLogStore::DropChunk(rocksdb::WriteBatch& batch, const std::string& key) {
  std::string value;
  if (!db_->Get(rocksdb::ReadOptions(), cf(kChunks), key, &value).ok()) return 0;
  Chunk chunk;
  if (!chunk.Parse(value)) return 0;
  int64_t bytes = 0;
  for (auto m : chunk.messages) bytes += static_cast<int64_t>(m.size()) + kEventOverhead;
  (void)batch.Delete(cf(kChunks), key);
  const std::string stream_key = key.substr(0, key.size() - kSuffixBytes - 1);
  auto s = streams_.find(stream_key);
  if (s == streams_.end()) return 0;
  s->second.set_stored_bytes(s->second.stored_bytes() - bytes);
  (void)batch.Put(cf(kStreams), stream_key, s->second.SerializeAsString());
  if (auto g = groups_.find(stream_key.substr(0, stream_key.find('\0'))); g != groups_.end()) {
    g->second.stored_bytes -= bytes;
  }
  total_bytes_ -= bytes;
  return bytes;
}

// One stream, or one group of 1,000 age entries, at a time under the lock, so that appends go on
// between them while a long pass runs.
int64_t RocksDbLogStore::Expire(int64_t now_ms) {
  int64_t dropped = 0;
  // Retention: each stream's chunks from the oldest while their newest event is past it.
  std::vector<std::pair<std::string, int64_t>> streams;  // stream key, cutoff
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [name, group] : groups_) {
      if (group.record.retention_days() <= 0) continue;
      const int64_t cutoff = now_ms - int64_t{group.record.retention_days()} * 86'400'000;
      const std::string group_prefix = StrCat(name, std::string(1, '\0'));
      for (auto s = streams_.lower_bound(group_prefix); s != streams_.end() && s->first.starts_with(group_prefix);
           ++s) {
        if (s->second.stored_bytes() > 0) streams.emplace_back(s->first, cutoff);
      }
    }
  }
  for (const auto& [stream_key, cutoff] : streams) {
    absl::MutexLock lock(&mu_);
    if (!streams_.contains(stream_key)) continue;  // deleted meanwhile
    const std::string prefix = StrCat(stream_key, std::string(1, '\0'));
    ChunkIterator it(db_.get(), cf(kChunks), prefix);
    rocksdb::WriteBatch batch;
    std::vector<std::string> expired;
    Chunk chunk;
    for (it.get()->SeekToFirst(); it.get()->Valid(); it.get()->Next()) {
      if (!chunk.Parse(it.get()->value()) || chunk.record.last_ms() >= cutoff) break;
      expired.push_back(it.get()->key().ToString());
    }
    for (const auto& key : expired) dropped += DropChunk(batch, key);
    if (batch.Count() > 0) (void)Commit(batch);
  }
  // The size cap: the oldest appended chunks, whatever their group.
  std::string from;  // the age key to resume at
  while (true) {
    absl::MutexLock lock(&mu_);
    if (total_bytes_ <= options_.max_bytes) break;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kAge)));
    rocksdb::WriteBatch batch;
    int entries = 0;
    for (it->Seek(from); it->Valid() && total_bytes_ > options_.max_bytes && entries < 1000; it->Next(), ++entries) {
      v1::LogChunkRef ref;
      if (ref.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        dropped += DropChunk(batch, ref.chunk_key());
      }
      (void)batch.Delete(cf(kAge), it->key());
    }
    if (batch.Count() > 0) (void)Commit(batch);
    if (!it->Valid()) break;
    from = it->key().ToString();
  }
  return dropped;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LogStore>> OpenRocksDbLogStore(const RocksDbLogStoreOptions& options) {
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  db_options.keep_log_file_num = 5;
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.compression = rocksdb::kNoCompression;
  for (rocksdb::CompressionType type : rocksdb::GetSupportedCompressions()) {
    if (type == rocksdb::kLZ4Compression) cf_options.compression = type;
  }
  cf_options.level_compaction_dynamic_level_bytes = true;
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const char* name :
       {rocksdb::kDefaultColumnFamilyName.c_str(), "log_groups", "log_streams", "log_chunks", "log_age"}) {
    families.emplace_back(name, cf_options);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, options.path, families, &handles, &raw);
  if (!s.ok()) return FromRocks(s, StrCat("open ", options.path));
  auto store = std::make_unique<RocksDbLogStore>(options, std::unique_ptr<rocksdb::DB>(raw), std::move(handles));
  RETURN_IF_ERROR(store->Load());
  store->StartSyncer();
  return store;
}

}  // namespace berth::logs
