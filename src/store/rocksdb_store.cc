// OpenRocksDbStore: the embedded Store, one RocksDB column family per Table.
//
// Durability: every Write is one rocksdb::WriteBatch written with WriteOptions::sync (a synced
// WAL), so an acknowledged batch survives kill -9 and power loss, and a batch is all-or-nothing
// because RocksDB logs a WriteBatch as a single WAL record. Recovery uses kPointInTimeRecovery: a
// torn record at the WAL tail (the batch in flight when the process died, never acknowledged) is
// dropped instead of refusing to open.
//
// Lifetime: operations run without a lock; each one registers itself as in flight, and Close()
// first refuses new operations, then waits for in-flight ones to finish before it tears the DB
// down. That keeps Close() safe against concurrent callers and lets a Scan callback call back into
// the store (a reader-writer lock would deadlock there when Close() is waiting).
#include <array>
#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "berth/common/logging.h"
#include "berth/store/store.h"
#include "fmt/format.h"
#include "rocksdb/cache.h"
#include "rocksdb/convenience.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/memtablerep.h"
#include "rocksdb/options.h"
#include "rocksdb/table.h"
#include "rocksdb/transaction_log.h"
#include "rocksdb/write_batch.h"
#include "src/store/internal.h"
#include "src/store/rocksdb_status.h"

namespace berth::store {
namespace {

using internal::FromRocksDb;
using internal::kNumTables;
using internal::QuoteKey;
using internal::TableIndex;

// All tables share one WAL, and a WAL file can only be deleted once every column family with data
// in it has flushed. Small, rarely written tables (meta, clusters) would otherwise pin WAL
// files for a long time; past this size RocksDB flushes them so the WAL stays bounded.
constexpr uint64_t kMaxTotalWalBytes = 256ull << 20;
// Bounds memtable memory across all tables together rather than 64 MiB x 2 per table.
constexpr size_t kDbWriteBufferBytes = 256ull << 20;

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
std::string_view ToView(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

// The smallest key greater than every key starting with `prefix`, or nullopt when there is none
// (empty prefix, or all 0xff bytes).
std::optional<std::string> PrefixSuccessor(std::string_view prefix) {
  std::string bound(prefix);
  while (!bound.empty() && static_cast<unsigned char>(bound.back()) == 0xff) bound.pop_back();
  if (bound.empty()) return std::nullopt;
  bound.back() = static_cast<char>(static_cast<unsigned char>(bound.back()) + 1);
  return bound;
}

rocksdb::CompressionType ChooseCompression() {
  // Debian's librocksdb links LZ4; a build without it must still open (records are small and
  // compress modestly, so no compression is an acceptable fallback).
  for (rocksdb::CompressionType type : rocksdb::GetSupportedCompressions()) {
    if (type == rocksdb::kLZ4Compression) return type;
  }
  return rocksdb::kNoCompression;
}

rocksdb::DBOptions MakeDbOptions() {
  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.max_background_jobs = 2;
  // WAL writes go straight to the file; Write(sync=true) then fsyncs it before returning.
  options.manual_wal_flush = false;
  // A kill -9 can leave a torn record at the WAL tail. That record was never acknowledged (its
  // fsync did not return), so recover up to it instead of refusing to open.
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  // What the WAL replays stays in the memtable (flushed later, as any write is) instead of being
  // written out as a level-0 file before the store opens: a shorter start after a crash.
  options.avoid_flush_during_recovery = true;
  options.max_total_wal_size = kMaxTotalWalBytes;
  options.db_write_buffer_size = kDbWriteBufferBytes;
  // Spread SST writeback so flushes do not stall the commit pipeline's WAL fsyncs.
  options.bytes_per_sync = 1 << 20;
  options.keep_log_file_num = 10;  // RocksDB's own info LOG files in the directory
  // One writer (the commit pipeline): no concurrent memtable inserts, which the vector memtable
  // below does not support.
  options.allow_concurrent_memtable_write = false;
  return options;
}

// Flushes and compactions yield the CPU to the commit pipeline and the RPC threads (nice 19 for
// RocksDB's background threads, from their next job on). The threads belong to the process-wide
// default Env, so this holds for every store of the process once one asked for it.
absl::Status LowerBackgroundPriority(rocksdb::Env* env) {
  for (rocksdb::Env::Priority pool : {rocksdb::Env::Priority::HIGH, rocksdb::Env::Priority::LOW}) {
    rocksdb::Status status = env->LowerThreadPoolCPUPriority(pool, rocksdb::CpuPriority::kLow);
    if (!status.ok()) return FromRocksDb(status, "rocksdb LowerThreadPoolCPUPriority");
  }
  return absl::OkStatus();
}

rocksdb::ColumnFamilyOptions MakeTableOptions(const std::shared_ptr<rocksdb::Cache>& block_cache,
                                              rocksdb::CompressionType compression) {
  rocksdb::ColumnFamilyOptions options;
  options.compression = compression;
  options.level_compaction_dynamic_level_bytes = true;
  // berthd writes at run time and reads only when it starts (State::Load scans every table), so
  // the memtable is an append-only vector, sorted once when it is flushed, instead of the default
  // skip list whose every insert is a search: at a million tasks the skip list's inserts were a
  // tenth of the commit thread's time. A point read on an unflushed vector memtable sorts a copy
  // of it, which is fine for load-time reads and tests, and wrong for anything hot.
  options.memtable_factory = std::make_shared<rocksdb::VectorRepFactory>();
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = block_cache;  // shared by all tables, so block_cache_bytes is the total
  // Index and filter blocks count against the cache too, keeping memory bounded by the option.
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return options;
}

absl::Status FilesystemError(std::string_view what, const std::string& path, const std::error_code& ec) {
  const std::string message = fmt::format("{} {}: {}", what, path, ec.message());
  if (ec == std::errc::permission_denied) return absl::PermissionDeniedError(message);
  return absl::UnavailableError(message);
}

class RocksDbStore final : public Store {
 public:
  RocksDbStore(std::string path, bool sync, std::unique_ptr<rocksdb::DB> db,
               std::array<rocksdb::ColumnFamilyHandle*, kNumTables> table_handles,
               std::vector<rocksdb::ColumnFamilyHandle*> other_handles)
      : path_(std::move(path)),
        sync_(sync),
        db_(std::move(db)),
        table_handles_(table_handles),
        other_handles_(std::move(other_handles)) {}

  ~RocksDbStore() override {
    absl::Status status = Close();
    if (!status.ok()) log::Error("closing store at {}: {}", path_, status.ToString());
  }

  RocksDbStore(const RocksDbStore&) = delete;
  RocksDbStore& operator=(const RocksDbStore&) = delete;

  // store::Store
  absl::Status Write(const WriteBatch& batch) override {
    if (batch.empty()) return absl::OkStatus();
    InFlight op(this);
    if (!op.admitted()) return ClosedError("Write");

    rocksdb::WriteBatch rocks_batch;
    for (const WriteBatch::Op& write : batch.ops()) {
      rocksdb::ColumnFamilyHandle* handle = table_handles_[TableIndex(write.table)];
      rocksdb::Status status = write.is_delete ? rocks_batch.Delete(handle, ToSlice(write.key))
                                               : rocks_batch.Put(handle, ToSlice(write.key), ToSlice(write.value));
      if (!status.ok()) {
        return FromRocksDb(status, fmt::format("rocksdb WriteBatch({}) key {} at {}", TableName(write.table),
                                               QuoteKey(write.key), path_));
      }
    }
    rocksdb::WriteOptions write_options;
    write_options.sync = sync_;
    rocksdb::Status status = db_->Write(write_options, &rocks_batch);
    if (!status.ok()) {
      return FromRocksDb(status,
                         fmt::format("rocksdb Write({}) of {} ops at {}", TablesOf(batch), batch.size(), path_));
    }
    writes_.fetch_add(1, std::memory_order_relaxed);
    if (sync_) syncs_.fetch_add(1, std::memory_order_relaxed);
    write_ops_.fetch_add(batch.size(), std::memory_order_relaxed);
    write_bytes_.fetch_add(batch.bytes(), std::memory_order_relaxed);
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> Get(Table table, std::string_view key) override {
    InFlight op(this);
    if (!op.admitted()) return ClosedError("Get");
    std::string value;
    rocksdb::Status status = db_->Get(rocksdb::ReadOptions(), table_handles_[TableIndex(table)], ToSlice(key), &value);
    if (status.IsNotFound()) {
      return absl::NotFoundError(
          fmt::format("key {} not found in table {} at {}", QuoteKey(key), TableName(table), path_));
    }
    if (!status.ok()) {
      return FromRocksDb(status, fmt::format("rocksdb Get({}) key {} at {}", TableName(table), QuoteKey(key), path_));
    }
    return value;
  }

  absl::Status Scan(Table table, std::string_view prefix,
                    const std::function<bool(std::string_view key, std::string_view value)>& fn) override {
    InFlight op(this);
    if (!op.admitted()) return ClosedError("Scan");
    rocksdb::ReadOptions read_options;
    // An upper bound lets RocksDB stop at the end of the prefix instead of stepping past
    // tombstones beyond it. Both must outlive the iterator.
    const std::optional<std::string> upper = PrefixSuccessor(prefix);
    rocksdb::Slice upper_slice;
    if (upper.has_value()) {
      upper_slice = ToSlice(*upper);
      read_options.iterate_upper_bound = &upper_slice;
    }
    // The iterator reads from an implicit snapshot: a concurrent batch is seen whole or not at all.
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options, table_handles_[TableIndex(table)]));
    for (it->Seek(ToSlice(prefix)); it->Valid(); it->Next()) {
      const std::string_view key = ToView(it->key());
      if (!key.starts_with(prefix)) break;  // the bound is absent for an all-0xff prefix
      if (!fn(key, ToView(it->value()))) return absl::OkStatus();
    }
    return FromRocksDb(it->status(),
                       fmt::format("rocksdb Scan({}) prefix {} at {}", TableName(table), QuoteKey(prefix), path_));
  }

  uint64_t ApproximateDiskBytes() override {
    InFlight op(this);
    if (!op.admitted()) return 0;
    uint64_t total = 0;
    uint64_t sst_bytes = 0;
    if (db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kTotalSstFilesSize, &sst_bytes)) total += sst_bytes;
    rocksdb::VectorLogPtr wal_files;
    if (db_->GetSortedWalFiles(wal_files).ok()) {
      for (const auto& file : wal_files) total += file->SizeFileBytes();
    }
    return total;
  }

  StoreStats Stats() const override {
    StoreStats stats;
    stats.writes = writes_.load(std::memory_order_relaxed);
    stats.syncs = syncs_.load(std::memory_order_relaxed);
    stats.write_ops = write_ops_.load(std::memory_order_relaxed);
    stats.write_bytes = write_bytes_.load(std::memory_order_relaxed);
    return stats;
  }

  // Must not be called from inside a Scan callback (it would wait for that Scan).
  absl::Status Close() override {
    // Held throughout, so that a concurrent second Close() returns only once the DB is closed
    // (and the directory lock released).
    absl::MutexLock close_lock(&close_mu_);
    {
      absl::MutexLock lock(&mu_);
      if (closed_) return absl::OkStatus();
      closed_ = true;
      mu_.Await(absl::Condition(this, &RocksDbStore::NothingInFlight));
    }
    // No operation can touch db_ from here on.
    // With sync=true the WAL is already synced; with sync=false this is what makes the data
    // written so far durable. Memtables are not flushed: the WAL replays them on open.
    absl::Status status = FromRocksDb(db_->SyncWAL(), fmt::format("rocksdb SyncWAL at {}", path_));
    std::vector<rocksdb::ColumnFamilyHandle*> handles(table_handles_.begin(), table_handles_.end());
    handles.insert(handles.end(), other_handles_.begin(), other_handles_.end());
    for (rocksdb::ColumnFamilyHandle* handle : handles) {
      rocksdb::Status destroyed = db_->DestroyColumnFamilyHandle(handle);
      if (status.ok()) status = FromRocksDb(destroyed, fmt::format("rocksdb DestroyColumnFamilyHandle at {}", path_));
    }
    table_handles_.fill(nullptr);
    other_handles_.clear();
    rocksdb::Status closed = db_->Close();
    if (status.ok()) status = FromRocksDb(closed, fmt::format("rocksdb Close at {}", path_));
    db_.reset();
    return status;
  }

 private:
  // Registers one operation as in flight for its lifetime, unless the store is closed.
  class InFlight {
   public:
    explicit InFlight(RocksDbStore* store) : store_(store) {
      absl::MutexLock lock(&store_->mu_);
      admitted_ = !store_->closed_;
      if (admitted_) ++store_->in_flight_;
    }
    ~InFlight() {
      if (!admitted_) return;
      absl::MutexLock lock(&store_->mu_);
      --store_->in_flight_;
    }
    InFlight(const InFlight&) = delete;
    InFlight& operator=(const InFlight&) = delete;

    bool admitted() const { return admitted_; }

   private:
    RocksDbStore* store_;
    bool admitted_ = false;
  };

  bool NothingInFlight() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_flight_ == 0; }

  absl::Status ClosedError(std::string_view operation) const {
    return absl::FailedPreconditionError(fmt::format("store at {}: {} after Close()", path_, operation));
  }

  // "tasks, services": the tables a batch touches, for error messages.
  static std::string TablesOf(const WriteBatch& batch) {
    std::array<bool, kNumTables> touched{};
    for (const WriteBatch::Op& op : batch.ops()) touched[TableIndex(op.table)] = true;
    std::string names;
    for (Table table : kAllTables) {
      if (!touched[TableIndex(table)]) continue;
      if (!names.empty()) names += ", ";
      names += TableName(table);
    }
    return names;
  }

  const std::string path_;
  const bool sync_;

  // Set at construction; only Close() changes them, after every in-flight operation has ended
  // and no new one can start. Hence not guarded by mu_.
  std::unique_ptr<rocksdb::DB> db_;
  std::array<rocksdb::ColumnFamilyHandle*, kNumTables> table_handles_;
  std::vector<rocksdb::ColumnFamilyHandle*> other_handles_;  // "default" and unknown families

  absl::Mutex close_mu_;
  absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;

  std::atomic<uint64_t> writes_{0};
  std::atomic<uint64_t> syncs_{0};
  std::atomic<uint64_t> write_ops_{0};
  std::atomic<uint64_t> write_bytes_{0};
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenRocksDbStore(const RocksDbOptions& options) {
  const std::string& path = options.path;
  if (path.empty()) return absl::InvalidArgumentError("RocksDbOptions.path is empty");

  // RocksDB creates only the last path component; the contract is "created if missing".
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return FilesystemError("creating store directory", path, ec);

  rocksdb::DBOptions db_options = MakeDbOptions();
  if (options.low_priority_background) RETURN_IF_ERROR(LowerBackgroundPriority(db_options.env));
  const rocksdb::ColumnFamilyOptions table_options =
      MakeTableOptions(rocksdb::NewLRUCache(options.block_cache_bytes), ChooseCompression());

  // Every existing column family must be opened; ours that are missing get created
  // (create_missing_column_families). Families we do not know (written by a newer berthd, say)
  // are opened and left untouched.
  std::vector<std::string> existing;
  const bool exists = std::filesystem::exists(std::filesystem::path(path) / "CURRENT", ec);
  if (ec) return FilesystemError("inspecting store directory", path, ec);
  if (exists) {
    rocksdb::Status status = rocksdb::DB::ListColumnFamilies(db_options, path, &existing);
    if (!status.ok()) return FromRocksDb(status, fmt::format("rocksdb ListColumnFamilies at {}", path));
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, table_options);
  for (Table table : kAllTables) descriptors.emplace_back(std::string(TableName(table)), table_options);
  size_t created = kNumTables;
  for (const std::string& name : existing) {
    bool known = false;
    for (const auto& descriptor : descriptors) known = known || descriptor.name == name;
    if (known) {
      if (name != rocksdb::kDefaultColumnFamilyName) --created;
      continue;
    }
    log::Warn("store at {}: column family {} is not a berth table; opening it untouched", path, QuoteKey(name));
    descriptors.emplace_back(name, table_options);
  }

  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw_db = nullptr;
  rocksdb::Status status = rocksdb::DB::Open(db_options, path, descriptors, &handles, &raw_db);
  if (!status.ok()) {
    if (internal::IsLockConflict(status)) {
      return absl::FailedPreconditionError(
          fmt::format("store at {} is already open (another berthd, or another Store in this process, holds "
                      "{}/LOCK): {}",
                      path, path, status.ToString()));
    }
    return FromRocksDb(status, fmt::format("rocksdb Open at {}", path));
  }
  std::unique_ptr<rocksdb::DB> db(raw_db);

  // DB::Open returns handles in descriptor order: default, then kAllTables, then unknown ones.
  std::array<rocksdb::ColumnFamilyHandle*, kNumTables> table_handles{};
  std::vector<rocksdb::ColumnFamilyHandle*> other_handles;
  for (size_t i = 0; i < handles.size(); ++i) {
    if (i >= 1 && i <= kNumTables) {
      table_handles[TableIndex(kAllTables[i - 1])] = handles[i];
    } else {
      other_handles.push_back(handles[i]);
    }
  }
  log::Info("opened store at {} ({} tables, {} created; compression {}; sync {}; background work at {} priority)", path,
            kNumTables, created, table_options.compression == rocksdb::kLZ4Compression ? "lz4" : "none", options.sync,
            options.low_priority_background ? "low" : "normal");
  return std::make_unique<RocksDbStore>(path, options.sync, std::move(db), table_handles, std::move(other_handles));
}

}  // namespace berth::store
