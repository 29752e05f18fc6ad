#include "src/store/rocksdb_status.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/status/status.h"
#include "rocksdb/status.h"

namespace berth::store::internal {
namespace {

TEST(RocksDbStatusTest, MapsEveryCodeToACanonicalCode) {
  struct Case {
    const char* what;
    rocksdb::Status from;
    absl::StatusCode to;
  };
  const Case cases[] = {
      {"ok", rocksdb::Status::OK(), absl::StatusCode::kOk},
      {"not found", rocksdb::Status::NotFound("k"), absl::StatusCode::kNotFound},
      {"corruption is data loss", rocksdb::Status::Corruption("bad block"), absl::StatusCode::kDataLoss},
      {"plain I/O error may pass", rocksdb::Status::IOError("read failed"), absl::StatusCode::kUnavailable},
      {"missing path is an I/O error", rocksdb::Status::PathNotFound("x"), absl::StatusCode::kUnavailable},
      {"disk full", rocksdb::Status::NoSpace("disk full"), absl::StatusCode::kResourceExhausted},
      {"space limit", rocksdb::Status::SpaceLimit("sst manager limit"), absl::StatusCode::kResourceExhausted},
      {"unrecoverable I/O error is data loss",
       rocksdb::Status(rocksdb::Status::IOError("wal"), rocksdb::Status::kUnrecoverableError),
       absl::StatusCode::kDataLoss},
      {"hard I/O error is still unavailable",
       rocksdb::Status(rocksdb::Status::IOError("wal"), rocksdb::Status::kHardError), absl::StatusCode::kUnavailable},
      {"invalid argument", rocksdb::Status::InvalidArgument("x"), absl::StatusCode::kInvalidArgument},
      {"not supported", rocksdb::Status::NotSupported("x"), absl::StatusCode::kUnimplemented},
      {"timed out", rocksdb::Status::TimedOut(), absl::StatusCode::kDeadlineExceeded},
      {"aborted", rocksdb::Status::Aborted(), absl::StatusCode::kAborted},
      {"busy", rocksdb::Status::Busy(), absl::StatusCode::kUnavailable},
      {"try again", rocksdb::Status::TryAgain(), absl::StatusCode::kUnavailable},
      {"incomplete", rocksdb::Status::Incomplete(), absl::StatusCode::kUnavailable},
      {"shutting down", rocksdb::Status::ShutdownInProgress(), absl::StatusCode::kUnavailable},
      {"compaction too large", rocksdb::Status::CompactionTooLarge(), absl::StatusCode::kResourceExhausted},
      {"column family dropped", rocksdb::Status::ColumnFamilyDropped(), absl::StatusCode::kFailedPrecondition},
      {"merge in progress", rocksdb::Status::MergeInProgress(), absl::StatusCode::kInternal},
      {"expired", rocksdb::Status::Expired(), absl::StatusCode::kInternal},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(FromRocksDb(c.from, "ctx").code(), c.to) << c.what << ": " << c.from.ToString();
  }
}

TEST(RocksDbStatusTest, MessageKeepsContextAndRocksDbText) {
  absl::Status status = FromRocksDb(rocksdb::Status::Corruption("block checksum mismatch"),
                                    "rocksdb Get(tasks) key \"x\" at /var/lib/berth");
  EXPECT_EQ(status.message(), "rocksdb Get(tasks) key \"x\" at /var/lib/berth: Corruption: block checksum mismatch");
}

TEST(RocksDbStatusTest, RecognisesLockConflicts) {
  struct Case {
    const char* what;
    rocksdb::Status status;
    bool conflict;
  };
  const Case cases[] = {
      // The two texts RocksDB 7.8 produces (posix env), cross-process and in-process.
      {"another process", rocksdb::Status::IOError("While lock file: /d/LOCK", "Resource temporarily unavailable"),
       true},
      {"this process",
       rocksdb::Status::IOError("lock hold by current process, acquire time 1 acquiring thread 2: /d/LOCK",
                                "No locks available"),
       true},
      {"other I/O error", rocksdb::Status::IOError("While open a file for appending: /d/000007.log", "EIO"), false},
      {"corruption mentioning LOCK is not a lock conflict", rocksdb::Status::Corruption("/d/LOCK"), false},
  };
  for (const Case& c : cases) EXPECT_EQ(IsLockConflict(c.status), c.conflict) << c.what;
}

}  // namespace
}  // namespace berth::store::internal
