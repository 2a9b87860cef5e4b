#pragma once
/// \file Error.hpp
/// The three kinds of error simfuse reports, and the checks that raise them.
///
/// - UserError: something the user can fix (a case file, an option, a model file).
///   Carries one or more Diagnostics: where (YAML file:line:column and key path),
///   what is wrong, and how to fix it. `simfuse` prints them and exits with code 2.
/// - RunFailure (a UserError): valid input whose run failed numerically (a solve
///   diverged, a NaN appeared, the CFL limit was passed), with a suggested fix.
///   `simfuse` exits with code 3.
/// - InternalError: a bug, or a library failing unexpectedly. Carries the C++ origin.
///   `simfuse` exits with code 1.
#include <stdexcept>
#include <string>
#include <vector>

namespace simfuse {

/// Where a value came from. `line`/`column` are 1-based; 0 means "not from a file"
/// (then `origin` says where, e.g. "--set solver.params.kappa=2").
struct Location {
  std::string origin;  ///< file name, or a description such as "--set a.b=1"
  int line = 0;
  int column = 0;

  bool in_file() const { return line > 0; }
  /// "cases/heat2d.yaml:12:5", or just the origin when there is no position.
  std::string str() const;
};

/// One user-facing problem: where, which key, what is wrong, how to fix it.
struct Diagnostic {
  Location where;
  std::string key_path;  ///< e.g. "solver.params.kappa"; empty when not about a key
  std::string what;      ///< what is wrong, with the offending value
  std::string fix;       ///< one sentence on how to fix it; may be empty

  /// "file:12:5: error: solver.params.kappa: <what>\n  <fix>"
  std::string str() const;
};

/// An error in user input. Exit code 2 from the command-line tool.
class UserError : public std::runtime_error {
 public:
  explicit UserError(std::string what, std::string fix = {});
  explicit UserError(Diagnostic d);
  explicit UserError(std::vector<Diagnostic> ds);

  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }

 private:
  static std::string join(const std::vector<Diagnostic>& ds);
  std::vector<Diagnostic> diagnostics_;
};

/// A numerical failure of a run (a solver diverged, a NaN appeared). Exit code 3.
class RunFailure : public UserError {
 public:
  using UserError::UserError;
};

/// A failure that is not the user's: a violated invariant or an unexpected library
/// error. Exit code 1.
class InternalError : public std::runtime_error {
 public:
  InternalError(const std::string& what, const char* file, int line);
};

}  // namespace simfuse

/// Always-on check of an internal invariant; throws InternalError with the C++ origin.
#define SIMFUSE_REQUIRE(cond, msg)                                          \
  do {                                                                      \
    if (!(cond)) throw ::simfuse::InternalError((msg), __FILE__, __LINE__); \
  } while (0)

/// Debug-only check of an internal invariant (compiled out with NDEBUG).
#ifdef NDEBUG
#define SIMFUSE_ASSERT(cond, msg) ((void)0)
#else
#define SIMFUSE_ASSERT(cond, msg) SIMFUSE_REQUIRE(cond, msg)
#endif
