#include "src/bench/machine.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace berth::bench {
namespace {

// The first whitespace-delimited word of a small sysfs/procfs file; empty if unreadable.
std::string FirstWord(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string word;
  in >> word;
  return word;
}

int64_t MemTotalMib() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit) {
    if (key == "MemTotal:") return kib / 1024;
  }
  return 0;
}

}  // namespace

nlohmann::ordered_json MachineFacts(const std::string& damon_admin) {
  namespace fs = std::filesystem;
  nlohmann::ordered_json facts;
  utsname name{};
  facts["kernel"] = uname(&name) == 0 ? std::string(name.release) : std::string();
  facts["cpus"] = sysconf(_SC_NPROCESSORS_ONLN);
  facts["memory_mib"] = MemTotalMib();
  nlohmann::ordered_json damon = nlohmann::ordered_json::array();
  std::error_code ec;
  const fs::path kdamonds = fs::path(damon_admin) / "kdamonds";
  for (const auto& entry : fs::directory_iterator(kdamonds, ec)) {
    if (!entry.is_directory(ec)) continue;
    nlohmann::ordered_json k;
    k["kdamond"] = entry.path().filename().string();
    k["state"] = FirstWord(entry.path() / "state");
    nlohmann::ordered_json actions = nlohmann::ordered_json::array();
    std::error_code ec2;
    for (const auto& context : fs::directory_iterator(entry.path() / "contexts", ec2)) {
      std::error_code ec3;
      for (const auto& scheme : fs::directory_iterator(context.path() / "schemes", ec3)) {
        if (!scheme.is_directory(ec3)) continue;
        if (std::string action = FirstWord(scheme.path() / "action"); !action.empty()) actions.push_back(action);
      }
    }
    k["actions"] = std::move(actions);
    damon.push_back(std::move(k));
  }
  facts["damon"] = std::move(damon);
  return facts;
}

std::string ReclaimNote(const nlohmann::ordered_json& facts) {
  if (!facts.contains("damon")) return {};
  for (const auto& k : facts["damon"]) {
    if (k.value("state", "") != "on") continue;
    for (const auto& action : k["actions"]) {
      const std::string a = action.get<std::string>();
      if (a == "stat") continue;  // monitoring only
      return "kernel DAMON is reclaiming memory (kdamond " + k.value("kdamond", "") + ", action " + a +
             "): on a VM this can add tens of milliseconds to tail latency (docs/benchmarks.md, \"The machine\")";
    }
  }
  return {};
}

}  // namespace berth::bench
