#pragma once
/// \file Log.hpp
/// Logging through spdlog. By default only MPI rank 0 prints (info and above); other
/// ranks print warnings and errors with a "[rank N]" prefix.
#include <spdlog/spdlog.h>

#include <string>

namespace simfuse {

enum class Verbosity { quiet, normal, verbose, debug };

/// Configures the default spdlog logger for this rank. Call once after MPI is up.
void init_logging(int rank, Verbosity v = Verbosity::normal);

}  // namespace simfuse
