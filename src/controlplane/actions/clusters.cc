// Cluster actions: CreateCluster, DeleteCluster, UpdateClusterSettings, DescribeClusters, ListClusters;
// the runtime restrictions a cluster's settings impose.
#include <future>

#include "berth/common/strings.h"
#include "berth/store/keys.h"
#include "src/controlplane/actions/clusters.h"
#include "src/controlplane/actions/pagination.h"
#include "src/controlplane/doors/errors.h"

namespace berth::controlplane {
namespace {

// Berth's runtime restrictions are cluster settings beside ECS's containerInsights.
constexpr std::string_view kPrivilegedSetting = "berth:privilegedContainers";
constexpr std::string_view kHostNetworkingSetting = "berth:hostNetworking";
constexpr std::string_view kHostPathSetting = "berth:hostPathVolumes";

absl::Status ValidateClusterSettings(const google::protobuf::RepeatedPtrField<v1::ClusterSetting>& settings) {
  for (int i = 0; i < settings.size(); ++i) {
    const auto& s = settings[i];
    for (int j = 0; j < i; ++j) {
      if (settings[j].name() == s.name()) {
        return InvalidParameter("settings[", i, "].name: '", s.name(), "' is given twice (also settings[", j, "])");
      }
    }
    if (s.name() == "containerInsights") {
      if (s.value() != "enabled" && s.value() != "disabled" && s.value() != "enhanced") {
        return InvalidParameter("settings[", i, "].value: must be enabled, disabled or enhanced (got '", s.value(),
                                "')");
      }
    } else if (s.name() == kPrivilegedSetting || s.name() == kHostNetworkingSetting || s.name() == kHostPathSetting) {
      if (s.value() != "allowed" && s.value() != "forbidden") {
        return InvalidParameter("settings[", i, "].value: ", s.name(), " must be allowed or forbidden (got '",
                                s.value(), "')");
      }
    } else {
      return InvalidParameter("settings[", i, "].name: must be containerInsights, ", kPrivilegedSetting, ", ",
                              kHostNetworkingSetting, " or ", kHostPathSetting, " (got '", s.name(), "')");
    }
  }
  return absl::OkStatus();
}

bool Forbidden(const v1::Cluster& cluster, std::string_view setting) {
  for (const auto& s : cluster.settings()) {
    if (s.name() == setting) return s.value() == "forbidden";
  }
  return false;
}

bool Includes(const google::protobuf::RepeatedPtrField<std::string>& include, std::string_view what) {
  for (const auto& i : include) {
    if (i == what) return true;
  }
  return false;
}

}  // namespace

absl::Status CheckRuntimeRestrictions(const v1::Cluster& cluster, const v1::TaskDefinition& td) {
  if (cluster.settings().empty()) return absl::OkStatus();
  auto refuse = [&](std::string_view what, std::string_view setting) {
    return InvalidParameter("taskDefinition: ", td.family(), ":", td.revision(), " ", what, ", which cluster '",
                            cluster.cluster_name(), "' forbids (setting ", setting, ")");
  };
  if (td.network_mode() == "host" && Forbidden(cluster, kHostNetworkingSetting)) {
    return refuse("uses networkMode host", kHostNetworkingSetting);
  }
  if (Forbidden(cluster, kHostPathSetting)) {
    for (const auto& v : td.volumes()) {
      if (v.has_host() && !v.host().source_path().empty()) {
        return refuse(StrCat("mounts the host path ", v.host().source_path(), " (volume '", v.name(), "')"),
                      kHostPathSetting);
      }
    }
  }
  if (Forbidden(cluster, kPrivilegedSetting)) {
    // Everything that gives a container the host's powers, not only `privileged`.
    if (td.pid_mode() == "host") return refuse("uses pidMode host", kPrivilegedSetting);
    if (td.ipc_mode() == "host") return refuse("uses ipcMode host", kPrivilegedSetting);
    for (const auto& c : td.container_definitions()) {
      const std::string who = StrCat("container '", c.name(), "'");
      if (c.privileged()) return refuse(StrCat(who, " is privileged"), kPrivilegedSetting);
      if (!c.linux_parameters().capabilities().add().empty()) {
        return refuse(StrCat(who, " adds Linux capabilities (", c.linux_parameters().capabilities().add(0), ")"),
                      kPrivilegedSetting);
      }
      if (!c.linux_parameters().devices().empty()) return refuse(StrCat(who, " maps host devices"), kPrivilegedSetting);
      if (!c.docker_security_options().empty()) {
        return refuse(StrCat(who, " sets dockerSecurityOptions"), kPrivilegedSetting);
      }
    }
  }
  return absl::OkStatus();
}

void ClusterActions::CreateCluster(const v1::CreateClusterRequest& request, v1::CreateClusterResponse* response,
                                   Done done) {
  std::string name = request.has_cluster_name() ? request.cluster_name() : "default";
  if (!IsValidName(name)) {
    return done(
        InvalidParameter("clusterName: '", name, "' is invalid: use 1-255 letters, digits, hyphens and underscores"));
  }
  if (absl::Status s = ValidateTags(request.tags(), "tags", options_.limits); !s.ok()) return done(s);
  if (absl::Status s = ValidateClusterSettings(request.settings()); !s.ok()) return done(s);
  if (absl::Status s =
          ValidateClusterProviders(request.capacity_providers(), request.default_capacity_provider_strategy());
      !s.ok()) {
    return done(s);
  }
  Submit(
      [this, &request, response, name](Applier& txn) -> absl::Status {
        const ClusterEntry* c = state_->FindCluster(name);
        if (c != nullptr && c->active()) {
          // As in ECS, creating an existing cluster returns it unchanged.
          RenderCluster(*c, true, response->mutable_cluster());
          return absl::OkStatus();
        }
        RETURN_IF_ERROR(CheckProvidersAssignable(name, request.capacity_providers()));
        v1::ClusterRecord rec;
        auto* cl = rec.mutable_cluster();
        cl->set_cluster_name(name);
        *cl->mutable_capacity_providers() = request.capacity_providers();
        *cl->mutable_default_capacity_provider_strategy() = request.default_capacity_provider_strategy();
        cl->set_status("ACTIVE");
        *cl->mutable_tags() = request.tags();
        *cl->mutable_settings() = request.settings();
        if (request.has_configuration()) *cl->mutable_configuration() = request.configuration();
        if (request.has_service_connect_defaults()) {
          cl->mutable_service_connect_defaults()->set_namespace_(request.service_connect_defaults().namespace_());
        }
        rec.set_created_at(clock_->NowSeconds());
        if (c == nullptr) {
          c = &txn.AddCluster(std::move(rec));
        } else {
          txn.EditCluster(*c) = std::move(rec);  // re-creating an INACTIVE cluster
        }
        RenderCluster(*c, true, response->mutable_cluster());
        return absl::OkStatus();
      },
      std::move(done));
}

void ClusterActions::DeleteCluster(const v1::DeleteClusterRequest& request, v1::DeleteClusterResponse* response,
                                   Done done) {
  if (!request.has_cluster() || request.cluster().empty()) {
    return done(InvalidParameter("cluster: required: name the cluster to delete"));
  }
  absl::Status error;
  std::string name = ClusterFromRequest(true, request.cluster(), &error);
  if (!error.ok()) return done(error);
  Submit(
      [this, response, name](Applier& txn) -> absl::Status {
        ASSIGN_OR_RETURN(const ClusterEntry* c, ActiveCluster(name));
        if (c->registered_instances() > 0) {
          return WithType(Conflict("cluster '", name, "' still has ", c->registered_instances(),
                                   " registered container instances: deregister them first "
                                   "(DeregisterContainerInstance)"),
                          "ClusterContainsContainerInstancesException");
        }
        if (c->active_services > 0) {
          return WithType(Conflict("cluster '", name, "' still has ", c->active_services,
                                   " active services: delete them first (DeleteService)"),
                          "ClusterContainsServicesException");
        }
        if (c->running_tasks + c->pending_tasks > 0) {
          return WithType(Conflict("cluster '", name, "' still has ", c->running_tasks + c->pending_tasks,
                                   " running or pending tasks: stop them first (StopTask)"),
                          "ClusterContainsTasksException");
        }
        txn.EditCluster(*c).mutable_cluster()->set_status("INACTIVE");
        RenderCluster(*c, true, response->mutable_cluster());
        return absl::OkStatus();
      },
      std::move(done));
}

void ClusterActions::UpdateClusterSettings(const v1::UpdateClusterSettingsRequest& request,
                                           v1::UpdateClusterSettingsResponse* response, Done done) {
  if (!request.has_cluster() || request.cluster().empty()) {
    return done(InvalidParameter("cluster: required: name the cluster whose settings to change"));
  }
  absl::Status error;
  std::string name = ClusterFromRequest(true, request.cluster(), &error);
  if (!error.ok()) return done(error);
  if (request.settings().empty()) return done(InvalidParameter("settings: required: at least one setting"));
  if (absl::Status s = ValidateClusterSettings(request.settings()); !s.ok()) return done(s);
  Submit(
      [this, &request, response, name](Applier& txn) -> absl::Status {
        ASSIGN_OR_RETURN(const ClusterEntry* c, ActiveCluster(name));
        // As in ECS, the settings named are set and the others kept. A restriction applies to
        // launches from now on; running tasks are not stopped.
        auto* settings = txn.EditCluster(*c).mutable_cluster()->mutable_settings();
        for (const auto& given : request.settings()) {
          bool replaced = false;
          for (auto& existing : *settings) {
            if (existing.name() != given.name()) continue;
            existing.set_value(given.value());
            replaced = true;
          }
          if (!replaced) *settings->Add() = given;
        }
        RenderCluster(*c, true, response->mutable_cluster());
        return absl::OkStatus();
      },
      std::move(done));
}

void ClusterActions::DescribeClusters(const v1::DescribeClustersRequest& request,
                                      v1::DescribeClustersResponse* response, Done done) {
  if (request.clusters_size() > 100) {
    return done(InvalidParameter("clusters: at most 100 clusters per call (got ", request.clusters_size(), ")"));
  }
  for (int i = 0; i < request.include_size(); ++i) {
    const auto& inc = request.include(i);
    if (inc != "ATTACHMENTS" && inc != "CONFIGURATIONS" && inc != "SETTINGS" && inc != "STATISTICS" && inc != "TAGS") {
      return done(InvalidParameter(
          "include[", i, "]: must be ATTACHMENTS, CONFIGURATIONS, SETTINGS, STATISTICS or TAGS (got '", inc, "')"));
    }
  }
  std::vector<std::string> wanted;
  if (request.clusters().empty()) {
    wanted.push_back("default");
  } else {
    for (int i = 0; i < request.clusters_size(); ++i) {
      auto name = arns_.ClusterName(request.clusters(i), StrCat("clusters[", i, "]"));
      if (!name.ok()) return done(WithType(name.status(), "InvalidParameterException"));
      wanted.push_back(*std::move(name));
    }
  }
  bool with_tags = Includes(request.include(), "TAGS");
  {
    absl::ReaderMutexLock lock(mu_);
    for (const auto& name : wanted) {
      const ClusterEntry* c = state_->FindCluster(name);
      if (c == nullptr) {
        auto* f = response->add_failures();
        f->set_arn(arns_.Cluster(name));
        f->set_reason("MISSING");
        continue;
      }
      RenderCluster(*c, with_tags, response->add_clusters());
    }
  }
  done(absl::OkStatus());
}

void ClusterActions::ListClusters(const v1::ListClustersRequest& request, v1::ListClustersResponse* response,
                                  Done done) {
  auto start = DecodePageToken(request.has_next_token(), request.next_token());
  if (!start.ok()) return done(start.status());
  auto limit = PageSize(request.has_max_results(), request.max_results());
  if (!limit.ok()) return done(limit.status());
  {
    absl::ReaderMutexLock lock(mu_);
    const auto& clusters = state_->clusters();
    auto it = start->empty() ? clusters.begin() : clusters.upper_bound(*start);
    for (; it != clusters.end(); ++it) {
      if (!it->second->active()) continue;
      if (response->cluster_arns_size() == *limit) {
        response->set_next_token(EncodePageToken(std::prev(it)->first));
        break;
      }
      response->add_cluster_arns(arns_.Cluster(it->first));
    }
  }
  done(absl::OkStatus());
}

absl::Status ClusterActions::Bootstrap() {
  std::promise<absl::Status> result;
  Submit(
      [this](Applier& txn) -> absl::Status {
        if (state_->schema_version() != 0) return absl::OkStatus();
        txn.SetSchemaVersion(kSchemaVersion);
        if (state_->FindCluster("default") != nullptr) return absl::OkStatus();
        v1::ClusterRecord rec;
        rec.mutable_cluster()->set_cluster_name("default");
        rec.mutable_cluster()->set_status("ACTIVE");
        rec.set_created_at(clock_->NowSeconds());
        txn.AddCluster(std::move(rec));
        return absl::OkStatus();
      },
      [&result](absl::Status s) { result.set_value(std::move(s)); });
  return result.get_future().get();
}

}  // namespace berth::controlplane
