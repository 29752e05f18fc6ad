// Conformance of the AWS JSON 1.1 door to botocore's own ECS service model, and the task-definition
// corpus round-tripped through the real AWS CLI as deploy tools do. The checks are Python scripts
// run with Debian's python3-boto3 (tests/integration/aws_conformance_check.py,
// aws_corpus_roundtrip_check.py; each documents what it checks) against a real berthd on port 0
// with a temporary data directory.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/testutil/agent_process.h"
#include "tests/testutil/berthd_process.h"
#include "tests/testutil/shell.h"
#include "tests/testutil/temp_dir.h"

namespace berth {
namespace {

namespace fs = std::filesystem;

// Debian's python3 with python3-boto3 (scripts/install-deps.sh); BERTH_TEST_PYTHON names another
// interpreter, to check against another botocore's model.
std::string Python() {
  const char* python = std::getenv("BERTH_TEST_PYTHON");
  return python != nullptr && *python != '\0' ? python : "/usr/bin/python3";
}

using testutil::ShellQuote;
using Result = testutil::ShellResult;

class AwsConformanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system((ShellQuote(Python()) + " -c 'import boto3' >/dev/null 2>&1").c_str()) != 0) {
      GTEST_SKIP() << "python3-boto3 is not installed (scripts/install-deps.sh)";
    }
    const char* source = std::getenv("BERTH_SOURCE_DIR");
    ASSERT_NE(source, nullptr);
    source_ = source;
  }

  std::string StartBerthd() {
    berthd_ = std::make_unique<testutil::BerthdProcess>(dir_.Sub("data"),
                                                        std::vector<std::string>{"--http-listen", "127.0.0.1:0"});
    EXPECT_TRUE(berthd_->Start()) << berthd_->Log();
    return berthd_->http_address();
  }

  // Runs a script of tests/integration with Debian's python3 in a hermetic AWS environment.
  Result RunScript(const std::string& script, const std::vector<std::string>& args) {
    std::string command =
        "env -u AWS_PROFILE -u AWS_DEFAULT_PROFILE -u AWS_SESSION_TOKEN -u AWS_DEFAULT_REGION "
        "-u AWS_REGION -u AWS_ENDPOINT_URL -u AWS_ENDPOINT_URL_ECS HOME=" +
        ShellQuote(dir_.path()) +
        " AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null "
        "AWS_EC2_METADATA_DISABLED=true " +
        ShellQuote(Python()) + " " + ShellQuote(source_ + "/tests/integration/" + script);
    for (const std::string& a : args) command += " " + ShellQuote(a);
    return testutil::RunShell(command, dir_.path(), script);
  }

  testutil::TempDir dir_;
  std::string source_;
  std::unique_ptr<testutil::BerthdProcess> berthd_;
};

// Every action berthd serves that botocore's ECS model has: answers and errors checked against the
// model (types, enums, undeclared members, the members ECS always sends, declared exceptions).
TEST_F(AwsConformanceTest, EveryActionAnswersAsBotocoresModelSays) {
  const std::string http = StartBerthd();
  ASSERT_FALSE(http.empty());
  // A sim agent in `default`, so tasks reach RUNNING and carry what running tasks carry.
  testutil::AgentProcess agent(dir_.Sub("agent"),
                               {"--endpoint", berthd_->grpc_address(), "--runtime", "sim", "--poll-wait", "1"});
  ASSERT_TRUE(agent.Start()) << agent.Log();
  Result r = RunScript("aws_conformance_check.py",
                       {"http://" + http, "local", source_ + "/src/controlplane/actions/api.h", agent.instance_arn()});
  // A pass is the script's own: it ran to its summary and found nothing (a crash is no pass).
  EXPECT_TRUE(r.exit_code == 0 && r.out.find("\n0 failures\n") != std::string::npos) << r;
}

// Each corpus file registered with boto3, then describe-task-definition output fed back through
// `aws ecs register-task-definition --cli-input-json` as deploy tools do: the same definition again,
// or the same precise refusal from both.
TEST_F(AwsConformanceTest, CorpusRoundTripsThroughTheAwsCli) {
  if (access("/usr/bin/aws", X_OK) != 0) GTEST_SKIP() << "the aws CLI is not installed (Debian package awscli)";
  const fs::path corpus = fs::path(source_) / ".." / "shared" / "corpus" / "task-definitions";
  if (!fs::is_directory(corpus)) GTEST_SKIP() << "corpus not found at " << corpus;
  const std::string http = StartBerthd();
  ASSERT_FALSE(http.empty());
  fs::create_directories(dir_.Sub("work"));
  Result r = RunScript("aws_corpus_roundtrip_check.py",
                       {"http://" + http, "local", "/usr/bin/aws", corpus.string(), dir_.Sub("work")});
  EXPECT_TRUE(r.exit_code == 0 && r.out.find("\n0 failures\n") != std::string::npos) << r;
}

}  // namespace
}  // namespace berth
