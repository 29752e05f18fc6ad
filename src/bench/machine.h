// Facts about the machine a benchmark ran on, recorded in every berth-bench report: tail latency
// on a small shared VM depends on them as much as on berthd.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace berth::bench {

// {"kernel": uname release, "cpus": online CPUs, "memory_mib": MemTotal,
//  "damon": [{"kdamond": "0", "state": "on", "actions": ["pageout"]}, ...]}. `damon_admin` is the
// DAMON sysfs admin directory; a kernel without DAMON (or an unreadable one) gives "damon": [].
nlohmann::ordered_json MachineFacts(const std::string& damon_admin = "/sys/kernel/mm/damon/admin");

// A note for the console when a running kdamond applies a reclaim action ("pageout", "lru_deprio",
// ...) to physical memory: on the VM of docs/benchmarks.md it added 20-30 ms stalls to the tail of
// both processes. Empty when there is nothing to say.
std::string ReclaimNote(const nlohmann::ordered_json& facts);

}  // namespace berth::bench
