// The Store contract (include/berth/store/store.h), run against every implementation.
//
// A backend here is a class with a static kName and an Open() that returns a fresh, empty store
// and owns what the store needs (a temporary directory). Adding an implementation means adding
// one backend to `Backends`; a behaviour that only one implementation has belongs in that
// implementation's own test.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "berth/store/keys.h"
#include "berth/store/store.h"
#include "tests/testutil/temp_dir.h"

namespace berth::store {
namespace {

using namespace std::string_literals;  // "a\0b"s keeps the embedded NUL
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;
using ::testing::Pair;
using Rows = std::vector<std::pair<std::string, std::string>>;

::testing::AssertionResult IsOk(const absl::Status& status) {
  if (status.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << status;
}

class MemoryBackend {
 public:
  static constexpr const char* kName = "Memory";
  absl::StatusOr<std::unique_ptr<Store>> Open() { return NewMemoryStore(); }
};

class RocksDbBackend {
 public:
  static constexpr const char* kName = "RocksDb";
  absl::StatusOr<std::unique_ptr<Store>> Open() {
    RocksDbOptions options;
    options.path = dir_.Sub("db");
    options.sync = true;  // the contract is about durable writes; test the real configuration
    options.block_cache_bytes = 1 << 20;
    return OpenRocksDbStore(options);
  }

 private:
  testutil::TempDir dir_;
};

template <typename Backend>
class StoreContractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Store>> store = backend_.Open();
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  void TearDown() override {
    if (store_ != nullptr) {
      EXPECT_TRUE(IsOk(store_->Close()));
    }
  }

  Store& store() { return *store_; }

  absl::Status Put(Table table, std::string key, std::string value) {
    WriteBatch batch;
    batch.Put(table, std::move(key), std::move(value));
    return store_->Write(batch);
  }

  // Value of `key`, or "<code>" when Get fails.
  std::string GetOr(Table table, std::string_view key) {
    absl::StatusOr<std::string> value = store_->Get(table, key);
    if (!value.ok()) return "<" + absl::StatusCodeToString(value.status().code()) + ">";
    return *value;
  }

  Rows ScanAll(Table table, std::string_view prefix) {
    Rows rows;
    absl::Status status = store_->Scan(table, prefix, [&](std::string_view key, std::string_view value) {
      rows.emplace_back(std::string(key), std::string(value));
      return true;
    });
    EXPECT_TRUE(IsOk(status));
    return rows;
  }

  // Declared before store_ so that the store is closed before its directory is removed.
  Backend backend_;
  std::unique_ptr<Store> store_;
};

class BackendNames {
 public:
  template <typename Backend>
  static std::string GetName(int) {
    return Backend::kName;
  }
};

using Backends = ::testing::Types<MemoryBackend, RocksDbBackend>;
TYPED_TEST_SUITE(StoreContractTest, Backends, BackendNames);

TYPED_TEST(StoreContractTest, GetReturnsWhatWasPut) {
  ASSERT_TRUE(IsOk(this->Put(Table::kClusters, "prod", "cluster record")));
  EXPECT_EQ(this->GetOr(Table::kClusters, "prod"), "cluster record");
}

TYPED_TEST(StoreContractTest, GetOfAbsentKeyIsNotFound) {
  absl::StatusOr<std::string> value = this->store().Get(Table::kTasks, "nothing here");
  EXPECT_EQ(value.status().code(), absl::StatusCode::kNotFound) << value.status();
}

// Tables are separate key spaces: the same key in another table is a different row.
TYPED_TEST(StoreContractTest, TablesAreSeparateKeySpaces) {
  ASSERT_TRUE(IsOk(this->Put(Table::kTasks, "k", "task")));
  ASSERT_TRUE(IsOk(this->Put(Table::kServices, "k", "service")));
  EXPECT_EQ(this->GetOr(Table::kTasks, "k"), "task");
  EXPECT_EQ(this->GetOr(Table::kServices, "k"), "service");
  for (Table table : kAllTables) {
    if (table == Table::kTasks || table == Table::kServices) continue;
    EXPECT_EQ(this->GetOr(table, "k"), "<NOT_FOUND>") << TableName(table);
  }
}

TYPED_TEST(StoreContractTest, PutOverwrites) {
  ASSERT_TRUE(IsOk(this->Put(Table::kMeta, "schema_version", "1")));
  ASSERT_TRUE(IsOk(this->Put(Table::kMeta, "schema_version", "2")));
  EXPECT_EQ(this->GetOr(Table::kMeta, "schema_version"), "2");
}

TYPED_TEST(StoreContractTest, DeleteRemovesAndDeletingAbsentKeyIsOk) {
  ASSERT_TRUE(IsOk(this->Put(Table::kTasks, "t1", "v")));
  WriteBatch batch;
  batch.Delete(Table::kTasks, "t1");
  batch.Delete(Table::kTasks, "never existed");
  ASSERT_TRUE(IsOk(this->store().Write(batch)));
  EXPECT_EQ(this->GetOr(Table::kTasks, "t1"), "<NOT_FOUND>");
  EXPECT_THAT(this->ScanAll(Table::kTasks, ""), IsEmpty());
}

// Ops in a batch apply in order: the last op on a key decides.
TYPED_TEST(StoreContractTest, LaterOpInBatchWinsForTheSameKey) {
  ASSERT_TRUE(IsOk(this->Put(Table::kServices, "deleted-then-put", "old")));
  WriteBatch batch;
  batch.Put(Table::kServices, "put-put", "first");
  batch.Put(Table::kServices, "put-put", "second");
  batch.Put(Table::kServices, "put-then-deleted", "gone");
  batch.Delete(Table::kServices, "put-then-deleted");
  batch.Delete(Table::kServices, "deleted-then-put");
  batch.Put(Table::kServices, "deleted-then-put", "new");
  ASSERT_TRUE(IsOk(this->store().Write(batch)));
  EXPECT_THAT(this->ScanAll(Table::kServices, ""),
              ElementsAre(Pair("deleted-then-put", "new"), Pair("put-put", "second")));
}

TYPED_TEST(StoreContractTest, BatchAppliesPutsAndDeletesAcrossTables) {
  ASSERT_TRUE(IsOk(this->Put(Table::kTasks, TaskKey("prod", "old-task"), "stopped")));
  WriteBatch batch;
  batch.Put(Table::kClusters, ClusterKey("prod"), "cluster");
  batch.Put(Table::kContainerInstances, ContainerInstanceKey("prod", "i-1"), "instance");
  batch.Put(Table::kTasks, TaskKey("prod", "t-1"), "task");
  batch.Delete(Table::kTasks, TaskKey("prod", "old-task"));
  batch.Put(Table::kAttributes, AttributeKey("prod", "i-1", "ecs.os-type"), "linux");
  batch.Put(Table::kMeta, std::string(kSchemaVersionKey), "1");
  ASSERT_TRUE(IsOk(this->store().Write(batch)));

  EXPECT_EQ(this->GetOr(Table::kClusters, ClusterKey("prod")), "cluster");
  EXPECT_EQ(this->GetOr(Table::kContainerInstances, ContainerInstanceKey("prod", "i-1")), "instance");
  EXPECT_EQ(this->GetOr(Table::kAttributes, AttributeKey("prod", "i-1", "ecs.os-type")), "linux");
  EXPECT_EQ(this->GetOr(Table::kMeta, kSchemaVersionKey), "1");
  EXPECT_THAT(this->ScanAll(Table::kTasks, ClusterPrefix("prod")), ElementsAre(Pair(TaskKey("prod", "t-1"), "task")));
}

// Readers never see half a batch: each batch rewrites two rows to the same number, and every
// scan, taken while batches land, must find both rows equal.
TYPED_TEST(StoreContractTest, ConcurrentScanSeesWholeBatchesOnly) {
  constexpr int kBatches = 150;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < kBatches; ++i) {
      WriteBatch batch;
      batch.Put(Table::kTasks, "pair/a", std::to_string(i));
      batch.Put(Table::kTasks, "pair/b", std::to_string(i));
      if (!this->store().Write(batch).ok()) break;
    }
    done = true;
  });
  int scans = 0;
  int torn_scans = 0;
  while (!done.load() || scans == 0) {
    Rows rows = this->ScanAll(Table::kTasks, "pair/");
    ++scans;
    if (rows.empty()) continue;
    if (rows.size() != 2 || rows[0].second != rows[1].second) ++torn_scans;
  }
  writer.join();
  EXPECT_EQ(torn_scans, 0) << "of " << scans << " scans, some saw half of a batch";
  EXPECT_THAT(this->ScanAll(Table::kTasks, "pair/"),
              ElementsAre(Pair("pair/a", std::to_string(kBatches - 1)), Pair("pair/b", std::to_string(kBatches - 1))));
}

TYPED_TEST(StoreContractTest, ConcurrentWritersAllLand) {
  constexpr int kThreads = 4;
  constexpr int kBatchesPerThread = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < kBatchesPerThread; ++i) {
        WriteBatch batch;
        batch.Put(Table::kTasks, TaskKey("c" + std::to_string(t), std::to_string(1000 + i)), "v");
        EXPECT_TRUE(IsOk(this->store().Write(batch)));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(this->ScanAll(Table::kTasks, "").size(), size_t{kThreads * kBatchesPerThread});
  EXPECT_EQ(this->store().Stats().writes, uint64_t{kThreads * kBatchesPerThread});
}

TYPED_TEST(StoreContractTest, ScanVisitsExactlyThePrefixInKeyOrder) {
  // Written out of order, and with neighbours just outside the prefix on both sides.
  for (const char* key : {"task/3", "task/1", "tas", "task0", "task/2", "task/", "tasj/9", "task/10"}) {
    ASSERT_TRUE(IsOk(this->Put(Table::kTasks, key, std::string("v:") + key)));
  }
  EXPECT_THAT(this->ScanAll(Table::kTasks, "task/"),
              ElementsAre(Pair("task/", "v:task/"), Pair("task/1", "v:task/1"), Pair("task/10", "v:task/10"),
                          Pair("task/2", "v:task/2"), Pair("task/3", "v:task/3")));
  EXPECT_THAT(this->ScanAll(Table::kTasks, "nope"), IsEmpty());
}

// Bytes compare as unsigned: 0x7f < 0x80 < 0xff (a signed-char comparison would put 0x80 first).
TYPED_TEST(StoreContractTest, ScanOrderIsUnsignedBytewise) {
  const std::vector<std::string> sorted = {"\0"s,  "\0\0"s,     "\x01"s, "A",    "a",       "\x7f",
                                           "\x80", "\x80\x00"s, "\xfe",  "\xff", "\xff\xff"};
  std::vector<std::string> shuffled = sorted;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(7));
  for (const std::string& key : shuffled) ASSERT_TRUE(IsOk(this->Put(Table::kAttributes, key, "")));
  std::vector<std::string> keys;
  for (auto& [key, value] : this->ScanAll(Table::kAttributes, "")) keys.push_back(key);
  EXPECT_THAT(keys, ElementsAreArray(sorted));
}

// A prefix ending in 0xff has no simple successor: the scan must still include every extension
// of it and nothing past it.
TYPED_TEST(StoreContractTest, ScanHandlesPrefixesEndingIn0xFF) {
  for (const std::string& key :
       {"k\xfe"s, "k\xff"s, "k\xff\0"s, "k\xff\xff\xff"s, "l"s, "\xff\xfe"s, "\xff\xff"s, "\xff\xff\x01"s}) {
    ASSERT_TRUE(IsOk(this->Put(Table::kMeta, key, "")));
  }
  auto keys_with = [&](std::string_view prefix) {
    std::vector<std::string> keys;
    for (auto& [key, value] : this->ScanAll(Table::kMeta, prefix)) keys.push_back(key);
    return keys;
  };
  EXPECT_THAT(keys_with("k\xff"), ElementsAre("k\xff"s, "k\xff\0"s, "k\xff\xff\xff"s));
  EXPECT_THAT(keys_with("\xff\xff"), ElementsAre("\xff\xff"s, "\xff\xff\x01"s));
}

TYPED_TEST(StoreContractTest, ScanStopsWhenCallbackReturnsFalse) {
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(IsOk(this->Put(Table::kServices, "s" + std::to_string(i), "")));
  std::vector<std::string> seen;
  absl::Status status = this->store().Scan(Table::kServices, "s", [&](std::string_view key, std::string_view) {
    seen.emplace_back(key);
    return seen.size() < 3;
  });
  EXPECT_TRUE(IsOk(status));
  EXPECT_THAT(seen, ElementsAre("s0", "s1", "s2"));
}

TYPED_TEST(StoreContractTest, ScanWithEmptyPrefixVisitsOnlyThatTable) {
  ASSERT_TRUE(IsOk(this->Put(Table::kClusters, "a", "1")));
  ASSERT_TRUE(IsOk(this->Put(Table::kClusters, "b", "2")));
  ASSERT_TRUE(IsOk(this->Put(Table::kServices, "c", "3")));
  EXPECT_THAT(this->ScanAll(Table::kClusters, ""), ElementsAre(Pair("a", "1"), Pair("b", "2")));
}

// Recovery code reads related rows while it scans.
TYPED_TEST(StoreContractTest, ScanCallbackMayReadTheStore) {
  ASSERT_TRUE(IsOk(this->Put(Table::kTasks, TaskKey("prod", "t1"), "svc-a")));
  ASSERT_TRUE(IsOk(this->Put(Table::kServices, ServiceKey("prod", "svc-a"), "service a")));
  std::vector<std::string> services;
  absl::Status status =
      this->store().Scan(Table::kTasks, ClusterPrefix("prod"), [&](std::string_view, std::string_view value) {
        services.push_back(this->GetOr(Table::kServices, ServiceKey("prod", value)));
        return true;
      });
  EXPECT_TRUE(IsOk(status));
  EXPECT_THAT(services, ElementsAre("service a"));
}

TYPED_TEST(StoreContractTest, EmptyBatchIsANoOp) {
  ASSERT_TRUE(IsOk(this->Put(Table::kMeta, "m", "v")));
  const StoreStats before = this->store().Stats();
  WriteBatch empty;
  EXPECT_TRUE(IsOk(this->store().Write(empty)));
  const StoreStats after = this->store().Stats();
  EXPECT_EQ(after.writes, before.writes);
  EXPECT_EQ(after.syncs, before.syncs);
  EXPECT_EQ(after.write_ops, before.write_ops);
  EXPECT_EQ(after.write_bytes, before.write_bytes);
  EXPECT_THAT(this->ScanAll(Table::kMeta, ""), ElementsAre(Pair("m", "v")));
}

// Encoded keys carry '\0' separators and binary revisions; values are arbitrary bytes.
TYPED_TEST(StoreContractTest, BinaryKeysAndValuesFromTheKeyCodec) {
  // Revisions whose big-endian bytes include 0x00 and 0xff, written out of order, plus the
  // neighbouring families "we" and "web2" that the prefix must exclude.
  const std::vector<uint32_t> revisions = {256, 2, 10, 1, 0x01000000, 255, 0xff00ff00};
  WriteBatch batch;
  for (uint32_t revision : revisions) {
    batch.Put(Table::kTaskDefinitions, TaskDefinitionKey("web", revision), "rev\0"s + std::to_string(revision));
  }
  batch.Put(Table::kTaskDefinitions, TaskDefinitionKey("we", 1), "other family");
  batch.Put(Table::kTaskDefinitions, TaskDefinitionKey("web2", 1), "other family");
  ASSERT_TRUE(IsOk(this->store().Write(batch)));

  std::vector<uint32_t> scanned;
  for (auto& [key, value] : this->ScanAll(Table::kTaskDefinitions, TaskDefinitionFamilyPrefix("web"))) {
    std::optional<TaskDefinitionKeyParts> parts = DecodeTaskDefinitionKey(key);
    ASSERT_TRUE(parts.has_value());
    EXPECT_EQ(parts->family, "web");
    EXPECT_EQ(value, "rev\0"s + std::to_string(parts->revision));
    scanned.push_back(parts->revision);
  }
  EXPECT_THAT(scanned, ElementsAre(1u, 2u, 10u, 255u, 256u, 0x01000000u, 0xff00ff00u));
  EXPECT_EQ(this->GetOr(Table::kTaskDefinitions, TaskDefinitionKey("web", 256)), "rev\0"s + "256");
  EXPECT_EQ(this->GetOr(Table::kTaskDefinitions, TaskDefinitionKey("web", 3)), "<NOT_FOUND>");

  // Keys differing only after an embedded NUL are distinct rows.
  for (const std::string& key : {"a"s, "a\0"s, "a\0b"s, "a\0\0"s}) {
    ASSERT_TRUE(IsOk(this->Put(Table::kMeta, key, "value of " + key)));
  }
  for (const std::string& key : {"a"s, "a\0"s, "a\0b"s, "a\0\0"s}) {
    EXPECT_EQ(this->GetOr(Table::kMeta, key), "value of " + key);
  }

  // ClusterPrefix selects one cluster, not "prod-2" or "pro" + "d...".
  ASSERT_TRUE(IsOk(this->Put(Table::kTasks, TaskKey("prod", "t1"), "")));
  ASSERT_TRUE(IsOk(this->Put(Table::kTasks, TaskKey("prod-2", "t1"), "")));
  ASSERT_TRUE(IsOk(this->Put(Table::kTasks, TaskKey("pro", "d"), "")));
  EXPECT_THAT(this->ScanAll(Table::kTasks, ClusterPrefix("prod")), ElementsAre(Pair(TaskKey("prod", "t1"), "")));
}

TYPED_TEST(StoreContractTest, LargeValueRoundTrips) {
  std::string value(1 << 20, '\0');
  std::mt19937 rng(42);
  for (char& c : value) c = static_cast<char>(rng());
  ASSERT_TRUE(IsOk(this->Put(Table::kTaskDefinitions, TaskDefinitionKey("big", 1), value)));
  EXPECT_TRUE(this->GetOr(Table::kTaskDefinitions, TaskDefinitionKey("big", 1)) == value);
}

TYPED_TEST(StoreContractTest, StatsCountSuccessfulWrites) {
  const StoreStats initial = this->store().Stats();
  EXPECT_EQ(initial.writes, 0u);
  EXPECT_EQ(initial.write_ops, 0u);
  EXPECT_EQ(initial.write_bytes, 0u);

  WriteBatch first;
  first.Put(Table::kTasks, "key1", "value1");  // 4 + 6
  first.Put(Table::kServices, "k2", "v2");     // 2 + 2
  first.Delete(Table::kTasks, "gone");         // 4
  WriteBatch second;
  second.Put(Table::kClusters, "prod", std::string(100, 'x'));  // 4 + 100
  ASSERT_TRUE(IsOk(this->store().Write(first)));
  ASSERT_TRUE(IsOk(this->store().Write(second)));

  const StoreStats stats = this->store().Stats();
  EXPECT_EQ(stats.writes, 2u);
  EXPECT_EQ(stats.write_ops, 4u);
  EXPECT_EQ(stats.write_bytes, 18u + 104u);
  EXPECT_EQ(stats.write_bytes, first.bytes() + second.bytes());
  EXPECT_LE(stats.syncs, stats.writes);  // how many were fsynced is the implementation's business
}

TYPED_TEST(StoreContractTest, CloseIsIdempotentAndLaterCallsFail) {
  ASSERT_TRUE(IsOk(this->Put(Table::kClusters, "prod", "v")));
  ASSERT_TRUE(IsOk(this->store().Close()));
  EXPECT_TRUE(IsOk(this->store().Close()));

  WriteBatch batch;
  batch.Put(Table::kClusters, "late", "v");
  EXPECT_EQ(this->store().Write(batch).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(this->store().Get(Table::kClusters, "prod").status().code(), absl::StatusCode::kFailedPrecondition);
  bool called = false;
  absl::Status scan = this->store().Scan(Table::kClusters, "", [&](std::string_view, std::string_view) {
    called = true;
    return true;
  });
  EXPECT_EQ(scan.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(called);
  EXPECT_EQ(this->store().ApproximateDiskBytes(), 0u);
  EXPECT_EQ(this->store().Stats().writes, 1u);  // stats stay readable
  EXPECT_TRUE(IsOk(this->store().Close()));
}

// Close() may race with a Scan in progress on another thread: the Scan finishes normally.
TYPED_TEST(StoreContractTest, CloseDuringScanLetsTheScanFinish) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(IsOk(this->Put(Table::kTasks, "t" + std::to_string(i), "v")));
  std::thread closer;
  int visited = 0;
  absl::Status scan = this->store().Scan(Table::kTasks, "", [&](std::string_view, std::string_view) {
    if (visited++ == 0) {
      closer = std::thread([this] { EXPECT_TRUE(IsOk(this->store().Close())); });
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let Close() get going
    }
    return true;
  });
  EXPECT_TRUE(IsOk(scan));
  EXPECT_EQ(visited, 5);
  closer.join();
  EXPECT_EQ(this->store().Get(Table::kTasks, "t0").status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace berth::store
