// Tag actions on every taggable resource: TagResource, UntagResource, ListTagsForResource.
#include "src/controlplane/actions/tags.h"
#include "absl/strings/str_split.h"
#include "berth/common/strings.h"
#include "src/controlplane/doors/errors.h"

namespace berth::controlplane {
namespace {
using Tags = google::protobuf::RepeatedPtrField<v1::Tag>;
}  // namespace

absl::StatusOr<TagActions::Tagged> TagActions::FindTagged(const std::string& arn_text) {
  ASSIGN_OR_RETURN(Arn arn, ParseArn(arn_text, "resourceArn"));
  if (arn.region != arns_.context().region || arn.account != arns_.context().account) {
    return InvalidParameter("resourceArn: '", arn_text, "' belongs to another region or account");
  }
  // TagResource and UntagResource declare ResourceNotFoundException for this; ListTagsForResource
  // answers it as a ClientException (below).
  auto missing = [&] {
    return WithType(absl::NotFoundError(StrCat("resourceArn: resource '", arn_text, "' does not exist")),
                    "ResourceNotFoundException");
  };
  switch (arn.kind) {
    case ResourceKind::kCluster: {
      const ClusterEntry* c = state_->FindCluster(arn.resource);
      if (c == nullptr || !c->active()) return ClusterNotFound(arn.resource);
      return Tagged{c->record.cluster().tags(), [c](Applier& t, Tags tags) {
                      *t.EditCluster(*c).mutable_cluster()->mutable_tags() = std::move(tags);
                    }};
    }
    case ResourceKind::kTaskDefinition: {
      ASSIGN_OR_RETURN(auto ref, arns_.TaskDefinition(arn_text, "resourceArn"));
      const v1::TaskDefinitionRecord* rec = state_->FindTaskDefinition(ref.family, ref.revision);
      if (rec == nullptr) return missing();
      return Tagged{rec->tags(),
                    [rec](Applier& t, Tags tags) { *t.EditTaskDefinition(*rec).mutable_tags() = std::move(tags); }};
    }
    case ResourceKind::kContainerInstance:
    case ResourceKind::kTask: {
      std::vector<std::string> parts = absl::StrSplit(ToAbsl(arn.resource), '/');
      if (parts.size() != 2 || !IsId(parts[1])) {
        return InvalidParameter("resourceArn: '", arn_text, "' is malformed (expected <kind>/<cluster>/<id>)");
      }
      const ClusterEntry* c = state_->FindCluster(parts[0]);
      if (c == nullptr) return missing();
      if (arn.kind == ResourceKind::kTask) {
        auto it = c->tasks.find(parts[1]);
        if (it == c->tasks.end()) return missing();
        const TaskEntry* task = &it->second;
        return Tagged{task->record().task().tags(), [c, task](Applier& t, Tags tags) {
                        t.UpdateTask(*c, *task, [&](v1::TaskRecord& r) {
                          *r.mutable_task()->mutable_tags() = std::move(tags);
                          return true;
                        });
                      }};
      }
      auto it = c->instances.find(parts[1]);
      if (it == c->instances.end()) return missing();
      const InstanceEntry* inst = &it->second;
      return Tagged{inst->record.instance().tags(), [c, inst](Applier& t, Tags tags) {
                      *t.EditInstance(*c, *inst).mutable_instance()->mutable_tags() = std::move(tags);
                    }};
    }
    case ResourceKind::kService: {
      std::vector<std::string> parts = absl::StrSplit(ToAbsl(arn.resource), '/');
      if (parts.size() != 2 || !IsValidName(parts[1])) {
        return InvalidParameter("resourceArn: '", arn_text, "' is malformed (expected service/<cluster>/<name>)");
      }
      const ClusterEntry* c = state_->FindCluster(parts[0]);
      if (c == nullptr) return missing();
      auto it = c->services.find(parts[1]);
      if (it == c->services.end() || !it->second.active()) return missing();
      const ServiceEntry* service = &it->second;
      return Tagged{service->record.service().tags(), [c, service](Applier& t, Tags tags) {
                      t.UpdateService(*c, *service, [&](v1::ServiceRecord& r) {
                        *r.mutable_service()->mutable_tags() = std::move(tags);
                        return true;
                      });
                    }};
    }
    case ResourceKind::kCapacityProvider: {
      const v1::CapacityProviderRecord* rec = state_->FindCapacityProvider(arn.resource);
      if (rec == nullptr || rec->capacity_provider().status() != "ACTIVE") return missing();
      return Tagged{rec->capacity_provider().tags(), [rec](Applier& t, Tags tags) {
                      v1::CapacityProviderRecord updated = *rec;
                      *updated.mutable_capacity_provider()->mutable_tags() = std::move(tags);
                      t.PutCapacityProvider(std::move(updated));
                    }};
    }
    default:
      return missing();
  }
}

void TagActions::TagResource(const v1::TagResourceRequest& request, v1::TagResourceResponse*, Done done) {
  if (!request.has_resource_arn() || request.resource_arn().empty()) {
    return done(InvalidParameter("resourceArn: required"));
  }
  if (request.tags().empty()) return done(InvalidParameter("tags: give at least one tag"));
  if (absl::Status s = ValidateTags(request.tags(), "tags", options_.limits); !s.ok()) return done(s);
  Submit(
      [this, &request](Applier& txn) -> absl::Status {
        ASSIGN_OR_RETURN(Tagged tagged, FindTagged(request.resource_arn()));
        Tags merged = tagged.tags;
        for (const auto& tag : request.tags()) {
          bool replaced = false;
          for (auto& existing : merged) {
            if (existing.key() == tag.key()) {
              existing = tag;
              replaced = true;
            }
          }
          if (!replaced) *merged.Add() = tag;
        }
        if (merged.size() > options_.limits.max_tags) {
          return InvalidParameter("tags: the resource would have ", merged.size(), " tags; the limit is ",
                                  options_.limits.max_tags);
        }
        tagged.replace(txn, std::move(merged));
        return absl::OkStatus();
      },
      std::move(done));
}

void TagActions::UntagResource(const v1::UntagResourceRequest& request, v1::UntagResourceResponse*, Done done) {
  if (!request.has_resource_arn() || request.resource_arn().empty()) {
    return done(InvalidParameter("resourceArn: required"));
  }
  if (request.tag_keys().empty()) return done(InvalidParameter("tagKeys: give at least one tag key"));
  Submit(
      [this, &request](Applier& txn) -> absl::Status {
        ASSIGN_OR_RETURN(Tagged tagged, FindTagged(request.resource_arn()));
        Tags kept;
        for (const auto& tag : tagged.tags) {
          bool remove = false;
          for (const auto& key : request.tag_keys()) remove |= key == tag.key();
          if (!remove) *kept.Add() = tag;
        }
        if (kept.size() != tagged.tags.size()) tagged.replace(txn, std::move(kept));
        return absl::OkStatus();
      },
      std::move(done));
}

void TagActions::ListTagsForResource(const v1::ListTagsForResourceRequest& request,
                                     v1::ListTagsForResourceResponse* response, Done done) {
  if (!request.has_resource_arn() || request.resource_arn().empty()) {
    return done(InvalidParameter("resourceArn: required"));
  }
  absl::StatusOr<Tagged> tagged;
  {
    absl::ReaderMutexLock lock(mu_);
    tagged = FindTagged(request.resource_arn());
    if (tagged.ok()) *response->mutable_tags() = std::move(tagged->tags);
  }
  if (!tagged.ok() && ErrorType(tagged.status()) == "ResourceNotFoundException") {
    return done(WithType(tagged.status(), "ClientException"));
  }
  done(tagged.status());
}

}  // namespace berth::controlplane
