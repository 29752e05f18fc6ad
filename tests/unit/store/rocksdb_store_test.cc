// Behaviour of OpenRocksDbStore beyond the shared contract: persistence across reopen, column
// families, directory locking, and crash safety under kill -9.
//
// Some tests need a second process. They re-execute this test binary (fork + execve of
// /proc/self/exe) with BERTH_STORE_TEST_CHILD_* set; a global test environment then runs the
// helper instead of the tests. A plain fork() would not do: RocksDB's background threads exist
// only in the parent, and a forked child of a multithreaded process must exec before doing real
// work.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "berth/store/keys.h"
#include "berth/store/store.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "tests/testutil/temp_dir.h"

extern char** environ;

namespace berth::store {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsSupersetOf;
using ::testing::UnorderedElementsAreArray;

::testing::AssertionResult IsOk(const absl::Status& status) {
  if (status.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << status;
}

RocksDbOptions OptionsAt(const std::string& path, bool sync = true) {
  RocksDbOptions options;
  options.path = path;
  options.sync = sync;
  options.block_cache_bytes = 1 << 20;
  return options;
}

std::unique_ptr<Store> OpenOrDie(const RocksDbOptions& options) {
  absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(options);
  if (!store.ok()) {
    ADD_FAILURE() << store.status();
    return nullptr;
  }
  return *std::move(store);
}

std::vector<std::string> ColumnFamiliesAt(const std::string& path) {
  std::vector<std::string> names;
  rocksdb::Status status = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return names;
}

std::vector<std::string> AllTableNames() {
  std::vector<std::string> names;
  for (Table table : kAllTables) names.emplace_back(TableName(table));
  return names;
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// --- The crash workload: batch `seq` writes rows across five tables ---
//
// tasks:       crash\0<seq>-a, crash\0<seq>-b   services: crash\0<seq>   attributes: crash\0<seq>\0seq
// meta:        last_seq = <seq>                 (overwritten by every batch)
// clusters:    delete pending-<seq-1>, put pending-<seq>   (exactly one pending row survives)
// where <seq> is 10 zero-padded digits. A batch present only in part shows up as a seq with
// fewer than four rows, or as meta/clusters disagreeing with the row data.

constexpr std::string_view kCrashCluster = "crash";
constexpr char kLastSeqKey[] = "last_seq";
constexpr size_t kSeqDigits = 10;
constexpr const char* kCrashParts[] = {"task-a", "task-b", "service", "attribute"};

std::string SeqId(uint64_t seq) {
  std::string digits = std::to_string(seq);
  return std::string(kSeqDigits - std::min(kSeqDigits, digits.size()), '0') + digits;
}

std::optional<uint64_t> ParseSeq(std::string_view text) {
  uint64_t seq = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), seq);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return seq;
}

std::string PendingKey(uint64_t seq) { return ClusterKey("pending-" + SeqId(seq)); }

// A few hundred bytes per row, derived from (seq, part), so that a row holding another batch's
// value is caught.
std::string Payload(uint64_t seq, std::string_view part) {
  std::string value = "seq=" + SeqId(seq) + " part=" + std::string(part) + " ";
  for (int i = 0; i < 300; ++i) value.push_back(static_cast<char>('a' + (seq * 31 + i * 7) % 26));
  return value;
}

WriteBatch CrashBatch(uint64_t seq) {
  const std::string id = SeqId(seq);
  WriteBatch batch;
  batch.Put(Table::kTasks, TaskKey(kCrashCluster, id + "-a"), Payload(seq, "task-a"));
  batch.Put(Table::kTasks, TaskKey(kCrashCluster, id + "-b"), Payload(seq, "task-b"));
  batch.Put(Table::kServices, ServiceKey(kCrashCluster, id), Payload(seq, "service"));
  batch.Put(Table::kAttributes, AttributeKey(kCrashCluster, id, "seq"), Payload(seq, "attribute"));
  batch.Put(Table::kMeta, kLastSeqKey, id);
  if (seq > 0) batch.Delete(Table::kClusters, PendingKey(seq - 1));
  batch.Put(Table::kClusters, PendingKey(seq), id);
  return batch;
}

// --- The helper child process ---

constexpr char kChildModeEnv[] = "BERTH_STORE_TEST_CHILD_MODE";  // "write" or "hold"
constexpr char kChildDirEnv[] = "BERTH_STORE_TEST_CHILD_DIR";
constexpr char kChildFdEnv[] = "BERTH_STORE_TEST_CHILD_FD";
constexpr char kChildFirstSeqEnv[] = "BERTH_STORE_TEST_CHILD_FIRST_SEQ";
// A bound so that an orphaned child cannot run forever (it also dies with its parent).
constexpr uint64_t kMaxChildBatches = 200000;

bool WriteLine(int fd, const std::string& text) {
  const std::string line = text + "\n";  // shorter than PIPE_BUF: one atomic write
  return write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
}

// "write": writes CrashBatch(first_seq), CrashBatch(first_seq + 1), ... with sync=true and
// reports each seq on the pipe only after Write() returned OK — an acknowledgement.
// "hold": opens the store, reports "ready", and waits to be killed.
int RunChild(std::string_view mode) {
  const char* dir = std::getenv(kChildDirEnv);
  const char* fd_text = std::getenv(kChildFdEnv);
  const char* first_text = std::getenv(kChildFirstSeqEnv);
  if (dir == nullptr || fd_text == nullptr || first_text == nullptr) {
    std::fprintf(stderr, "child: missing BERTH_STORE_TEST_CHILD_* variables\n");
    return 10;
  }
  const int fd = std::atoi(fd_text);
  const std::optional<uint64_t> first_seq = ParseSeq(first_text);
  if (!first_seq.has_value()) return 11;

  absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(OptionsAt(dir));
  if (!store.ok()) {
    std::fprintf(stderr, "child: open failed: %s\n", store.status().ToString().c_str());
    return 12;
  }
  if (mode == "hold") {
    if (!WriteLine(fd, "ready")) return 13;
    for (;;) pause();
  }
  for (uint64_t seq = *first_seq; seq < *first_seq + kMaxChildBatches; ++seq) {
    absl::Status status = (*store)->Write(CrashBatch(seq));
    if (!status.ok()) {
      std::fprintf(stderr, "child: write %llu failed: %s\n", static_cast<unsigned long long>(seq),
                   status.ToString().c_str());
      return 14;
    }
    if (!WriteLine(fd, std::to_string(seq))) return 15;
  }
  return 0;
}

class ChildHelperEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* mode = std::getenv(kChildModeEnv);
    if (mode != nullptr) _exit(RunChild(mode));
  }
};
[[maybe_unused]] ::testing::Environment* const kChildHelper =
    ::testing::AddGlobalTestEnvironment(new ChildHelperEnvironment);

// A helper child seen from the parent: the read end of its pipe, and its pid. Killed (SIGKILL)
// and reaped on destruction, so a failing assertion never leaves it running.
class Child {
 public:
  // Runs this binary as a helper in `mode` on the store at `dir`; stdout and stderr go to
  // `log_path`.
  static std::unique_ptr<Child> Spawn(std::string_view mode, const std::string& dir, uint64_t first_seq,
                                      const std::string& log_path) {
    int fds[2];
    if (pipe(fds) != 0) return nullptr;
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    const int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    // Everything execve needs is built before fork: the child may only make async-signal-safe
    // calls until it execs.
    std::vector<std::string> env;
    for (char** entry = environ; *entry != nullptr; ++entry) {
      if (!std::string_view(*entry).starts_with("BERTH_STORE_TEST_CHILD_")) env.emplace_back(*entry);
    }
    env.push_back(std::string(kChildModeEnv) + "=" + std::string(mode));
    env.push_back(std::string(kChildDirEnv) + "=" + dir);
    env.push_back(std::string(kChildFdEnv) + "=" + std::to_string(fds[1]));
    env.push_back(std::string(kChildFirstSeqEnv) + "=" + std::to_string(first_seq));
    std::vector<char*> envp;
    for (std::string& entry : env) envp.push_back(entry.data());
    envp.push_back(nullptr);
    // The filter only has to select some test so that the environment's SetUp runs; it selects
    // the crash test, which refuses to run inside a child.
    std::string arg0 = "store_rocksdb_test";
    std::string arg1 = "--gtest_filter=RocksDbStoreCrashTest.*";
    char* argv[] = {arg0.data(), arg1.data(), nullptr};

    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(120);
      if (log_fd >= 0) {
        dup2(log_fd, STDOUT_FILENO);
        dup2(log_fd, STDERR_FILENO);
      }
      execve("/proc/self/exe", argv, envp.data());
      _exit(121);
    }
    close(fds[1]);
    if (log_fd >= 0) close(log_fd);
    if (pid < 0) {
      close(fds[0]);
      return nullptr;
    }
    return std::unique_ptr<Child>(new Child(pid, fds[0]));
  }

  ~Child() {
    Kill();
    close(read_fd_);
  }

  // Next line from the child, or nullopt on EOF or after `timeout` without one.
  std::optional<std::string> ReadLine(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (std::optional<std::string> line = TakeLine()) return line;
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{read_fd_, POLLIN, 0};
      const int ready = poll(&p, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return std::nullopt;
      char chunk[4096];
      const ssize_t n = read(read_fd_, chunk, sizeof(chunk));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::nullopt;  // EOF: the child is gone
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  // SIGKILL and reap; idempotent.
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

 private:
  Child(pid_t pid, int read_fd) : pid_(pid), read_fd_(read_fd) {}

  std::optional<std::string> TakeLine() {
    const size_t newline = buffer_.find('\n');
    if (newline == std::string::npos) return std::nullopt;
    std::string line = buffer_.substr(0, newline);
    buffer_.erase(0, newline + 1);
    return line;
  }

  pid_t pid_;
  int read_fd_;
  std::string buffer_;
};

// What recovery found of the crash workload.
struct CrashState {
  std::map<uint64_t, std::set<std::string>> parts;  // seq -> row kinds present
  std::vector<std::string> bad_rows;                // rows that do not decode or hold the wrong value
  std::string last_seq;                             // meta last_seq, or "<absent>"
  std::vector<std::string> pending;                 // pending-* cluster keys
};

CrashState ReadCrashState(Store& store) {
  CrashState state;
  auto add = [&](std::string_view id, std::string_view part, std::string_view value) {
    std::optional<uint64_t> seq = ParseSeq(id);
    if (!seq.has_value() || id.size() != kSeqDigits || value != Payload(*seq, part)) {
      state.bad_rows.push_back(std::string(part) + " " + std::string(id));
      return;
    }
    state.parts[*seq].insert(std::string(part));
  };
  absl::Status tasks =
      store.Scan(Table::kTasks, ClusterPrefix(kCrashCluster), [&](std::string_view key, std::string_view value) {
        std::optional<ClusterScopedKeyParts> parts = DecodeClusterScopedKey(key);
        const std::string_view id = parts.has_value() ? std::string_view(parts->id) : "?";
        if (id.ends_with("-a")) {
          add(id.substr(0, id.size() - 2), "task-a", value);
        } else if (id.ends_with("-b")) {
          add(id.substr(0, id.size() - 2), "task-b", value);
        } else {
          state.bad_rows.push_back("task " + std::string(id));
        }
        return true;
      });
  EXPECT_TRUE(IsOk(tasks));
  absl::Status services =
      store.Scan(Table::kServices, ClusterPrefix(kCrashCluster), [&](std::string_view key, std::string_view value) {
        std::optional<ClusterScopedKeyParts> parts = DecodeClusterScopedKey(key);
        add(parts.has_value() ? std::string_view(parts->id) : "?", "service", value);
        return true;
      });
  EXPECT_TRUE(IsOk(services));
  absl::Status attributes =
      store.Scan(Table::kAttributes, ClusterPrefix(kCrashCluster), [&](std::string_view key, std::string_view value) {
        std::optional<AttributeKeyParts> parts = DecodeAttributeKey(key);
        add(parts.has_value() ? std::string_view(parts->target_id) : "?", "attribute", value);
        return true;
      });
  EXPECT_TRUE(IsOk(attributes));
  absl::StatusOr<std::string> last = store.Get(Table::kMeta, kLastSeqKey);
  state.last_seq = last.ok() ? *last : "<absent>";
  EXPECT_TRUE(IsOk(store.Scan(Table::kClusters, "pending-", [&](std::string_view key, std::string_view) {
    state.pending.emplace_back(key);
    return true;
  })));
  return state;
}

// --- Tests ---

TEST(RocksDbStoreTest, ReopenKeepsDataInEveryTable) {
  testutil::TempDir dir;
  const std::string path = dir.Sub("db");
  {
    std::unique_ptr<Store> store = OpenOrDie(OptionsAt(path));
    ASSERT_NE(store, nullptr);
    WriteBatch batch;
    for (Table table : kAllTables) batch.Put(table, "key", "value of " + std::string(TableName(table)));
    batch.Put(Table::kTasks, "deleted", "x");
    ASSERT_TRUE(IsOk(store->Write(batch)));
    WriteBatch deletion;
    deletion.Delete(Table::kTasks, "deleted");
    ASSERT_TRUE(IsOk(store->Write(deletion)));
    ASSERT_TRUE(IsOk(store->Close()));
  }
  for (int reopen = 0; reopen < 2; ++reopen) {
    SCOPED_TRACE("reopen " + std::to_string(reopen));
    std::unique_ptr<Store> store = OpenOrDie(OptionsAt(path));
    ASSERT_NE(store, nullptr);
    for (Table table : kAllTables) {
      absl::StatusOr<std::string> value = store->Get(table, "key");
      ASSERT_TRUE(value.ok()) << TableName(table) << ": " << value.status();
      EXPECT_EQ(*value, "value of " + std::string(TableName(table)));
    }
    EXPECT_EQ(store->Get(Table::kTasks, "deleted").status().code(), absl::StatusCode::kNotFound);
    // The second pass reopens after the destructor, not Close(), released the store.
  }
}

TEST(RocksDbStoreTest, EveryTableHasAColumnFamilyAfterReopen) {
  testutil::TempDir dir;
  const std::string path = dir.Sub("db");
  std::vector<std::string> expected = AllTableNames();
  expected.push_back("default");
  for (int open = 0; open < 2; ++open) {
    std::unique_ptr<Store> store = OpenOrDie(OptionsAt(path));
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(IsOk(store->Close()));
    EXPECT_THAT(ColumnFamiliesAt(path), UnorderedElementsAreArray(expected)) << "after open " << open;
  }
}

// A store written by an older berthd lacks newer tables; one written by a newer berthd may have
// tables this one does not know. Both must open, without losing anything.
TEST(RocksDbStoreTest, OpenCreatesMissingColumnFamiliesAndKeepsUnknownOnes) {
  testutil::TempDir dir;
  const std::string path = dir.Sub("db");
  {
    rocksdb::Options options;
    options.create_if_missing = true;
    options.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, options}, {"clusters", options}, {"from_the_future", options}};
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, path, families, &handles, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[1], "prod", "old cluster").ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[2], "k", "future data").ok());
    for (auto* handle : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(handle).ok());
    ASSERT_TRUE(db->Close().ok());
  }

  std::unique_ptr<Store> store = OpenOrDie(OptionsAt(path));
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::string> cluster = store->Get(Table::kClusters, "prod");
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  EXPECT_EQ(*cluster, "old cluster");
  ASSERT_TRUE(IsOk(store->Close()));

  std::vector<std::string> names = ColumnFamiliesAt(path);
  EXPECT_THAT(names, IsSupersetOf(AllTableNames()));
  EXPECT_THAT(names, Contains("from_the_future"));
  EXPECT_EQ(names.size(), AllTableNames().size() + 2);  // + default + from_the_future
}

TEST(RocksDbStoreTest, SecondOpenInThisProcessFailsNamingThePath) {
  testutil::TempDir dir;
  const std::string path = dir.Sub("db");
  std::unique_ptr<Store> first = OpenOrDie(OptionsAt(path));
  ASSERT_NE(first, nullptr);

  absl::StatusOr<std::unique_ptr<Store>> second = OpenRocksDbStore(OptionsAt(path));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
  EXPECT_THAT(second.status().message(), HasSubstr("store at " + path + " is already open"));

  ASSERT_TRUE(IsOk(first->Close()));
  EXPECT_NE(OpenOrDie(OptionsAt(path)), nullptr) << "Close() must release the directory lock";
}

TEST(RocksDbStoreTest, OpenFailsWhileAnotherProcessHoldsTheDirectory) {
  testutil::TempDir dir;
  const std::string path = dir.Sub("db");
  const std::string log = dir.Sub("child.log");
  std::unique_ptr<Child> child = Child::Spawn("hold", path, 0, log);
  ASSERT_NE(child, nullptr);
  std::optional<std::string> line = child->ReadLine(std::chrono::seconds(20));
  ASSERT_EQ(line, std::optional<std::string>("ready")) << "child log:\n" << ReadFileOrEmpty(log);

  absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(OptionsAt(path));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
  EXPECT_THAT(store.status().message(), HasSubstr("store at " + path + " is already open"));
  EXPECT_THAT(store.status().message(), HasSubstr(path + "/LOCK"));

  child->Kill();  // the kernel drops a dead process's lock
  EXPECT_NE(OpenOrDie(OptionsAt(path)), nullptr);
}

TEST(RocksDbStoreTest, OpenCreatesMissingParentDirectories) {
  testutil::TempDir dir;
  const std::string path = dir.Sub("a/b/c/db");
  std::unique_ptr<Store> store = OpenOrDie(OptionsAt(path));
  ASSERT_NE(store, nullptr);
  WriteBatch batch;
  batch.Put(Table::kMeta, "k", "v");
  EXPECT_TRUE(IsOk(store->Write(batch)));
}

TEST(RocksDbStoreTest, UnusablePathFailsNamingThePath) {
  testutil::TempDir dir;
  std::ofstream(dir.Sub("file")) << "not a directory";
  const std::string path = dir.Sub("file/db");
  absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(OptionsAt(path));
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr(path));

  EXPECT_EQ(OpenRocksDbStore(OptionsAt("")).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RocksDbStoreTest, CorruptStoreIsDataLossNamingThePath) {
  testutil::TempDir dir;
  const std::string path = dir.Sub("db");
  {
    std::unique_ptr<Store> store = OpenOrDie(OptionsAt(path));
    ASSERT_NE(store, nullptr);
  }
  std::ofstream(path + "/CURRENT", std::ios::trunc) << "garbage without a newline";
  absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(OptionsAt(path));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss) << store.status();
  EXPECT_THAT(store.status().message(), HasSubstr(path));
}

TEST(RocksDbStoreTest, SyncedWritesCountAsSyncs) {
  testutil::TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(OptionsAt(dir.Sub("db"), /*sync=*/true));
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 3; ++i) {
    WriteBatch batch;
    batch.Put(Table::kTasks, "t" + std::to_string(i), "v");
    ASSERT_TRUE(IsOk(store->Write(batch)));
  }
  EXPECT_EQ(store->Stats().writes, 3u);
  EXPECT_EQ(store->Stats().syncs, 3u);
}

// sync=false skips the per-write fsync, not durability at Close(): Close() syncs the WAL.
TEST(RocksDbStoreTest, UnsyncedWritesAreNotSyncsAndSurviveClose) {
  testutil::TempDir dir;
  const std::string path = dir.Sub("db");
  {
    std::unique_ptr<Store> store = OpenOrDie(OptionsAt(path, /*sync=*/false));
    ASSERT_NE(store, nullptr);
    WriteBatch batch;
    batch.Put(Table::kTasks, "t", "v");
    ASSERT_TRUE(IsOk(store->Write(batch)));
    EXPECT_EQ(store->Stats().writes, 1u);
    EXPECT_EQ(store->Stats().syncs, 0u);
    ASSERT_TRUE(IsOk(store->Close()));
  }
  std::unique_ptr<Store> store = OpenOrDie(OptionsAt(path));
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::string> value = store->Get(Table::kTasks, "t");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, "v");
}

TEST(RocksDbStoreTest, ApproximateDiskBytesGrowsWithData) {
  testutil::TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(OptionsAt(dir.Sub("db")));
  ASSERT_NE(store, nullptr);
  const uint64_t before = store->ApproximateDiskBytes();
  std::mt19937 rng(3);
  constexpr size_t kBytes = 2 << 20;  // random, so compression cannot shrink it
  for (size_t written = 0; written < kBytes; written += 64 << 10) {
    std::string value(64 << 10, '\0');
    for (char& c : value) c = static_cast<char>(rng());
    WriteBatch batch;
    batch.Put(Table::kTasks, "t" + std::to_string(written), std::move(value));
    ASSERT_TRUE(IsOk(store->Write(batch)));
  }
  EXPECT_GE(store->ApproximateDiskBytes(), before + kBytes);
}

// The nice value of each of this process's threads whose name starts with `prefix`.
std::vector<int> NiceOfThreads(std::string_view prefix) {
  std::vector<int> nices;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    if (!std::getline(comm, name) || name.rfind(prefix, 0) != 0) continue;
    const id_t tid = static_cast<id_t>(std::stoul(task.path().filename().string()));
    errno = 0;
    const int nice = getpriority(PRIO_PROCESS, tid);
    if (errno == 0) nices.push_back(nice);
  }
  return nices;
}

// RocksDB's flush thread lowers itself when it takes its next job: fill a memtable (64 MiB) so
// one is flushed, then it runs at nice 19.
TEST(RocksDbStoreTest, FlushesRunAtTheLowestCpuPriority) {
  testutil::TempDir dir;
  RocksDbOptions options = OptionsAt(dir.Sub("db"), /*sync=*/false);
  ASSERT_TRUE(options.low_priority_background);  // the default
  if (getpriority(PRIO_PROCESS, 0) >= 19) GTEST_SKIP() << "this test already runs at nice 19";
  std::unique_ptr<Store> store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);
  const std::string value(64 << 10, 'x');
  for (int i = 0; i < 1200; ++i) {  // 75 MiB
    WriteBatch batch;
    batch.Put(Table::kTasks, "t" + std::to_string(i), value);
    ASSERT_TRUE(IsOk(store->Write(batch)));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::vector<int> nices;
  while (std::chrono::steady_clock::now() < deadline) {
    nices = NiceOfThreads("rocksdb:high");
    if (!nices.empty() && std::all_of(nices.begin(), nices.end(), [](int n) { return n == 19; })) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_THAT(nices, ::testing::Not(::testing::IsEmpty()));
  EXPECT_THAT(nices, ::testing::Each(19));
}

// Close() must not tear the DB down under a running iterator: it waits for the Scan.
TEST(RocksDbStoreTest, CloseWaitsForAScanInProgress) {
  testutil::TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(OptionsAt(dir.Sub("db")));
  ASSERT_NE(store, nullptr);
  WriteBatch batch;
  for (int i = 0; i < 3; ++i) batch.Put(Table::kTasks, "t" + std::to_string(i), "v");
  ASSERT_TRUE(IsOk(store->Write(batch)));

  std::atomic<bool> close_returned{false};
  std::thread closer;
  bool returned_during_scan = false;
  int visited = 0;
  absl::Status scan = store->Scan(Table::kTasks, "", [&](std::string_view, std::string_view) {
    if (visited++ == 0) {
      closer = std::thread([&] {
        EXPECT_TRUE(IsOk(store->Close()));
        close_returned = true;
      });
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      returned_during_scan = close_returned.load();
    }
    return true;
  });
  closer.join();
  EXPECT_TRUE(IsOk(scan));
  EXPECT_EQ(visited, 3);
  EXPECT_FALSE(returned_during_scan) << "Close() returned while a Scan was still iterating";
  EXPECT_TRUE(close_returned.load());
}

// A process killed in the middle of a WAL append leaves a torn last record. That batch was never
// acknowledged (its fsync had not returned): the store must open without it, and with every
// batch before it. kill -9 rarely tears a record in practice (RocksDB appends a record with one
// write()), so the test tears one deterministically.
TEST(RocksDbStoreTest, TornWalTailIsDroppedAndTheStoreOpens) {
  testutil::TempDir dir;
  const std::string path = dir.Sub("db");
  {
    std::unique_ptr<Store> store = OpenOrDie(OptionsAt(path));
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(IsOk(store->Write(CrashBatch(0))));
    ASSERT_TRUE(IsOk(store->Write(CrashBatch(1))));
    ASSERT_TRUE(IsOk(store->Close()));  // memtables are not flushed: both batches live in the WAL
  }
  std::filesystem::path wal;
  for (const auto& entry : std::filesystem::directory_iterator(path)) {
    if (entry.path().extension() == ".log" && (wal.empty() || entry.path().filename() > wal.filename())) {
      wal = entry.path();
    }
  }
  ASSERT_FALSE(wal.empty()) << "no WAL file in " << path;
  const uintmax_t size = std::filesystem::file_size(wal);
  ASSERT_GT(size, 1000u);
  std::filesystem::resize_file(wal, size - 10);  // cut into the last record, batch 1

  std::unique_ptr<Store> store = OpenOrDie(OptionsAt(path));
  ASSERT_NE(store, nullptr) << "a torn WAL tail must not stop the store from opening";
  const CrashState state = ReadCrashState(*store);
  EXPECT_THAT(state.bad_rows, ::testing::IsEmpty());
  ASSERT_EQ(state.parts.size(), 1u) << "batch 1 must be gone whole, batch 0 kept whole";
  EXPECT_EQ(state.parts.begin()->first, 0u);
  EXPECT_EQ(state.parts.begin()->second.size(), std::size(kCrashParts));
  EXPECT_EQ(state.last_seq, SeqId(0));
  EXPECT_THAT(state.pending, ::testing::ElementsAre(PendingKey(0)));
}

// The durability contract under kill -9: a child writes synced batches and reports each one
// after Write() returns OK; the parent kills it at a random (seeded) moment, reopens, and checks
// that every acknowledged batch is present and that no batch is present only in part. Several
// rounds on the same directory, so recovery also follows recovery.
TEST(RocksDbStoreCrashTest, KillNineKeepsAcknowledgedBatchesAndNeverHalfABatch) {
  ASSERT_EQ(std::getenv(kChildModeEnv), nullptr) << "the crash test must not run inside its own child";
  constexpr int kRounds = 4;
  testutil::TempDir dir;
  const std::string path = dir.Sub("db");
  std::mt19937 rng(0xBE27);
  uint64_t first_seq = 0;  // of the current round: one past the last batch recovered so far

  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round) + ", first seq " + std::to_string(first_seq));
    const size_t acks_before_kill = std::uniform_int_distribution<size_t>(1, 80)(rng);
    const int extra_delay_us = std::uniform_int_distribution<int>(0, 4000)(rng);
    const std::string log = dir.Sub("child-" + std::to_string(round) + ".log");

    std::vector<uint64_t> acked;
    {
      std::unique_ptr<Child> child = Child::Spawn("write", path, first_seq, log);
      ASSERT_NE(child, nullptr);
      while (acked.size() < acks_before_kill) {
        std::optional<std::string> line = child->ReadLine(std::chrono::seconds(20));
        ASSERT_TRUE(line.has_value()) << "child stopped acknowledging; its log:\n" << ReadFileOrEmpty(log);
        std::optional<uint64_t> seq = ParseSeq(*line);
        ASSERT_TRUE(seq.has_value()) << *line;
        acked.push_back(*seq);
      }
      // The child keeps writing meanwhile: the kill lands at an arbitrary point of a Write.
      std::this_thread::sleep_for(std::chrono::microseconds(extra_delay_us));
      child->Kill();
      // Acknowledgements already in the pipe were made before the kill: they count too.
      while (std::optional<std::string> line = child->ReadLine(std::chrono::seconds(5))) {
        std::optional<uint64_t> seq = ParseSeq(*line);
        ASSERT_TRUE(seq.has_value()) << *line;
        acked.push_back(*seq);
      }
    }
    for (size_t i = 0; i < acked.size(); ++i) {
      ASSERT_EQ(acked[i], first_seq + i) << "the child acknowledges batches in order, from first_seq";
    }
    const uint64_t last_acked = acked.back();

    std::unique_ptr<Store> store = OpenOrDie(OptionsAt(path));
    ASSERT_NE(store, nullptr) << "the store must open after kill -9";
    const CrashState state = ReadCrashState(*store);
    ASSERT_TRUE(IsOk(store->Close()));

    EXPECT_THAT(state.bad_rows, ::testing::IsEmpty());
    ASSERT_FALSE(state.parts.empty());
    const uint64_t last_present = state.parts.rbegin()->first;
    // Every batch 0..last_present is there whole (all-or-nothing, and no holes: batches are
    // written in order) ...
    EXPECT_EQ(state.parts.size(), last_present + 1) << "a batch is missing below the last one recovered";
    for (const auto& [seq, parts] : state.parts) {
      EXPECT_EQ(parts.size(), std::size(kCrashParts)) << "batch " << seq << " is only partly present";
    }
    // ... including its overwrite of meta and its delete + put in clusters.
    EXPECT_EQ(state.last_seq, SeqId(last_present));
    EXPECT_THAT(state.pending, ::testing::ElementsAre(PendingKey(last_present)));
    // Acknowledged means durable; at most the one batch in flight at the kill may be extra.
    EXPECT_GE(last_present, last_acked) << "an acknowledged batch was lost";
    EXPECT_LE(last_present, last_acked + 1) << "more than one unacknowledged batch recovered";

    first_seq = last_present + 1;
  }
}

}  // namespace
}  // namespace berth::store
