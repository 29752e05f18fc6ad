// Shared file systems (docs/capacity.md, "Shared file systems"): what an efsVolumeConfiguration's
// fileSystemId names. berthd reads them from --file-systems; an agent mounts one through Docker's
// local volume driver.
//
//   {"fileSystems": [
//     {"fileSystemId": "fs-0123abcd", "nfs": {"server": "10.0.0.5", "export": "/srv/shared",
//                                            "options": "nfsvers=4.1"}},
//     {"fileSystemId": "fs-local01", "local": {"path": "/mnt/shared"}}]}
//
// "nfs" mounts server:export (+ rootDirectory) with the options; "local" binds a directory every
// agent sees at the same path (one machine, or a file system the hosts already mount).
#pragma once

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "berth/v1/agent.pb.h"
#include "berth/v1/ecs.pb.h"

namespace berth::controlplane {

struct FileSystem {
  enum class Kind { kNfs, kLocal };
  Kind kind = Kind::kNfs;
  std::string server;   // nfs
  std::string path;     // nfs: the export; local: the directory
  std::string options;  // nfs: mount options added after addr=
};

using FileSystems = std::map<std::string, FileSystem>;  // by fileSystemId

// Parses --file-systems JSON; errors name the field ("fileSystems[1].nfs.server: required").
absl::StatusOr<FileSystems> ParseFileSystems(const std::string& json);

// Whether berthd can mount the efsVolumeConfiguration of volume `volume` (field path `field`):
// its file system is declared and it asks for nothing Berth cannot do (transit encryption, and
// so access points and IAM authorization).
absl::Status CheckEfsVolume(const FileSystems& file_systems, const v1::EFSVolumeConfiguration& efs,
                            std::string_view field);

// The mount an agent makes for an efsVolumeConfiguration volume named `volume`.
v1::SharedFileSystem MountFor(const FileSystem& fs, const v1::EFSVolumeConfiguration& efs, const std::string& volume);

}  // namespace berth::controlplane
