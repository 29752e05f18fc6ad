#include "src/store/rocksdb_status.h"

#include <string>

#include "fmt/format.h"

namespace berth::store::internal {
namespace {

absl::StatusCode CodeFor(const rocksdb::Status& status) {
  using R = rocksdb::Status;
  switch (status.code()) {
    case R::kOk:
      return absl::StatusCode::kOk;
    case R::kNotFound:
      return absl::StatusCode::kNotFound;
    case R::kCorruption:
      return absl::StatusCode::kDataLoss;
    case R::kNotSupported:
      return absl::StatusCode::kUnimplemented;
    case R::kInvalidArgument:
      return absl::StatusCode::kInvalidArgument;
    case R::kIOError:
      if (status.subcode() == R::kNoSpace || status.subcode() == R::kSpaceLimit) {
        return absl::StatusCode::kResourceExhausted;
      }
      // RocksDB marks an error unrecoverable when what it holds in memory and on disk no longer
      // agree; nothing a retry could fix.
      if (status.severity() >= R::kUnrecoverableError) return absl::StatusCode::kDataLoss;
      // Otherwise the device or file system failed this call; the data on disk is intact as far
      // as RocksDB knows (a failed write was not acknowledged).
      return absl::StatusCode::kUnavailable;
    case R::kIncomplete:
    case R::kShutdownInProgress:
    case R::kBusy:
    case R::kTryAgain:
      return absl::StatusCode::kUnavailable;
    case R::kTimedOut:
      return absl::StatusCode::kDeadlineExceeded;
    case R::kAborted:
      return absl::StatusCode::kAborted;
    case R::kCompactionTooLarge:
      return absl::StatusCode::kResourceExhausted;
    case R::kColumnFamilyDropped:
      return absl::StatusCode::kFailedPrecondition;
    case R::kMergeInProgress:
    case R::kExpired:
    case R::kMaxCode:
      break;
  }
  return absl::StatusCode::kInternal;
}

}  // namespace

absl::Status FromRocksDb(const rocksdb::Status& status, std::string_view context) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(CodeFor(status), fmt::format("{}: {}", context, status.ToString()));
}

bool IsLockConflict(const rocksdb::Status& status) {
  // RocksDB reports both cases as IOError naming "<dir>/LOCK": "While lock file: <dir>/LOCK:
  // Resource temporarily unavailable" (another process) and "lock hold by current process ...
  // <dir>/LOCK: No locks available" (this process).
  return status.IsIOError() && status.ToString().find("/LOCK") != std::string::npos;
}

}  // namespace berth::store::internal
