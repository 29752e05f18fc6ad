// The real task definitions of shared/corpus/task-definitions, registered the way the CLI will
// register them: NormalizeTaskDefinitionJson (unwrap describe output, drop output-only members),
// a strict protobuf JSON parse (unknown members are errors), then ValidateTaskDefinition.
//
// kExpectations holds the decision for every file: "ok" (with the launch types the definition is
// compatible with) or the error it must get (a substring naming the field path and the rule).
// A file in the directory but not in the table fails the suite, and so does a table row whose
// file is gone.
#include <google/protobuf/util/json_util.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/controlplane/actions/validation.h"

namespace berth::controlplane {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A JSON Patch (RFC 6902) applied to the normalized document, and what registration must then
// give: shows the decision for a QUIRK that an earlier error in the same file hides.
struct Step {
  std::string patch;
  std::string expected;  // "ok" or a substring of the error
};

struct Expectation {
  std::string file;
  // "ok" or a substring of the INVALID_ARGUMENT message.
  std::string expected;
  // For "ok": the computed compatibilities, comma-separated.
  std::string compatibilities;
  std::string reason;
  // Applied one after the other, each on the result of the one before.
  std::vector<Step> then = {};
};

constexpr char kOk[] = "ok";
constexpr char kImageRule[] = "image: may contain only letters, digits, '-', '_', ':', '.', '/' and '#'";
constexpr char kFamilyRule[] = "family: may contain only letters, digits, '_' and '-'";

// One row per corpus file. QUIRK files (see MANIFEST.tsv) are decided from the ECS rules; so are
// files whose placeholders break a documented ECS rule (family and image character sets).
const Expectation kExpectations[] = {
    {"001.json", kOk, "EC2,FARGATE",
     "App Mesh + FireLens on Fargate 1024/2048; envoy has the health check app's HEALTHY dependency needs"},
    {"003.json", kOk, "EC2,EXTERNAL", "bridge daemon with host volumes; {{...}} only in role ARNs and log options"},
    {"005.json", kOk, "EC2,EXTERNAL", "describe output (nulls; compatibilities etc. dropped); host mode, host volume"},
    {"007.json", kOk, "EC2,EXTERNAL", "plain bridge definition with a static host port"},
    {"009.json", kOk, "EC2,EXTERNAL", "bridge, dynamic hostPort 0, SSM secrets with an execution role"},
    {"011.json",
     std::string("containerDefinitions[0].") + kImageRule,
     "",
     "ecspresso template left in the image ('{{ cfn_output ... }}': braces, spaces, backquotes)",
     {{R"([{"op":"replace","path":"/containerDefinitions/0/image","value":"app:latest"}])", kOk}}},
    {"013.json", kOk, "EC2,EXTERNAL", "no networkMode (bridge by default); Windows named-pipe host volume"},
    {"015.json", kOk, "EC2,EXTERNAL", "EXTERNAL bridge; CHANGEME placeholders are valid characters"},
    {"017.json", kOk, "EC2,FARGATE", "ecs-cli describe output with nulls; task-level memory covers the container"},
    {"019.json", kOk, "EC2,FARGATE", "Fargate 512/1024 with a health check"},
    {"021.json", kOk, "EC2,EXTERNAL", "host mode, task-level memory only, describe-ish nulls"},
    {"023.json",
     "family: required",
     "",
     "has no family at all; QUIRK: its dependsOn names \"config\", a volume, not a container",
     {{R"([{"op":"add","path":"/family","value":"otel-example"}])",
       "containerDefinitions[1].dependsOn[0].containerName: 'config' names no container"},
      {R"([{"op":"remove","path":"/containerDefinitions/1/dependsOn"}])", kOk}}},
    {"025.json", kOk, "EC2",
     "EC2 + awsvpc with EFS (IAM auth needs and has transit encryption); awsvpc rules out EXTERNAL, no task size "
     "rules out FARGATE"},
    {"027.json", kOk, "EC2,FARGATE", "two containers on Fargate 256/512, describe-output nulls"},
    {"029.json", kOk, "EC2,FARGATE", "requiresCompatibilities EC2+FARGATE, both satisfied"},
    {"031.json", kOk, "EC2,EXTERNAL", "bridge dynamic port; container memory equals task memory"},
    {"033.json", kOk, "EC2,FARGATE", "describe output with leading whitespace; 4 containers on Fargate 2048/4096"},
    {"035.json", std::string("containerDefinitions[0].") + kImageRule, "",
     "image starts with the placeholder '<your-aws-account-id>' ('<', '>' are not image characters)"},
    {"037.json",
     "(volumes[1]) readOnly: Cannot find field",
     "",
     "volumes[1] has a \"readOnly\" member Volume does not have (strict parse); then web2 has memory 4 < 6 MiB; "
     "QUIRK: web maps TCP host port 8000 twice, which ECS refuses ('TCP host port is mapped multiple times')",
     {{R"([{"op":"remove","path":"/volumes/1/readOnly"}])",
       "containerDefinitions[1].memory: must be at least 6 MiB (got 4)"},
      {R"([{"op":"replace","path":"/containerDefinitions/1/memory","value":64},
           {"op":"replace","path":"/containerDefinitions/2/memory","value":64}])",
       "containerDefinitions[3].portMappings[1].hostPort: tcp host port 8000 is already mapped by "
       "containerDefinitions[3].portMappings[0]"},
      {R"([{"op":"remove","path":"/containerDefinitions/3/portMappings/1"}])", kOk}}},
    {"039.json",
     std::string("containerDefinitions[0].") + kImageRule,
     "",
     "'<region>' placeholder in the image; QUIRK: link to 'app-container', which does not exist; "
     "memory == memoryReservation (256) is accepted",
     {{R"([{"op":"replace","path":"/containerDefinitions/0/image","value":"php-app:latest"},
           {"op":"replace","path":"/containerDefinitions/1/image","value":"nginx-web:latest"}])",
       "containerDefinitions[1].links[0]: 'app-container' names no container"},
      {R"([{"op":"replace","path":"/containerDefinitions/1/links/0","value":"php-app-container:app"}])", kOk}}},
    {"041.json", std::string("containerDefinitions[0].") + kImageRule, "",
     "CodeDeploy placeholder '<IMAGE1_NAME>' left in the image"},
    {"043.json", kOk, "EC2,EXTERNAL", "minimal old-style definition, bridge by default"},
    {"045.json",
     "pidMode: must be one of host, task (got '')",
     "",
     "QUIRK: empty-string pidMode, ipcMode and appProtocol, each refused by name (and templates as "
     "runtimePlatform.cpuArchitecture and image)",
     {{R"([{"op":"remove","path":"/pidMode"}])", "ipcMode: must be one of host, task, none (got '')"},
      {R"([{"op":"remove","path":"/ipcMode"}])",
       "runtimePlatform.cpuArchitecture: must be one of X86_64, ARM64 (got '{{ must_env `ECS_ARCH` }}')"},
      {R"([{"op":"replace","path":"/runtimePlatform/cpuArchitecture","value":"ARM64"},
           {"op":"replace","path":"/containerDefinitions/0/image","value":"nginx:latest"}])",
       "containerDefinitions[0].portMappings[0].appProtocol: must be one of http, http2, grpc (got '')"}}},
    {"047.json", kFamilyRule, "", "ecspresso template in the family ('{{ must_env ... }}')"},
    {"049.json", kOk, "EC2,FARGATE", "EFS volume on Fargate without transit encryption"},
    {"051.json",
     "pidMode: must be one of host, task (got '')",
     "",
     "QUIRK: empty-string pidMode and ipcMode; then the {{ must_env }} template in the image",
     {{R"([{"op":"remove","path":"/pidMode"}])", "ipcMode: must be one of host, task, none (got '')"},
      {R"([{"op":"remove","path":"/ipcMode"}])", std::string("containerDefinitions[0].") + kImageRule}}},
    {"053.json", std::string("containerDefinitions[0].") + kImageRule, "",
     "image starts with the placeholder '[Your Private Repo]' (brackets, spaces)"},
    {"055.json", kFamilyRule, "", "{{ECR_REPO}} placeholder in the family"},
    {"057.json",
     "containerDefinitions[0].privileged: not supported on FARGATE",
     "",
     "QUIRK: privileged container with requiresCompatibilities FARGATE",
     {{R"([{"op":"replace","path":"/containerDefinitions/0/privileged","value":false}])", kOk}}},
    {"059.json", kOk, "EC2,FARGATE", "Fargate 256/512, describe-output nulls and empty lists"},
    {"061.json", kOk, "EC2,FARGATE", "YOUR_ACCOUNT_ID placeholders are valid image characters"},
    {"063.json", kOk, "EC2,FARGATE", "Fargate 512/1024 with a health check"},
    {"065.json", kOk, "EC2,FARGATE", "console-generated: named port mapping, appProtocol http"},
    {"067.json", kOk, "EC2,FARGATE", "describe output: registeredAt (a string here) and registeredBy dropped"},
    {"069.json", kOk, "EC2,FARGATE", "two containers, one non-essential"},
};

// $BERTH_SOURCE_DIR/../shared/corpus/task-definitions, or empty when it is not there.
fs::path CorpusDir() {
  const char* source = std::getenv("BERTH_SOURCE_DIR");
  if (source == nullptr || *source == '\0') return {};
  fs::path dir = fs::path(source) / ".." / "shared" / "corpus" / "task-definitions";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {};
  return dir;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// What `berth register-task-definition --cli-input-json file://<path>` does before the RPC,
// then the server's validation.
absl::StatusOr<TaskDefinitionFacts> ParseAndValidate(const std::string& json) {
  v1::RegisterTaskDefinitionRequest request;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto parsed = google::protobuf::util::JsonStringToMessage(json, &request, options);
  if (!parsed.ok()) return absl::InvalidArgumentError(std::string(parsed.message()));
  return ValidateTaskDefinition(request, Limits{});
}

void ExpectOutcome(const absl::StatusOr<TaskDefinitionFacts>& facts, const std::string& expected,
                   const std::string& what) {
  if (expected == kOk) {
    EXPECT_TRUE(facts.ok()) << what << ": " << facts.status();
  } else if (facts.ok()) {
    ADD_FAILURE() << what << " registered but must be refused with: " << expected;
  } else {
    EXPECT_EQ(facts.status().code(), absl::StatusCode::kInvalidArgument) << what << ": " << facts.status();
    EXPECT_THAT(std::string(facts.status().message()), HasSubstr(expected)) << what;
  }
}

// gtest names a failing parameter by this instead of dumping its bytes.
void PrintTo(const Expectation& e, std::ostream* os) { *os << e.file; }

class CorpusFileTest : public ::testing::TestWithParam<Expectation> {};

TEST_P(CorpusFileTest, RegistersOrIsRefusedAsDecided) {
  const Expectation& e = GetParam();
  fs::path dir = CorpusDir();
  if (dir.empty()) GTEST_SKIP() << "corpus directory not found (BERTH_SOURCE_DIR/../shared/corpus/task-definitions)";
  fs::path path = dir / e.file;
  ASSERT_TRUE(fs::exists(path)) << e.file << " is in the expectation table but not in " << dir;
  std::vector<std::string> dropped;
  auto json = NormalizeTaskDefinitionJson(ReadFile(path), &dropped);
  ASSERT_TRUE(json.ok()) << e.file << ": " << json.status();
  SCOPED_TRACE(e.reason);
  auto facts = ParseAndValidate(*json);
  ExpectOutcome(facts, e.expected, e.file);
  if (e.expected == kOk && facts.ok()) {
    EXPECT_EQ(absl::StrJoin(facts->compatibilities, ","), e.compatibilities) << e.file;
    EXPECT_GT(facts->demand.memory(), 0) << e.file;
  }
  nlohmann::json doc = nlohmann::json::parse(*json);
  for (size_t k = 0; k < e.then.size(); ++k) {
    doc = doc.patch(nlohmann::json::parse(e.then[k].patch));
    ExpectOutcome(ParseAndValidate(doc.dump()), e.then[k].expected, absl::StrCat(e.file, " after patch ", k + 1));
  }
}

std::string FileName(const ::testing::TestParamInfo<Expectation>& info) {
  const std::string& name = info.param.file;
  return "f" + name.substr(0, name.find('.'));
}

INSTANTIATE_TEST_SUITE_P(Corpus, CorpusFileTest, ::testing::ValuesIn(kExpectations), FileName);

TEST(CorpusTableTest, EveryCorpusFileHasAnExpectation) {
  fs::path dir = CorpusDir();
  if (dir.empty()) GTEST_SKIP() << "corpus directory not found";
  std::set<std::string> table;
  for (const auto& e : kExpectations) EXPECT_TRUE(table.insert(e.file).second) << e.file << " is in the table twice";
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    ++files;
    EXPECT_TRUE(table.contains(entry.path().filename().string()))
        << entry.path().filename() << " has no row in kExpectations: decide it from the ECS rules";
  }
  EXPECT_GT(files, 0);
}

}  // namespace
}  // namespace berth::controlplane
