#pragma once
/// \file Simulation.hpp
/// The facade a user steers (preCICE's Participant): build a simulation from a case
/// document, advance it, finalise it. A pimpl: one pointer; the parts it hands out (grid,
/// solver, coupler, parameters) are declared here, not defined: include their headers
/// (core/Grid.hpp, core/Solver.hpp, coupling/Coupler.hpp, core/base/Config.hpp) to use them.
/// What this header brings in: MPI (the communicator) and nlohmann::json (summaries).
///
///     auto doc = simfuse::ConfigDocument::load_file("cases/heat2d.yaml");
///     simfuse::Simulation sim(PETSC_COMM_WORLD, doc, {});
///     sim.run();                   // steps, output, summary.json
///
/// Construction validates the whole case (keys, values, models, PETSc options) and
/// builds grid, solver and policies before anything is written: bad input fails with a
/// UserError and leaves no output behind. What is written, and when, is RunOutput's
/// business (coupling/RunOutput.hpp); the Simulation steps.
#include <mpi.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace simfuse {

class Checkpointable;
class ConfigDocument;
class Coupler;
class Grid;
class Params;
class Schema;
class Solver;
struct Diagnostic;

/// Registers the built-in components of simfuse's libraries below the AI layer, all the
/// same way: each family's registry (function_registry, bc_registry, kinetics_registry,
/// solver_registry, policy_registry) holds its built-ins, registered by an explicit call,
/// never by a static initialiser a linker could drop. Idempotent; the Simulation calls it.
/// A program linking simfuse_ai calls simfuse::ai::register_builtins() instead, which adds
/// the surrogate policies, the architectures and the `capture:` section.
void register_builtins();

class Simulation;
/// Attaches what a top-level case section (e.g. `capture:`) asks for to a Simulation
/// being built; what it returns lives as long as the Simulation (Simulation::attachment).
/// Throws UserError on a bad section.
using CaseSectionHandler = std::function<std::shared_ptr<void>(Simulation&)>;
/// Registers a top-level case section, like any other component: its key, a one-line doc
/// (the case schema lists it, `config doc` shows it) and its handler. An empty handler
/// declares a section that a library not loaded yet serves (the AI library's `capture:`):
/// a case using it is then refused with a message naming that library. Registering a
/// key again replaces its handler (if one is given) and its doc (if one is given).
void register_case_section(const std::string& key, const std::string& doc, CaseSectionHandler handler);
/// Sets the handler of a declared case section (the AI library serving `capture:`).
void register_case_section(const std::string& key, CaseSectionHandler handler);

/// The schema of a case file (top-level keys). Built from the registries, so it includes
/// extensions (and case sections) registered before the call.
const Schema& case_schema();

struct RunOptions {
  std::string output_dir;  ///< overrides output.dir when not empty
  bool allow_unused_petsc_options = false;
  bool dry_run = false;       ///< build and validate only (config validate)
  bool write_output = true;   ///< VTK/PNG/summary (off for in-memory runs)
  bool force = false;         ///< write into a folder that holds another case's results
  bool resume = false;        ///< continue from the newest valid checkpoint in the output folder
  long resume_max_step = -1;  ///< with resume: the newest checkpoint at or before this step (-1: any)
  /// With resume: start afresh when the output folder holds no valid checkpoint (or the
  /// case has checkpoints off) instead of refusing: `--resume auto`, for requeue scripts.
  bool resume_if_any = false;
  /// Decide and write checkpoints in advance(). Off when a driver runs several simulations
  /// in lockstep and checkpoints them together (checkpoint_due(), checkpoint()).
  bool auto_checkpoint = true;
};

/// While it lives, SIGTERM, SIGUSR1, SIGINT and SIGHUP do not stop the process but make
/// Simulation::checkpoint_due() answer 2 (Simulation::run() holds one).
class StopSignals {
 public:
  explicit StopSignals(bool on);
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  /// The signal received (0: none).
  static int received();

 private:
  bool on_;
  struct Saved;
  std::unique_ptr<Saved> saved_;
};

/// Progress of a run: (step, steps, t, seconds since the first step).
using ProgressFn = std::function<void(long, long, double, double)>;

class Simulation {
 public:
  /// Validates and builds. Collective on `comm`. Throws UserError on bad input. `doc` is
  /// copied: it need not outlive the Simulation.
  Simulation(MPI_Comm comm, const ConfigDocument& doc, RunOptions opt = {});
  ~Simulation();

  /// Runs all steps with output: begin(), advance() until done(), end(). On a failure the
  /// summary is written with status "failed" and the error is rethrown. With checkpoints
  /// on, SIGTERM and SIGUSR1 (what batch schedulers send before a kill) make it write a
  /// checkpoint and summary.json "interrupted" after the current step and return;
  /// interrupted() is then true. Collective.
  void run(const ProgressFn& progress = {});
  /// Creates the output folder and writes the initial output; with RunOptions::resume,
  /// restores the newest valid checkpoint instead (CheckpointError if there is none or it
  /// belongs to another case, model or rank count). Collective.
  void begin();
  /// One step and its output, and a checkpoint when one is due. Collective.
  void advance();
  /// Writes a checkpoint of the current step now (checkpoints/ in the output folder).
  /// Collective.
  void checkpoint();
  /// Whether a checkpoint is due after the current step: 0 no, 1 by the case's schedule
  /// (steps, wall time on rank 0, the last step), 2 a stop signal arrived on some rank.
  /// 0 when checkpoints are off. Collective.
  int checkpoint_due();
  /// With RunOptions::resume: take the newest checkpoint at or before `step` (a driver
  /// resuming simulations in lockstep). Call before begin().
  void resume_at_most(long step);
  /// True if run() stopped on a signal (after writing a checkpoint).
  bool interrupted() const;
  /// The step a resumed run continued from (-1 if it started afresh).
  long resumed_from() const;
  /// Whether this run continues from a checkpoint (decided at construction: with
  /// RunOptions::resume_if_any, only when the folder holds a valid one).
  bool resuming() const;
  /// Makes `c` take part in checkpoints under `key` (an extension that is not a solver,
  /// sub-step or policy, e.g. a capture). Not owned; must live as long as the Simulation.
  void add_checkpointable(const std::string& key, Checkpointable* c);
  /// All steps done, or the solver reached a steady state (Solver::steady).
  bool done() const;
  bool reached_steady_state() const;
  /// Writes summary.json ("completed", or `status` and `message`). Collective.
  void end(const std::string& status = "completed", const std::string& message = {});
  /// Advances one step (no output). Collective.
  void step();
  /// Adds `extra` to summary.json under `key` (e.g. compare results).
  void add_summary(const std::string& key, nlohmann::ordered_json extra);
  /// Runs `hook` at end() before summary.json is written; what it returns goes into the
  /// summary under `key` (e.g. capture writes its dataset). Collective.
  void on_end(const std::string& key, std::function<nlohmann::ordered_json()> hook);
  /// The validated case, and the document it came from (for extensions reading their
  /// own sections, e.g. `capture:`).
  const Params& params() const;
  const std::string& case_file() const;
  const RunOptions& options() const;
  /// What the handler of case section `key` attached (nullptr if the case has none).
  std::shared_ptr<void> attachment(const std::string& key) const;

  const Grid& grid() const;
  Solver& solver();
  Coupler& coupler();
  double time() const;
  long steps_done() const;
  long steps_total() const;
  double dt() const;
  const std::string& name() const;
  const std::string& output_dir() const;

  /// Error norms against the solver's exact solution at the current time, per field
  /// (empty if the solver has none). Collective.
  nlohmann::ordered_json errors();
  /// The summary as written to summary.json (empty before end()).
  const nlohmann::ordered_json& summary() const;

  MPI_Comm comm() const;
  double t0() const;
  double setup_seconds() const;
  double run_seconds() const;
  /// The audit trail summary.json records under "provenance": simfuse version, start time
  /// (UTC), host, command line, the case file and its sha256, --set/--unset edits,
  /// command-line PETSc options, plugins (path, sha256) and models (card and weights with
  /// their sha256) per sub-step.
  const nlohmann::ordered_json& provenance() const;
  /// The case's petsc_options as one option string.
  const std::string& petsc_case_options() const;

 private:
  // Everything else lives in Impl (a pimpl facade, as preCICE's Participant): the layout
  // of this class does not change when the implementation does.
  struct Impl;
  void restore();
  // The set-up, in the order the constructor runs it.
  void set_up_name(const ConfigDocument& doc);
  void set_up_parameters(const ConfigDocument& doc, std::vector<Diagnostic>& diags);
  void set_up_time(std::vector<Diagnostic>& diags);
  void set_up_petsc_options(const ConfigDocument& doc, std::vector<Diagnostic>& diags);
  void set_up_solver();
  void set_up_policies(const ConfigDocument& doc);
  void set_up_output();
  void set_up_checkpoints(const ConfigDocument& doc);
  void set_up_case_sections();
  std::unique_ptr<Impl> impl_;
};

}  // namespace simfuse
