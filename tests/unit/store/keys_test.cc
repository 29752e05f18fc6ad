#include "berth/store/keys.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"

namespace berth::store {
namespace {

using namespace std::string_literals;  // "a\0b"s keeps the embedded NUL
using ::testing::ElementsAreArray;

// The persisted formats, byte for byte. A failure here means the on-disk layout changed: that is
// a schema migration, not a test to update.
TEST(KeysTest, EncodingsMatchTheDocumentedFormats) {
  struct Case {
    const char* what;
    std::string actual;
    std::string expected;
  };
  const Case cases[] = {
      {"cluster key is the bare name", ClusterKey("prod"), "prod"},
      {"task definition: family, NUL, 4-byte big-endian revision", TaskDefinitionKey("web", 10), "web\0\0\0\0\x0a"s},
      {"revision bytes are most significant first", TaskDefinitionKey("web", 0x01020304), "web\0\x01\x02\x03\x04"s},
      {"revision 0 is four zero bytes", TaskDefinitionKey("w", 0), "w\0\0\0\0\0"s},
      {"largest revision", TaskDefinitionKey("w", UINT32_MAX), "w\0\xff\xff\xff\xff"s},
      {"family prefix ends with the separator", TaskDefinitionFamilyPrefix("web"), "web\0"s},
      {"container instance: cluster, NUL, id", ContainerInstanceKey("prod", "i-7"), "prod\0i-7"s},
      {"task: cluster, NUL, id", TaskKey("prod", "t-9"), "prod\0t-9"s},
      {"service: cluster, NUL, name", ServiceKey("prod", "api"), "prod\0api"s},
      {"attribute: cluster, NUL, target, NUL, name", AttributeKey("prod", "i-7", "ecs.os-type"),
       "prod\0i-7\0ecs.os-type"s},
      {"cluster prefix ends with the separator", ClusterPrefix("prod"), "prod\0"s},
      {"attribute target prefix", AttributeTargetPrefix("prod", "i-7"), "prod\0i-7\0"s},
      {"meta schema version key", std::string(kSchemaVersionKey), "schema_version"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.actual, c.expected) << c.what << ": got \"" << absl::CHexEscape(c.actual) << "\"";
  }
}

TEST(KeysTest, TaskDefinitionKeysRoundTrip) {
  const std::string families[] = {"web", "a", "nginx-sidecar_v2", "\xc3\xbc-utf8", std::string(255, 'f')};
  const uint32_t revisions[] = {0, 1, 2, 10, 255, 256, 65535, 65536, 0x00ff0000, UINT32_MAX};
  for (const std::string& family : families) {
    for (uint32_t revision : revisions) {
      const std::string key = TaskDefinitionKey(family, revision);
      const std::optional<TaskDefinitionKeyParts> parts = DecodeTaskDefinitionKey(key);
      ASSERT_TRUE(parts.has_value()) << family << ":" << revision;
      EXPECT_EQ(*parts, (TaskDefinitionKeyParts{family, revision})) << family << ":" << revision;
      EXPECT_TRUE(key.starts_with(TaskDefinitionFamilyPrefix(family)));
    }
  }
}

TEST(KeysTest, ClusterScopedKeysRoundTrip) {
  struct Case {
    const char* what;
    std::string key;
    ClusterScopedKeyParts expected;
  };
  const Case cases[] = {
      {"container instance",
       ContainerInstanceKey("prod", "0f1e2d3c4b5a69788796a5b4c3d2e1f0"),
       {"prod", "0f1e2d3c4b5a69788796a5b4c3d2e1f0"}},
      {"task", TaskKey("default", "a1b2c3"), {"default", "a1b2c3"}},
      {"service", ServiceKey("prod-eu", "api_v2"), {"prod-eu", "api_v2"}},
      {"bytes above 0x7f survive", TaskKey("\xff\x80", "\x01\xfe"), {"\xff\x80", "\x01\xfe"}},
      {"single-byte components", ServiceKey("c", "s"), {"c", "s"}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(DecodeClusterScopedKey(c.key), std::optional(c.expected)) << c.what;
    EXPECT_TRUE(c.key.starts_with(ClusterPrefix(c.expected.cluster))) << c.what;
  }
}

TEST(KeysTest, AttributeKeysRoundTrip) {
  const AttributeKeyParts cases[] = {
      {"prod", "0f1e2d3c", "ecs.os-type"},
      {"prod", "0f1e2d3c", "ecs.capability.docker-remote-api.1.19"},
      {"c", "t", "n"},
      {"\xff", "\x80", "\x7f"},
  };
  for (const AttributeKeyParts& expected : cases) {
    const std::string key = AttributeKey(expected.cluster, expected.target_id, expected.name);
    EXPECT_EQ(DecodeAttributeKey(key), std::optional(expected)) << absl::CHexEscape(key);
    EXPECT_TRUE(key.starts_with(AttributeTargetPrefix(expected.cluster, expected.target_id)));
    EXPECT_TRUE(key.starts_with(ClusterPrefix(expected.cluster)));
  }
}

TEST(KeysTest, ClusterKeysRoundTrip) {
  for (const std::string name : {"prod", "default", "a", "\xff\x01"}) {
    EXPECT_EQ(DecodeClusterKey(ClusterKey(name)), std::optional(name));
  }
}

TEST(KeysTest, CapacityProviderKeysRoundTrip) {
  for (const std::string name : {"asg-a", "web_hosts", "x"}) {
    EXPECT_EQ(CapacityProviderKey(name), name);
    EXPECT_EQ(DecodeCapacityProviderKey(CapacityProviderKey(name)), std::optional(name));
  }
  EXPECT_EQ(DecodeCapacityProviderKey(std::string("a\0b", 3)), std::nullopt);
  EXPECT_EQ(DecodeCapacityProviderKey(""), std::nullopt);
}

// Byte order of keys must be numeric order of revisions: the latest revision is the last key of
// the family's prefix scan.
TEST(KeysTest, RevisionsSortNumericallyInByteOrder) {
  const std::vector<uint32_t> revisions = {256, 2, 10, 1, 65536, 255, UINT32_MAX, 0, 257, 16777216};
  std::vector<std::string> keys;
  for (uint32_t revision : revisions) keys.push_back(TaskDefinitionKey("web", revision));
  std::sort(keys.begin(), keys.end());  // std::string compares bytes as unsigned char

  std::vector<uint32_t> decoded;
  for (const std::string& key : keys) decoded.push_back(DecodeTaskDefinitionKey(key)->revision);
  std::vector<uint32_t> expected = revisions;
  std::sort(expected.begin(), expected.end());
  EXPECT_THAT(decoded, ElementsAreArray(expected));

  EXPECT_LT(TaskDefinitionKey("web", 2), TaskDefinitionKey("web", 10));
  EXPECT_LT(TaskDefinitionKey("web", 10), TaskDefinitionKey("web", 256));
}

// The separator keeps prefixes exact: "prod" must not select "prod-2", nor "web" select "web2".
TEST(KeysTest, PrefixesSelectExactlyOneClusterOrFamily) {
  struct Case {
    const char* what;
    std::string prefix;
    std::string key;
    bool matches;
  };
  const Case cases[] = {
      {"own task", ClusterPrefix("prod"), TaskKey("prod", "t1"), true},
      {"own attribute", ClusterPrefix("prod"), AttributeKey("prod", "i", "n"), true},
      {"longer cluster name", ClusterPrefix("prod"), TaskKey("prod-2", "t1"), false},
      {"shorter cluster name", ClusterPrefix("prod"), TaskKey("pro", "d"), false},
      {"cluster key itself", ClusterPrefix("prod"), ClusterKey("prod"), false},
      {"own revision", TaskDefinitionFamilyPrefix("web"), TaskDefinitionKey("web", 3), true},
      {"longer family", TaskDefinitionFamilyPrefix("web"), TaskDefinitionKey("web2", 3), false},
      {"own target", AttributeTargetPrefix("prod", "i-1"), AttributeKey("prod", "i-1", "a"), true},
      {"longer target id", AttributeTargetPrefix("prod", "i-1"), AttributeKey("prod", "i-10", "a"), false},
  };
  for (const Case& c : cases) EXPECT_EQ(c.key.starts_with(c.prefix), c.matches) << c.what;

  // Every key of family "web" sorts before every key of "web2", so families never interleave.
  EXPECT_LT(TaskDefinitionKey("web", UINT32_MAX), TaskDefinitionKey("web2", 0));
}

TEST(KeysTest, DecodersRejectMalformedKeys) {
  struct Case {
    const char* what;
    std::string key;
  };
  const Case bad_task_definitions[] = {
      {"empty", ""},
      {"no separator", "web"},
      {"empty family", "\0\0\0\0\x01"s},
      {"no revision bytes", "web\0"s},
      {"3 revision bytes", "web\0\0\0\x01"s},
      {"5 revision bytes", "web\0\0\0\0\0\x01"s},
  };
  for (const Case& c : bad_task_definitions) EXPECT_FALSE(DecodeTaskDefinitionKey(c.key).has_value()) << c.what;

  const Case bad_cluster_scoped[] = {
      {"empty", ""},
      {"no separator", "prod"},
      {"only a separator", "\0"s},
      {"empty cluster", "\0t1"s},
      {"empty id", "prod\0"s},
      {"three components", "prod\0i\0n"s},
      {"trailing separator after id", "prod\0t1\0"s},
      {"double separator", "prod\0\0t1"s},
  };
  for (const Case& c : bad_cluster_scoped) EXPECT_FALSE(DecodeClusterScopedKey(c.key).has_value()) << c.what;

  const Case bad_attributes[] = {
      {"empty", ""},
      {"one component", "prod"},
      {"two components", "prod\0i"s},
      {"empty name", "prod\0i\0"s},
      {"empty target", "prod\0\0n"s},
      {"empty cluster", "\0i\0n"s},
      {"four components", "prod\0i\0n\0x"s},
      {"only separators", "\0\0"s},
  };
  for (const Case& c : bad_attributes) EXPECT_FALSE(DecodeAttributeKey(c.key).has_value()) << c.what;

  const Case bad_clusters[] = {
      {"empty", ""},
      {"contains separator", "pr\0od"s},
      {"only a separator", "\0"s},
  };
  for (const Case& c : bad_clusters) EXPECT_FALSE(DecodeClusterKey(c.key).has_value()) << c.what;
}

// Decoders see bytes from disk: on arbitrary input they must not crash, and whatever they accept
// must be exactly what the encoder would have produced (so decode/encode is a bijection).
TEST(KeysTest, DecodersAcceptExactlyEncoderOutputsOnRandomBytes) {
  std::mt19937 rng(20240611);
  const char alphabet[] = {'\0', '\0', 'a', 'b', '\x01', '\xff'};
  std::uniform_int_distribution<size_t> length(0, 12);
  std::uniform_int_distribution<size_t> pick(0, sizeof(alphabet) - 1);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string key(length(rng), ' ');
    for (char& c : key) c = alphabet[pick(rng)];
    if (auto parts = DecodeTaskDefinitionKey(key)) {
      ++accepted;
      EXPECT_EQ(TaskDefinitionKey(parts->family, parts->revision), key);
    }
    if (auto parts = DecodeClusterScopedKey(key)) {
      ++accepted;
      EXPECT_EQ(TaskKey(parts->cluster, parts->id), key);
    }
    if (auto parts = DecodeAttributeKey(key)) {
      ++accepted;
      EXPECT_EQ(AttributeKey(parts->cluster, parts->target_id, parts->name), key);
    }
    if (auto name = DecodeClusterKey(key)) {
      ++accepted;
      EXPECT_EQ(ClusterKey(*name), key);
    }
  }
  EXPECT_GT(accepted, 1000);  // the generator does reach the valid shapes
}

// Encoders are handed validated names; a NUL or an empty component is a caller bug that would
// make keys ambiguous, so it crashes with a message instead of writing a corrupt key.
TEST(KeysDeathTest, EncodersCrashOnInvalidComponents) {
  EXPECT_DEATH(ClusterKey("pr\0od"s), "cluster name .* is not a valid store key component");
  EXPECT_DEATH(ClusterKey(""), "cluster name .* is not a valid store key component");
  EXPECT_DEATH(TaskDefinitionKey("we\0b"s, 1), "task definition family");
  EXPECT_DEATH(TaskKey("prod", "t\0"s), "task id");
  EXPECT_DEATH(ContainerInstanceKey("prod", ""), "container instance id");
  EXPECT_DEATH(ServiceKey("\0"s, "api"), "cluster name");
  EXPECT_DEATH(AttributeKey("prod", "i", "a\0b"s), "attribute name");
  EXPECT_DEATH(AttributeKey("prod", "", "n"), "attribute target id");
  EXPECT_DEATH(ClusterPrefix("a\0"s), "cluster name");
}

}  // namespace
}  // namespace berth::store
