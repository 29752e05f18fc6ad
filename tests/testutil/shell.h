// Running a shell command from an integration test (the real aws CLI, a Python script) and
// collecting its exit status and output.
#pragma once

#include <ostream>
#include <string>

namespace berth::testutil {

// `s` single-quoted for sh.
std::string ShellQuote(const std::string& s);

struct ShellResult {
  int exit_code = -1;  // 128 + the signal when a signal ended it
  std::string out;
  std::string err;
};
std::ostream& operator<<(std::ostream& os, const ShellResult& r);

// Runs `command` with sh, its stdout and stderr going to `dir`/`name`.out and .err (kept for a
// failing test to point at), and returns both with the exit status.
ShellResult RunShell(const std::string& command, const std::string& dir, const std::string& name);

}  // namespace berth::testutil
