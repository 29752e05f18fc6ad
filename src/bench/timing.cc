#include "src/bench/timing.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "berth/common/strings.h"

namespace berth::bench {

absl::StatusOr<std::chrono::microseconds> ParseDuration(std::string_view text) {
  size_t unit_at = text.size();
  while (unit_at > 0 && std::isalpha(static_cast<unsigned char>(text[unit_at - 1]))) --unit_at;
  std::string_view number = text.substr(0, unit_at);
  std::string_view unit = text.substr(unit_at);
  double scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1e6;
  } else if (unit == "ms") {
    scale = 1e3;
  } else if (unit == "m") {
    scale = 60e6;
  } else {
    return absl::InvalidArgumentError(StrCat("'", text, "': unit must be ms, s or m"));
  }
  std::string digits(number);
  char* end = nullptr;
  double value = digits.empty() ? NAN : std::strtod(digits.c_str(), &end);
  if (digits.empty() || end != digits.c_str() + digits.size() || !std::isfinite(value) || value < 0) {
    return absl::InvalidArgumentError(StrCat("'", text, "' is not a duration such as 10s, 500ms or 1m"));
  }
  return std::chrono::microseconds(static_cast<int64_t>(std::llround(value * scale)));
}

double SelfCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

std::optional<double> ProcessCpuSeconds(pid_t pid) {
  std::ifstream in(StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  // The command name (field 2) may hold spaces and parentheses: fields are counted after the last ')'.
  size_t paren = line.rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(paren + 1));
  std::string field;
  double utime = 0, stime = 0;
  // After ')': field 3 (state) is the first; utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::strtod(field.c_str(), nullptr);
    if (i == 15) stime = std::strtod(field.c_str(), nullptr);
  }
  long ticks = sysconf(_SC_CLK_TCK);
  if (ticks <= 0) return std::nullopt;
  return (utime + stime) / static_cast<double>(ticks);
}

std::optional<int64_t> ProcessRssBytes(pid_t pid) {
  std::ifstream in(StrCat("/proc/", pid, "/status"));
  std::string line;
  while (in && std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return static_cast<int64_t>(std::strtoll(line.c_str() + 6, nullptr, 10)) * 1024;
  }
  return std::nullopt;
}

int64_t DirectoryBytes(const std::string& dir) {
  std::error_code ec;
  int64_t total = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      const auto size = it->file_size(size_ec);
      if (!size_ec) total += static_cast<int64_t>(size);
    }
  }
  return total;
}

std::optional<double> MachineBusyCpuSeconds() {
  std::ifstream in("/proc/stat");
  std::string label;
  if (!(in >> label) || label != "cpu") return std::nullopt;
  // user nice system idle iowait irq softirq steal (guest time is already inside user and nice).
  double busy = 0;
  for (int i = 0; i < 8; ++i) {
    double ticks = 0;
    if (!(in >> ticks)) return std::nullopt;
    if (i != 3 && i != 4) busy += ticks;
  }
  long ticks_per_second = sysconf(_SC_CLK_TCK);
  if (ticks_per_second <= 0) return std::nullopt;
  return busy / static_cast<double>(ticks_per_second);
}

}  // namespace berth::bench
