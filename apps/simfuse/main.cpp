// simfuse: run YAML cases that couple PETSc solvers with libtorch surrogates.
//
//   simfuse run CASE.yaml [--set key=value]... [--output DIR] [-- PETSc options]
//   simfuse config validate CASE.yaml
//   simfuse config doc [component]
//   simfuse --plugin lib.so <any of the above>    (a scientist's solver, policy, ...)
//
// Exit codes: 0 success, 1 internal error (a bug: please report), 2 bad input (the
// message says where and how to fix it), 3 the run failed numerically (a solver
// diverged); summary.json records the failure.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "simfuse/apps/simfuse/Commands.hpp"
#include "simfuse/core/Petsc.hpp"
#include "simfuse/core/Version.hpp"
#include "simfuse/core/base/CommandLine.hpp"
#include "simfuse/core/base/Error.hpp"
#include "simfuse/core/base/Log.hpp"
#include "simfuse/core/base/Plugins.hpp"
#include "simfuse/core/base/Schema.hpp"
#include "simfuse/core/base/detail/Provenance.hpp"
#include "simfuse/coupling/Simulation.hpp"
#include "simfuse/solvers/common/DiffusionOperator.hpp"

namespace {

// Prints the error (rank 0) and returns the exit code. On several ranks, an error found
// on some ranks only would leave the others waiting in a collective call forever: if not
// every rank arrives here within a few seconds, this rank prints its error itself and
// ends them all with the code (MPI_Abort).
int report(const std::exception& e, int code, int rank) {
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size > 1 && !simfuse::all_ranks_arrive(MPI_COMM_WORLD, 10.0)) {
    std::cerr << "rank " << rank << " of " << size << ": " << e.what() << "\n" << std::flush;
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }
  if (rank == 0) {
    std::cerr << e.what() << "\n";
    if (code == 1)
      std::cerr << "This is a bug in simfuse (or a library it uses); please report it with the case file.\n";
  }
  return code;
}

// `--resume auto` is one option with a value (CLI11 would take "auto" for the case file).
void join_resume_auto(std::vector<char*>& ours) {
  static char resume_auto[] = "--resume=auto";
  for (size_t i = 1; i + 1 < ours.size(); ++i)
    if (std::string(ours[i]) == "--resume" && std::string(ours[i + 1]) == "auto") {
      ours[i] = resume_auto;
      ours.erase(ours.begin() + static_cast<long>(i) + 1);
    }
}

// PETSc options are -name [value]: a word that is neither (a stray word, a value given
// twice) would be ignored by PETSc without a word. Says so (rank 0) and returns false.
bool petsc_words_are_options(const std::vector<char*>& petsc) {
  const auto is_option = [](const char* w) {  // -name, not a negative number such as -5 or -.5
    return w[0] == '-' && w[1] != '\0' && !std::isdigit(static_cast<unsigned char>(w[1])) && w[1] != '.';
  };
  for (size_t i = 1; i + 1 < petsc.size(); ++i) {
    const std::string w = petsc[i];
    if (!is_option(petsc[i]) && !(i > 1 && is_option(petsc[i - 1]))) {
      const char* r = std::getenv("OMPI_COMM_WORLD_RANK");
      if (!r || std::atoi(r) == 0)
        std::cerr << fmt::format(
            "simfuse: the word '{}' after '--' is not a PETSc option{}\n  PETSc options are -name or -name value "
            "(e.g. -- -diffuse_ksp_rtol 1e-8 -log_view); remove the word, or put a simfuse argument before '--'\n",
            w, i > 1 ? fmt::format(" (it follows '{}', which already has its value)", petsc[i - 1]) : std::string());
      return false;
    }
  }
  return true;
}

// Starts MPI and PETSc; on failure, says why and returns the exit code in `code`.
std::unique_ptr<simfuse::PetscSession> start_petsc(int* pargc, char*** pargv, int& code) {
  try {
    return std::make_unique<simfuse::PetscSession>(pargc, pargv);
  } catch (const simfuse::UserError& e) {  // bad PETSc options: every rank fails alike
    int up = 0, down = 0, rank = 0, size = 1;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (up && !down) {
      MPI_Comm_rank(MPI_COMM_WORLD, &rank);
      MPI_Comm_size(MPI_COMM_WORLD, &size);
    } else if (const char* r = std::getenv("OMPI_COMM_WORLD_RANK")) {  // MPI never came up
      rank = std::atoi(r);
    }
    if (rank == 0) std::cerr << "simfuse: " << e.what() << "\n" << std::flush;
    // After a failed PetscInitialize, MPI_Finalize can wait for ranks that are stuck in
    // PETSc's broadcasts: leave at once (mpirun then ends the others).
    if (up && !down && size > 1) std::_Exit(2);
    if (up && !down) MPI_Finalize();
    code = 2;
  } catch (const std::exception& e) {
    std::cerr << "simfuse: cannot initialise PETSc/MPI: " << e.what() << "\n";
    code = 1;
  }
  return nullptr;
}

// The command line's verbs and options, parsed into `o`.
struct Cli {
  CLI::App app{
      "simfuse: couple MPI/PETSc PDE solvers with libtorch surrogates.\n"
      "PETSc options go after '--', e.g. simfuse run case.yaml -- -log_view",
      "simfuse"};
  simfuse::app::CommonOptions o;
  std::vector<std::string> plugins;
  std::string resume_word, component;
  bool markdown = false;
  CLI::App *run = nullptr, *compare = nullptr, *generate = nullptr, *train = nullptr, *validate = nullptr,
           *doc = nullptr;

  Cli() {
    app.set_version_flag("--version", std::string("simfuse ") + SIMFUSE_VERSION);
    app.require_subcommand(1);
    app.add_option("--plugin", plugins,
                   "load a plugin (a shared library adding solvers, policies, ...) before anything else; repeatable, "
                   "also after the sub-command. SIMFUSE_PLUGIN_PATH (':'-separated files or folders) is loaded "
                   "first. A plugin runs its code: load only ones you trust")
        ->type_name("LIB.so");
    app.fallthrough();  // --plugin after the sub-command too
    add_run();
    add_compare();
    add_generate();
    add_train();
    add_config();
  }

  void add_verbosity(CLI::App* c, const char* progress_doc) {
    c->add_flag(
        "--no-progress", [this](int64_t) { o.progress = false; }, progress_doc);
    c->add_flag(
        "-q,--quiet", [this](int64_t) { o.verbosity = 0; }, "only warnings and errors");
    c->add_flag(
        "-v,--verbose", [this](int64_t) { o.verbosity = 2; }, "more detail");
  }
  void add_case_options(CLI::App* c) {
    c->add_option("case", o.case_file, "the case file (YAML)")->required();
    c->add_option("--set", o.sets, "override a value: --set solver.params.kappa=0.5 (repeatable)")
        ->type_name("KEY=VALUE")
        ->allow_extra_args(false);
    c->add_option("--unset", o.unsets,
                  "remove a key of the file, before the --set: --unset time.t_end --set time.steps=50 (repeatable)")
        ->type_name("KEY")
        ->allow_extra_args(false);
    c->add_flag("--allow-unused-petsc-options", o.allow_unused, "run even if a PETSc option is never used");
  }
  // `-o ''` would quietly mean the default folder: a folder must be named.
  void add_output_options(CLI::App* c) {
    const CLI::Validator non_empty(
        [](std::string& v) { return v.empty() ? std::string("an empty folder") : std::string(); }, "FOLDER");
    c->add_option("-o,--output", o.output, "output folder (overrides output.dir)")->check(non_empty);
    c->add_flag("--force", o.force, "write into a folder that holds another case's results");
  }
  void add_spec_options(CLI::App* c, const char* what) {
    c->add_option("spec", o.case_file, what)->required();
    c->add_option("--set", o.sets, "override a value of the spec (repeatable)")->type_name("KEY=VALUE");
    c->add_option("--unset", o.unsets, "remove a key of the spec, before the --set (repeatable)")->type_name("KEY");
  }
  void add_run() {
    run = app.add_subcommand("run", "run a case: time steps, VTK/PNG output, summary.json");
    add_case_options(run);
    run->footer(
        "PETSc options go after '--': simfuse run case.yaml -- -diffuse_ksp_monitor_short -log_view\n"
        "Exit codes: 0 done, 2 bad input, 3 the run failed numerically, 4 stopped by a signal (checkpoint "
        "written: --resume), 1 internal error.");
    add_output_options(run);
    run->add_flag("--resume{yes}", resume_word,
                  "continue from the newest valid checkpoint in the output folder (after a kill, a signal, or to "
                  "extend a finished run with a larger t_end); --resume auto: continue if there is one, else start "
                  "afresh (for a scheduler's requeue script)");
    add_verbosity(run, "no progress bar");
  }
  void add_compare() {
    compare = app.add_subcommand("compare",
                                 "run a case and its all-classical twin in lockstep: error per field "
                                 "over time, wall-time ratio per sub-step (compare.csv, summary.json)");
    add_case_options(compare);
    add_output_options(compare);
    compare->add_flag("--resume{yes}", resume_word,
                      "continue both runs from their newest common checkpoint; --resume auto: if there is one, else "
                      "start afresh");
    add_verbosity(compare, "no progress bar");
    compare->footer(
        "PETSc options go after '--', as for run.\n"
        "Exit codes: 0 done, 2 bad input, 3 a run failed numerically, 4 stopped by a signal (checkpoint written: "
        "--resume), 1 internal error.");
  }
  void add_generate() {
    generate = app.add_subcommand("generate",
                                  "run an ensemble of a case with sampled parameters over MPI, "
                                  "capturing sub-step data into a dataset");
    add_spec_options(generate, "the ensemble spec (YAML)");
    generate->add_flag("--resume", o.resume, "skip the members an interrupted generate finished");
    add_verbosity(generate, "no progress lines");
    generate->footer(
        "Exit codes: 0 done (some members may have failed: the log and the dataset manifest say which), 2 bad "
        "input, 3 every member failed, 1 internal error.");
  }
  void add_train() {
    train = app.add_subcommand("train",
                               "train a built-in architecture on captured data (MPI data-parallel); "
                               "writes the model and its card");
    add_spec_options(train, "the training spec (YAML)");
    train->add_flag("--resume", o.resume, "continue from the checkpoint if there is one");
    train->add_flag("--force", o.force, "overwrite a model file that simfuse train did not write");
    add_verbosity(train, "no progress lines");
    train->footer("Exit codes: 0 trained (model and card written), 2 bad input, 3 training failed, 1 internal error.");
  }
  void add_config() {
    auto* config = app.add_subcommand("config", "check case files and list their keys");
    config->require_subcommand(1);
    validate = config->add_subcommand("validate", "check a case file (and build it) without running it");
    add_case_options(validate);
    doc = config->add_subcommand("doc",
                                 "document case-file keys: all, a section (grid, time, output), a "
                                 "family (solver, function, bc, policy) or a type (solver.diffusion)");
    doc->add_option("component", component, "what to document (default: everything)");
    doc->add_flag("--markdown", markdown, "everything as Markdown tables (docs/reference.md is this output)");
  }

  // The first word that is not an option (nor --plugin's value) names the command: an
  // unknown one is named, with the nearest (CLI11 would only say a command is required).
  bool known_command(const std::vector<char*>& ours, int rank) {
    for (size_t i = 1; i < ours.size(); ++i) {
      const std::string w = ours[i];
      if (w == "--plugin") {
        ++i;
        continue;
      }
      if (w.empty() || w[0] == '-') continue;
      std::vector<std::string> verbs;
      for (const auto* sub : app.get_subcommands([](CLI::App*) { return true; })) verbs.push_back(sub->get_name());
      if (std::find(verbs.begin(), verbs.end(), w) != verbs.end()) return true;
      const auto near = simfuse::nearest(w, verbs);
      if (rank == 0)
        std::cerr << fmt::format("simfuse: unknown command '{}'\n  {}commands: {} (simfuse --help)\n", w,
                                 near ? fmt::format("did you mean '{}'? ", *near) : std::string(),
                                 fmt::join(verbs, ", "));
      return false;
    }
    return true;
  }

  // Parses; returns -1 to go on, else the exit code (help, version, a bad option).
  int parse(std::vector<char*>& ours, int rank) {
    if (!known_command(ours, rank)) return 2;
    std::ostringstream out, err;
    try {
      app.parse(static_cast<int>(ours.size()), ours.data());
    } catch (const CLI::ParseError& e) {
      const int code = app.exit(e, out, err);
      if (rank == 0) {
        std::cout << out.str();
        std::cerr << err.str();
      }
      return code == 0 ? 0 : 2;
    }
    if (!resume_word.empty()) {
      if (resume_word != "yes" && resume_word != "auto") {
        if (rank == 0)
          std::cerr << fmt::format(
              "simfuse: --resume={}: the only value --resume takes is 'auto'\n  --resume "
              "continues from a checkpoint (refused if there is none); --resume auto starts "
              "afresh when there is none\n",
              resume_word);
        return 2;
      }
      o.resume = true;
      o.resume_auto = resume_word == "auto";
    }
    return -1;
  }

  // Registers the components and plugins, then runs the command.
  int dispatch(int rank) {
    simfuse::init_logging(rank, o.verbosity == 0   ? simfuse::Verbosity::quiet
                                : o.verbosity == 2 ? simfuse::Verbosity::verbose
                                                   : simfuse::Verbosity::normal);
    // The torch-free components now; the AI layer (libtorch) when a lookup first needs it.
    simfuse::register_builtins();
    simfuse::add_lazy_components(&simfuse::app::load_ai_layer);
    simfuse::load_plugins_from_environment();
    for (const auto& p : plugins) simfuse::load_plugin(p, "--plugin");
    if (*run) return simfuse::app::cmd_run(o);
    if (*compare) return simfuse::app::cmd_compare(o);
    if (*train) return simfuse::app::cmd_train(o);
    if (*generate) return simfuse::app::cmd_generate(o);
    if (*validate) return simfuse::app::cmd_validate(o);
    if (*doc) return simfuse::app::cmd_doc(component, markdown);
    return 2;
  }
};

// PETSc reads most options only when an object uses them (a viewer format at the end of a
// solve, a type at set-up): an error then is most likely the user's option.
int report_petsc_error(const simfuse::PetscError& e, const std::vector<char*>& petsc, int rank) {
  std::vector<std::string> given;
  for (size_t i = 1; i < petsc.size() && petsc[i]; ++i)
    if (petsc[i][0] == '-') given.push_back(std::string(petsc[i]) + " (command line)");
  for (const auto& c : simfuse::options::case_options()) given.push_back(c);
  if (given.empty()) return report(e, 1, rank);
  const simfuse::UserError u(fmt::format("PETSc stopped: {}", e.petsc_message()),
                             fmt::format("a PETSc option given to this run is the likely cause: {}; check its name "
                                         "and value (PETSc's manual page of the option), or run without it",
                                         fmt::join(given, ", ")));
  return report(u, 2, rank);
}

}  // namespace

int main(int argc, char** argv) {
  // Everything after "--" belongs to PETSc.
  simfuse::SplitCommandLine cl = simfuse::split_command_line(argc, argv);
  std::vector<char*>& ours = cl.ours;
  std::vector<char*>& petsc = cl.petsc;  // null-terminated
  join_resume_auto(ours);
  if (!petsc_words_are_options(petsc)) return 2;
  int pargc = cl.petsc_argc();
  char** pargv = petsc.data();
  int code = 0;
  const std::unique_ptr<simfuse::PetscSession> session = start_petsc(&pargc, &pargv, code);
  if (!session) return code;
  const int rank = session->rank();
  // A file-size limit (ulimit -f) makes a write fail with EFBIG, which the writers report in
  // one message, instead of killing the process with a core dump half-way through a file.
  std::signal(SIGXFSZ, SIG_IGN);
  {
    std::vector<std::string> a, p;
    for (char* c : ours) a.emplace_back(c);
    for (size_t i = 1; i < petsc.size() && petsc[i]; ++i) p.emplace_back(petsc[i]);
    simfuse::record_invocation(std::move(a), std::move(p));
  }
  Cli cli;
  try {
    if (const int done = cli.parse(ours, rank); done >= 0) return done;
    return cli.dispatch(rank);
  } catch (const simfuse::PetscError& e) {
    return report_petsc_error(e, petsc, rank);
  } catch (const simfuse::RunFailure& e) {
    return report(e, 3, rank);
  } catch (const simfuse::UserError& e) {
    return report(e, 2, rank);
  } catch (const std::exception& e) {
    return report(e, 1, rank);
  }
}
