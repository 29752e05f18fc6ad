// Api: the action classes over one ActionContext, and the durability fence of the doors' answers.
#include "src/controlplane/actions/api.h"

namespace berth::controlplane {

Api::Api(ApiOptions options, State* state, absl::Mutex* mu, CommitPipeline* pipeline, const Clock* clock)
    : context_(std::move(options), state, mu, pipeline, clock),
      launcher_(context_),
      clusters_(context_),
      task_definitions_(context_),
      instances_(context_, &sessions_),
      tasks_(context_, &launcher_),
      services_(context_, &launcher_),
      capacity_(context_, &launcher_),
      tags_(context_),
      join_tokens_(context_),
      agent_(context_, &sessions_),
      logs_(context_.options.log_store, &context_.arns, clock) {}

Api::Done Api::AnswerWhenDurable(Done done) const {
  return [pipeline = context_.pipeline, done = std::move(done)](absl::Status status) {
    if (pipeline->OnCompletionThread()) return done(std::move(status));
    // Everything this answer could have seen was applied by now, so the applied revision bounds it.
    pipeline->WhenDurable(pipeline->applied_revision(),
                          [done, status = std::move(status)]() mutable { done(std::move(status)); });
  };
}

}  // namespace berth::controlplane
