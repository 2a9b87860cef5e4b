#include "simfuse/core/base/Paths.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "simfuse/core/base/Error.hpp"

namespace simfuse {

namespace fs = std::filesystem;

std::string resolve_path(const std::string& path, const std::string& naming_file, PathUse use) {
  const fs::path p(path);
  if (p.is_absolute() || naming_file.empty() || naming_file.front() == '<') return p.lexically_normal().string();
  const fs::path rel = (fs::path(naming_file).parent_path() / p).lexically_normal();
  std::error_code ec;
  if (use == PathUse::input && !fs::exists(rel, ec) && fs::exists(p, ec)) return p.lexically_normal().string();
  return rel.string();  // errors name this one
}

std::string plain_name_problem(const std::string& name) {
  if (name.empty()) return "it is empty";
  if (name == "." || name == "..") return fmt::format("'{}' names a folder", name);
  if (name.find('/') != std::string::npos) return fmt::format("'{}' holds a '/'", name);
  if (name.size() > 100) return fmt::format("it is {} characters long (at most 100)", name.size());
  for (char c : name)
    if (static_cast<unsigned char>(c) < 32 || c == 127) return "it holds a control character";
  return {};
}

std::string output_file_problem(const std::string& path) {
  if (path.empty()) return "the path is empty";
  std::error_code ec;
  const fs::path file = fs::absolute(path, ec).lexically_normal();
  if (fs::is_directory(file, ec)) return fmt::format("'{}' is a folder", file.string());
  for (fs::path dir = file.parent_path(); !dir.empty(); dir = dir.parent_path()) {
    const fs::file_status st = fs::status(dir, ec);
    if (fs::exists(st)) {
      if (!fs::is_directory(st)) return fmt::format("'{}' (above it) is a file, not a folder", dir.string());
      if (access(dir.c_str(), W_OK) != 0)
        return fmt::format("the folder '{}' is not writable: {}", dir.string(), std::strerror(errno));
      return {};
    }
    if (dir == dir.root_path()) break;
  }
  return {};
}

void make_parent_folders(const std::string& path) {
  std::error_code ec;
  const fs::path dir = fs::absolute(path, ec).lexically_normal().parent_path();
  fs::create_directories(dir, ec);
  if (ec)
    throw UserError(fmt::format("cannot create the folder '{}': {}", dir.string(), ec.message()),
                    "check the path and that its parent is writable");
}

}  // namespace simfuse
