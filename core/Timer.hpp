#pragma once
/// \file Timer.hpp
/// Wall-clock timers that are also PETSc log stages, so `-log_view` reports each
/// sub-step by name and summary.json gets the same numbers.
#include <petsclog.h>

#include <string>

namespace simfuse {

class StageTimer {
 public:
  /// Registers (or reuses) the PETSc log stage `name`.
  explicit StageTimer(const std::string& name);

  const std::string& name() const { return name_; }
  /// Total seconds and number of timed calls.
  double seconds() const { return seconds_; }
  long calls() const { return calls_; }
  void reset() {
    seconds_ = 0;
    calls_ = 0;
  }

  /// Times a scope: pushes the stage and starts the clock; pops and accumulates on exit.
  class Scope {
   public:
    explicit Scope(StageTimer& t);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    StageTimer& t_;
    double start_;
  };

 private:
  std::string name_;
  PetscLogStage stage_ = -1;
  double seconds_ = 0;
  long calls_ = 0;
};

/// Seconds since an arbitrary origin (MPI_Wtime).
double wall_time();

}  // namespace simfuse
