// Private to src/store: the one place where rocksdb::Status becomes absl::Status.
//
// Thread-safe (pure functions).
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "rocksdb/status.h"

namespace berth::store::internal {

// Converts `status`, prefixing the message with `context`, which should name the operation, the
// table and the path ("rocksdb Get(tasks) at /var/lib/berth"). Mapping:
//   NotFound -> kNotFound            Corruption -> kDataLoss
//   IOError/NoSpace or SpaceLimit -> kResourceExhausted
//   IOError with severity kUnrecoverableError -> kDataLoss (the DB says it cannot recover state)
//   other IOError, Busy, TryAgain, Incomplete, ShutdownInProgress -> kUnavailable
//   InvalidArgument -> kInvalidArgument  NotSupported -> kUnimplemented
//   TimedOut -> kDeadlineExceeded    Aborted -> kAborted
//   CompactionTooLarge -> kResourceExhausted  ColumnFamilyDropped -> kFailedPrecondition
//   anything else -> kInternal
absl::Status FromRocksDb(const rocksdb::Status& status, std::string_view context);

// Whether `status` (from DB::Open) means another process, or another handle in this process,
// holds the directory's LOCK file.
bool IsLockConflict(const rocksdb::Status& status);

}  // namespace berth::store::internal
