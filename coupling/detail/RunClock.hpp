#pragma once
/// \file RunClock.hpp
/// Internal: where a run is in time. The Simulation owns and advances it; its output
/// (RunOutput) and its checkpoints (RunCheckpoints) read it.

namespace simfuse {

struct RunClock {
  double t0 = 0, t = 0, dt = 0;  ///< start time, current time, step
  long steps = 0, step = 0;      ///< steps of the run, steps done
  bool steady = false;           ///< the solver reached a steady state
  double run_start = 0;          ///< wall time the run began (moved back on resume)
  double setup_seconds = 0, run_seconds = 0;
  /// All steps done, or a steady state reached.
  bool done() const { return step >= steps || steady; }
};

}  // namespace simfuse
