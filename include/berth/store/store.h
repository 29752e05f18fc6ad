// The persistence interface of berthd.
//
// A Store is an ordered key-value store split into tables (RocksDB column families in the
// embedded implementation). It knows bytes, keys and tables; it knows nothing about scheduling.
// Keys are built by store/keys.h; values are serialized records (proto/berth/v1/records.proto).
//
// Durability contract: Write() returns OK only after the whole batch is durable (synced WAL);
// a batch is applied atomically: after a crash either all of it or none of it is visible.
//
// Thread safety: all methods may be called concurrently from any thread. The control plane
// writes from its single commit-pipeline thread and reads only during recovery.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace berth::store {

// Tables. The numeric values are persisted (column family names derive from Name()): never
// renumber or reuse.
enum class Table : uint8_t {
  kMeta = 0,
  kClusters = 1,
  kTaskDefinitions = 2,
  kContainerInstances = 3,
  kTasks = 4,
  kServices = 5,
  kAttributes = 6,
  kCapacityProviders = 7,
};
inline constexpr Table kAllTables[] = {
    Table::kMeta,  Table::kClusters, Table::kTaskDefinitions, Table::kContainerInstances,
    Table::kTasks, Table::kServices, Table::kAttributes,      Table::kCapacityProviders};

// Stable name of a table ("meta", "clusters", "task_definitions", ...). Used as the column
// family name on disk.
std::string_view TableName(Table table);

// A set of puts and deletes applied atomically by Store::Write. Not thread-safe.
class WriteBatch {
 public:
  struct Op {
    Table table;
    bool is_delete;
    std::string key;
    std::string value;  // empty for deletes
  };

  void Put(Table table, std::string key, std::string value) {
    bytes_ += key.size() + value.size();
    ops_.push_back(Op{table, false, std::move(key), std::move(value)});
  }
  void Delete(Table table, std::string key) {
    bytes_ += key.size();
    ops_.push_back(Op{table, true, std::move(key), {}});
  }
  void Append(WriteBatch&& other) {
    for (auto& op : other.ops_) ops_.push_back(std::move(op));
    bytes_ += other.bytes_;
    other.Clear();
  }
  void Clear() {
    ops_.clear();
    bytes_ = 0;
  }

  const std::vector<Op>& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }
  size_t size() const { return ops_.size(); }
  size_t bytes() const { return bytes_; }

 private:
  std::vector<Op> ops_;
  size_t bytes_ = 0;
};

struct StoreStats {
  uint64_t writes = 0;       // non-empty Write() calls that succeeded
  uint64_t syncs = 0;        // synced (fsynced) writes
  uint64_t write_ops = 0;    // puts + deletes written
  uint64_t write_bytes = 0;  // key + value bytes written
};

class Store {
 public:
  virtual ~Store() = default;

  // Applies `batch` atomically and durably. An empty batch is a no-op that returns OK.
  virtual absl::Status Write(const WriteBatch& batch) = 0;

  // Point read. NotFound when the key is absent.
  virtual absl::StatusOr<std::string> Get(Table table, std::string_view key) = 0;

  // Calls `fn(key, value)` for every key of `table` that starts with `prefix`, in key order.
  // Stops early, returning OK, when `fn` returns false.
  virtual absl::Status Scan(Table table, std::string_view prefix,
                            const std::function<bool(std::string_view key, std::string_view value)>& fn) = 0;

  // Bytes used on disk (0 for in-memory stores).
  virtual uint64_t ApproximateDiskBytes() = 0;

  virtual StoreStats Stats() const = 0;

  // Syncs the WAL and closes; further calls fail with FailedPrecondition. Idempotent. Waits for
  // calls in progress, so it must not be called from inside a Scan callback.
  virtual absl::Status Close() = 0;
};

struct RocksDbOptions {
  std::string path;  // directory, created if missing
  bool sync = true;  // fsync the WAL on every Write (false only for tests/benchmarks)
  size_t block_cache_bytes = 64 << 20;
  // Run RocksDB's flushes and compactions at the lowest CPU priority (nice 19), so that on a busy
  // machine they do not take the CPU from the writes and answers waiting on it. Their threads are
  // shared by the whole process: once one store lowered them they stay lowered.
  bool low_priority_background = true;
};

// Opens (creating if needed) the embedded RocksDB store at options.path, with one column family
// per Table.
absl::StatusOr<std::unique_ptr<Store>> OpenRocksDbStore(const RocksDbOptions& options);

// An in-memory Store for unit tests. Same contract, no durability.
std::unique_ptr<Store> NewMemoryStore();

}  // namespace berth::store
