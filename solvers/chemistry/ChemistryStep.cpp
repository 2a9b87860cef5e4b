#include "simfuse/solvers/chemistry/ChemistryStep.hpp"

#include <fmt/format.h>
#include <petscsys.h>
// after petscsys.h
#include <petscblaslapack.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>

#include "simfuse/core/Timer.hpp"
#include "simfuse/core/base/Error.hpp"

namespace simfuse {

ChemistryStep::ChemistryStep(const Grid& grid, CellChemistry& chem, std::string field, Field* heat_release, Field* cost,
                             std::function<CellConditions(PetscInt)> conditions)
    : grid_(grid),
      chem_(chem),
      field_(std::move(field)),
      hrr_(heat_release),
      cost_(cost),
      conditions_(std::move(conditions)),
      projection_(std::make_unique<ElementProjection>(chem.mechanism())) {
  // Per species and kg: the O atoms its complete combustion needs, and those it has.
  for (const auto& sp : chem.mechanism().species()) {
    auto atoms = [&](const char* e) {
      const auto it = sp.composition.find(e);
      return it == sp.composition.end() ? 0.0 : it->second;
    };
    need_o_.push_back((2 * atoms("C") + 0.5 * atoms("H")) / sp.molar_mass);
    have_o_.push_back(atoms("O") / sp.molar_mass);
  }
}

double* ChemistryStep::step_of(PetscInt p) {
  if (!chem_.step_memory()) return nullptr;
  if (steps_.empty()) steps_.assign(static_cast<size_t>(grid_.owned().size()), 0.0);  // 0: no step yet
  return &steps_[static_cast<size_t>(p)];
}

void ChemistryStep::set_cell(PetscInt p) const {
  if (!conditions_) return;
  const CellConditions c = conditions_(p);
  chem_.set_cell(c.pressure, c.density);
}

std::unique_ptr<ArrayView> ChemistryStep::transported_view() const {
  return transported_ ? std::make_unique<ArrayView>(transported_->vec(), grid_.owned(), chem_.size(), true) : nullptr;
}

void ChemistryStep::forcing(const double* y0, const double* y1, double dt, double* src, double& h_end) const {
  const int n = chem_.size();
  for (int c = 0; c < n; ++c) src[c] = (y1[c] - y0[c]) / dt;
  h_end = chem_.mechanism().enthalpy_mass(y1[0], y1 + 1);
}

std::string ChemistryStep::cell_name(PetscInt p) const {
  const Box& b = grid_.owned();
  const PetscInt i = b.lo[0] + p % b.n[0], j = b.lo[1] + (p / b.n[0]) % b.n[1], k = b.lo[2] + p / (b.n[0] * b.n[1]);
  const PetscInt idx[3] = {i, j, k};
  std::string ids, xs;
  for (int d = 0; d < grid_.dim(); ++d) {
    ids += fmt::format("{}{}", d ? ", " : "", idx[d]);
    xs += fmt::format("{}{:g}", d ? ", " : "", grid_.x(d, idx[d]));
  }
  return fmt::format("cell ({}) at ({})", ids, xs);
}

void ChemistryStep::run(State& state, const StepInfo& info, const std::vector<PetscInt>* points) {
  Field& f = state.get(field_);
  const int n = chem_.size();
  std::string failure;
  const double t0 = wall_time();
  {
    ArrayView v = f.view();
    double* a = v.data();
    std::unique_ptr<ArrayView> cv;
    if (cost_) {
      cv = std::make_unique<ArrayView>(cost_->vec(), grid_.owned(), 1);
      if (!points) std::fill(cv->data(), cv->data() + grid_.owned().size(), 0.0);
    }
    const auto tv = transported_view();
    const PetscInt np = points ? static_cast<PetscInt>(points->size()) : grid_.owned().size();
    std::vector<double> start(static_cast<size_t>(n)), source(static_cast<size_t>(n));
    double h_end = 0;
    for (PetscInt q = 0; q < np; ++q) {
      const PetscInt p = points ? (*points)[q] : q;
      double* y = a + p * n;
      set_cell(p);
      std::copy(y, y + n, start.begin());
      try {
        const double c0 = cost_ ? wall_time() : 0.0;
        const double* src = nullptr;
        if (tv) {
          forcing(y, tv->data() + p * n, info.dt, source.data(), h_end);
          src = source.data();
        }
        chem_.reactor().set_source(src);
        const bool integrated = chem_.advance(y, info.dt, step_of(p));
        chem_.reactor().set_source(nullptr);
        if (src) {
          if (!integrated)  // below the cut-off: the transport alone
            for (int c = 0; c < n; ++c) y[c] += info.dt * src[c];
          y[0] = chem_.reactor().temperature_from_enthalpy(h_end, y + 1, y[0]);
        }
        if (cost_) cv->data()[p] = wall_time() - c0;
      } catch (const RunFailure& e) {
        failure = fmt::format(
            "the chemistry of {} failed in the step from t = {:g} s over {:g} s: {}\n  state "
            "at the start of the step: {}",
            cell_name(p), info.t, info.dt, what_of(e), describe_state(chem_.mechanism(), start.data()));
        chem_.reactor().set_source(nullptr);
        std::copy(start.begin(), start.end(), y);
        break;
      }
      chem_.check_temperature_range(y[0]);
    }
  }
  // This rank's own work, measured before the collective check (which waits for the slowest).
  const double seconds = wall_time() - t0;
  throw_if_any_failed(grid_.comm(), failure,
                      "tighten solver.params.integrator.rtol/atol, raise max_steps, or reduce time.dt");
  record_work(seconds);
}

void ChemistryStep::save_state(CheckpointData& out) const {
  out.put("stats", chem_.stats());
  out.put("rank_seconds", rank_seconds_);
  if (chem_.step_memory()) out.put("steps", steps_);
}

void ChemistryStep::restore_state(const CheckpointData& in) {
  chem_.set_stats(in.get<ChemistryStats>("stats"));
  rank_seconds_ = in.get<double>("rank_seconds");
  if (chem_.step_memory() && in.has("steps")) steps_ = in.get<std::vector<double>>("steps");
  reduced_ = chem_.reduced(grid_.comm());  // collective: every rank restores
}

void ChemistryStep::record_work(double seconds) {
  rank_seconds_ += seconds;
  reduced_ = chem_.reduced(grid_.comm());
  const CollectiveWait wait;
  MPI_Allreduce(&rank_seconds_, &max_rank_seconds_, 1, MPI_DOUBLE, MPI_MAX, grid_.comm());
  MPI_Allreduce(&rank_seconds_, &mean_rank_seconds_, 1, MPI_DOUBLE, MPI_SUM, grid_.comm());
  mean_rank_seconds_ /= grid_.size();
}

void ChemistryStep::regime_point(const double* components, double* coords) const {
  double need = 0, have = 0;
  for (size_t k = 0; k < need_o_.size(); ++k) {
    need += components[k + 1] * need_o_[k];
    have += components[k + 1] * have_o_[k];
  }
  coords[0] = components[0];
  coords[1] = have > 0 ? need / have : std::numeric_limits<double>::infinity();
}

void ChemistryStep::apply(State& state, const StepInfo& info) {
  run(state, info, nullptr);
}

void ChemistryStep::apply_points(State& state, const StepInfo& info, const std::vector<PetscInt>& points) {
  run(state, info, &points);
}

void ChemistryStep::estimate(const State& state, const std::vector<Vec>& before, const StepInfo& info,
                             std::vector<double>& est) {
  std::vector<PetscInt> all(static_cast<size_t>(grid_.owned().size()));
  std::iota(all.begin(), all.end(), PetscInt(0));
  estimate_points(state, before, info, all, est);
}

void ChemistryStep::estimate_points(const State& state, const std::vector<Vec>& before, const StepInfo& info,
                                    const std::vector<PetscInt>& points, std::vector<double>& est) {
  const int n = chem_.size();
  est.assign(points.size(), 0.0);
  const ArrayView prop = state.get(field_).view_read();
  const ArrayView in(before.at(0), grid_.owned(), n, true);
  const auto tv = transported_view();
  const double* pa = prop.data();
  const double* ia = in.data();
  std::vector<double> source(static_cast<size_t>(n));
  double h_end = 0;
  const size_t np = static_cast<size_t>(grid_.owned().size());
  estimated_.resize(np * static_cast<size_t>(n));
  has_estimated_.assign(np, 0);
  for (size_t i = 0; i < points.size(); ++i) {
    const PetscInt p = points[i];
    double* ref = estimated_.data() + p * n;
    set_cell(p);
    if (tv) {
      forcing(ia + p * n, tv->data() + p * n, info.dt, source.data(), h_end);
      est[i] = chem_.estimate(ia + p * n, pa + p * n, info.dt, source.data(), &h_end, ref);
    } else {
      est[i] = chem_.estimate(ia + p * n, pa + p * n, info.dt, nullptr, nullptr, ref);
    }
    has_estimated_[static_cast<size_t>(p)] = std::isfinite(est[i]) ? 1 : 0;
  }
}

void ChemistryStep::keep_estimated(State& state, const std::vector<PetscInt>& points) {
  const int n = chem_.size();
  ArrayView v = state.get(field_).view();
  double* a = v.data();
  for (PetscInt p : points) {
    SIMFUSE_REQUIRE(p < static_cast<PetscInt>(has_estimated_.size()) && has_estimated_[static_cast<size_t>(p)],
                    "ChemistryStep::keep_estimated: a point without a reference result");
    std::copy_n(estimated_.data() + p * n, n, a + p * n);
    chem_.check_temperature_range(a[p * n]);
  }
}

void ChemistryStep::make_admissible(State& state, const std::vector<Vec>& before, const StepInfo& info,
                                    std::vector<char>& ok) {
  std::vector<PetscInt> all(static_cast<size_t>(grid_.owned().size()));
  std::iota(all.begin(), all.end(), PetscInt(0));
  make_points_admissible(state, before, info, all, ok);
}

void ChemistryStep::perturb(double* y, double amplitude, std::mt19937_64& rng) const {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  const int n = chem_.size();
  y[0] = std::clamp(y[0] * (1 + amplitude * u(rng)), chem_.temperature_min(), chem_.temperature_max());
  double sum = 0;
  for (int k = 1; k < n; ++k) {
    const double e = 1 + amplitude * u(rng);  // drawn for every species: the stream does not depend on the state
    y[k] = y[k] > 0 ? std::pow(y[k], e) : 0.0;
    sum += y[k];
  }
  for (int k = 1; k < n; ++k) y[k] /= sum;
}

void ChemistryStep::perturb_conditions(const double* y0, const double* y0p, double* conditions, double amplitude,
                                       std::mt19937_64& rng) const {
  if (!transported_) return;
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  const int n = chem_.size();
  double* y1 = conditions + transported_at();
  double sum = 0;
  for (int c = 0; c < n; ++c) {
    const double scale = 1 + amplitude * u(rng);  // drawn for every component: a stream independent of the state
    y1[c] = y0p[c] + scale * (y1[c] - y0[c]);
    if (c > 0) {
      y1[c] = std::max(y1[c], 0.0);
      sum += y1[c];
    }
  }
  for (int c = 1; c < n; ++c) y1[c] /= sum;
  y1[0] = std::clamp(y1[0], chem_.temperature_min(), chem_.temperature_max());
}

PointLayout ChemistryStep::point_layout() const {
  PointLayout l;
  l.components = chem_.size();
  if (conditions_) l.conditions = {"pressure", "density"};
  if (transported_)
    for (const auto& c : transported_->components()) l.conditions.push_back(transported_->name() + "." + c);
  if (chem_.step_memory()) l.memory = {"step"};
  return l;
}

void ChemistryStep::take_points(const State& state, const std::vector<PetscInt>& points, PointStates& out) const {
  SIMFUSE_REQUIRE(out.layout() == point_layout(), "ChemistryStep::take_points: a record of another layout");
  const int n = chem_.size();
  const ArrayView v = state.get(field_).view_read();
  const double* a = v.data();
  const auto tv = transported_view();
  const size_t at = out.size();
  out.resize(at + points.size());
  for (size_t q = 0; q < points.size(); ++q) {
    std::copy_n(a + points[q] * n, n, out.state(at + q));
    if (conditions_) {
      const CellConditions c = conditions_(points[q]);
      out.conditions(at + q)[0] = c.pressure;
      out.conditions(at + q)[1] = c.density;
    }
    if (tv) std::copy_n(tv->data() + points[q] * n, n, out.conditions(at + q) + transported_at());
    if (chem_.step_memory()) out.memory(at + q)[0] = steps_.empty() ? 0.0 : steps_[static_cast<size_t>(points[q])];
  }
}

void ChemistryStep::apply_states(const StepInfo& info, PointStates& states, std::vector<char>& ok) {
  SIMFUSE_REQUIRE(states.layout() == point_layout(), "ChemistryStep::apply_states: a record of another layout");
  ok.assign(states.size(), 1);
  const double t0 = wall_time();
  const int n = chem_.size();
  std::vector<double> source(static_cast<size_t>(n));
  double h_end = 0;
  for (size_t q = 0; q < states.size(); ++q) {
    if (conditions_) chem_.set_cell(states.conditions(q)[0], states.conditions(q)[1]);
    double* y = states.state(q);
    // As run() integrates a cell: forced, with the transported state's source and enthalpy.
    if (transported_) forcing(y, states.conditions(q) + transported_at(), info.dt, source.data(), h_end);
    chem_.reactor().set_source(transported_ ? source.data() : nullptr);
    try {
      const bool integrated = chem_.advance(y, info.dt, chem_.step_memory() ? states.memory(q) : nullptr);
      if (transported_) {
        if (!integrated)
          for (int c = 0; c < n; ++c) y[c] += info.dt * source[static_cast<size_t>(c)];
        y[0] = chem_.reactor().temperature_from_enthalpy(h_end, y + 1, y[0]);
      }
    } catch (const RunFailure&) {
      ok[q] = 0;
    }
    chem_.reactor().set_source(nullptr);
  }
  rank_seconds_ += wall_time() - t0;
}

void ChemistryStep::return_points(State& state, const std::vector<PetscInt>& points, const PointStates& states) {
  SIMFUSE_REQUIRE(states.size() == points.size(), "ChemistryStep::return_points: one record per point");
  const int n = chem_.size();
  ArrayView v = state.get(field_).view();
  double* a = v.data();
  for (size_t q = 0; q < points.size(); ++q) {
    std::copy_n(states.state(q), n, a + points[q] * n);
    if (double* h = step_of(points[q])) *h = states.memory(q)[0];
  }
}

void ChemistryStep::sensitivity(const StepInfo& info, const PointStates& in, size_t q, const double* out, double* A) {
  const int n = chem_.size();
  const size_t nn = static_cast<size_t>(n) * static_cast<size_t>(n);
  std::fill(A, A + nn, 0.0);
  if (in.state(q)[0] < chem_.cutoff()) {
    for (int i = 0; i < n; ++i) A[i * n + i] = 1.0;
    return;
  }
  if (conditions_) chem_.set_cell(in.conditions(q)[0], in.conditions(q)[1]);
  // A row-major buffer is its transpose to LAPACK, and inv(M^T) = inv(M)^T: inverting the
  // buffer in place leaves inv(M) row-major.
  chem_.kinetics().jacobian(out, A);
  for (size_t k = 0; k < nn; ++k) A[k] *= -info.dt;
  for (int i = 0; i < n; ++i) A[i * n + i] += 1.0;
  PetscBLASInt bn = n, info_lu = 0, lwork = 4 * n;
  std::vector<PetscBLASInt> piv(static_cast<size_t>(n));
  std::vector<double> work(static_cast<size_t>(lwork));
  LAPACKgetrf_(&bn, &bn, A, &bn, piv.data(), &info_lu);
  if (info_lu == 0) LAPACKgetri_(&bn, A, &bn, piv.data(), work.data(), &lwork, &info_lu);
  if (info_lu != 0) std::fill(A, A + nn, std::numeric_limits<double>::quiet_NaN());
}

std::string ChemistryStep::sensitivity_description() const {
  return "(I - dt J)^-1 at the step's result (J the [T, Y] Jacobian of the reactor; LAPACK LU), as OpenFOAM's TDAC";
}

void ChemistryStep::make_points_admissible(State& state, const std::vector<Vec>& before, const StepInfo&,
                                           const std::vector<PetscInt>& points, std::vector<char>& ok) {
  const int n = chem_.size();
  ok.assign(static_cast<size_t>(grid_.owned().size()), 1);
  ArrayView prop = state.get(field_).view();
  const ArrayView in(before.at(0), grid_.owned(), n, true);
  // Forced: the chemistry conserves the elements and the enthalpy of the state the
  // transport leaves (its source adds the transport's change to the start's).
  const auto tv = transported_view();
  double* pa = prop.data();
  const double* ia = tv ? tv->data() : in.data();
  for (PetscInt p : points) {
    set_cell(p);
    ok[p] = simfuse::make_admissible(chem_.reactor(), *projection_, ia + p * n, pa + p * n, nullptr, nullptr,
                                     chem_.admissible_limits())
                ? 1
                : 0;
  }
}

bool ChemistryStep::point_admissible(const double* y) const {
  if (!(y[0] >= chem_.temperature_min() && y[0] <= chem_.temperature_max())) return false;
  for (int k = 1; k < chem_.size(); ++k)
    if (!(y[k] >= -chem_.absolute_tolerance(k))) return false;
  return true;
}

std::string ChemistryStep::admissible_description() const {
  const auto& l = chem_.admissible_limits();
  std::string s =
      "mass fractions projected onto the non-negative compositions with the step start's element masses "
      "(weighted least squares, active set), T from the conserved energy (Newton)";
  if (l.max_element_defect > 0) s += fmt::format("; rejected if the element defect exceeds {:g}", l.max_element_defect);
  if (l.max_temperature_change > 0)
    s +=
        fmt::format("; rejected if that T differs from the proposed one by more than {:g} K", l.max_temperature_change);
  return s;
}

void ChemistryStep::update_heat_release(const State& state) {
  if (!hrr_) return;
  const int n = chem_.size();
  const ArrayView g = state.get(field_).view_read();
  const double* a = g.data();
  ArrayView h = hrr_->view();
  double* ha = h.data();
  const PetscInt np = grid_.owned().size();
  for (PetscInt p = 0; p < np; ++p) {
    set_cell(p);
    const double* y = a + p * n;
    ha[p] = y[0] > 0 && std::isfinite(y[0]) ? chem_.reactor().heat_release_rate(y) : 0.0;
  }
}

nlohmann::ordered_json ChemistryStep::describe() const {
  nlohmann::ordered_json d = chem_.describe(reduced_);
  d["react_seconds_max_rank"] = max_rank_seconds_;
  d["react_seconds_mean_rank"] = mean_rank_seconds_;
  d["react_load_imbalance"] = mean_rank_seconds_ > 0 ? max_rank_seconds_ / mean_rank_seconds_ : 1.0;
  return d;
}

}  // namespace simfuse
