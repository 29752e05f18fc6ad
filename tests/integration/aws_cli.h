// The real AWS CLI and boto3 against a real berthd: the hermetic environment the AWS door tests
// run them in (no config or credentials files, no pager, one attempt), shared by the ECS and logs
// door tests.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/testutil/berthd_process.h"
#include "tests/testutil/shell.h"
#include "tests/testutil/temp_dir.h"

namespace berth {

using Json = nlohmann::json;
inline constexpr char kKeyId[] = "AKIAIOSFODNN7EXAMPLE";
inline constexpr char kSecret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

using testutil::ShellQuote;

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The Debian package's CLI when installed, else whichever `aws` is on PATH; "" when none.
inline std::string AwsBinary() {
  if (access("/usr/bin/aws", X_OK) == 0) return "/usr/bin/aws";
  FILE* p = popen("command -v aws 2>/dev/null", "r");
  if (p == nullptr) return "";
  char buf[4096] = {0};
  std::string out = fgets(buf, sizeof(buf), p) != nullptr ? buf : "";
  pclose(p);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

struct Result : testutil::ShellResult {
  Json OutJson() const {
    Json doc = Json::parse(out, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(doc.is_discarded()) << "stdout is not JSON: " << out << "\nstderr: " << err;
    return doc;
  }
};

class AwsCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    aws_ = AwsBinary();
    if (aws_.empty()) GTEST_SKIP() << "the aws CLI is not installed (Debian package awscli; scripts/install-deps.sh)";
  }

  // Starts berthd with `flags`; its HTTP address.
  std::string StartBerthd(std::vector<std::string> flags) {
    berthd_ = std::make_unique<testutil::BerthdProcess>(dir_.Sub("data"), std::move(flags));
    EXPECT_TRUE(berthd_->Start()) << berthd_->Log();
    return berthd_->http_address();
  }

  // Runs a command with a hermetic AWS environment (no config or credentials files, no pager,
  // one attempt) and the given credentials.
  // With `key_id` empty, no keys are given and `extra_env` (NAME=value ...) supplies credentials.
  Result Run(const std::string& command, const std::string& key_id = kKeyId, const std::string& secret = kSecret,
             const std::string& extra_env = "") {
    std::string home = dir_.Sub("home");
    std::string env =
        "mkdir -p " + ShellQuote(home) + " && env " +
        (key_id.empty() ? "-u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY " : "") +
        "-u AWS_PROFILE -u AWS_DEFAULT_PROFILE -u AWS_SESSION_TOKEN -u AWS_DEFAULT_REGION "
        "-u AWS_REGION -u AWS_ENDPOINT_URL HOME=" +
        ShellQuote(home) + " AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER= " +
        "AWS_MAX_ATTEMPTS=1 AWS_EC2_METADATA_DISABLED=true " +
        (key_id.empty()
             ? extra_env + " "
             : "AWS_ACCESS_KEY_ID=" + ShellQuote(key_id) + " AWS_SECRET_ACCESS_KEY=" + ShellQuote(secret) + " ");
    return {testutil::RunShell(env + command, dir_.path(), "command")};
  }

  Result Ecs(const std::string& http, const std::string& args, const std::string& key_id = kKeyId,
             const std::string& secret = kSecret, const std::string& extra_env = "") {
    return Run(ShellQuote(aws_) + " ecs --endpoint-url http://" + http + " --region local --output json " + args,
               key_id, secret, extra_env);
  }

  Result Logs(const std::string& http, const std::string& args, const std::string& key_id = kKeyId,
              const std::string& secret = kSecret) {
    return Run(ShellQuote(aws_) + " logs --endpoint-url http://" + http + " --region local --output json " + args,
               key_id, secret);
  }

  // Runs tests/integration/<script> with python3 against berthd's HTTP door `http`, with the test's
  // access key; skips the test when boto3 is not installed.
  Result RunBoto3Check(const std::string& script, const std::string& http) {
    const char* source = std::getenv("BERTH_SOURCE_DIR");
    EXPECT_NE(source, nullptr);
    return Run("/usr/bin/python3 " +
               ShellQuote(std::string(source != nullptr ? source : ".") + "/tests/integration/" + script) + " http://" +
               http + " local " + kKeyId + " " + ShellQuote(kSecret));
  }
  static bool HasBoto3() { return std::system("/usr/bin/python3 -c 'import boto3' >/dev/null 2>&1") == 0; }

  std::string WriteFile(const std::string& name, const std::string& content) {
    std::string path = dir_.Sub(name);
    std::ofstream(path) << content;
    return path;
  }

  testutil::TempDir dir_;
  std::string aws_;
  std::unique_ptr<testutil::BerthdProcess> berthd_;
};

}  // namespace berth
