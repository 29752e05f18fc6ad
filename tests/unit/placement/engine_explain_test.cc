// The placement engine's failure details, Explain, and strategies and constraints parsed from the
// ECS API's shapes.
#include "berth/placement/engine.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <ostream>
#include <set>

#include "absl/status/status.h"
#include "berth/common/strings.h"
#include "tests/unit/placement/engine_builders.h"
#include "tests/unit/placement/reference.h"

namespace berth::placement {
namespace {

// ---------------------------------------------------------------------------------------------
// Failure detail

TEST(FailureTest, DetailCountsInstancesPerReason) {
  std::vector<InstanceView> instances;
  for (int i = 0; i < 812; ++i) instances.push_back(I(StrCat("m", i), 4096, 100));
  for (int i = 0; i < 3; ++i) instances.push_back(I(StrCat("x", i)).Disconnected());
  ClusterView view;
  Load(view, instances, {});
  Decision d = Engine().PlaceOne(view, R().Memory(512), 0);
  ASSERT_FALSE(d.placement);
  EXPECT_EQ(d.failure.reason, "RESOURCE:MEMORY");
  EXPECT_EQ(d.failure.detail, "RESOURCE:MEMORY on 812 instances, AGENT on 3 instances");
  std::array<int32_t, kReasonCount> want{};
  want[static_cast<int>(Reason::kMemory)] = 812;
  want[static_cast<int>(Reason::kAgent)] = 3;
  EXPECT_EQ(d.failure.rejected, want);
}

// Every instance at the cap: the ECS-style reason, counted per instance.
TEST(FailureTest, EveryInstanceAtTheCap) {
  std::vector<InstanceView> instances;
  std::vector<HoldOn> holds;
  for (int i = 0; i < 5; ++i) {
    instances.push_back(I(StrCat("m", i)));
    holds.push_back({StrCat("m", i), H("service:api")});
    holds.push_back({StrCat("m", i), H("service:api")});
  }
  ClusterView view;
  Load(view, instances, holds);
  Decision d = Engine().PlaceOne(view, R().Group("service:api").MaxPerInstance(2).By(SpreadInstance()), 0);
  ASSERT_FALSE(d.placement);
  EXPECT_EQ(d.failure.reason, "MaxTasksPerInstance limit reached.");
  EXPECT_EQ(d.failure.detail, "MaxTasksPerInstance limit reached. on 5 instances");
  std::array<int32_t, kReasonCount> want{};
  want[static_cast<int>(Reason::kMaxTasksPerInstance)] = 5;
  EXPECT_EQ(d.failure.rejected, want);
}

TEST(FailureTest, MissingHasNoCounts) {
  ClusterView view;
  Decision d = Engine().PlaceOne(view, R(), 0);
  ASSERT_FALSE(d.placement);
  EXPECT_EQ(d.failure.reason, "MISSING");
  EXPECT_EQ(d.failure.rejected, (std::array<int32_t, kReasonCount>{}));
}

// ---------------------------------------------------------------------------------------------
// Explain

class ExplainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Load(view_,
         {I("a", 4096, 1024), I("b", 4096, 2048), I("c", 4096, 4096), I("d", 4096, 512).Draining(), I("e", 4096, 256),
          I("f", 4096, 8192).Disconnected(), I("g", 4096, 300)},
         {});
  }
  ClusterView view_;
  PlacementRequest request_ = R().Memory(512).By(BinpackMemory());
};

TEST_F(ExplainTest, CountsAndTopCandidates) {
  Explanation x = Engine().Explain(view_, request_, 0, "", 2);
  EXPECT_EQ(x.candidates, 7);
  EXPECT_EQ(x.feasible, 3);
  std::array<int32_t, kReasonCount> want{};
  want[static_cast<int>(Reason::kInactive)] = 1;
  want[static_cast<int>(Reason::kAgent)] = 1;
  want[static_cast<int>(Reason::kMemory)] = 2;
  EXPECT_EQ(x.rejected, want);
  ASSERT_EQ(x.top.size(), 2u);
  EXPECT_EQ(x.top[0].instance_id, "a");
  EXPECT_EQ(x.top[0].scores, std::vector<int64_t>{1024});
  EXPECT_EQ(x.top[0].tiebreak, view_.Find("a")->tiebreak);
  EXPECT_EQ(x.top[1].instance_id, "b");
  EXPECT_EQ(x.top[1].scores, std::vector<int64_t>{2048});
  ASSERT_TRUE(x.decision);
  EXPECT_EQ(x.decision->instance_id, "a");
  EXPECT_FALSE(x.instance_found);

  Explanation all = Engine().Explain(view_, request_, 0, "", 10);
  ASSERT_EQ(all.top.size(), 3u) << "only feasible instances are ranked";
  EXPECT_EQ(all.top[2].instance_id, "c");
}

TEST_F(ExplainTest, NamedFeasibleInstanceRank) {
  Explanation x = Engine().Explain(view_, request_, 0, "c", 1);
  EXPECT_TRUE(x.instance_found);
  EXPECT_FALSE(x.instance_rejected);
  ASSERT_TRUE(x.instance_score);
  EXPECT_EQ(x.instance_score->instance_id, "c");
  EXPECT_EQ(x.instance_score->scores, std::vector<int64_t>{4096});
  EXPECT_EQ(x.instance_rank, 3);
  ASSERT_EQ(x.top.size(), 1u);

  Explanation best = Engine().Explain(view_, request_, 0, "a", 1);
  EXPECT_EQ(best.instance_rank, 1) << "1 = would be chosen";
}

TEST_F(ExplainTest, NamedRejectedInstanceReason) {
  for (const auto& [id, reason] : std::vector<std::pair<std::string, Reason>>{
           {"d", Reason::kInactive}, {"e", Reason::kMemory}, {"f", Reason::kAgent}}) {
    Explanation x = Engine().Explain(view_, request_, 0, id, 3);
    EXPECT_TRUE(x.instance_found) << id;
    ASSERT_TRUE(x.instance_rejected) << id;
    EXPECT_EQ(*x.instance_rejected, reason) << id;
  }
  Explanation unknown = Engine().Explain(view_, request_, 0, "nope", 3);
  EXPECT_FALSE(unknown.instance_found);
}

TEST_F(ExplainTest, FailureMatchesPlaceOne) {
  PlacementRequest request = R().Memory(100000);
  Explanation x = Engine().Explain(view_, request, 0, "", 3);
  Decision d = Engine().PlaceOne(view_, request, 0);
  ASSERT_FALSE(d.placement);
  EXPECT_FALSE(x.decision);
  EXPECT_EQ(x.feasible, 0);
  EXPECT_TRUE(x.top.empty());
  EXPECT_EQ(x.failure.reason, d.failure.reason);
  EXPECT_EQ(x.failure.detail, d.failure.detail);
  EXPECT_EQ(x.failure.rejected, d.failure.rejected);
  EXPECT_EQ(x.failure.reason, "RESOURCE:MEMORY");
}

// The cap in explain: counted among the rejections, named as the instance's reason, and the failure
// (every feasible instance at the cap) matches PlaceOne's.
TEST_F(ExplainTest, MaxPerInstance) {
  Load(view_, {}, {{"a", H("w")}, {"a", H("w")}, {"b", H("w")}});
  PlacementRequest request = R().Memory(512).Group("w").MaxPerInstance(2).By(BinpackMemory());
  Explanation x = Engine().Explain(view_, request, 0, "a", 5);
  EXPECT_EQ(x.candidates, 7);
  EXPECT_EQ(x.feasible, 2);
  EXPECT_EQ(x.rejected[static_cast<int>(Reason::kMaxTasksPerInstance)], 1);
  ASSERT_EQ(x.top.size(), 2u);
  EXPECT_EQ(x.top[0].instance_id, "b");
  EXPECT_EQ(x.top[1].instance_id, "c");
  ASSERT_TRUE(x.decision);
  EXPECT_EQ(x.decision->instance_id, "b");
  EXPECT_TRUE(x.instance_found);
  ASSERT_TRUE(x.instance_rejected);
  EXPECT_EQ(*x.instance_rejected, Reason::kMaxTasksPerInstance);
  EXPECT_EQ(ReasonName(*x.instance_rejected), kMaxTasks);

  view_.Reserve("c", H("w"));
  request.max_per_instance = 1;
  Explanation full = Engine().Explain(view_, request, 0, "c", 5);
  Decision d = Engine().PlaceOne(view_, request, 0);
  ASSERT_FALSE(d.placement);
  EXPECT_FALSE(full.decision);
  EXPECT_EQ(full.feasible, 0);
  EXPECT_EQ(*full.instance_rejected, Reason::kMaxTasksPerInstance);
  EXPECT_EQ(full.failure.reason, kMaxTasks);
  EXPECT_EQ(full.failure.detail,
            StrCat(kMaxTasks,
                   " on 3 instances, RESOURCE:MEMORY on 2 instances, INACTIVE on 1 instance, AGENT on 1 "
                   "instance"));
  EXPECT_EQ(full.failure.reason, d.failure.reason);
  EXPECT_EQ(full.failure.detail, d.failure.detail);
  EXPECT_EQ(full.failure.rejected, d.failure.rejected);
}

TEST_F(ExplainTest, ScoresOfEveryStrategy) {
  view_.Upsert(I("a", 4096, 1024).Az("x"));
  view_.Reserve("a", H("grp"));
  view_.Reserve("b", H("grp"));
  PlacementRequest request = R().Memory(512)
                                 .Group("grp")
                                 .Seed(9)
                                 .By(SpreadAttribute("az"))
                                 .By(SpreadInstance())
                                 .By(BinpackCpu())
                                 .By(RandomStrategy());
  Explanation x = Engine().Explain(view_, request, 4, "b", 3);
  ASSERT_TRUE(x.instance_score);
  EXPECT_EQ(x.instance_score->scores, (std::vector<int64_t>{1, 1, 4096, RandomScore(9, 4, view_.Find("b")->tiebreak)}))
      << "b has no az: it shares \"\" with c (0 tasks); one task on b";
  reference::Outcome o = reference::Place(view_, request, 4);
  ASSERT_EQ(x.top.size(), 3u);
  for (size_t i = 0; i < x.top.size(); ++i) {
    EXPECT_EQ(x.top[i].instance_id, o.feasible[i].instance->id);
    EXPECT_EQ(x.top[i].scores, o.feasible[i].scores);
  }
}

// ---------------------------------------------------------------------------------------------
// From the ECS API

TEST(StrategyFromApiTest, Valid) {
  struct Case {
    std::string type, field;
    Strategy::Type want_type;
    Strategy::Field want_field;
    std::string want_attribute;
    std::string want_string;
  };
  for (const Case& c : std::vector<Case>{
           {"binpack", "cpu", Strategy::Type::kBinpack, Strategy::Field::kCpu, "", "binpack(cpu)"},
           {"binpack", "memory", Strategy::Type::kBinpack, Strategy::Field::kMemory, "", "binpack(memory)"},
           {"spread", "instanceId", Strategy::Type::kSpread, Strategy::Field::kInstanceId, "", "spread(instanceId)"},
           {"spread", "host", Strategy::Type::kSpread, Strategy::Field::kInstanceId, "", "spread(instanceId)"},
           {"spread", "attribute:ecs.availability-zone", Strategy::Type::kSpread, Strategy::Field::kAttribute,
            "ecs.availability-zone", "spread(attribute:ecs.availability-zone)"},
           {"random", "", Strategy::Type::kRandom, Strategy::Field::kNone, "", "random"},
           {"random", "whatever", Strategy::Type::kRandom, Strategy::Field::kNone, "", "random"},
       }) {
    absl::StatusOr<Strategy> s = Strategy::FromApi(c.type, c.field);
    ASSERT_TRUE(s.ok()) << c.type << " " << c.field << ": " << s.status();
    EXPECT_EQ(s->type, c.want_type) << c.type << " " << c.field;
    EXPECT_EQ(s->field, c.want_field) << c.type << " " << c.field;
    EXPECT_EQ(s->attribute, c.want_attribute) << c.type << " " << c.field;
    EXPECT_EQ(s->ToString(), c.want_string);
  }
}

TEST(StrategyFromApiTest, Errors) {
  for (const auto& [type, field] : std::vector<std::pair<std::string, std::string>>{
           {"binpack", ""},
           {"binpack", "disk"},
           {"binpack", "instanceId"},
           {"spread", ""},
           {"spread", "cpu"},
           {"spread", "attribute:"},
           {"pack", "cpu"},
           {"", ""},
       }) {
    absl::StatusOr<Strategy> s = Strategy::FromApi(type, field);
    ASSERT_FALSE(s.ok()) << "type '" << type << "' field '" << field << "'";
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_FALSE(s.status().message().empty());
  }
}

TEST(ConstraintFromApiTest, Valid) {
  absl::StatusOr<Constraint> d = Constraint::FromApi("distinctInstance", "");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->type, Constraint::Type::kDistinctInstance);

  absl::StatusOr<Constraint> m = Constraint::FromApi("memberOf", "attribute:ecs.instance-type =~ g2.*");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->type, Constraint::Type::kMemberOf);
  ASSERT_NE(m->expression, nullptr);
  EXPECT_EQ(m->expression->ToString(), ParseExpression("attribute:ecs.instance-type =~ g2.*")->ToString());
}

TEST(ConstraintFromApiTest, Errors) {
  absl::StatusOr<Constraint> empty = Constraint::FromApi("memberOf", "");
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);

  absl::StatusOr<Constraint> malformed = Constraint::FromApi("memberOf", "attribute:az ==");
  EXPECT_EQ(malformed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(malformed.status().message()).find("column"), std::string::npos) << malformed.status();

  absl::StatusOr<Constraint> unknown = Constraint::FromApi("sameInstance", "");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(unknown.status().message().empty());
}

}  // namespace
}  // namespace berth::placement
