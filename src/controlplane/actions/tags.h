// TagActions: TagResource, UntagResource and ListTagsForResource over every taggable resource
// (tags.cc).
#pragma once

#include "src/controlplane/actions/action_base.h"

namespace berth::controlplane {

class TagActions : public ActionBase {
 public:
  explicit TagActions(const ActionContext& context) : ActionBase(context) {}

  void TagResource(const v1::TagResourceRequest& request, v1::TagResourceResponse* response, Done done);
  void UntagResource(const v1::UntagResourceRequest& request, v1::UntagResourceResponse* response, Done done);
  void ListTagsForResource(const v1::ListTagsForResourceRequest& request, v1::ListTagsForResourceResponse* response,
                           Done done);

 private:
  // A taggable resource located in state: a copy of its tags, and how to replace them (proposal
  // side: changes the record and writes it).
  struct Tagged {
    google::protobuf::RepeatedPtrField<v1::Tag> tags;
    std::function<void(Applier&, google::protobuf::RepeatedPtrField<v1::Tag>)> replace;
  };
  // Resolves a resource ARN (state lock held). NotFound when the resource does not exist.
  absl::StatusOr<Tagged> FindTagged(const std::string& arn);
};

}  // namespace berth::controlplane
