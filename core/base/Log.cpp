#include "simfuse/core/base/Log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace simfuse {

void init_logging(int rank, Verbosity v) {
  auto logger = spdlog::stderr_color_mt("simfuse_r" + std::to_string(rank));
  spdlog::level::level_enum level = spdlog::level::info;
  switch (v) {
    case Verbosity::quiet:
      level = spdlog::level::warn;
      break;
    case Verbosity::normal:
      level = spdlog::level::info;
      break;
    case Verbosity::verbose:
      level = spdlog::level::debug;
      break;
    case Verbosity::debug:
      level = spdlog::level::trace;
      break;
  }
  if (rank != 0 && level < spdlog::level::warn) level = spdlog::level::warn;
  logger->set_level(level);
  logger->set_pattern(rank == 0 ? "%^[%l]%$ %v" : "%^[%l]%$ [rank " + std::to_string(rank) + "] %v");
  spdlog::set_default_logger(logger);
}

}  // namespace simfuse
