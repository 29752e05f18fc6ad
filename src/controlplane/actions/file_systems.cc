#include "src/controlplane/actions/file_systems.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "berth/common/strings.h"

namespace berth::controlplane {
namespace {

using nlohmann::json;

absl::Status Bad(std::string_view field, std::string_view rule) {
  return absl::InvalidArgumentError(StrCat(field, ": ", rule));
}

// "fs-" and 8 to 40 lower-case hex digits, as EFS ids are; Berth also takes any other
// "fs-[a-z0-9-]" name up to 64 characters so operators can name their file systems.
bool IsFileSystemId(const std::string& id) {
  if (id.size() < 4 || id.size() > 64 || id.rfind("fs-", 0) != 0) return false;
  return std::all_of(id.begin() + 3, id.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

// A path component joined under `base`: "/srv/x" + "/a/b" -> "/srv/x/a/b"; "/" + "" -> "/".
std::string Join(const std::string& base, const std::string& sub) {
  std::string out = base;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  std::string rest = sub;
  while (!rest.empty() && rest.front() == '/') rest.erase(rest.begin());
  if (rest.empty()) return out;
  return out == "/" ? StrCat("/", rest) : StrCat(out, "/", rest);
}

absl::StatusOr<std::string> Text(const json& o, const std::string& field, const char* key, bool required) {
  if (!o.contains(key)) {
    if (required) return Bad(StrCat(field, ".", key), "required");
    return std::string();
  }
  if (!o[key].is_string() || (required && o[key].get<std::string>().empty())) {
    return Bad(StrCat(field, ".", key), "must be a non-empty string");
  }
  return o[key].get<std::string>();
}

}  // namespace

absl::StatusOr<FileSystems> ParseFileSystems(const std::string& text) {
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return absl::InvalidArgumentError("not a JSON object");
  for (const auto& [key, value] : doc.items()) {
    if (key != "fileSystems") return Bad(key, "unknown setting");
  }
  if (!doc.contains("fileSystems") || !doc["fileSystems"].is_array()) {
    return Bad("fileSystems", "required: an array of file systems");
  }
  FileSystems out;
  for (size_t i = 0; i < doc["fileSystems"].size(); ++i) {
    const json& f = doc["fileSystems"][i];
    const std::string field = StrCat("fileSystems[", i, "]");
    if (!f.is_object()) return Bad(field, "must be an object");
    for (const auto& [key, value] : f.items()) {
      if (key != "fileSystemId" && key != "nfs" && key != "local")
        return Bad(StrCat(field, ".", key), "unknown setting");
    }
    auto id = Text(f, field, "fileSystemId", true);
    if (!id.ok()) return id.status();
    if (!IsFileSystemId(*id)) {
      return Bad(StrCat(field, ".fileSystemId"), "must be fs- and up to 61 lower-case letters, digits or hyphens");
    }
    if (out.contains(*id)) return Bad(StrCat(field, ".fileSystemId"), StrCat("'", *id, "' is declared twice"));
    if (f.contains("nfs") == f.contains("local")) return Bad(field, "give exactly one of nfs and local");
    FileSystem fs;
    if (f.contains("nfs")) {
      const json& n = f["nfs"];
      const std::string nf = StrCat(field, ".nfs");
      if (!n.is_object()) return Bad(nf, "must be an object");
      for (const auto& [key, value] : n.items()) {
        if (key != "server" && key != "export" && key != "options") return Bad(StrCat(nf, ".", key), "unknown setting");
      }
      fs.kind = FileSystem::Kind::kNfs;
      auto server = Text(n, nf, "server", true);
      if (!server.ok()) return server.status();
      if (server->find_first_of(",: ") != std::string::npos) {
        return Bad(StrCat(nf, ".server"), "a host name or IPv4 address, without ',', ':' or spaces");
      }
      fs.server = *server;
      auto exp = Text(n, nf, "export", true);
      if (!exp.ok()) return exp.status();
      if (exp->front() != '/') return Bad(StrCat(nf, ".export"), "must be an absolute path");
      fs.path = *exp;
      auto options = Text(n, nf, "options", false);
      if (!options.ok()) return options.status();
      if (options->find("addr=") != std::string::npos) return Bad(StrCat(nf, ".options"), "addr= comes from server");
      fs.options = *options;
    } else {
      const json& l = f["local"];
      const std::string lf = StrCat(field, ".local");
      if (!l.is_object()) return Bad(lf, "must be an object");
      for (const auto& [key, value] : l.items()) {
        if (key != "path") return Bad(StrCat(lf, ".", key), "unknown setting");
      }
      fs.kind = FileSystem::Kind::kLocal;
      auto path = Text(l, lf, "path", true);
      if (!path.ok()) return path.status();
      if (path->front() != '/') return Bad(StrCat(lf, ".path"), "must be an absolute path");
      fs.path = *path;
    }
    out.emplace(*id, std::move(fs));
  }
  return out;
}

absl::Status CheckEfsVolume(const FileSystems& file_systems, const v1::EFSVolumeConfiguration& efs,
                            std::string_view field) {
  if (!file_systems.contains(efs.file_system_id())) {
    return absl::InvalidArgumentError(StrCat(field, ".fileSystemId: file system '", efs.file_system_id(),
                                             "' is not declared in berthd's --file-systems"));
  }
  if (efs.transit_encryption() == "ENABLED") {
    return absl::UnimplementedError(StrCat(field,
                                           ".transitEncryption: ENABLED (TLS to the file system, and with it access "
                                           "points and IAM authorization) is not supported by Berth"));
  }
  const std::string& root = efs.root_directory();
  if (root.find("..") != std::string::npos || root.find(',') != std::string::npos) {
    return absl::InvalidArgumentError(StrCat(field, ".rootDirectory: '", root, "' may not contain '..' or ','"));
  }
  return absl::OkStatus();
}

v1::SharedFileSystem MountFor(const FileSystem& fs, const v1::EFSVolumeConfiguration& efs, const std::string& volume) {
  v1::SharedFileSystem m;
  m.set_volume_name(volume);
  const std::string path = Join(fs.path, efs.root_directory());
  if (fs.kind == FileSystem::Kind::kNfs) {
    m.set_type("nfs");
    m.set_device(StrCat(":", path));
    m.set_options(fs.options.empty() ? StrCat("addr=", fs.server) : StrCat("addr=", fs.server, ",", fs.options));
  } else {
    m.set_type("bind");
    m.set_device(path);
    m.set_options("bind");
  }
  return m;
}

}  // namespace berth::controlplane
