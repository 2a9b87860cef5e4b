#include "simfuse/solvers/reaction_diffusion/ReactionDiffusionSolver.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>

#include "simfuse/solvers/common/Evaluate.hpp"

namespace simfuse {

void ReactionDiffusionSolver::declare(Schema& s) {
  function_registry();
  kinetics_registry();
  s.add_block("kinetics", "kinetics", "the reaction mechanism").required();
  s.add("diffusion", ParamType::RealList, "diffusion coefficient of each species (0: does not diffuse)")
      .required()
      .non_negative()
      .size(1, 1000);
  s.add_map("initial", "initial value of each species, e.g. {u: \"0.8*exp(-x)\", v: 0.1} (default 0)");
  BoundaryConditions::declare(s.add_section("bc", "boundary conditions of the walled faces (all species)"),
                              "{type: neumann, flux: 0.0}");
  s.add_string("scheme", "time integration of the diffusion half steps")
      .def("crank_nicolson")
      .choices({"crank_nicolson", "implicit_euler"});
  s.add_string("splitting", "operator splitting").def("strang").choices({"strang", "lie"});
  s.add_real("rtol", "relative tolerance of the stiff reaction integrator (Rodas3)").def(1e-6).positive().max(0.1);
  s.add_real("atol", "absolute tolerance of the stiff reaction integrator").def(1e-10).positive();
  Schema& c = s.add_section("check", "the cheap error estimate of a proposed reaction step (guarded policies)");
  c.add_int("substeps", "fixed Rodas3 steps of the reference the proposal is compared with").def(2).range(1, 64);
  c.add_real("rtol", "accepted relative deviation from that reference").def(0.05).positive();
  c.add_real("floor", "absolute floor added to |y| in the relative deviation").def(1e-3).positive();
}

ReactionDiffusionSolver::ReactionDiffusionSolver(const SolverContext& ctx) : grid_(ctx.grid) {
  const Params& p = ctx.params;
  kinetics_ = kinetics_registry().create(p.type_of("kinetics"), p.sub("kinetics"));
  const auto& names = kinetics_->species();
  const int n = kinetics_->size();
  D_ = p.get<std::vector<double>>("diffusion");
  if (static_cast<int>(D_.size()) != n)
    p.fail("diffusion",
           fmt::format("has {} entries but {} has {} species ({})", D_.size(), p.type_of("kinetics"), n,
                       fmt::join(names, ", ")),
           "give one coefficient per species, in that order");
  // initial: one optional function per species.
  Schema init("initial", "initial values");
  for (const auto& name : names) init.add_block(name, "function", "initial value of " + name).def("0.0");
  const Params ip = p.validate_entry("initial", init);
  for (const auto& name : names) initial_.push_back(make_function(ip, name, ctx.constants));
  bc_ = BoundaryConditions::from(p.sub("bc"), grid_, ctx.constants);
  theta_ = p.get<std::string>("scheme") == "implicit_euler" ? 1.0 : 0.5;
  strang_ = p.get<std::string>("splitting") == "strang";
  ros_.rtol = p.get<double>("rtol");
  ros_.atol = p.get<double>("atol");
  const Params& cp = p.sub("check");
  check_substeps_ = cp.get<int>("substeps");
  check_rtol_ = cp.get<double>("rtol");
  check_floor_ = cp.get<double>("floor");

  Field& c = state_.add(grid_, "c", names);
  for (int s = 0; s < n; ++s) sample(grid_, *initial_[s], ctx.t0, c.vec(), n, s);
  SIMFUSE_PETSC(DMCreateGlobalVector(grid_.dm(1), work_.out()));
  SIMFUSE_PETSC(DMCreateGlobalVector(grid_.dm(1), guess_work_.out()));
  ThetaOptions opt;
  opt.theta = theta_;
  for (int s = 0; s < n; ++s) {
    if (D_[s] == 0) {
      ops_.emplace_back();
      steppers_.emplace_back();
      continue;
    }
    ops_.push_back(
        std::make_unique<DiffusionOperator>(grid_, constant_function(D_[s]), bc_, "solver.params.diffusion"));
    steppers_.push_back(std::make_unique<ThetaDiffusion>(*ops_.back(), nullptr, opt));
    steppers_.back()->prepare(strang_ ? 0.5 * ctx.dt : ctx.dt);
  }
}

std::vector<PlanEntry> ReactionDiffusionSolver::plan() {
  if (strang_) return {{&diffuse_, 0.5, 0.0}, {&react_, 1.0, 0.0}, {&diffuse_, 0.5, 0.5}};
  return {{&react_, 1.0, 0.0}, {&diffuse_, 1.0, 0.0}};
}

nlohmann::ordered_json ReactionDiffusionSolver::describe() const {
  nlohmann::ordered_json d{{"kinetics", kinetics_->describe()},
                           {"diffusion", D_},
                           {"splitting", strang_ ? "strang" : "lie"},
                           {"react_integrator", {{"method", "rodas3"}, {"rtol", ros_.rtol}, {"atol", ros_.atol}}}};
  for (const auto& st : steppers_)
    if (st) d["diffuse_solver"] = st->solver_description();
  const auto& rs = react_.stats_;
  d["react_steps"] = rs.steps;
  d["react_rejected_steps"] = rs.rejected;
  return d;
}

void ReactionDiffusionSolver::Diffuse::apply(State& state, const StepInfo& info) {
  Vec c = state.get("c").vec();
  Vec guess = guess_;
  guess_ = nullptr;
  its_ = 0;
  for (int s = 0; s < s_.kinetics_->size(); ++s) {
    if (!s_.steppers_[s]) continue;
    SIMFUSE_PETSC(VecStrideGather(c, s, s_.work_, INSERT_VALUES));
    if (guess) SIMFUSE_PETSC(VecStrideGather(guess, s, s_.guess_work_, INSERT_VALUES));
    s_.steppers_[s]->step(s_.work_, info.t, info.dt, guess ? s_.guess_work_.get() : nullptr);
    its_ += s_.steppers_[s]->last_iterations();
    SIMFUSE_PETSC(VecStrideScatter(s_.work_, s, c, INSERT_VALUES));
  }
}

void ReactionDiffusionSolver::React::integrate_point(double* y, PetscInt p, double dt) {
  if (h_.empty()) h_.assign(static_cast<size_t>(s_.grid_.owned().size()), 0.0);
  double h = h_[p];
  Rodas3::integrate(*s_.kinetics_, y, dt, h, s_.ros_, stats_);
  h_[p] = h;
}

namespace {
// Turns failures counted on some ranks into one collective error.
void check_failures(long failures, const Grid& grid, double t) {
  long all = 0;
  MPI_Allreduce(&failures, &all, 1, MPI_LONG, MPI_SUM, grid.comm());
  if (all > 0)
    throw RunFailure(fmt::format("the stiff reaction integrator failed at {} grid point(s) at t = {:g} (too many "
                                 "steps, or the state stopped being finite)",
                                 all, t),
                     "check the kinetics parameters and initial values; a smaller time step or looser "
                     "solver.params.rtol may help");
}
}  // namespace

void ReactionDiffusionSolver::React::apply(State& state, const StepInfo& info) {
  s_.kinetics_->set_time(info.t);
  Field& c = state.get("c");
  const int n = s_.kinetics_->size();
  const long before = stats_.failures;
  {
    ArrayView v = c.view();
    double* a = v.data();
    const PetscInt np = s_.grid_.owned().size();
    for (PetscInt p = 0; p < np; ++p) integrate_point(a + p * n, p, info.dt);
  }
  check_failures(stats_.failures - before, s_.grid_, info.t + info.dt);
}

void ReactionDiffusionSolver::React::apply_points(State& state, const StepInfo& info,
                                                  const std::vector<PetscInt>& points) {
  s_.kinetics_->set_time(info.t);
  Field& c = state.get("c");
  const int n = s_.kinetics_->size();
  const long before = stats_.failures;
  {
    ArrayView v = c.view();
    double* a = v.data();
    for (PetscInt p : points) integrate_point(a + p * n, p, info.dt);
  }
  check_failures(stats_.failures - before, s_.grid_, info.t + info.dt);
}

void ReactionDiffusionSolver::React::estimate(const State& state, const std::vector<Vec>& before, const StepInfo& info,
                                              std::vector<double>& est) {
  s_.kinetics_->set_time(info.t);
  const int n = s_.kinetics_->size();
  const PetscInt np = s_.grid_.owned().size();
  est.assign(static_cast<size_t>(np), 0.0);
  const ArrayView prop = state.get("c").view_read();
  const ArrayView in(before.at(0), s_.grid_.owned(), n, true);
  const double* pa = prop.data();
  const double* ia = in.data();
  RosenbrockStats st;
  std::vector<double> yv(static_cast<size_t>(n));
  double* y = yv.data();
  for (PetscInt p = 0; p < np; ++p) {
    for (int s = 0; s < n; ++s) y[s] = ia[p * n + s];
    Rodas3::fixed(*s_.kinetics_, y, info.dt, s_.check_substeps_, st);
    double e = 0;
    for (int s = 0; s < n; ++s) {
      const double d = std::abs(pa[p * n + s] - y[s]) / (s_.check_floor_ + s_.check_rtol_ * std::abs(y[s]));
      e = std::isfinite(d) ? std::max(e, d) : std::numeric_limits<double>::infinity();
    }
    est[p] = e;
  }
}

std::string ReactionDiffusionSolver::React::estimate_description() const {
  return fmt::format("max over species of |proposed - y_ref| / ({:g} + {:g} |y_ref|), y_ref = {} fixed Rodas3 steps",
                     s_.check_floor_, s_.check_rtol_, s_.check_substeps_);
}

}  // namespace simfuse
