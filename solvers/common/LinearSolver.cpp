#include "simfuse/solvers/common/LinearSolver.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "simfuse/core/base/Error.hpp"

namespace simfuse {

void create_ksp(const Grid& grid, const KspDefaults& d, const std::string& what, PetscHandle<KSP>& ksp) {
  const std::string& p = d.prefix;
  options::set_default(p + "ksp_type", "cg");
  options::set_default(p + "ksp_rtol", fmt::format("{:g}", d.rtol));
  const int levels = std::min(grid.max_mg_levels(), d.max_levels);
  const char* coarse[] = {"mg_coarse_pc_type", "mg_coarse_redundant_pc_type"};
  if (levels >= 3) {
    options::set_default(p + "pc_type", "mg");
    options::set_default(p + "pc_mg_levels", std::to_string(levels));
    options::set_default(p + "pc_mg_galerkin", "both");
    options::set_default(p + "mg_levels_ksp_type", "chebyshev");
    options::set_default(p + "mg_levels_pc_type", "jacobi");
    options::set_default(p + "mg_levels_ksp_chebyshev_eigenvalues", "0.3,2.0");
    if (d.singular) {
      options::set_default(p + coarse[0], "redundant");
      options::set_default(p + coarse[1], "svd");
    } else {
      for (const char* o : coarse) options::clear_default(p + o);
    }
  } else {
    options::set_default(p + "pc_type", d.jacobi_when_coarse ? "jacobi" : "gamg");
    // Multigrid defaults of an earlier, finer grid with this prefix must not reach GAMG.
    for (const char* o : {"pc_mg_levels", "pc_mg_galerkin", "mg_levels_ksp_type", "mg_levels_pc_type",
                          "mg_levels_ksp_chebyshev_eigenvalues", coarse[0], coarse[1]})
      options::clear_default(p + o);
  }
  SIMFUSE_PETSC(KSPCreate(grid.comm(), ksp.out()));
  SIMFUSE_PETSC(KSPSetOptionsPrefix(ksp, p.c_str()));
  SIMFUSE_PETSC(KSPSetDM(ksp, grid.dm(1)));
  SIMFUSE_PETSC(KSPSetDMActive(ksp, PETSC_FALSE));
  SIMFUSE_PETSC(KSPSetInitialGuessNonzero(ksp, PETSC_TRUE));
  options_checked([&] { return KSPSetFromOptions(ksp); }, reinterpret_cast<PetscObject>(ksp.get()), what);
  check_ksp_tolerances(ksp, p, what);
}

void check_ksp_tolerances(KSP ksp, const std::string& prefix, const std::string& what) {
  // PETSc 3.18 takes a negative iteration count or a tolerance of 1e400 (inf) without a
  // word; the solve then stops at once or never converges. Refuse them by name.
  PetscReal rtol = 0, abstol = 0, dtol = 0;
  PetscInt maxits = 0;
  SIMFUSE_PETSC(KSPGetTolerances(ksp, &rtol, &abstol, &dtol, &maxits));
  const auto bad = [&](const std::string& opt, const std::string& value, const std::string& want) {
    throw UserError(fmt::format("PETSc option -{}{} = {} of {} is not usable: {}", prefix, opt, value, what, want),
                    fmt::format("give -{}{} a value that is {} (on the command line after '--', or under "
                                "petsc_options in the case)",
                                prefix, opt, want));
  };
  if (!(std::isfinite(rtol) && rtol > 0 && rtol < 1)) bad("ksp_rtol", fmt::format("{:g}", rtol), "in (0, 1)");
  if (!(std::isfinite(abstol) && abstol >= 0)) bad("ksp_atol", fmt::format("{:g}", abstol), "finite and >= 0");
  if (!(dtol > 1)) bad("ksp_divtol", fmt::format("{:g}", dtol), "above 1");
  if (maxits < 1) bad("ksp_max_it", std::to_string(maxits), "at least 1");
}

std::string describe_ksp(KSP ksp) {
  KSPType kt;
  PC pc;
  PCType pt;
  SIMFUSE_PETSC(KSPGetType(ksp, &kt));
  SIMFUSE_PETSC(KSPGetPC(ksp, &pc));
  SIMFUSE_PETSC(PCGetType(pc, &pt));
  std::string s = fmt::format("{} + {}", kt ? kt : "?", pt ? pt : "?");
  PetscBool is_mg = PETSC_FALSE;
  SIMFUSE_PETSC(PetscObjectTypeCompare(reinterpret_cast<PetscObject>(pc), PCMG, &is_mg));
  if (is_mg) {
    PetscInt levels = 0;
    SIMFUSE_PETSC(PCMGGetLevels(pc, &levels));
    s += fmt::format(" ({} levels)", levels);
  }
  return s;
}

std::array<double, 2> least_residual_combination(Mat A, Vec b, Vec x, Vec g, Vec ax, Vec ag) {
  SIMFUSE_PETSC(MatMult(A, x, ax));
  SIMFUSE_PETSC(MatMult(A, g, ag));
  PetscScalar dx[3], dg[3];
  Vec ys[3] = {ax, ag, b};
  SIMFUSE_PETSC(VecMDot(ax, 3, ys, dx));  // <Ax,Ax>, <Ax,Ag>, <Ax,b>
  SIMFUSE_PETSC(VecMDot(ag, 3, ys, dg));  // <Ag,Ax>, <Ag,Ag>, <Ag,b>
  const double xx = dx[0], xg = dx[1], xb = dx[2], gg = dg[1], gb = dg[2];
  const double det = xx * gg - xg * xg;
  double a = 0, c = 1;  // parallel (or zero) candidates: take the guess
  if (det > 1e-12 * xx * gg) {
    a = (xb * gg - gb * xg) / det;
    c = (gb * xx - xb * xg) / det;
  } else if (xx > 0 && gg == 0) {
    a = 1;
    c = 0;
  }
  SIMFUSE_PETSC(VecAXPBY(x, c, a, g));
  return {a, c};
}

}  // namespace simfuse
