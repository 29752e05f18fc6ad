#include "src/agent/cgroups.h"

#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "berth/common/status.h"
#include "berth/common/strings.h"

namespace berth::agent {
namespace {

constexpr int64_t kPeriodMicros = 100'000;
constexpr int64_t kMinQuotaMicros = 1'000;
constexpr int64_t kCgroup2Magic = 0x63677270;  // CGROUP2_SUPER_MAGIC

absl::Status MakeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) return absl::OkStatus();
  return absl::InternalError(StrCat("mkdir ", path, ": ", std::strerror(errno)));
}

absl::Status RemoveDir(const std::string& path) {
  if (::rmdir(path.c_str()) == 0 || errno == ENOENT) return absl::OkStatus();
  return absl::FailedPreconditionError(StrCat("rmdir ", path, ": ", std::strerror(errno)));
}

absl::Status WriteValue(const std::string& path, const std::string& value) {
  std::ofstream out(path, std::ios::out | std::ios::trunc);
  if (out) out << value;
  if (out) out.flush();
  if (!out) return absl::InternalError(StrCat("write ", value, " to ", path, ": ", std::strerror(errno)));
  return absl::OkStatus();
}

}  // namespace

TaskCgroups::TaskCgroups(TaskCgroupsOptions options) : options_(std::move(options)) {}

int64_t TaskCgroups::QuotaMicros(int64_t cpu_units) {
  return std::max(kMinQuotaMicros, cpu_units * kPeriodMicros / 1024);
}

int TaskCgroups::DetectVersion(const std::string& root) {
  struct statfs fs {};
  if (::statfs(root.c_str(), &fs) == 0 && static_cast<int64_t>(fs.f_type) == kCgroup2Magic) return 2;
  return 1;
}

absl::StatusOr<std::string> TaskCgroups::Create(const std::string& task_id, int64_t cpu_units,
                                                int64_t memory_mib) const {
  const std::string& root = options_.root;
  const std::string& parent = options_.parent;
  const int64_t shares = std::max<int64_t>(2, cpu_units);
  if (options_.version == 2) {
    // Controllers must be enabled on every level above the task's cgroup.
    for (const std::string& level : {root, root + "/" + parent}) {
      if (level != root) RETURN_IF_ERROR(MakeDir(level));
      RETURN_IF_ERROR(WriteValue(level + "/cgroup.subtree_control", "+cpu +memory"));
    }
    const std::string dir = root + "/" + parent + "/" + task_id;
    RETURN_IF_ERROR(MakeDir(dir));
    if (memory_mib > 0) RETURN_IF_ERROR(WriteValue(dir + "/memory.max", StrCat(memory_mib * 1024 * 1024)));
    if (cpu_units > 0) {
      RETURN_IF_ERROR(WriteValue(dir + "/cpu.max", StrCat(QuotaMicros(cpu_units), " ", kPeriodMicros)));
      // The shares -> weight conversion of runc (2..262144 -> 1..10000).
      RETURN_IF_ERROR(WriteValue(dir + "/cpu.weight", StrCat(1 + ((shares - 2) * 9999) / 262142)));
    }
  } else {
    for (const char* controller : {"memory", "cpu"}) {
      RETURN_IF_ERROR(MakeDir(StrCat(root, "/", controller, "/", parent)));
      RETURN_IF_ERROR(MakeDir(StrCat(root, "/", controller, "/", parent, "/", task_id)));
    }
    const std::string memory = StrCat(root, "/memory/", parent, "/", task_id);
    const std::string cpu = StrCat(root, "/cpu/", parent, "/", task_id);
    if (memory_mib > 0) RETURN_IF_ERROR(WriteValue(memory + "/memory.limit_in_bytes", StrCat(memory_mib * 1024 * 1024)));
    if (cpu_units > 0) {
      RETURN_IF_ERROR(WriteValue(cpu + "/cpu.shares", StrCat(shares)));
      RETURN_IF_ERROR(WriteValue(cpu + "/cpu.cfs_period_us", StrCat(kPeriodMicros)));
      RETURN_IF_ERROR(WriteValue(cpu + "/cpu.cfs_quota_us", StrCat(QuotaMicros(cpu_units))));
    }
  }
  return StrCat("/", parent, "/", task_id);
}

absl::Status TaskCgroups::Remove(const std::string& task_id) const {
  if (options_.version == 2) return RemoveDir(StrCat(options_.root, "/", options_.parent, "/", task_id));
  absl::Status result = absl::OkStatus();
  for (const char* controller : {"memory", "cpu"}) {
    absl::Status s = RemoveDir(StrCat(options_.root, "/", controller, "/", options_.parent, "/", task_id));
    if (!s.ok()) result = s;
  }
  return result;
}

}  // namespace berth::agent
