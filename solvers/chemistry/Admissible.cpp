#include "simfuse/solvers/chemistry/Admissible.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "simfuse/core/base/Error.hpp"

namespace simfuse {

ElementProjection::ElementProjection(const Mechanism& mech, double floor)
    : n_(mech.n_species()), m_(static_cast<int>(mech.elements().size())), floor_(floor) {
  A_.assign(static_cast<size_t>(m_) * n_, 0.0);
  for (int e = 0; e < m_; ++e)
    for (int k = 0; k < n_; ++k) {
      const auto& s = mech.species()[k];
      auto it = s.composition.find(mech.elements()[e]);
      if (it != s.composition.end()) A_[static_cast<size_t>(e) * n_ + k] = it->second / s.molar_mass;
    }
  holders_.resize(static_cast<size_t>(m_));
  shared_.resize(static_cast<size_t>(m_) * m_);
  for (int e = 0; e < m_; ++e)
    for (int k = 0; k < n_; ++k) {
      if (a(e, k) != 0) holders_[static_cast<size_t>(e)].push_back(k);
      for (int f = e; f < m_; ++f)
        if (a(e, k) != 0 && a(f, k) != 0) shared_[static_cast<size_t>(e) * m_ + f].push_back(k);
    }
}

namespace {

// Gaussian elimination of a small dense system M (m x m, row-major) with partial pivoting
// and a symmetric diagonal scaling, kept to solve M x = r for several r: the projection's
// solve and its refinements share one M. Each solve replays the elimination's multipliers
// on r in the order they were made, so it gives exactly what eliminating [M | r] together
// does. Rows whose pivot is below 1e-13 of the largest entry are dependent and dropped
// (their x is 0).
struct SmallLU {
  int m = 0;
  std::vector<double> M, d, f, r;  // the eliminated scaled M, the scaling, multipliers f[c m + i]
  std::vector<int> col_of_row, pivot_of_col;
  std::vector<char> used;

  void factor(const std::vector<double>& M_in, int size) {
    m = size;
    M.assign(M_in.begin(), M_in.end());
    // Symmetric diagonal scaling first: an element held only by trace species has a row
    // 1e-20 the size of one held by N2, and must not be mistaken for a dependent row.
    d.assign(static_cast<size_t>(m), 1.0);
    for (int i = 0; i < m; ++i) {
      const double mii = M[static_cast<size_t>(i) * m + i];
      if (mii > 0) d[i] = 1 / std::sqrt(mii);
    }
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < m; ++j) M[static_cast<size_t>(i) * m + j] *= d[i] * d[j];
    col_of_row.assign(static_cast<size_t>(m), -1);
    pivot_of_col.assign(static_cast<size_t>(m), -1);
    f.assign(static_cast<size_t>(m) * m, 0.0);
    double scale = 0;
    for (double v : M) scale = std::max(scale, std::abs(v));
    const double tiny = 1e-13 * scale;
    used.assign(static_cast<size_t>(m), 0);
    for (int c = 0; c < m; ++c) {
      int p = -1;
      double best = tiny;
      for (int i = 0; i < m; ++i)
        if (!used[i] && std::abs(M[static_cast<size_t>(i) * m + c]) > best) {
          best = std::abs(M[static_cast<size_t>(i) * m + c]);
          p = i;
        }
      if (p < 0) continue;  // no pivot in this column: x_c = 0
      used[p] = 1;
      col_of_row[p] = c;
      pivot_of_col[c] = p;
      for (int i = 0; i < m; ++i) {
        if (i == p) continue;
        const double fi = M[static_cast<size_t>(i) * m + c] / M[static_cast<size_t>(p) * m + c];
        f[static_cast<size_t>(c) * m + i] = fi;
        if (fi == 0) continue;
        for (int j = 0; j < m; ++j) M[static_cast<size_t>(i) * m + j] -= fi * M[static_cast<size_t>(p) * m + j];
      }
    }
  }

  // x from r (not changed); false if a dropped row is inconsistent.
  bool solve(const std::vector<double>& r_in, std::vector<double>& x) {
    r.assign(r_in.begin(), r_in.end());
    for (int i = 0; i < m; ++i) r[i] *= d[i];
    for (int c = 0; c < m; ++c) {
      const int p = pivot_of_col[c];
      if (p < 0) continue;
      for (int i = 0; i < m; ++i) {
        if (i == p) continue;
        const double fi = f[static_cast<size_t>(c) * m + i];
        if (fi == 0) continue;
        r[i] -= fi * r[p];
      }
    }
    x.assign(static_cast<size_t>(m), 0.0);
    double rscale = 0;
    for (double v : r) rscale = std::max(rscale, std::abs(v));
    for (int i = 0; i < m; ++i) {
      if (col_of_row[i] < 0) {
        if (std::abs(r[i]) > 1e-10 * std::max(rscale, 1e-300)) return false;  // inconsistent
        continue;
      }
      x[col_of_row[i]] = r[i] / M[static_cast<size_t>(i) * m + col_of_row[i]];
    }
    for (int i = 0; i < m; ++i) x[i] *= d[i];
    return true;
  }
};

// Work arrays of the projection, kept per thread: a guarded react projects every point of
// every call, and allocating them per call was a fifth of the projection's cost.
struct Scratch {
  std::vector<double> b, bhat, yh, w, g, y, lambda, M, r, at_l, dl;  // project_with_floor
  std::vector<char> fixed, row_on;
  SmallLU lu;
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

}  // namespace

ElementProjection::Result ElementProjection::project(const double* Y0, const double* Yhat, double* Y) const {
  // With weights 1/(|Y_k| + floor)^2 an element carried by one major species and traces
  // (C and H by CH4 in an unburnt mixture) can hardly move apart from the others: the
  // constraint system is then numerically singular and a 1e-12 correction impossible.
  // Loosening the floor lets the traces take such corrections (by about their size).
  Result res;
  for (double floor : {floor_, floor_ * 1e4, floor_ * 1e8}) {
    res = project_with_floor(Y0, Yhat, Y, floor);
    if (res.ok) return res;
  }
  return res;
}

ElementProjection::Result ElementProjection::project_with_floor(const double* Y0, const double* Yhat, double* Y,
                                                                double floor) const {
  Result res;
  const size_t n = static_cast<size_t>(n_), m = static_cast<size_t>(m_);
  Scratch& sc = scratch();
  std::vector<double>&b = sc.b, &bhat = sc.bhat;
  b.assign(m, 0.0);
  bhat.assign(m, 0.0);
  double bsum = 0;
  for (size_t e = 0; e < m; ++e) {
    for (size_t k = 0; k < n; ++k) {
      b[e] += A_[e * n + k] * Y0[k];
      bhat[e] += A_[e * n + k] * Yhat[k];
    }
    bsum += b[e];
  }
  for (size_t e = 0; e < m; ++e) res.defect_before = std::max(res.defect_before, std::abs(bhat[e] - b[e]) / bsum);
  // Weights w_k = 1/(|yh_k| + floor)^2, kept as their inverses g_k (the products below
  // multiply by them).
  std::vector<double>&yh = sc.yh, &w = sc.w, &g = sc.g;
  yh.assign(Yhat, Yhat + n);
  w.resize(n);
  g.resize(n);
  for (size_t k = 0; k < n; ++k) {
    if (!std::isfinite(yh[k])) return res;
    g[k] = (std::abs(yh[k]) + floor) * (std::abs(yh[k]) + floor);
    w[k] = 1.0 / g[k];
  }
  // A species holding an element that the reference does not have must be 0; that
  // element's row then constrains nothing else.
  std::vector<char>&fixed = sc.fixed, &row_on = sc.row_on;
  fixed.assign(n, 0);
  row_on.assign(m, 1);
  for (size_t e = 0; e < m; ++e)
    if (b[e] <= 0) {
      row_on[e] = 0;
      for (size_t k = 0; k < n; ++k)
        if (A_[e * n + k] > 0) fixed[k] = 1;
    }
  std::vector<double>&y = sc.y, &lambda = sc.lambda, &M = sc.M, &r = sc.r, &at_l = sc.at_l, &dl = sc.dl;
  y.assign(n, 0.0);
  lambda.assign(m, 0.0);
  M.assign(m * m, 0.0);
  r.assign(m, 0.0);
  at_l.assign(n, 0.0);
  dl.assign(m, 0.0);
  const int max_changes = 4 * n_ + 10;
  for (int it = 0; it <= max_changes; ++it) {
    // Equality-constrained step on the free set: y = yh + W^-1 A^T lambda,
    // (A W^-1 A^T) lambda = b - A yh (free species only; rows switched off give 0).
    std::fill(M.begin(), M.end(), 0.0);
    for (size_t e = 0; e < m; ++e) {
      r[e] = row_on[e] ? b[e] : 0.0;
      if (!row_on[e]) {
        M[e * m + e] = 1.0;
        continue;
      }
      for (int k : holders_[e])
        if (!fixed[k]) r[e] -= A_[e * n + k] * yh[k];
      for (size_t f = e; f < m; ++f) {
        if (!row_on[f]) continue;
        double s = 0;
        for (int k : shared_[e * m + f])
          if (!fixed[k]) s += A_[e * n + k] * A_[f * n + k] * g[k];
        M[e * m + f] = M[f * m + e] = s;
      }
    }
    SmallLU& lu = sc.lu;
    lu.factor(M, m_);
    if (!lu.solve(r, lambda)) return res;
    auto update_y = [&] {
      for (size_t k = 0; k < n; ++k) {
        double s = 0;
        for (size_t e = 0; e < m; ++e) s += A_[e * n + k] * lambda[e];
        at_l[k] = s;
        y[k] = fixed[k] ? 0.0 : yh[k] + s * g[k];
      }
    };
    update_y();
    // Iterative refinement: the residual of the constraints, computed from y itself,
    // removes the cancellation in b - A yh (1e-12 -> round-off) in a step or two.
    for (int refine = 0; refine < 3; ++refine) {
      for (size_t e = 0; e < m; ++e) {
        double s = row_on[e] ? b[e] : 0.0;
        if (row_on[e])
          for (int k : holders_[e]) s -= A_[e * n + k] * y[k];
        r[e] = s;
      }
      // Done when the residual is at the round-off of the sums (a few ulp of the total
      // element moles, 1e-4 of the 1e-11 the result is checked against): most points need
      // no refinement, and the three solves were a quarter of the guard's projection.
      double rmax = 0;
      for (size_t e = 0; e < m; ++e) rmax = std::max(rmax, std::abs(r[e]));
      if (rmax <= 1e-15 * bsum) break;
      if (!lu.solve(r, dl)) break;
      for (size_t e = 0; e < m; ++e) lambda[e] += dl[e];
      update_y();
    }
    // The most negative free species becomes fixed at 0 ...
    int worst = -1;
    double most = 0;
    for (size_t k = 0; k < n; ++k)
      if (!fixed[k] && y[k] < most) {
        most = y[k];
        worst = static_cast<int>(k);
      }
    if (worst >= 0) {
      fixed[worst] = 1;
      ++res.iterations;
      continue;
    }
    // ... and a fixed species whose bound multiplier is negative is released.
    // KKT: w_k (y_k - yh_k) - (A^T lambda)_k - mu_k = 0 with y_k = 0: mu_k = -w_k yh_k - (A^T lambda)_k.
    int release = -1;
    double most_mu = 0;
    for (size_t k = 0; k < n; ++k) {
      if (!fixed[k]) continue;
      bool forced = false;  // fixed because of an absent element: never released
      for (size_t e = 0; e < m && !forced; ++e) forced = !row_on[e] && A_[e * n + k] > 0;
      if (forced) continue;
      const double mu = (-w[k] * yh[k] - at_l[k]) / w[k];  // scaled to mass-fraction units
      if (mu < most_mu - 1e-14) {
        most_mu = mu;
        release = static_cast<int>(k);
      }
    }
    if (release >= 0) {
      fixed[release] = 0;
      ++res.iterations;
      continue;
    }
    // Optimal: verify the constraints.
    for (size_t e = 0; e < m; ++e) {
      double s = 0;
      for (size_t k = 0; k < n; ++k) s += A_[e * n + k] * y[k];
      res.defect_after = std::max(res.defect_after, std::abs(s - b[e]) / bsum);
    }
    // Round-off: the constraint sums have ~N terms of up to tens of mol/kg, and the weights
    // span 20+ decades; 1e-11 of the total element moles is well above it and far below
    // anything a model gets right (the element defect of a surrogate is 1e-4..1e-2).
    if (res.defect_after > 1e-11) return res;
    std::copy(y.begin(), y.end(), Y);
    res.ok = true;
    return res;
  }
  return res;  // cycling: give up (the cell falls back)
}

bool make_admissible(const Reactor& reactor, const ElementProjection& projection, const double* before,
                     double* proposed, std::string* why, ElementProjection::Result* result,
                     const AdmissibleLimits& limits) {
  const Mechanism& mech = reactor.mechanism();
  auto fail = [&](std::string w) {
    if (why) *why = std::move(w);
    return false;
  };
  if (!(before[0] > 0) || !std::isfinite(before[0])) return fail("the state before the step has no valid temperature");
  const auto r = projection.project(before + 1, proposed + 1, proposed + 1);
  if (result) *result = r;
  if (!r.ok)
    return fail(
        fmt::format("no non-negative composition with the element masses of the step's start "
                    "(defect before projection {:.3g})",
                    r.defect_before));
  if (limits.max_element_defect > 0 && !(r.defect_before <= limits.max_element_defect))
    return fail(fmt::format("element defect before projection {:.3g} above the limit {:g}", r.defect_before,
                            limits.max_element_defect));
  const double T_proposed = proposed[0];
  const double e0 = reactor.energy_mass(before[0], before + 1);
  double T = 0;
  try {
    const double guess = proposed[0] > 0 && std::isfinite(proposed[0]) ? proposed[0] : before[0];
    T = reactor.temperature_from_energy(e0, proposed + 1, guess);
  } catch (const RunFailure&) {
    return fail("no temperature conserves the energy for the projected composition");
  }
  for (const auto& s : mech.species())
    if (T < s.thermo.t_min || T > s.thermo.t_max)
      return fail(fmt::format("the energy-conserving temperature {:g} K is outside [{:g}, {:g}] K of {}'s thermo data",
                              T, s.thermo.t_min, s.thermo.t_max, s.name));
  if (limits.max_temperature_change > 0 && !(std::abs(T - T_proposed) <= limits.max_temperature_change))
    return fail(
        fmt::format("the energy-conserving temperature {:g} K differs from the proposed {:g} K by more "
                    "than {:g} K",
                    T, T_proposed, limits.max_temperature_change));
  proposed[0] = T;
  return true;
}

}  // namespace simfuse
