#include "simfuse/core/base/Error.hpp"

#include <fmt/format.h>

namespace simfuse {

std::string Location::str() const {
  if (line > 0) return fmt::format("{}:{}:{}", origin, line, column);
  return origin;
}

std::string Diagnostic::str() const {
  std::string s;
  const std::string loc = where.str();
  if (!loc.empty()) s += loc + ": ";
  s += "error: ";
  if (!key_path.empty()) s += key_path + ": ";
  s += what;
  if (!fix.empty()) s += "\n  " + fix;
  return s;
}

UserError::UserError(std::string what, std::string fix)
    : UserError(Diagnostic{Location{}, {}, std::move(what), std::move(fix)}) {}

UserError::UserError(Diagnostic d) : UserError(std::vector<Diagnostic>{std::move(d)}) {}

UserError::UserError(std::vector<Diagnostic> ds) : std::runtime_error(join(ds)), diagnostics_(std::move(ds)) {}

std::string UserError::join(const std::vector<Diagnostic>& ds) {
  std::string s;
  for (const auto& d : ds) {
    if (!s.empty()) s += '\n';
    s += d.str();
  }
  return s;
}

InternalError::InternalError(const std::string& what, const char* file, int line)
    : std::runtime_error(fmt::format("internal error: {} [{}:{}]", what, file, line)) {}

}  // namespace simfuse
