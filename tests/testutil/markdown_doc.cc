#include "tests/testutil/markdown_doc.h"

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace berth::testutil {
namespace {

std::string Trim(std::string_view s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// The cells of a table line `| a | b |`; empty when the line is not a table row.
std::vector<std::string> Cells(std::string_view line) {
  std::string trimmed = Trim(line);
  if (trimmed.size() < 2 || trimmed.front() != '|') return {};
  std::vector<std::string> cells;
  std::string cell;
  for (size_t i = 1; i < trimmed.size(); ++i) {
    if (trimmed[i] == '\\' && i + 1 < trimmed.size() && trimmed[i + 1] == '|') {
      cell += '|';
      ++i;
    } else if (trimmed[i] == '|') {
      cells.push_back(Trim(cell));
      cell.clear();
    } else {
      cell += trimmed[i];
    }
  }
  if (!Trim(cell).empty()) cells.push_back(Trim(cell));  // a row without the closing '|'
  return cells;
}

}  // namespace

std::filesystem::path SourceDir() {
  const char* source = std::getenv("BERTH_SOURCE_DIR");
  return source != nullptr ? source : BERTH_BUILD_SOURCE_DIR;
}

std::vector<DocLine> ReadDoc(const std::string& relative) {
  std::filesystem::path path = SourceDir() / relative;
  std::ifstream in(path);
  std::vector<DocLine> lines;
  if (!in) {
    ADD_FAILURE() << "cannot read " << path;
    return lines;
  }
  std::string text;
  for (int n = 1; std::getline(in, text); ++n) lines.push_back({n, text});
  return lines;
}

std::optional<std::vector<TableRow>> FindTable(const std::vector<DocLine>& doc,
                                               const std::vector<std::string>& header) {
  for (size_t i = 0; i + 1 < doc.size(); ++i) {
    if (Cells(doc[i].text) != header) continue;
    std::vector<TableRow> rows;
    for (size_t j = i + 2; j < doc.size(); ++j) {
      std::vector<std::string> cells = Cells(doc[j].text);
      if (cells.empty()) break;
      rows.push_back({doc[j].number, std::move(cells)});
    }
    return rows;
  }
  return std::nullopt;
}

std::vector<std::string> FlagsIn(std::string_view text) {
  std::vector<std::string> flags;
  for (size_t i = text.find("--"); i != std::string_view::npos; i = text.find("--", i + 2)) {
    if (i > 0 && (std::isalnum(static_cast<unsigned char>(text[i - 1])) || text[i - 1] == '-')) continue;
    size_t end = i + 2;
    while (end < text.size() && (std::islower(static_cast<unsigned char>(text[end])) ||
                                 std::isdigit(static_cast<unsigned char>(text[end])) || text[end] == '-')) {
      ++end;
    }
    if (end > i + 2) flags.emplace_back(text.substr(i, end - i));
    i = end - 2;
  }
  return flags;
}

std::set<std::string> CamelCaseNamesIn(std::string_view text) {
  std::set<std::string> names;
  size_t i = 0;
  while (i < text.size()) {
    if (!std::isalnum(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < text.size() && (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '_')) ++end;
    std::string_view word = text.substr(i, end - i);
    // Capitalized parts: an upper-case letter followed by lower-case letters.
    int parts = 0;
    bool camel = std::isupper(static_cast<unsigned char>(word[0]));
    for (size_t k = 0; camel && k < word.size();) {
      if (!std::isupper(static_cast<unsigned char>(word[k]))) {
        camel = false;
        break;
      }
      size_t lower = k + 1;
      while (lower < word.size() && std::islower(static_cast<unsigned char>(word[lower]))) ++lower;
      if (lower == k + 1) {
        camel = false;
        break;
      }
      ++parts;
      k = lower;
    }
    if (camel && parts >= 2) names.emplace(word);
    i = end;
  }
  return names;
}

}  // namespace berth::testutil
