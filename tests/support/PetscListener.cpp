// Initialises PETSc/MPI around a Catch2 test run (the main comes from Catch2WithMain).
// PETSc options reach tests through the PETSC_OPTIONS environment variable.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

#include "simfuse/core/Petsc.hpp"
#include "simfuse/core/base/Log.hpp"

namespace {

struct PetscListener : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  void testRunStarting(Catch::TestRunInfo const&) override {
    simfuse::quick_singleton_start();
    PetscInitialize(nullptr, nullptr, nullptr, nullptr);
    simfuse::install_petsc_error_handler();
    simfuse::limit_blas_threads();
    int rank = 0;
    MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
    simfuse::init_logging(rank, simfuse::Verbosity::quiet);
  }
  void testRunEnded(Catch::TestRunStats const&) override { PetscFinalize(); }
};

}  // namespace

CATCH_REGISTER_LISTENER(PetscListener)
