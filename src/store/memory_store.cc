// NewMemoryStore: the Store contract over one std::map per table, for unit tests.
//
// One absl::Mutex guards every table, so a batch is applied atomically with respect to readers.
// Scan copies the matching range under the lock and calls `fn` without it: the callback sees a
// consistent snapshot (as a RocksDB iterator does) and may call back into the store.
#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "berth/store/store.h"
#include "fmt/format.h"
#include "src/store/internal.h"

namespace berth::store {
namespace {

using internal::kNumTables;
using internal::TableIndex;

class MemoryStore final : public Store {
 public:
  MemoryStore() = default;

  // store::Store
  absl::Status Write(const WriteBatch& batch) override {
    if (batch.empty()) return absl::OkStatus();
    {
      absl::MutexLock lock(&mu_);
      if (closed_) return ClosedError("Write");
      // Ops apply in order, so a later op on the same key wins, as in rocksdb::WriteBatch.
      for (const WriteBatch::Op& op : batch.ops()) {
        auto& table = tables_[TableIndex(op.table)];
        if (op.is_delete) {
          auto it = table.find(op.key);
          if (it != table.end()) table.erase(it);
        } else {
          table.insert_or_assign(op.key, op.value);
        }
      }
    }
    // No fsync happens here, so `syncs` stays 0.
    writes_.fetch_add(1, std::memory_order_relaxed);
    write_ops_.fetch_add(batch.size(), std::memory_order_relaxed);
    write_bytes_.fetch_add(batch.bytes(), std::memory_order_relaxed);
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> Get(Table table, std::string_view key) override {
    absl::MutexLock lock(&mu_);
    if (closed_) return ClosedError("Get");
    const auto& rows = tables_[TableIndex(table)];
    auto it = rows.find(key);
    if (it == rows.end()) {
      return absl::NotFoundError(
          fmt::format("memory store: key {} not found in table {}", internal::QuoteKey(key), TableName(table)));
    }
    return it->second;
  }

  absl::Status Scan(Table table, std::string_view prefix,
                    const std::function<bool(std::string_view key, std::string_view value)>& fn) override {
    std::vector<std::pair<std::string, std::string>> rows;
    {
      absl::MutexLock lock(&mu_);
      if (closed_) return ClosedError("Scan");
      const auto& source = tables_[TableIndex(table)];
      for (auto it = source.lower_bound(prefix); it != source.end() && it->first.starts_with(prefix); ++it) {
        rows.emplace_back(it->first, it->second);
      }
    }
    for (const auto& [key, value] : rows) {
      if (!fn(key, value)) break;
    }
    return absl::OkStatus();
  }

  uint64_t ApproximateDiskBytes() override { return 0; }

  StoreStats Stats() const override {
    StoreStats stats;
    stats.writes = writes_.load(std::memory_order_relaxed);
    stats.syncs = 0;
    stats.write_ops = write_ops_.load(std::memory_order_relaxed);
    stats.write_bytes = write_bytes_.load(std::memory_order_relaxed);
    return stats;
  }

  absl::Status Close() override {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    for (Rows& rows : tables_) rows.clear();  // nothing can read them any more
    return absl::OkStatus();
  }

 private:
  static absl::Status ClosedError(std::string_view operation) {
    return absl::FailedPreconditionError(fmt::format("memory store: {} after Close()", operation));
  }

  // std::less<> makes find/lower_bound take string_view without a copy. std::string compares
  // as unsigned bytes, the same order as RocksDB's bytewise comparator.
  using Rows = std::map<std::string, std::string, std::less<>>;

  absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::array<Rows, kNumTables> tables_ ABSL_GUARDED_BY(mu_);

  std::atomic<uint64_t> writes_{0};
  std::atomic<uint64_t> write_ops_{0};
  std::atomic<uint64_t> write_bytes_{0};
};

}  // namespace

std::unique_ptr<Store> NewMemoryStore() { return std::make_unique<MemoryStore>(); }

}  // namespace berth::store
