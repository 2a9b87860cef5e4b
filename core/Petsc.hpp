#pragma once
/// \file Petsc.hpp
/// PETSc with C++ error handling and ownership.
///
/// - SIMFUSE_PETSC(call): checks a PETSc error code; on failure throws PetscError with
///   PETSc's own message ("Unable to find requested KSP type foo"), never a traceback.
/// - PetscHandle<T>: owns a Vec, Mat, KSP, DM, ... and destroys it.
/// - PetscSession: initialise/finalise PETSc (and MPI) for a program.
/// - Options: set PETSc options from code or YAML without overriding the command line,
///   and detect options nobody used (typos).
#include <petscdm.h>
#include <petscksp.h>
#include <petscsys.h>
#include <petscvec.h>

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "simfuse/core/base/Error.hpp"

namespace simfuse {

/// A failed PETSc call. `code()` is the PETSc error code; `petsc_message()` the
/// specific message PETSc gave.
class PetscError : public InternalError {
 public:
  PetscError(PetscErrorCode code, std::string message, const char* call, const char* file, int line);
  PetscErrorCode code() const { return code_; }
  const std::string& petsc_message() const { return message_; }

 private:
  PetscErrorCode code_;
  std::string message_;
};

/// For an error found on some ranks only inside a collective call (the others wait in
/// it): prints the message with this rank's number and ends every rank of `comm` with
/// exit code 2 (MPI_Abort). On one rank it throws `e` instead.
[[noreturn]] void fail_all_ranks(MPI_Comm comm, const UserError& e);

/// Waits up to `seconds` for every rank of `comm` to call this too (a non-blocking
/// barrier, which no blocking collective call can match). True if they did. For an error
/// handler to learn whether the error was found on every rank (they then arrive at once)
/// or on some only (the others wait elsewhere: the caller must end them, MPI_Abort).
bool all_ranks_arrive(MPI_Comm comm, double seconds);

/// The lowest rank of `comm` on which `failed` is true, or -1 if on none. Collective.
int first_failing_rank(MPI_Comm comm, bool failed);

/// Sends `text` from rank `root` to every rank of `comm` (any length). Collective.
void bcast_string(MPI_Comm comm, std::string& text, int root);

/// Runs `local` (work that may fail on some ranks only, e.g. writing this rank's file),
/// then agrees: if it threw a UserError on any rank, every rank throws that error (the
/// lowest failing rank's message and fix), so no rank is left waiting in a later
/// collective call. Other exceptions become an error naming the rank. Collective.
void on_all_ranks(MPI_Comm comm, const std::function<void()>& local);

/// Throws PetscError for a non-zero code (used by SIMFUSE_PETSC).
[[noreturn]] void throw_petsc_error(PetscErrorCode code, const char* call, const char* file, int line);

/// Installs simfuse's PETSc error handler (records the message, prints nothing).
/// Done by PetscSession; call it yourself if you initialise PETSc another way.
void install_petsc_error_handler();

/// One BLAS/OpenMP thread per MPI rank unless OMP_NUM_THREADS says otherwise. OpenBLAS's
/// OpenMP build otherwise threads vector norms and dots over every core: with a second
/// process (another rank, a test, a build) on a 2-core machine its spinning threads made
/// PETSc's VecNorm 2000x and a pressure solve 20x slower (docs/benchmarks.md). Called by
/// PetscSession; programs that call PetscInitialize themselves call it too.
void limit_blas_threads();

/// Open MPI, started without a launcher (a singleton: `simfuse run ...` without mpirun),
/// otherwise forks a runtime daemon and probes the PSM2 (Omni-Path) transport, whose timer
/// calibration sleeps ~0.2 s: 0.42 s of every start of simfuse, 0.09 s without
/// (docs/benchmarks.md). For a singleton this selects the ob1 messaging layer and the
/// isolated start (no daemon; MPI_Comm_spawn then is unavailable, which simfuse does not
/// use). Under mpirun or srun nothing is changed, and an OMPI_MCA_* setting of the user's
/// own wins. Called by PetscSession before MPI starts; programs that start MPI themselves
/// call it first. Other MPI libraries ignore these variables.
void quick_singleton_start();

}  // namespace simfuse

#define SIMFUSE_PETSC(...)                                                                                           \
  do {                                                                                                               \
    const PetscErrorCode simfuse_ierr_ = (__VA_ARGS__);                                                              \
    if (PetscUnlikely(simfuse_ierr_)) ::simfuse::throw_petsc_error(simfuse_ierr_, #__VA_ARGS__, __FILE__, __LINE__); \
  } while (0)

namespace simfuse {

template <class T>
struct PetscDestroyer;
#define SIMFUSE_PETSC_DESTROYER(T, fn)                    \
  template <>                                             \
  struct PetscDestroyer<T> {                              \
    static PetscErrorCode destroy(T* p) { return fn(p); } \
  }
SIMFUSE_PETSC_DESTROYER(Vec, VecDestroy);
SIMFUSE_PETSC_DESTROYER(Mat, MatDestroy);
SIMFUSE_PETSC_DESTROYER(KSP, KSPDestroy);
SIMFUSE_PETSC_DESTROYER(DM, DMDestroy);
SIMFUSE_PETSC_DESTROYER(VecScatter, VecScatterDestroy);
SIMFUSE_PETSC_DESTROYER(IS, ISDestroy);
SIMFUSE_PETSC_DESTROYER(MatNullSpace, MatNullSpaceDestroy);
#undef SIMFUSE_PETSC_DESTROYER

/// Unique ownership of a PETSc object. Destruction is collective like the object's own
/// Destroy, so destroy handles in the same order on every rank.
template <class T>
class PetscHandle {
 public:
  PetscHandle() = default;
  explicit PetscHandle(T obj) : obj_(obj) {}
  PetscHandle(const PetscHandle&) = delete;
  PetscHandle& operator=(const PetscHandle&) = delete;
  PetscHandle(PetscHandle&& o) noexcept : obj_(std::exchange(o.obj_, nullptr)) {}
  PetscHandle& operator=(PetscHandle&& o) noexcept {
    if (this != &o) {
      reset();
      obj_ = std::exchange(o.obj_, nullptr);
    }
    return *this;
  }
  ~PetscHandle() { reset(); }

  void reset() {
    if (obj_) PetscDestroyer<T>::destroy(&obj_);
    obj_ = nullptr;
  }
  T get() const { return obj_; }
  operator T() const { return obj_; }  // NOLINT: handles pass where PETSc wants the object
  /// For PETSc's Create functions: `VecCreate(comm, h.out())`.
  T* out() {
    reset();
    return &obj_;
  }
  explicit operator bool() const { return obj_ != nullptr; }

 private:
  T obj_ = nullptr;
};

/// Initialises PETSc (and MPI) and finalises it on destruction.
class PetscSession {
 public:
  /// `argv` holds the PETSc options (the command line after `--`); may be null.
  PetscSession(int* argc, char*** argv);
  ~PetscSession();
  PetscSession(const PetscSession&) = delete;
  PetscSession& operator=(const PetscSession&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }

 private:
  int rank_ = 0, size_ = 1;
};

/// The PETSc options database, with the bookkeeping simfuse needs.
namespace options {

/// Sets `-name value` unless the user already set it (the command line and YAML win over
/// code defaults). Recorded as a default, so it is never reported as unused.
void set_default(const std::string& name, const std::string& value);
/// Removes `-name` if it holds a code default (left by another solver of the same prefix
/// built earlier in this process); a value the user set stays.
void clear_default(const std::string& name);
/// Sets `-name value` from the case file unless the command line set it. `origin`
/// (e.g. "case.yaml:14:3") is remembered for messages.
void set_from_case(const std::string& name, const std::string& value, const std::string& origin);
/// Options set on the command line or in the case file that no PETSc object read, with
/// a suggestion of the nearest used option for each.
struct Unused {
  std::string name, value, origin, suggestion;
};
std::vector<Unused> unused();
/// Throws UserError if unused() is not empty.
void check_all_used();
/// Removes the options set by set_from_case (a finished case must not leak its options
/// into the next one created in the same process).
void clear_case_options();
/// The options the case file set, as "-name (origin)".
std::vector<std::string> case_options();

/// A viewer option's value, `[type][:file[:format[:mode]]]`: e.g. `ascii:log.txt`, or a format alone (an empty type and
/// file before it, as in -ksp_view with two colons and ascii_info).
struct ViewerValue {
  std::string type, file, format;
};
/// The value of option `name` as a viewer, or nothing if `name` is not a viewer option
/// (its name says view, monitor or converged_reason) or its value does not name one.
std::optional<ViewerValue> viewer_value(const std::string& name, const std::string& value);
/// Forgets the recorded defaults and case options (for tests).
void reset_bookkeeping();

}  // namespace options

/// Turns a PETSc complaint about an option value into a UserError naming the object's
/// options prefix.
[[noreturn]] void throw_option_error(const PetscError& e, PetscObject obj, const std::string& what);

/// Runs `call` (a *SetFromOptions or *SetUp returning a PetscErrorCode); a PETSc error is
/// reported as a UserError about the options of `obj`, not as an internal error.
template <class Call>
void options_checked(Call&& call, PetscObject obj, const std::string& what) {
  try {
    SIMFUSE_PETSC(call());
  } catch (const PetscError& e) {
    throw_option_error(e, obj, what);
  }
}

}  // namespace simfuse
