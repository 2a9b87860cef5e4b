#include "core/Petsc.hpp"

#include <dlfcn.h>
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "core/Schema.hpp"

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

PetscSession::PetscSession(int* argc, char*** argv) {
  PetscErrorCode ierr = PetscInitialize(argc, argv, nullptr, nullptr);
  if (ierr) throw InternalError("PetscInitialize failed", __FILE__, __LINE__);
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

void check_all_used() {
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
