#include "support/TestUtil.hpp"

#include <petscdmda.h>

#include <filesystem>

namespace simfuse::test {

std::vector<double> gather_natural(const Field& f) {
  PetscHandle<Vec> natural, all;
  SIMFUSE_PETSC(DMDACreateNaturalVector(f.dm(), natural.out()));
  SIMFUSE_PETSC(DMDAGlobalToNaturalBegin(f.dm(), f.vec(), INSERT_VALUES, natural));
  SIMFUSE_PETSC(DMDAGlobalToNaturalEnd(f.dm(), f.vec(), INSERT_VALUES, natural));
  VecScatter sc;
  SIMFUSE_PETSC(VecScatterCreateToAll(natural, &sc, all.out()));
  SIMFUSE_PETSC(VecScatterBegin(sc, natural, all, INSERT_VALUES, SCATTER_FORWARD));
  SIMFUSE_PETSC(VecScatterEnd(sc, natural, all, INSERT_VALUES, SCATTER_FORWARD));
  SIMFUSE_PETSC(VecScatterDestroy(&sc));
  PetscInt n = 0;
  SIMFUSE_PETSC(VecGetLocalSize(all, &n));
  const PetscScalar* a = nullptr;
  SIMFUSE_PETSC(VecGetArrayRead(all, &a));
  std::vector<double> out(a, a + n);
  SIMFUSE_PETSC(VecRestoreArrayRead(all, &a));
  return out;
}

int world_rank() {
  int r = 0;
  MPI_Comm_rank(PETSC_COMM_WORLD, &r);
  return r;
}

int world_size() {
  int s = 1;
  MPI_Comm_size(PETSC_COMM_WORLD, &s);
  return s;
}

std::string temp_dir(const std::string& tag) {
  namespace fs = std::filesystem;
  char name[256] = {0};
  if (world_rank() == 0) {
    std::string templ = (fs::temp_directory_path() / ("simfuse_" + tag + "_XXXXXX")).string();
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data())) std::snprintf(name, sizeof name, "%s", buf.data());
  }
  MPI_Bcast(name, sizeof name, MPI_CHAR, 0, PETSC_COMM_WORLD);
  return name;
}

}  // namespace simfuse::test
