// Benchmark: one implicit diffusion time step in simfuse vs a minimal PETSc-only
// program doing the same work (same DMDA, 5-point stencil, matrix values, CG + Galerkin
// multigrid with Chebyshev/Jacobi on the same bounds, same tolerance), plus the achieved
// bandwidth of MatMult on that matrix and a STREAM triad, all in one process.
// Run through bench/run_diffusion_bench.py, which computes the ratios of medians.
#include <benchmark/benchmark.h>
#include <petscdmda.h>
#include <petscksp.h>

#include <memory>
#include <vector>

#include "simfuse/core/Grid.hpp"
#include "simfuse/core/base/Log.hpp"
#include "simfuse/coupling/Coupler.hpp"
#include "simfuse/solvers/diffusion/DiffusionSolver.hpp"

namespace {

PetscInt g_n = 1025;  // points per direction (-n)
const double kDt = 1e-3, kTheta = 0.5;

// ---------------------------------------------------------------- the PETSc-only baseline
struct Baseline {
  DM da;
  Mat K, A;
  Vec u, rhs, Ku, f, mass;
  KSP ksp;
  PetscInt xs, ys, xm, ym;
  std::vector<PetscInt> dirichlet;  // local indices of boundary points

  Baseline() {
    DMDACreate2d(PETSC_COMM_WORLD, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DMDA_STENCIL_STAR, g_n, g_n, PETSC_DECIDE,
                 PETSC_DECIDE, 1, 1, nullptr, nullptr, &da);
    DMSetUp(da);
    DMCreateMatrix(da, &K);
    DMDAGetCorners(da, &xs, &ys, nullptr, &xm, &ym, nullptr);
    const double h = 1.0 / (g_n - 1), c = 1.0 / (h * h);
    auto boundary = [](PetscInt i, PetscInt j) { return i == 0 || j == 0 || i == g_n - 1 || j == g_n - 1; };
    PetscInt local = 0;
    for (PetscInt j = ys; j < ys + ym; ++j)
      for (PetscInt i = xs; i < xs + xm; ++i, ++local) {
        MatStencil row{0, j, i, 0}, cols[5];
        double v[5];
        int nc = 0;
        if (boundary(i, j)) {
          dirichlet.push_back(local);
          v[0] = 0;
          MatSetValuesStencil(K, 1, &row, 1, &row, v, INSERT_VALUES);
          continue;
        }
        cols[nc] = row;
        v[nc++] = 4 * c;
        const PetscInt nb[4][2] = {{i - 1, j}, {i + 1, j}, {i, j - 1}, {i, j + 1}};
        for (auto& q : nb)
          if (!boundary(q[0], q[1])) {
            cols[nc] = MatStencil{0, q[1], q[0], 0};
            v[nc++] = -c;
          }
        MatSetValuesStencil(K, 1, &row, nc, cols, v, INSERT_VALUES);
      }
    MatAssemblyBegin(K, MAT_FINAL_ASSEMBLY);
    MatAssemblyEnd(K, MAT_FINAL_ASSEMBLY);
    DMCreateGlobalVector(da, &u);
    VecDuplicate(u, &rhs);
    VecDuplicate(u, &Ku);
    VecDuplicate(u, &f);
    VecDuplicate(u, &mass);
    VecSet(u, 0);
    VecSet(mass, 1.0);
    VecSet(f, 1.0);  // source 1 times the (unit) interior mass; 0 on Dirichlet rows
    double* fa;
    VecGetArray(f, &fa);
    for (PetscInt r : dirichlet) fa[r] = 0;
    VecRestoreArray(f, &fa);
    MatDuplicate(K, MAT_COPY_VALUES, &A);
    MatScale(A, kTheta);
    MatShift(A, 1.0 / kDt);
    KSPCreate(PETSC_COMM_WORLD, &ksp);
    KSPSetOptionsPrefix(ksp, "base_");
    KSPSetDM(ksp, da);
    KSPSetDMActive(ksp, PETSC_FALSE);
    KSPSetOperators(ksp, A, A);
    KSPSetInitialGuessNonzero(ksp, PETSC_TRUE);
    KSPSetFromOptions(ksp);
    KSPSetUp(ksp);
  }
  ~Baseline() {
    KSPDestroy(&ksp);
    for (Vec* v : {&u, &rhs, &Ku, &f, &mass}) VecDestroy(v);
    MatDestroy(&A);
    MatDestroy(&K);
    DMDestroy(&da);
  }
  int step() {
    // rhs = u/dt - (1 - theta) K u + f; Dirichlet rows = 0
    MatMult(K, u, Ku);
    VecAXPBYPCZ(rhs, 1.0 / kDt, -(1 - kTheta), 0.0, u, Ku);
    VecAXPY(rhs, 1.0, f);
    double* a;
    VecGetArray(rhs, &a);
    for (PetscInt r : dirichlet) a[r] = 0;
    VecRestoreArray(rhs, &a);
    KSPSolve(ksp, rhs, u);
    PetscInt its;
    KSPGetIterationNumber(ksp, &its);
    return static_cast<int>(its);
  }
};

// ---------------------------------------------------------------------- the same in simfuse
struct Simfuse {
  std::unique_ptr<simfuse::Grid> grid;
  std::unique_ptr<simfuse::DiffusionSolver> solver;
  std::unique_ptr<simfuse::Coupler> coupler;
  long n = 0;
  Simfuse() {
    simfuse::GridSpec g;
    g.dim = 2;
    g.n = {g_n, g_n, 1};
    grid = std::make_unique<simfuse::Grid>(PETSC_COMM_WORLD, g);
    simfuse::DiffusionProblem p;
    p.source = simfuse::constant_function(1.0);
    p.theta = kTheta;
    p.bc = simfuse::BoundaryConditions::all(*grid, simfuse::BcKind::dirichlet, simfuse::constant_function(0.0));
    solver = std::make_unique<simfuse::DiffusionSolver>(*grid, p);
    solver->stepper().prepare(kDt);
    coupler = std::make_unique<simfuse::Coupler>(*solver);
  }
  int step() {
    coupler->advance(n + 1, n * kDt, kDt);
    ++n;
    return solver->stepper().last_iterations();
  }
};

// Created after PETSc starts and destroyed before it ends (see main).
std::unique_ptr<Baseline> g_baseline;
std::unique_ptr<Simfuse> g_simfuse;
Baseline& baseline() {
  return *g_baseline;
}
Simfuse& simfuse_run() {
  return *g_simfuse;
}

void BM_Step_PETSc(benchmark::State& st) {
  auto& b = baseline();
  int its = 0;
  for (auto _ : st) its = b.step();
  st.counters["ksp_its"] = its;
}
void BM_Step_simfuse(benchmark::State& st) {
  auto& s = simfuse_run();
  int its = 0;
  for (auto _ : st) its = s.step();
  st.counters["ksp_its"] = its;
}

// MatMult on the stiffness matrix: bytes = values + column indices + row offsets + x + y.
void BM_MatMult(benchmark::State& st) {
  auto& b = baseline();
  MatInfo info;
  MatGetInfo(b.K, MAT_LOCAL, &info);
  PetscInt rows;
  MatGetLocalSize(b.K, &rows, nullptr);
  const double bytes = info.nz_used * (sizeof(PetscScalar) + sizeof(PetscInt)) + (rows + 1) * sizeof(PetscInt) +
                       2.0 * rows * sizeof(PetscScalar);
  for (auto _ : st) MatMult(b.K, b.u, b.Ku);
  st.SetBytesProcessed(static_cast<int64_t>(bytes) * st.iterations());
}

// STREAM triad a = b + s c: 24 bytes per element (STREAM's convention).
void BM_StreamTriad(benchmark::State& st) {
  const size_t n = size_t(1) << 25;
  static std::vector<double> a(n, 1.0), b(n, 2.0), c(n, 3.0);
  const double s = 3.0;
  for (auto _ : st) {
    double* __restrict pa = a.data();
    const double* __restrict pb = b.data();
    const double* __restrict pc = c.data();
    for (size_t i = 0; i < n; ++i) pa[i] = pb[i] + s * pc[i];
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(static_cast<int64_t>(24 * n) * st.iterations());
}

}  // namespace

BENCHMARK(BM_Step_PETSc)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_Step_simfuse)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_MatMult)->Unit(benchmark::kMillisecond)->MinTime(0.5);
BENCHMARK(BM_StreamTriad)->Unit(benchmark::kMillisecond)->MinTime(0.5);

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);  // takes the --benchmark_* flags
  simfuse::PetscSession session(&argc, &argv);
  simfuse::init_logging(session.rank(), simfuse::Verbosity::quiet);
  PetscOptionsGetInt(nullptr, nullptr, "-n", &g_n, nullptr);
  // The baseline's solver, spelled out as a PETSc user would.
  const int levels = [] {
    simfuse::GridSpec g;
    g.dim = 2;
    g.n = {g_n, g_n, 1};
    return std::min(simfuse::Grid(PETSC_COMM_WORLD, g).max_mg_levels(), 8);
  }();
  const std::string opts = "-base_ksp_type cg -base_ksp_rtol 1e-10 -base_pc_type mg -base_pc_mg_levels " +
                           std::to_string(levels) +
                           " -base_pc_mg_galerkin both -base_mg_levels_ksp_type chebyshev"
                           " -base_mg_levels_pc_type jacobi -base_mg_levels_ksp_chebyshev_eigenvalues 0.3,2.0";
  PetscOptionsInsertString(nullptr, opts.c_str());
  g_baseline = std::make_unique<Baseline>();
  g_simfuse = std::make_unique<Simfuse>();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_simfuse.reset();
  g_baseline.reset();
  return 0;
}
