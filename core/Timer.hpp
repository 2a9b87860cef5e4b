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

/// Seconds this rank has spent waiting in the collective calls simfuse makes itself (the
/// agreement on an error, reductions of counters, gathers), cumulative. The busy time of a
/// piece of work is its wall time minus the waits in it (BusyClock). Collectives inside
/// PETSc (the reductions of a Krylov solve) are part of that work, not waits.
double collective_wait_seconds();

/// Counts a scope as waiting in a collective call (nested scopes count once).
class CollectiveWait {
 public:
  CollectiveWait();
  ~CollectiveWait();
  CollectiveWait(const CollectiveWait&) = delete;
  CollectiveWait& operator=(const CollectiveWait&) = delete;

 private:
  double t0_;
};

/// Busy seconds since construction: the wall time minus the collective waits in between.
/// What per-rank timings of work report (classical, inference, check seconds), so that a
/// rank with nothing to do does not count the time it waits for the others as work.
class BusyClock {
 public:
  BusyClock() : t0_(wall_time()), w0_(collective_wait_seconds()) {}
  double seconds() const { return (wall_time() - t0_) - (collective_wait_seconds() - w0_); }

 private:
  double t0_, w0_;
};

}  // namespace simfuse
