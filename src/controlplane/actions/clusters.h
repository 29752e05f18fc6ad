// ClusterActions: CreateCluster, DeleteCluster, DescribeClusters, ListClusters,
// UpdateClusterSettings and PutClusterCapacityProviders (clusters.cc; the capacity provider
// checks in capacity.cc), and the `default` cluster of a new store.
#pragma once

#include "src/controlplane/actions/action_base.h"

namespace berth::controlplane {

class ClusterActions : public ActionBase {
 public:
  explicit ClusterActions(const ActionContext& context) : ActionBase(context) {}

  void CreateCluster(const v1::CreateClusterRequest& request, v1::CreateClusterResponse* response, Done done);
  void DeleteCluster(const v1::DeleteClusterRequest& request, v1::DeleteClusterResponse* response, Done done);
  void DescribeClusters(const v1::DescribeClustersRequest& request, v1::DescribeClustersResponse* response, Done done);
  void ListClusters(const v1::ListClustersRequest& request, v1::ListClustersResponse* response, Done done);
  void UpdateClusterSettings(const v1::UpdateClusterSettingsRequest& request,
                             v1::UpdateClusterSettingsResponse* response, Done done);
  void PutClusterCapacityProviders(const v1::PutClusterCapacityProvidersRequest& request,
                                   v1::PutClusterCapacityProvidersResponse* response, Done done);

  // On the first start of a store: records the schema version and creates the `default`
  // cluster. A later start changes nothing (a deleted `default` stays deleted until CreateCluster
  // re-creates it). Blocks until durable.
  absl::Status Bootstrap();

 private:
  // capacityProviders and defaultCapacityProviderStrategy of CreateCluster and
  // PutClusterCapacityProviders, checked on their own.
  static absl::Status ValidateClusterProviders(
      const google::protobuf::RepeatedPtrField<std::string>& providers,
      const google::protobuf::RepeatedPtrField<v1::CapacityProviderStrategyItem>& strategy);
  // Each provider exists, is ACTIVE and is not associated with another cluster (state lock held).
  absl::Status CheckProvidersAssignable(const std::string& cluster,
                                        const google::protobuf::RepeatedPtrField<std::string>& providers) const;
};

}  // namespace berth::controlplane
