// Reading the project's docs from tests that keep them true to the code: a doc's lines, its
// Markdown tables (split on `|`, simply), and the names a cell or a passage spells out.
#pragma once

#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace berth::testutil {

// One line of a doc, with where it is for failure messages ("docs/api.md:12").
struct DocLine {
  int number = 0;  // 1-based
  std::string text;
};

// The source tree the docs are read from: $BERTH_SOURCE_DIR, by default the one the test was
// built from.
std::filesystem::path SourceDir();

// A doc under SourceDir(), e.g. "docs/api.md", as lines. Empty (and a test failure) when it
// cannot be read.
std::vector<DocLine> ReadDoc(const std::string& relative);

// One row of a Markdown table: its cells, trimmed, and the line it is on.
struct TableRow {
  int line = 0;
  std::vector<std::string> cells;
};

// The rows (below the header and its `---` line) of the first table whose header cells are
// exactly `header`; nullopt when the doc has no such table. Cells are split on `|` except `\|`.
std::optional<std::vector<TableRow>> FindTable(const std::vector<DocLine>& doc, const std::vector<std::string>& header);

// Every `--flag` (lowercase letters, digits and '-') that appears in `text`, in order.
std::vector<std::string> FlagsIn(std::string_view text);

// Every action-like name in `text`: a word of two or more capitalized parts ("RunTask",
// "ListServiceDeployments"; not "Berth", not "JSON").
std::set<std::string> CamelCaseNamesIn(std::string_view text);

}  // namespace berth::testutil
