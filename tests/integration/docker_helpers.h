// Helpers of the integration tests that run real containers: HTTP to a published port, and the
// docker CLI.
#pragma once

#include <curl/curl.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace berth::testutil {

inline size_t CollectBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// GET url; the body, or "" on failure or a status other than 200.
inline std::string HttpGet(const std::string& url) {
  CURL* curl = curl_easy_init();
  std::string body;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, CollectBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 3000L);
  CURLcode rc = curl_easy_perform(curl);
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(curl);
  return rc == CURLE_OK && code == 200 ? body : "";
}

// Runs a shell command; its stdout.
inline std::string Shell(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// Why the Docker tests cannot run here, or "" when a Docker engine is there.
inline std::string DockerMissing() {
  if (access("/var/run/docker.sock", F_OK) != 0) {
    return "no Docker engine at /var/run/docker.sock (scripts/docker-env.sh starts one)";
  }
  return "";
}

}  // namespace berth::testutil

// In a test's SetUp: skips without a Docker engine, except in CI, which must have one.
#define BERTH_REQUIRE_DOCKER()                                                  \
  if (std::string why = ::berth::testutil::DockerMissing(); !why.empty()) {     \
    if (std::getenv("CI") != nullptr) FAIL() << why << "; CI must have Docker"; \
    GTEST_SKIP() << why;                                                        \
  }
