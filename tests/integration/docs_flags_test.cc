// The flag tables of docs/operations.md and docs/agent.md against the real binaries' --help:
// every flag berthd or berth-agent has is documented, every documented flag exists, and a default
// the binary shows is the one the table gives.
#include <gtest/gtest.h>

#include <cctype>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>

#include "tests/testutil/berthd_process.h"
#include "tests/testutil/markdown_doc.h"
#include "tests/testutil/shell.h"
#include "tests/testutil/temp_dir.h"

namespace berth {
namespace {

// A flag of --help (CLI11's format: "  --name TYPE=DEFAULT  description"), with the default it
// shows, if any.
struct HelpFlag {
  std::string default_value;  // empty when none is shown
};

std::map<std::string, HelpFlag> HelpFlags(const std::string& binary) {
  testutil::TempDir dir;
  testutil::ShellResult r = testutil::RunShell(testutil::ShellQuote(binary) + " --help", dir.path(), "help");
  EXPECT_EQ(r.exit_code, 0) << r;
  std::map<std::string, HelpFlag> flags;
  const std::regex option_re(R"(^  (?:-\w,)?(--[a-z0-9-]+)(\S*(?: \S+)*))");
  std::istringstream out(r.out);
  for (std::string line; std::getline(out, line);) {
    std::smatch m;
    if (!std::regex_search(line, m, option_re) || m[1] == "--help") continue;
    std::string spec = m[2].str();  // " TYPE=DEFAULT", " TEXT REQUIRED", ...
    HelpFlag flag;
    if (size_t eq = spec.find('='); eq != std::string::npos && spec.find(' ') != std::string::npos) {
      flag.default_value = spec.substr(eq + 1);
      if (spec.find("BOOLEAN") != std::string::npos) flag.default_value = flag.default_value == "1" ? "true" : "false";
    }
    flags[m[1]] = flag;
  }
  EXPECT_FALSE(flags.empty()) << binary << " --help listed no flags:\n" << r.out;
  return flags;
}

struct DocFlag {
  int line = 0;
  std::string default_cell;
};

// The flags of the first column of `doc`'s table `| flag | default | meaning |`.
std::map<std::string, DocFlag> DocFlags(const std::string& doc) {
  std::map<std::string, DocFlag> flags;
  auto rows = testutil::FindTable(testutil::ReadDoc(doc), {"flag", "default", "meaning"});
  EXPECT_TRUE(rows.has_value()) << doc << ": no table with the header | flag | default | meaning |";
  if (!rows) return flags;
  for (const auto& row : *rows) {
    auto names = testutil::FlagsIn(row.cells[0]);
    EXPECT_FALSE(names.empty()) << doc << ":" << row.line << ": a row of the flag table names no --flag";
    for (const auto& name : names) {
      auto [it, inserted] = flags.emplace(name, DocFlag{row.line, row.cells.size() > 1 ? row.cells[1] : ""});
      EXPECT_TRUE(inserted) << doc << ":" << row.line << ": " << name << " is documented already, at line "
                            << it->second.line;
    }
  }
  return flags;
}

// The words of a table cell: runs of letters, digits and . , : / - (so "`30` (0.1–300)" is 30, 0.1
// and 300, and a default of 30 is told from one of 300).
std::set<std::string> Words(const std::string& cell) {
  std::set<std::string> words;
  std::string word;
  for (char c : cell + " ") {
    if (std::isalnum(static_cast<unsigned char>(c)) || std::string_view(".,:/-_{}").find(c) != std::string_view::npos) {
      word += c;
    } else if (!word.empty()) {
      words.insert(word);
      word.clear();
    }
  }
  return words;
}

void ExpectDocumented(const std::string& binary_path, const std::string& doc) {
  const std::string binary = testutil::BuiltBinary(binary_path);
  auto help = HelpFlags(binary);
  auto documented = DocFlags(doc);
  for (const auto& [name, flag] : help) {
    auto it = documented.find(name);
    if (it == documented.end()) {
      ADD_FAILURE() << doc << ": the flag table does not document " << name << ", a flag of " << binary_path
                    << " --help";
      continue;
    }
    if (!flag.default_value.empty()) {
      EXPECT_TRUE(Words(it->second.default_cell).contains(flag.default_value))
          << doc << ":" << it->second.line << ": " << name << " defaults to '" << flag.default_value << "' ("
          << binary_path << " --help), but the default column says '" << it->second.default_cell << "'";
    }
  }
  for (const auto& [name, flag] : documented) {
    EXPECT_TRUE(help.contains(name)) << doc << ":" << flag.line << ": " << name << " is documented, but " << binary_path
                                     << " --help has no such flag";
  }
}

TEST(DocsFlagsTest, OperationsDocumentsEveryFlagOfBerthd) {
  ExpectDocumented("src/controlplane/berthd", "docs/operations.md");
}

TEST(DocsFlagsTest, AgentDocDocumentsEveryFlagOfBerthAgent) {
  ExpectDocumented("src/agent/berth-agent", "docs/agent.md");
}

}  // namespace
}  // namespace berth
