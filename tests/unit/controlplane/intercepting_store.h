// InterceptingStore: a memory store for tests that intercept its writes (override Write and call
// inner_->Write); reads go straight through.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "berth/store/store.h"

namespace berth::controlplane {

class InterceptingStore : public store::Store {
 public:
  absl::StatusOr<std::string> Get(store::Table t, std::string_view k) override { return inner_->Get(t, k); }
  absl::Status Scan(store::Table t, std::string_view p,
                    const std::function<bool(std::string_view, std::string_view)>& fn) override {
    return inner_->Scan(t, p, fn);
  }
  uint64_t ApproximateDiskBytes() override { return 0; }
  store::StoreStats Stats() const override { return inner_->Stats(); }
  absl::Status Close() override { return inner_->Close(); }

 protected:
  std::unique_ptr<store::Store> inner_ = store::NewMemoryStore();
};

}  // namespace berth::controlplane
