// The docs' statements that can be derived from the code, checked against it: docs/api.md's
// table of actions and its list of unimplemented RPCs against what the doors serve and what
// ecs.proto defines; docs/aws-compat.md's action lists against the AWS door; docs/agent.md's
// protocol against agent.proto; docs/operations.md's metrics against what /metrics exports; in
// every current doc, the repository paths it names and the targets of its links.
// (The flags of docs/operations.md and docs/agent.md are checked against the binaries' --help in
// tests/integration/docs_flags_test.cc.)
#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "berth/v1/agent.pb.h"
#include "berth/v1/ecs.pb.h"
#include "src/controlplane/actions/api.h"
#include "src/controlplane/doors/aws_gateway.h"
#include "src/controlplane/metrics.h"
#include "tests/testutil/markdown_doc.h"

namespace berth {
namespace {

using testutil::CamelCaseNamesIn;
using testutil::DocLine;
using testutil::FindTable;
using testutil::ReadDoc;
using testutil::SourceDir;

std::set<std::string> ServedActions() {
#define BERTH_DOCS_TEST_NAME(actions, name) #name,
  return {BERTH_API_ACTIONS(BERTH_DOCS_TEST_NAME)};
#undef BERTH_DOCS_TEST_NAME
}

std::set<std::string> MethodsOf(const google::protobuf::ServiceDescriptor* service) {
  std::set<std::string> names;
  for (int i = 0; i < service->method_count(); ++i) names.insert(service->method(i)->name());
  return names;
}

std::set<std::string> SchemaActions() {
  const auto* service = v1::CreateClusterRequest::descriptor()->file()->FindServiceByName("ContainerService");
  EXPECT_NE(service, nullptr) << "ecs.proto has no service ContainerService";
  return service == nullptr ? std::set<std::string>{} : MethodsOf(service);
}

std::string Join(const std::set<std::string>& names) {
  std::ostringstream out;
  for (const auto& n : names) out << (out.tellp() > 0 ? ", " : "") << n;
  return out.str();
}

// The lines from the one equal to `heading` up to the next heading of the same or a higher level
// (or the end), the heading excluded; empty (and a failure) when the doc has no such heading.
std::vector<DocLine> Section(const std::vector<DocLine>& doc, const std::string& path, const std::string& heading) {
  const size_t level = heading.find(' ');
  std::vector<DocLine> out;
  bool in = false;
  for (const auto& line : doc) {
    if (in) {
      size_t hashes = line.text.find_first_not_of('#');
      if (hashes != std::string::npos && hashes > 0 && hashes <= level && line.text[hashes] == ' ') break;
      out.push_back(line);
    } else if (line.text == heading) {
      in = true;
    }
  }
  EXPECT_TRUE(in) << path << ": no heading '" << heading << "'";
  return out;
}

std::string Text(const std::vector<DocLine>& lines) {
  std::string text;
  for (const auto& l : lines) text += l.text + "\n";
  return text;
}

// --- docs/api.md ---

struct ActionRow {
  int line = 0;
  bool served = false;
  bool extension = false;
};

// The table `| action | served | section |` of docs/api.md, by action.
std::map<std::string, ActionRow> ApiActionTable(const std::vector<DocLine>& doc) {
  std::map<std::string, ActionRow> table;
  auto rows = FindTable(doc, {"action", "served", "section"});
  EXPECT_TRUE(rows.has_value()) << "docs/api.md: no table with the header | action | served | section |";
  if (!rows) return table;
  for (const auto& row : *rows) {
    const std::string& served = row.cells.size() > 1 ? row.cells[1] : "";
    EXPECT_TRUE(served.rfind("yes", 0) == 0 || served == "no")
        << "docs/api.md:" << row.line << ": the served column must be 'yes', 'yes (...)' or 'no' (got '" << served
        << "')";
    ActionRow entry{row.line, served.rfind("yes", 0) == 0, served.find("Berth extension") != std::string::npos};
    auto [it, inserted] = table.emplace(row.cells[0], entry);
    EXPECT_TRUE(inserted) << "docs/api.md:" << row.line << ": " << row.cells[0] << " has a row already, at line "
                          << it->second.line;
  }
  return table;
}

TEST(ApiDocTest, ActionTableClaimsServedExactlyTheServedActions) {
  auto doc = ReadDoc("docs/api.md");
  auto table = ApiActionTable(doc);
  const auto served = ServedActions();
  for (const auto& action : served) {
    auto it = table.find(action);
    if (it == table.end()) {
      ADD_FAILURE() << "docs/api.md: the action table has no row for " << action
                    << ", which berthd serves (BERTH_API_ACTIONS in src/controlplane/actions/api.h)";
    } else {
      EXPECT_TRUE(it->second.served) << "docs/api.md:" << it->second.line << ": " << action
                                     << " is served (BERTH_API_ACTIONS) but its row says 'no'";
    }
  }
  for (const auto& [action, row] : table) {
    if (row.served) {
      EXPECT_TRUE(served.contains(action))
          << "docs/api.md:" << row.line << ": " << action << " is claimed served but is not in BERTH_API_ACTIONS";
    }
  }
}

TEST(ApiDocTest, ActionTableHasEveryRpcOfTheSchemaAndNoOther) {
  auto doc = ReadDoc("docs/api.md");
  auto table = ApiActionTable(doc);
  const auto schema = SchemaActions();
  for (const auto& action : schema) {
    EXPECT_TRUE(table.contains(action)) << "docs/api.md: the action table has no row for " << action
                                        << ", an RPC of berth.v1.ContainerService (proto/berth/v1/ecs.proto)";
  }
  for (const auto& [action, row] : table) {
    EXPECT_TRUE(schema.contains(action)) << "docs/api.md:" << row.line << ": " << action
                                         << " is not an RPC of berth.v1.ContainerService (proto/berth/v1/ecs.proto)";
  }
}

TEST(ApiDocTest, UnimplementedRpcsAreListedAndCounted) {
  auto doc = ReadDoc("docs/api.md");
  const auto schema = SchemaActions();
  const auto served = ServedActions();
  std::set<std::string> unimplemented;
  for (const auto& action : schema) {
    if (!served.contains(action)) unimplemented.insert(action);
  }
  auto listed = CamelCaseNamesIn(Text(Section(doc, "docs/api.md", "## RPCs that answer `UNIMPLEMENTED`")));
  for (const auto& action : unimplemented) {
    EXPECT_TRUE(listed.contains(action)) << "docs/api.md, \"RPCs that answer UNIMPLEMENTED\": " << action
                                         << " is in ecs.proto but not served, and is not listed";
  }
  for (const auto& name : listed) {
    if (name == "UnsupportedFeatureException") continue;
    EXPECT_TRUE(unimplemented.contains(name))
        << "docs/api.md, \"RPCs that answer UNIMPLEMENTED\": " << name << " is listed, but it is "
        << (served.contains(name) ? "served" : "not an RPC of ecs.proto");
  }

  // "N of the M ECS RPCs answer `UNIMPLEMENTED`": M leaves out the Berth extensions.
  auto table = ApiActionTable(doc);
  int extensions = 0;
  for (const auto& [action, row] : table) extensions += row.extension ? 1 : 0;
  const std::regex count_re(R"((\d+) of the (\d+) ECS RPCs answer `UNIMPLEMENTED`)");
  bool found = false;
  for (const auto& line : doc) {
    std::smatch m;
    if (!std::regex_search(line.text, m, count_re)) continue;
    found = true;
    EXPECT_EQ(std::stoul(m[1].str()), unimplemented.size())
        << "docs/api.md:" << line.number << ": the count of unimplemented RPCs (" << Join(unimplemented) << ")";
    EXPECT_EQ(std::stoul(m[2].str()), schema.size() - extensions)
        << "docs/api.md:" << line.number << ": the count of ECS RPCs (ContainerService's " << schema.size()
        << " less the " << extensions << " Berth extensions)";
  }
  EXPECT_TRUE(found) << "docs/api.md: no sentence 'N of the M ECS RPCs answer `UNIMPLEMENTED`'";
}

// --- docs/aws-compat.md ---

TEST(AwsCompatDocTest, ActionListIsTheServedActions) {
  auto doc = ReadDoc("docs/aws-compat.md");
  std::string bullet;
  int first_line = 0;
  for (const auto& line : doc) {
    if (line.text.rfind("- Actions:", 0) == 0) {
      first_line = line.number;
    } else if (first_line > 0 && line.text.rfind("- ", 0) == 0) {
      break;
    }
    if (first_line > 0) bullet += line.text + "\n";
  }
  ASSERT_GT(first_line, 0) << "docs/aws-compat.md: no bullet starting '- Actions:'";
  const auto listed = CamelCaseNamesIn(bullet);
  const auto served = ServedActions();
  for (const auto& action : served) {
    EXPECT_TRUE(listed.contains(action)) << "docs/aws-compat.md:" << first_line << ": the list of actions leaves out "
                                         << action << ", which the door serves (BERTH_API_ACTIONS)";
  }
  for (const auto& name : listed) {
    EXPECT_TRUE(served.contains(name)) << "docs/aws-compat.md:" << first_line << ": the list of actions names " << name
                                       << ", which is not in BERTH_API_ACTIONS";
  }
}

TEST(AwsCompatDocTest, EcsActionsAnsweredUnsupportedAreNamed) {
  auto doc = ReadDoc("docs/aws-compat.md");
  const auto named = CamelCaseNamesIn(Text(Section(doc, "docs/aws-compat.md", "## What differs from ECS")));
  const auto schema = SchemaActions();
  std::vector<std::string_view> unserved = controlplane::AgentOnlyEcsActions();
  for (auto a : controlplane::OtherUnservedEcsActions()) unserved.push_back(a);
  for (auto action : unserved) {
    EXPECT_FALSE(schema.contains(std::string(action)))
        << action << " is in ecs.proto: it belongs in the schema's table, not in aws_gateway.cc's lists";
    EXPECT_TRUE(named.contains(std::string(action)))
        << "docs/aws-compat.md, \"What differs from ECS\": the door answers " << action
        << " UnsupportedFeatureException (aws_gateway.cc), but the section does not name it";
  }
}

// --- docs/agent.md ---

TEST(AgentDocTest, ProtocolNamesEveryRpcOfAgentService) {
  auto doc = ReadDoc("docs/agent.md");
  const auto* service = v1::PollRequest::descriptor()->file()->FindServiceByName("AgentService");
  ASSERT_NE(service, nullptr) << "agent.proto has no service AgentService";
  const auto methods = MethodsOf(service);

  static const std::map<std::string, int> kNumbers = {{"one", 1}, {"two", 2},   {"three", 3}, {"four", 4}, {"five", 5},
                                                      {"six", 6}, {"seven", 7}, {"eight", 8}, {"nine", 9}, {"ten", 10}};
  const std::regex count_re(R"(service `berth\.v1\.AgentService`, (\w+) RPCs)");
  bool found = false;
  for (const auto& line : doc) {
    std::smatch m;
    if (!std::regex_search(line.text, m, count_re)) continue;
    found = true;
    auto n = kNumbers.find(m[1].str());
    int count = n != kNumbers.end() ? n->second : std::atoi(m[1].str().c_str());
    EXPECT_EQ(count, service->method_count())
        << "docs/agent.md:" << line.number << ": says '" << m[1].str() << " RPCs'; AgentService has " << Join(methods);
  }
  EXPECT_TRUE(found) << "docs/agent.md: no sentence 'service `berth.v1.AgentService`, N RPCs'";

  // Each RPC is a bullet `- **Name**` of "The protocol".
  std::set<std::string> bullets;
  const std::regex bullet_re(R"(^- \*\*(\w+)\*\*)");
  for (const auto& line : Section(doc, "docs/agent.md", "## The protocol")) {
    std::smatch m;
    if (std::regex_search(line.text, m, bullet_re)) bullets.insert(m[1].str());
  }
  for (const auto& method : methods) {
    EXPECT_TRUE(bullets.contains(method))
        << "docs/agent.md, \"The protocol\": no bullet - **" << method << "** for that RPC of AgentService";
  }
  for (const auto& name : bullets) {
    EXPECT_TRUE(methods.contains(name)) << "docs/agent.md, \"The protocol\": - **" << name
                                        << "** is not an RPC of AgentService (" << Join(methods) << ")";
  }
}

// --- docs/operations.md ---

TEST(OperationsDocTest, MetricsTableIsWhatMetricsExports) {
  controlplane::Metrics metrics;
  metrics.ObserveRpc(*metrics.ForRpc("grpc", "RunTask"), absl::StatusCode::kOk, 100);
  std::map<std::string, std::string> exported;  // name -> type, from "# TYPE name type"
  std::istringstream text(metrics.Serialize());
  for (std::string line; std::getline(text, line);) {
    std::istringstream words(line);
    std::string hash, type_word, name, type;
    if (words >> hash >> type_word >> name >> type && hash == "#" && type_word == "TYPE") exported[name] = type;
  }
  ASSERT_FALSE(exported.empty()) << "Metrics::Serialize() exported no metric family";

  auto doc = ReadDoc("docs/operations.md");
  auto rows = FindTable(doc, {"metric", "type", "labels", "meaning"});
  ASSERT_TRUE(rows.has_value()) << "docs/operations.md: no table with the header | metric | type | labels | meaning |";
  std::set<std::string> documented;
  for (const auto& row : *rows) {
    std::string name = row.cells[0];
    if (name.size() >= 2 && name.front() == '`' && name.back() == '`') name = name.substr(1, name.size() - 2);
    documented.insert(name);
    auto it = exported.find(name);
    if (it == exported.end()) {
      ADD_FAILURE() << "docs/operations.md:" << row.line << ": " << name << " is documented but /metrics has no such "
                    << "metric (src/controlplane/metrics.cc)";
    } else {
      EXPECT_EQ(row.cells.size() > 1 ? row.cells[1] : "", it->second)
          << "docs/operations.md:" << row.line << ": the type of " << name;
    }
  }
  for (const auto& [name, type] : exported) {
    EXPECT_TRUE(documented.contains(name)) << "docs/operations.md: /metrics exports " << name << " (" << type
                                           << "), which the metrics table does not document";
  }
}

// --- every doc ---

// The docs that describe the tree as it is: README.md and docs/*.md, less benchmarks-history.md
// (runs of earlier code, kept as they were).
std::vector<std::string> CurrentDocs() {
  static const std::set<std::string> kNotChecked = {"benchmarks-history.md"};
  std::vector<std::string> docs;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(SourceDir() / "docs", ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() == ".md" && !kNotChecked.contains(name)) docs.push_back("docs/" + name);
  }
  EXPECT_FALSE(ec) << "cannot list " << (SourceDir() / "docs") << ": " << ec.message();
  std::sort(docs.begin(), docs.end());
  docs.insert(docs.begin(), "README.md");
  return docs;
}

// The lines of `doc` outside fenced code blocks, indented ones too (a heading or a link inside one
// is not one).
std::vector<DocLine> Prose(const std::vector<DocLine>& doc) {
  std::vector<DocLine> out;
  bool fenced = false;
  for (const auto& line : doc) {
    const size_t indent = line.text.find_first_not_of(' ');
    if (indent != std::string::npos && line.text.compare(indent, 3, "```") == 0) {
      fenced = !fenced;
    } else if (!fenced) {
      out.push_back(line);
    }
  }
  return out;
}

// "a/{b,c}.h" -> "a/b.h", "a/c.h" (each brace group expanded, left to right).
std::vector<std::string> ExpandBraces(const std::string& path) {
  const size_t open = path.find('{');
  const size_t close = path.find('}', open);
  if (open == std::string::npos || close == std::string::npos) return {path};
  std::vector<std::string> out;
  std::istringstream choices(path.substr(open + 1, close - open - 1));
  for (std::string choice; std::getline(choices, choice, ',');) {
    for (auto& rest : ExpandBraces(path.substr(0, open) + choice + path.substr(close + 1))) out.push_back(rest);
  }
  return out;
}

TEST(EveryDocTest, RepositoryPathsItNamesExist) {
  // A code span that is a path from the repository's root: `src/...`, `tests/...`, ...
  static const std::vector<std::string> kRoots = {"src/", "include/", "tests/", "proto/", "scripts/", "docs/"};
  const std::regex path_re(R"(^[A-Za-z0-9_./{},-]+$)");
  for (const auto& path : CurrentDocs()) {
    for (const auto& line : Prose(ReadDoc(path))) {
      std::vector<std::string> spans;
      for (size_t open = line.text.find('`'); open != std::string::npos; open = line.text.find('`', open + 1)) {
        const size_t close = line.text.find('`', open + 1);
        if (close == std::string::npos) break;
        spans.push_back(line.text.substr(open + 1, close - open - 1));
        open = close;
      }
      for (const auto& span : spans) {
        const bool rooted =
            std::any_of(kRoots.begin(), kRoots.end(), [&](const auto& r) { return span.rfind(r, 0) == 0; });
        if (!rooted || !std::regex_match(span, path_re) || span.find("..") != std::string::npos) continue;
        for (const auto& named : ExpandBraces(span)) {
          EXPECT_TRUE(std::filesystem::exists(SourceDir() / named))
              << path << ":" << line.number << ": names `" << named << "`, which the repository does not have";
        }
      }
    }
  }
}

// GitHub's anchor of a heading: lower case, spaces to '-', only letters, digits, '-' and '_' kept
// (non-ASCII characters are dropped, so a heading with them cannot be linked here).
std::string Anchor(std::string_view heading) {
  std::string out;
  for (char c : heading) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '-' || c == '_') {
      out += static_cast<char>(std::tolower(u));
    } else if (c == ' ') {
      out += '-';
    }
  }
  return out;
}

std::set<std::string> AnchorsOf(const std::vector<DocLine>& doc) {
  std::set<std::string> anchors;
  std::map<std::string, int> seen;
  for (const auto& line : Prose(doc)) {
    const size_t hashes = line.text.find_first_not_of('#');
    if (hashes == 0 || hashes == std::string::npos || line.text[hashes] != ' ') continue;
    const std::string anchor = Anchor(line.text.substr(hashes + 1));
    const int n = seen[anchor]++;
    anchors.insert(n == 0 ? anchor : anchor + "-" + std::to_string(n));
  }
  return anchors;
}

TEST(EveryDocTest, LinksReachAFileAndHeadingThatExist) {
  const std::regex link_re(R"(\]\(([^)\s]+)\))");
  for (const auto& path : CurrentDocs()) {
    const auto doc = ReadDoc(path);
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    for (const auto& line : Prose(doc)) {
      for (std::sregex_iterator it(line.text.begin(), line.text.end(), link_re), end; it != end; ++it) {
        const std::string target = (*it)[1].str();
        if (target.find("://") != std::string::npos || target.rfind("mailto:", 0) == 0) continue;
        const size_t hash = target.find('#');
        const std::string file = target.substr(0, hash);
        const std::string linked = file.empty() ? path : (dir / file).lexically_normal().string();
        const std::string where = path + ":" + std::to_string(line.number) + ": the link (" + target + ")";
        if (!std::filesystem::exists(SourceDir() / linked)) {
          ADD_FAILURE() << where << " leads to " << linked << ", which the repository does not have";
          continue;
        }
        if (hash == std::string::npos || linked.size() < 3 || linked.substr(linked.size() - 3) != ".md") continue;
        const std::string anchor = target.substr(hash + 1);
        EXPECT_TRUE(AnchorsOf(file.empty() ? doc : ReadDoc(linked)).contains(anchor))
            << where << ": " << linked << " has no heading whose anchor is #" << anchor;
      }
    }
  }
}

}  // namespace
}  // namespace berth
