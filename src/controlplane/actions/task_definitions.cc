// Task definition actions: RegisterTaskDefinition, DeregisterTaskDefinition,
// DescribeTaskDefinition, ListTaskDefinitions, ListTaskDefinitionFamilies.
#include <google/protobuf/util/json_util.h>

#include <cstdio>

#include "absl/strings/match.h"
#include "berth/common/status.h"
#include "berth/common/strings.h"
#include "src/controlplane/actions/pagination.h"
#include "src/controlplane/actions/task_definitions.h"
#include "src/controlplane/doors/errors.h"

namespace berth::controlplane {
namespace {

// The registered definition carries every input member of the request except `tags` (kept
// beside it, as ECS does). The two messages share member names, so the JSON mapping copies them;
// a member the TaskDefinition lacks is a schema bug, caught here.
v1::TaskDefinition FromRequest(const v1::RegisterTaskDefinitionRequest& request) {
  v1::RegisterTaskDefinitionRequest copy = request;
  copy.clear_tags();
  std::string json;
  BERTH_CHECK(google::protobuf::util::MessageToJsonString(copy, &json).ok());
  v1::TaskDefinition td;
  auto status = google::protobuf::util::JsonStringToMessage(json, &td);
  BERTH_CHECK_MSG(status.ok(), "RegisterTaskDefinitionRequest has a member TaskDefinition lacks");
  // As ECS stores it: a container is essential unless it says otherwise.
  for (auto& c : *td.mutable_container_definitions()) {
    if (!c.has_essential()) c.set_essential(true);
  }
  return td;
}

// "family\0<10-digit revision>": sorts like the (family, revision) pair.
std::string RevisionKey(const std::string& family, uint32_t revision) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%010u", revision);
  return StrCat(family, std::string_view("\0", 1), buf);
}

}  // namespace

void TaskDefinitionActions::RegisterTaskDefinition(const v1::RegisterTaskDefinitionRequest& request,
                                                   v1::RegisterTaskDefinitionResponse* response, Done done) {
  auto facts = ValidateTaskDefinition(request, options_.limits);
  // ECS answers every task-definition rule with a ClientException (ECS-SEMANTICS.md, "Errors").
  if (!facts.ok()) return done(WithType(facts.status(), "ClientException"));
  auto td = std::make_shared<v1::TaskDefinition>(FromRequest(request));
  if (!td->has_network_mode()) td->set_network_mode(facts->network_mode);
  // As ECS does, "1 vCPU" / "2GB" are stored and returned as CPU units / MiB ("1024" / "2048").
  if (td->has_cpu()) td->set_cpu(std::to_string(*ParseTaskCpu(td->cpu(), "cpu")));
  if (td->has_memory()) td->set_memory(std::to_string(*ParseTaskMemory(td->memory(), "memory")));
  for (const auto& c : facts->compatibilities) td->add_compatibilities(c);
  td->set_status("ACTIVE");
  Submit(
      [this, &request, response, td, demand = facts->demand](Applier& txn) -> absl::Status {
        v1::TaskDefinitionRecord rec;
        *rec.mutable_task_definition() = std::move(*td);
        rec.mutable_task_definition()->set_registered_at(clock_->NowSeconds());
        *rec.mutable_tags() = request.tags();
        *rec.mutable_demand() = demand;
        const v1::TaskDefinitionRecord& stored = txn.AddTaskDefinition(std::move(rec));
        RenderTaskDefinition(stored, response->mutable_task_definition());
        *response->mutable_tags() = stored.tags();
        return absl::OkStatus();
      },
      std::move(done));
}

void TaskDefinitionActions::DeregisterTaskDefinition(const v1::DeregisterTaskDefinitionRequest& request,
                                                     v1::DeregisterTaskDefinitionResponse* response, Done done) {
  if (!request.has_task_definition() || request.task_definition().empty()) {
    return done(InvalidParameter("taskDefinition: required: give family:revision or the full ARN"));
  }
  auto ref = arns_.TaskDefinition(request.task_definition(), "taskDefinition");
  if (!ref.ok()) return done(WithType(ref.status(), "InvalidParameterException"));
  if (ref->revision == 0) {
    return done(InvalidParameter("taskDefinition: '", request.task_definition(),
                                 "' names no revision: deregistering needs family:revision or the full ARN"));
  }
  Submit(
      [this, response, ref = *ref](Applier& txn) -> absl::Status {
        const v1::TaskDefinitionRecord* found = state_->FindTaskDefinition(ref.family, ref.revision);
        if (found == nullptr) return NotFound("task definition ", ref.family, ":", ref.revision, " does not exist");
        const v1::TaskDefinitionRecord& rec = *found;
        txn.DeregisterTaskDefinition(rec, clock_->NowSeconds());
        RenderTaskDefinition(rec, response->mutable_task_definition());
        return absl::OkStatus();
      },
      std::move(done));
}

void TaskDefinitionActions::DescribeTaskDefinition(const v1::DescribeTaskDefinitionRequest& request,
                                                   v1::DescribeTaskDefinitionResponse* response, Done done) {
  if (!request.has_task_definition() || request.task_definition().empty()) {
    return done(InvalidParameter("taskDefinition: required: give family, family:revision or the full ARN"));
  }
  auto ref = arns_.TaskDefinition(request.task_definition(), "taskDefinition");
  if (!ref.ok()) return done(WithType(ref.status(), "InvalidParameterException"));
  for (int i = 0; i < request.include_size(); ++i) {
    if (request.include(i) != "TAGS") {
      return done(InvalidParameter("include[", i, "]: must be TAGS (got '", request.include(i), "')"));
    }
  }
  absl::Status result = [&]() -> absl::Status {
    absl::ReaderMutexLock lock(mu_);
    const v1::TaskDefinitionRecord* rec =
        ref->revision == 0 ? state_->LatestActive(ref->family) : state_->FindTaskDefinition(ref->family, ref->revision);
    if (rec == nullptr) {
      return NotFound("task definition '", request.task_definition(), "' does not exist",
                      ref->revision == 0 ? " (or has no ACTIVE revision)" : "");
    }
    RenderTaskDefinition(*rec, response->mutable_task_definition());
    if (request.include_size() > 0) *response->mutable_tags() = rec->tags();
    return absl::OkStatus();
  }();
  done(result);
}

void TaskDefinitionActions::ListTaskDefinitions(const v1::ListTaskDefinitionsRequest& request,
                                                v1::ListTaskDefinitionsResponse* response, Done done) {
  std::string status = request.has_status() ? request.status() : "ACTIVE";
  if (status != "ACTIVE" && status != "INACTIVE" && status != "DELETE_IN_PROGRESS") {
    return done(InvalidParameter("status: must be ACTIVE, INACTIVE or DELETE_IN_PROGRESS (got '", status, "')"));
  }
  std::string sort = request.has_sort() ? request.sort() : "ASC";
  if (sort != "ASC" && sort != "DESC") return done(InvalidParameter("sort: must be ASC or DESC (got '", sort, "')"));
  if (request.has_family_prefix() && !request.family_prefix().empty() && !IsValidName(request.family_prefix())) {
    return done(InvalidParameter("familyPrefix: '", request.family_prefix(),
                                 "' is invalid: use letters, digits, hyphens and underscores"));
  }
  auto after = DecodePageToken(request.has_next_token(), request.next_token());
  if (!after.ok()) return done(after.status());
  auto limit = PageSize(request.has_max_results(), request.max_results());
  if (!limit.ok()) return done(limit.status());
  // Despite its name, ECS's familyPrefix here is "the full family name": `web` lists web's
  // revisions and never web-worker's (ListTaskDefinitionFamilies' familyPrefix is a real prefix).
  const std::string family = request.family_prefix();
  {
    absl::ReaderMutexLock lock(mu_);
    std::vector<std::pair<std::string, const v1::TaskDefinitionRecord*>> matches;
    const auto& families = state_->families();
    auto collect = [&](const std::string& name, const FamilyEntry& entry) {
      for (const auto& [rev, rec] : entry.revisions) {
        if (rec.task_definition().status() == status) matches.emplace_back(RevisionKey(name, rev), &rec);
      }
    };
    if (family.empty()) {
      for (const auto& [name, entry] : families) collect(name, entry);
    } else if (auto it = families.find(family); it != families.end()) {
      collect(it->first, it->second);
    }
    if (sort == "DESC") std::reverse(matches.begin(), matches.end());
    size_t i = 0;
    if (!after->empty()) {
      while (i < matches.size() && (sort == "ASC" ? matches[i].first <= *after : matches[i].first >= *after)) ++i;
    }
    for (; i < matches.size(); ++i) {
      if (response->task_definition_arns_size() == *limit) {
        response->set_next_token(EncodePageToken(matches[i - 1].first));
        break;
      }
      const auto& td = matches[i].second->task_definition();
      response->add_task_definition_arns(arns_.TaskDefinition(td.family(), static_cast<uint32_t>(td.revision())));
    }
  }
  done(absl::OkStatus());
}

void TaskDefinitionActions::ListTaskDefinitionFamilies(const v1::ListTaskDefinitionFamiliesRequest& request,
                                                       v1::ListTaskDefinitionFamiliesResponse* response, Done done) {
  std::string status = request.has_status() ? request.status() : "ALL";
  if (status != "ACTIVE" && status != "INACTIVE" && status != "ALL") {
    return done(InvalidParameter("status: must be ACTIVE, INACTIVE or ALL (got '", status, "')"));
  }
  if (request.has_family_prefix() && !request.family_prefix().empty() && !IsValidName(request.family_prefix())) {
    return done(InvalidParameter("familyPrefix: '", request.family_prefix(),
                                 "' is invalid: use letters, digits, hyphens and underscores"));
  }
  auto after = DecodePageToken(request.has_next_token(), request.next_token());
  if (!after.ok()) return done(after.status());
  auto limit = PageSize(request.has_max_results(), request.max_results());
  if (!limit.ok()) return done(limit.status());
  const std::string prefix = request.family_prefix();
  {
    absl::ReaderMutexLock lock(mu_);
    const auto& families = state_->families();
    auto it = after->empty() ? families.lower_bound(prefix) : families.upper_bound(*after);
    for (; it != families.end() && absl::StartsWith(it->first, prefix); ++it) {
      bool active = it->second.active_revisions > 0;
      if ((status == "ACTIVE" && !active) || (status == "INACTIVE" && active)) continue;
      if (response->families_size() == *limit) {
        response->set_next_token(EncodePageToken(std::prev(it)->first));
        break;
      }
      response->add_families(it->first);
    }
  }
  done(absl::OkStatus());
}

absl::StatusOr<TaskDefinitionActions::TaskDefinitionRoles> TaskDefinitionActions::RolesOfTaskDefinition(
    const std::string& reference) const {
  auto ref = arns_.TaskDefinition(reference, "taskDefinition");
  if (!ref.ok()) return WithType(ref.status(), "InvalidParameterException");
  absl::ReaderMutexLock lock(mu_);
  const v1::TaskDefinitionRecord* rec =
      ref->revision == 0 ? state_->LatestActive(ref->family) : state_->FindTaskDefinition(ref->family, ref->revision);
  if (rec == nullptr) {
    return NotFound("taskDefinition: task definition '", ref->family,
                    ref->revision == 0 ? "' has no ACTIVE revision" : StrCat(":", ref->revision, "' does not exist"));
  }
  const v1::TaskDefinition& td = rec->task_definition();
  return TaskDefinitionRoles{.pinned = StrCat(td.family(), ":", td.revision()),
                             .task_role_arn = td.task_role_arn(),
                             .execution_role_arn = td.execution_role_arn()};
}

}  // namespace berth::controlplane
