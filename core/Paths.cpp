#include "simfuse/core/Paths.hpp"

#include <filesystem>

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

}  // namespace simfuse
