#include "simfuse/core/Petsc.hpp"

#include <dlfcn.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "simfuse/core/Timer.hpp"
#include "simfuse/core/base/Schema.hpp"

namespace simfuse {

namespace {

thread_local std::string g_last_message;

PetscErrorCode record_error(MPI_Comm, int, const char* fun, const char*, PetscErrorCode n, PetscErrorType p,
                            const char* mess, void*) {
  if (p == PETSC_ERROR_INITIAL) {
    g_last_message = mess ? mess : "";
    if (fun && *fun) g_last_message += fmt::format(" (in {})", fun);
  }
  return n;
}

}  // namespace

PetscError::PetscError(PetscErrorCode code, std::string message, const char* call, const char* file, int line)
    : InternalError(fmt::format("PETSc error {} in {}: {}", static_cast<int>(code), call, message), file, line),
      code_(code),
      message_(std::move(message)) {}

void throw_petsc_error(PetscErrorCode code, const char* call, const char* file, int line) {
  std::string msg = g_last_message;
  g_last_message.clear();
  if (msg.empty()) {
    const char* text = nullptr;
    PetscErrorMessage(code, &text, nullptr);
    msg = text ? text : "unknown PETSc error";
  }
  throw PetscError(code, msg, call, file, line);
}

void fail_all_ranks(MPI_Comm comm, const UserError& e) {
  int size = 1, rank = 0;
  MPI_Comm_size(comm, &size);
  if (size == 1) throw e;
  MPI_Comm_rank(comm, &rank);
  std::fprintf(stderr, "rank %d of %d: %s\n", rank, size, e.what());
  std::fflush(stderr);
  MPI_Abort(comm, 2);
  std::_Exit(2);  // MPI_Abort does not return; in case it does
}

bool all_ranks_arrive(MPI_Comm comm, double seconds) {
  int size = 1;
  MPI_Comm_size(comm, &size);
  if (size == 1) return true;
  MPI_Request req;
  MPI_Ibarrier(comm, &req);
  const double t0 = MPI_Wtime();
  int done = 0;
  while (!done && MPI_Wtime() - t0 < seconds) {
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (!done) usleep(2000);
  }
  return done != 0;
}

int first_failing_rank(MPI_Comm comm, bool failed) {
  const CollectiveWait wait;
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int first = failed ? rank : size;
  if (size > 1) MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, comm);
  return first == size ? -1 : first;
}

void bcast_string(MPI_Comm comm, std::string& text, int root) {
  const CollectiveWait wait;
  unsigned long n = text.size();
  MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG, root, comm);
  text.resize(n);
  MPI_Bcast(text.data(), static_cast<int>(n), MPI_CHAR, root, comm);
}

void on_all_ranks(MPI_Comm comm, const std::function<void()>& local) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  std::string what, fix;
  bool run_failure = false;
  try {
    local();
  } catch (const UserError& e) {
    run_failure = dynamic_cast<const RunFailure*>(&e) != nullptr;
    if (e.diagnostics().size() == 1 && !e.diagnostics()[0].where.in_file() && e.diagnostics()[0].key_path.empty()) {
      what = e.diagnostics()[0].what;
      fix = e.diagnostics()[0].fix;
    } else {
      what = e.what();
    }
    if (what.empty()) what = "an error";
  } catch (const std::exception& e) {
    what = fmt::format("rank {}: {}", rank, e.what());
  }
  const int first = first_failing_rank(comm, !what.empty());
  if (first < 0) return;
  if (size > 1) {
    bcast_string(comm, what, first);
    bcast_string(comm, fix, first);
    int rf = run_failure ? 1 : 0;
    MPI_Bcast(&rf, 1, MPI_INT, first, comm);
    run_failure = rf != 0;
  }
  if (run_failure) throw RunFailure(what, fix);
  throw UserError(what, fix);
}

void install_petsc_error_handler() {
  PetscPushErrorHandler(record_error, nullptr);
}

void limit_blas_threads() {
  if (std::getenv("OMP_NUM_THREADS")) return;  // the user decided
  // Looked up at run time: the BLAS behind libblas.so.3 may be OpenBLAS (OpenMP or
  // pthreads) or the reference BLAS, and the OpenMP runtime may not be loaded at all.
  using SetThreads = void (*)(int);
  for (const char* name : {"openblas_set_num_threads", "omp_set_num_threads"})
    if (auto fn = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, name))) fn(1);
}

void quick_singleton_start() {
  int up = 0;
  MPI_Initialized(&up);
  if (up) return;
  // A launcher (Open MPI's mpirun, PMIx or PMI as srun and Hydra start ranks) sets these.
  for (const char* launched : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (std::getenv(launched)) return;
  setenv("OMPI_MCA_pml", "ob1", 0);
  setenv("OMPI_MCA_ess_singleton_isolated", "1", 0);
}

PetscSession::PetscSession(int* argc, char*** argv) {
  // Our handler from the start: an options file PETSc cannot read (-options_file) fails
  // PetscInitialize, and must be a message, not a traceback.
  install_petsc_error_handler();
  // PETSc's own signal handler turned SIGHUP into an MPI_Abort, and PetscFinalize resets
  // SIGTERM/SIGINT to their default: a second signal while a stopped run exits cleanly
  // killed it (exit 143). simfuse handles the stop signals itself (StopSignals).
  PetscOptionsSetValue(nullptr, "-no_signal_handler", nullptr);
  quick_singleton_start();
  PetscErrorCode ierr = PetscInitialize(argc, argv, nullptr, nullptr);
  if (ierr) {
    std::string msg = g_last_message.empty() ? "PetscInitialize failed" : g_last_message;
    g_last_message.clear();
    // PETSc echoes the offending token of an options file: the file may not be meant to
    // be shown (any file can be named), so the message stops at its line number.
    const auto token = msg.find("Unknown first token in options file");
    if (token != std::string::npos) {
      const auto colon = msg.find(':', token);
      if (colon != std::string::npos) msg = msg.substr(0, colon) + " is not an '-option value' line";
    }
    throw UserError("PETSc could not start: " + msg,
                    "check the PETSc options after '--' (an -options_file must hold '-name value' lines)");
  }
  // The handler pushed above was allocated before PETSc's memory tracing (-malloc_debug)
  // started: freeing it with the tracing free reports it "corrupted". So it stays, and the
  // one popped at the end is this second copy, allocated under whatever PETSc now uses.
  install_petsc_error_handler();
  limit_blas_threads();
  MPI_Comm_rank(PETSC_COMM_WORLD, &rank_);
  MPI_Comm_size(PETSC_COMM_WORLD, &size_);
}

PetscSession::~PetscSession() {
  PetscPopErrorHandler();
  PetscFinalize();
}

namespace options {

namespace {
struct Book {
  std::set<std::string> defaults;
  std::map<std::string, std::string> case_origin;
};
Book& book() {
  static Book b;
  return b;
}
std::string dashed(const std::string& name) {
  return name.empty() || name[0] != '-' ? "-" + name : name;
}
}  // namespace

void set_default(const std::string& name, const std::string& value) {
  const std::string n = dashed(name);
  PetscBool has = PETSC_FALSE;
  SIMFUSE_PETSC(PetscOptionsHasName(nullptr, nullptr, n.c_str(), &has));
  if (has && !book().defaults.count(n)) return;  // the user's value wins; an older default does not
  SIMFUSE_PETSC(PetscOptionsSetValue(nullptr, n.c_str(), value.empty() ? nullptr : value.c_str()));
  book().defaults.insert(n);
}

void clear_default(const std::string& name) {
  const std::string n = dashed(name);
  if (!book().defaults.count(n)) return;
  SIMFUSE_PETSC(PetscOptionsClearValue(nullptr, n.c_str()));
  book().defaults.erase(n);
}

void set_from_case(const std::string& name, const std::string& value, const std::string& origin) {
  const std::string n = dashed(name);
  PetscBool has = PETSC_FALSE;
  SIMFUSE_PETSC(PetscOptionsHasName(nullptr, nullptr, n.c_str(), &has));
  if (has && !book().defaults.count(n)) return;  // command line wins
  SIMFUSE_PETSC(PetscOptionsSetValue(nullptr, n.c_str(), value.empty() ? nullptr : value.c_str()));
  book().defaults.erase(n);
  book().case_origin[n] = origin;
}

std::vector<Unused> unused() {
  PetscInt n = 0;
  char** names = nullptr;
  char** values = nullptr;
  SIMFUSE_PETSC(PetscOptionsLeftGet(nullptr, &n, &names, &values));
  std::vector<Unused> out;
  std::vector<std::string> candidates;
  {
    // Used options are the candidates for suggestions: all set minus the unused ones.
    char* all = nullptr;
    SIMFUSE_PETSC(PetscOptionsGetAll(nullptr, &all));
    std::string s(all ? all : "");
    PetscFree(all);
    std::set<std::string> left;
    for (PetscInt i = 0; i < n; ++i) left.insert(std::string("-") + names[i]);
    size_t pos = 0;
    while ((pos = s.find('-', pos)) != std::string::npos) {
      if (pos > 0 && s[pos - 1] != ' ') {
        ++pos;
        continue;
      }
      size_t end = s.find(' ', pos);
      std::string tok = s.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
      if (tok.size() > 1 && !std::isdigit(static_cast<unsigned char>(tok[1])) && tok[1] != '.' && !left.count(tok))
        candidates.push_back(tok);
      if (end == std::string::npos) break;
      pos = end;
    }
  }
  // Read only when a solve ends or PETSc finalizes, so not yet "used" at set-up:
  // -X_ksp_converged_reason, -X_ksp_view, -X_ksp_view_final_residual, -log_view, ...
  auto read_later = [](const std::string& name) {
    const std::string cr = "converged_reason";
    return name.find("_view") != std::string::npos || name.rfind("-log_", 0) == 0 ||
           (name.size() >= cr.size() && name.compare(name.size() - cr.size(), cr.size(), cr) == 0);
  };
  for (PetscInt i = 0; i < n; ++i) {
    const std::string name = std::string("-") + names[i];
    if (book().defaults.count(name) || read_later(name)) continue;
    Unused u;
    u.name = name;
    u.value = values[i] ? values[i] : "";
    auto it = book().case_origin.find(name);
    u.origin = it == book().case_origin.end() ? "command line" : it->second;
    auto near = nearest(name, candidates);
    if (near) u.suggestion = *near;
    out.push_back(u);
  }
  SIMFUSE_PETSC(PetscOptionsLeftRestore(nullptr, &n, &names, &values));
  return out;
}

namespace {

// PETSc reads a viewer option (-X_ksp_view ascii:file:format) only when it views, at
// the end of a solve: a bad type or format would stop the run mid-way, after output was
// written. Checked at set-up instead, against PETSc's own lists.
void check_viewer_options() {
  char* all = nullptr;
  SIMFUSE_PETSC(PetscOptionsGetAll(nullptr, &all));
  std::istringstream in(all ? all : "");
  PetscFree(all);
  std::vector<std::string> tokens{std::istream_iterator<std::string>(in), std::istream_iterator<std::string>()};
  static const std::set<std::string> types{"ascii", "binary",   "string", "draw", "socket",
                                           "vtk",   "hdf5",     "matlab", "saws", "glvis",
                                           "adios", "exodusii", "cgns",   "vu",   "mathematica"};
  auto lower = [](std::string t) {
    for (auto& ch : t) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return t;
  };
  for (size_t i = 0; i + 1 < tokens.size(); ++i) {
    const std::string& name = tokens[i];
    const std::string& value = tokens[i + 1];
    if (name.size() < 2 || name[0] != '-' || value[0] == '-') continue;
    const auto viewer = viewer_value(name, value);
    if (!viewer) continue;
    const auto where = book().case_origin.count(name) ? book().case_origin.at(name) : std::string("command line");
    if (!viewer->type.empty() && !types.count(lower(viewer->type)))
      throw UserError(
          Diagnostic{Location{where},
                     {},
                     fmt::format("PETSc option {} {}: '{}' is not a PETSc viewer type", name, value, viewer->type),
                     "write [type][:file[:format]], e.g. ascii, ascii:log.txt or ::ascii_info_detail; "
                     "types: ascii, binary, draw, vtk, hdf5, ..."});
    if (!viewer->format.empty()) {
      bool known = false;
      for (int k = 0; PetscViewerFormats[k] && std::string(PetscViewerFormats[k]) != "PetscViewerFormat"; ++k)
        known = known || lower(PetscViewerFormats[k]) == lower(viewer->format);
      if (!known)
        throw UserError(Diagnostic{
            Location{where},
            {},
            fmt::format("PETSc option {} {}: '{}' is not a PETSc viewer format", name, value, viewer->format),
            "e.g. ::ascii_info, ::ascii_info_detail, ::ascii_matlab (PetscViewerFormat)"});
    }
  }
}

}  // namespace

void check_all_used() {
  check_viewer_options();
  auto left = unused();
  if (left.empty()) return;
  std::vector<Diagnostic> ds;
  for (const auto& u : left) {
    Diagnostic d;
    d.where = Location{u.origin};
    d.what = fmt::format("PETSc option {}{} was not used by any solver", u.name, u.value.empty() ? "" : " " + u.value);
    d.fix = (u.suggestion.empty() ? std::string() : "did you mean " + u.suggestion + "? ") +
            "Options are prefixed by the sub-step name (e.g. -diffuse_ksp_type cg); "
            "list a solver's options with -diffuse_ksp_view. Pass --allow-unused-petsc-options to run anyway.";
    ds.push_back(d);
  }
  throw UserError(std::move(ds));
}

void clear_case_options() {
  for (const auto& [name, origin] : book().case_origin) PetscOptionsClearValue(nullptr, name.c_str());
  book().case_origin.clear();
}

std::optional<ViewerValue> viewer_value(const std::string& name, const std::string& value) {
  const bool viewer = name.find("view") != std::string::npos || name.find("monitor") != std::string::npos ||
                      name.find("converged_reason") != std::string::npos;
  if (!viewer || value.empty()) return std::nullopt;
  std::vector<std::string> parts;
  std::stringstream ss(value);
  for (std::string part; std::getline(ss, part, ':');) parts.push_back(part);
  parts.resize(std::max<size_t>(parts.size(), 3));
  return ViewerValue{parts[0], parts[1], parts[2]};
}

std::vector<std::string> case_options() {
  std::vector<std::string> out;
  for (const auto& [name, origin] : book().case_origin) out.push_back(fmt::format("{} ({})", name, origin));
  return out;
}

void reset_bookkeeping() {
  book() = Book{};
}

}  // namespace options

void throw_option_error(const PetscError& e, PetscObject obj, const std::string& what) {
  const char* prefix = nullptr;
  PetscObjectGetOptionsPrefix(obj, &prefix);
  const std::string pre = prefix ? prefix : "";
  throw UserError(fmt::format("PETSc rejected an option of {} (options prefix '{}'): {}", what, pre, e.petsc_message()),
                  fmt::format("check the -{}... options on the command line and under petsc_options in the case; "
                              "-{}ksp_view shows what the solver uses",
                              pre, pre));
}

}  // namespace simfuse
