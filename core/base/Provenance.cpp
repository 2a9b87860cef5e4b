#include "simfuse/core/base/detail/Provenance.hpp"

#include <unistd.h>

#include <ctime>

namespace simfuse {

namespace {
std::vector<std::string>& args_store() {
  static std::vector<std::string> a;
  return a;
}
std::vector<std::string>& petsc_store() {
  static std::vector<std::string> p;
  return p;
}
}  // namespace

void record_invocation(std::vector<std::string> args, std::vector<std::string> petsc) {
  args_store() = std::move(args);
  petsc_store() = std::move(petsc);
}

const std::vector<std::string>& invocation() {
  return args_store();
}

const std::vector<std::string>& petsc_command_line() {
  return petsc_store();
}

std::string utc_timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return {};
  return buf;
}

}  // namespace simfuse
