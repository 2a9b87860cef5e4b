#include "simfuse/solvers/kinetics/Rosenbrock.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "simfuse/core/base/Error.hpp"

namespace simfuse {

namespace {

// In-place LU with partial pivoting of an n x n row-major matrix; false if singular.
bool lu_factor(double* a, int* piv, int n) {
  for (int c = 0; c < n; ++c) {
    int p = c;
    double best = std::abs(a[c * n + c]);
    for (int r = c + 1; r < n; ++r)
      if (std::abs(a[r * n + c]) > best) {
        best = std::abs(a[r * n + c]);
        p = r;
      }
    if (!(best > 0) || !std::isfinite(best)) return false;
    piv[c] = p;
    if (p != c)
      for (int j = 0; j < n; ++j) std::swap(a[c * n + j], a[p * n + j]);
    const double inv = 1.0 / a[c * n + c];
    for (int r = c + 1; r < n; ++r) {
      const double l = a[r * n + c] * inv;
      a[r * n + c] = l;
      for (int j = c + 1; j < n; ++j) a[r * n + j] -= l * a[c * n + j];
    }
  }
  return true;
}

void lu_solve(const double* a, const int* piv, int n, double* b) {
  for (int c = 0; c < n; ++c) {
    if (piv[c] != c) std::swap(b[c], b[piv[c]]);
    for (int r = c + 1; r < n; ++r) b[r] -= a[r * n + c] * b[c];
  }
  for (int r = n - 1; r >= 0; --r) {
    double s = b[r];
    for (int j = r + 1; j < n; ++j) s -= a[r * n + j] * b[j];
    b[r] = s / a[r * n + r];
  }
}

// Rodas3 coefficients (KPP notation): G = 1/(H gamma) - J,
// G K_i = f(y + sum_j A_ij K_j) + sum_j C_ij/H K_j, y1 = y + sum M_i K_i, err = sum E_i K_i.
constexpr double kGamma = 0.5;
constexpr double A31 = 2, A41 = 2, A43 = 1;
constexpr double C21 = 4, C31 = 1, C32 = -1, C41 = 1, C42 = -1, C43 = -8.0 / 3.0;
constexpr double M1 = 2, M3 = 1, M4 = 1;
constexpr double kErrorOrder = 3;

// Rodas4 (Hairer and Wanner 1996, section IV.7) in the same notation: the published
// coefficients, A and C strictly lower triangular, row-wise; stiffly accurate (row 6 of A
// is M without its last entry, E = e_6).
constexpr int kStages4 = 6;
constexpr double kGamma4 = 0.25;
constexpr double kA4[kStages4][kStages4] = {
    {0, 0, 0, 0, 0, 0},
    {1.544, 0, 0, 0, 0, 0},
    {0.9466785280815826, 0.2557011698983284, 0, 0, 0, 0},
    {3.314825187068521, 2.896124015972201, 0.9986419139977817, 0, 0, 0},
    {1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950, 0, 0},
    {1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950, 1.0, 0}};
constexpr double kC4[kStages4][kStages4] = {
    {0, 0, 0, 0, 0, 0},
    {-5.6688, 0, 0, 0, 0, 0},
    {-2.430093356833875, -0.2063599157091915, 0, 0, 0, 0},
    {-0.1073529058151375, -9.594562251023355, -20.47028614809616, 0, 0, 0},
    {7.496443313967647, -10.24680431464352, -33.99990352819905, 11.70890893206160, 0, 0},
    {8.083246795921522, -7.981132988064893, -31.52159432874371, 16.31930543123136, -6.058818238834054, 0}};
constexpr double kM4[kStages4] = {
    1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950, 1.0, 1.0};
constexpr double kErrorOrder4 = 4;

// Per-thread work arrays of one step, sized to the system (no species limit; no
// allocation once a thread has seen the size).
struct Scratch {
  std::vector<double> G, F, K1, K2, K3, K4, Y, ynew, err;
  std::vector<double> K;  // Rodas4: the six stages, contiguous
  std::vector<int> piv;
};
Scratch& scratch(int n) {
  thread_local Scratch w;
  const size_t m = static_cast<size_t>(n);
  if (w.F.size() != m) {
    w.G.assign(m * m, 0.0);
    for (auto* v : {&w.F, &w.K1, &w.K2, &w.K3, &w.K4, &w.Y, &w.ynew, &w.err}) v->assign(m, 0.0);
    w.K.assign(kStages4 * m, 0.0);
    w.piv.assign(m, 0);
  }
  return w;
}

// One Rodas4 step of size H from y into ynew with error vector err; false if G is singular.
bool rodas4_step(const Kinetics& k, const double* y, double H, double* ynew, double* err, RosenbrockStats& st) {
  const int n = k.size();
  Scratch& w = scratch(n);
  double *G = w.G.data(), *F = w.F.data(), *Y = w.Y.data();
  int* piv = w.piv.data();
  k.jacobian(y, G);
  ++st.jacobians;
  const double d = 1.0 / (H * kGamma4);
  for (int i = 0; i < n * n; ++i) G[i] = -G[i];
  for (int i = 0; i < n; ++i) G[i * n + i] += d;
  if (!lu_factor(G, piv, n)) return false;
  for (int s = 0; s < kStages4; ++s) {
    double* Ks = w.K.data() + static_cast<size_t>(s) * n;
    if (s == 0) {
      k.rhs(y, F);
    } else {
      for (int i = 0; i < n; ++i) Y[i] = y[i];
      for (int j = 0; j < s; ++j) {
        const double a = kA4[s][j];
        const double* Kj = w.K.data() + static_cast<size_t>(j) * n;
        if (a != 0)
          for (int i = 0; i < n; ++i) Y[i] += a * Kj[i];
      }
      k.rhs(Y, F);
    }
    ++st.rhs;
    for (int i = 0; i < n; ++i) Ks[i] = F[i];
    for (int j = 0; j < s; ++j) {
      const double c = kC4[s][j] / H;
      const double* Kj = w.K.data() + static_cast<size_t>(j) * n;
      for (int i = 0; i < n; ++i) Ks[i] += c * Kj[i];
    }
    lu_solve(G, piv, n, Ks);
  }
  for (int i = 0; i < n; ++i) {
    double v = y[i];
    for (int s = 0; s < kStages4; ++s) v += kM4[s] * w.K[static_cast<size_t>(s) * n + i];
    ynew[i] = v;
    err[i] = w.K[static_cast<size_t>(kStages4 - 1) * n + i];  // E = e_6
  }
  return true;
}

// The error-controlled integration of any of the methods: `step` takes one step, `order`
// is the exponent of the step-size controller.
template <class Step>
bool integrate_with(const Step& step, double order, const Kinetics& k, double* y, double T, double& h,
                    const RosenbrockOptions& o, RosenbrockStats& st) {
  const int n = k.size();
  Scratch& w = scratch(n);
  double *ynew = w.ynew.data(), *err = w.err.data();
  const bool nonneg = k.nonnegative();
  double t = 0;
  double H = h > 0 ? std::min(h, T) : T * 1e-2;
  const double hmin = T * 1e-14;
  bool rejected_last = false;
  long steps = 0;
  while (t < T) {
    if (++steps > o.max_steps || H < hmin) {
      ++st.failures;
      return false;
    }
    const bool last = H >= T - t;
    const double Hs = last ? T - t : H;
    if (!step(k, y, Hs, ynew, err, st)) {  // singular iteration matrix: smaller step
      H *= 0.25;
      ++st.rejected;
      continue;
    }
    double e = 0;
    bool finite = true;
    for (int i = 0; i < n; ++i) {
      const double sc = (o.atols.empty() ? o.atol : o.atols[i]) + o.rtol * std::max(std::abs(y[i]), std::abs(ynew[i]));
      e += (err[i] / sc) * (err[i] / sc);
      finite = finite && std::isfinite(ynew[i]);
    }
    e = std::sqrt(e / n);
    bool admissible = finite;
    if (nonneg)
      for (int i = 0; i < n; ++i) admissible = admissible && ynew[i] >= -(o.atols.empty() ? o.atol : o.atols[i]);
    if (!admissible || !std::isfinite(e)) {
      H = Hs * o.fac_min;
      ++st.rejected;
      rejected_last = true;
      continue;
    }
    double fac = std::min(o.fac_max, std::max(o.fac_min, o.fac_safe / std::pow(std::max(e, 1e-16), 1 / order)));
    if (e <= 1) {
      ++st.steps;
      for (int i = 0; i < n; ++i) y[i] = o.clip_negative && nonneg ? std::max(ynew[i], 0.0) : ynew[i];
      t = last ? T : t + Hs;
      if (rejected_last) fac = std::min(fac, 1.0);
      rejected_last = false;
      // When the last step was shortened to land on T, its error says little about the
      // step the controller had proposed: keep the larger of the two for the next call.
      H = last ? std::max(H, Hs * fac) : Hs * fac;
      h = H;
    } else {
      ++st.rejected;
      rejected_last = true;
      H = Hs * fac;
    }
  }
  return true;
}

// `steps` equal steps of any of the methods, without error control (NaN if one fails).
template <class Step>
void fixed_with(const Step& step, const Kinetics& k, double* y, double T, int steps, RosenbrockStats& st) {
  Scratch& w = scratch(k.size());
  double *ynew = w.ynew.data(), *err = w.err.data();
  const double H = T / steps;
  for (int s = 0; s < steps; ++s) {
    if (!step(k, y, H, ynew, err, st)) {
      for (int i = 0; i < k.size(); ++i) y[i] = std::numeric_limits<double>::quiet_NaN();
      return;
    }
    for (int i = 0; i < k.size(); ++i) y[i] = ynew[i];
    ++st.steps;
  }
}

}  // namespace

bool Rodas3::step(const Kinetics& k, const double* y, double H, double* ynew, double* err, RosenbrockStats& st) {
  const int n = k.size();
  Scratch& w = scratch(n);
  double *G = w.G.data(), *F = w.F.data(), *K1 = w.K1.data(), *K2 = w.K2.data(), *K3 = w.K3.data(), *K4 = w.K4.data(),
         *Y = w.Y.data();
  int* piv = w.piv.data();
  k.jacobian(y, G);
  k.rhs(y, F);
  ++st.jacobians;
  ++st.rhs;
  const double d = 1.0 / (H * kGamma);
  for (int i = 0; i < n * n; ++i) G[i] = -G[i];
  for (int i = 0; i < n; ++i) G[i * n + i] += d;
  if (!lu_factor(G, piv, n)) return false;
  // Stage 1
  for (int i = 0; i < n; ++i) K1[i] = F[i];
  lu_solve(G, piv, n, K1);
  // Stage 2 (A21 = 0: same f)
  for (int i = 0; i < n; ++i) K2[i] = F[i] + C21 / H * K1[i];
  lu_solve(G, piv, n, K2);
  // Stage 3
  for (int i = 0; i < n; ++i) Y[i] = y[i] + A31 * K1[i];
  k.rhs(Y, F);
  for (int i = 0; i < n; ++i) K3[i] = F[i] + (C31 * K1[i] + C32 * K2[i]) / H;
  lu_solve(G, piv, n, K3);
  // Stage 4
  for (int i = 0; i < n; ++i) Y[i] = y[i] + A41 * K1[i] + A43 * K3[i];
  k.rhs(Y, F);
  st.rhs += 2;
  for (int i = 0; i < n; ++i) K4[i] = F[i] + (C41 * K1[i] + C42 * K2[i] + C43 * K3[i]) / H;
  lu_solve(G, piv, n, K4);
  for (int i = 0; i < n; ++i) {
    ynew[i] = y[i] + M1 * K1[i] + M3 * K3[i] + M4 * K4[i];
    err[i] = K4[i];  // E = (0, 0, 0, 1)
  }
  return true;
}

bool Rodas3::integrate(const Kinetics& k, double* y, double T, double& h, const RosenbrockOptions& o,
                       RosenbrockStats& st) {
  return integrate_with(&Rodas3::step, kErrorOrder, k, y, T, h, o, st);
}

bool Rodas4::integrate(const Kinetics& k, double* y, double T, double& h, const RosenbrockOptions& o,
                       RosenbrockStats& st) {
  return integrate_with(&rodas4_step, kErrorOrder4, k, y, T, h, o, st);
}

void Rodas4::fixed(const Kinetics& k, double* y, double T, int steps, RosenbrockStats& st) {
  fixed_with(&rodas4_step, k, y, T, steps, st);
}

void Rodas3::fixed(const Kinetics& k, double* y, double T, int steps, RosenbrockStats& st) {
  fixed_with(&Rodas3::step, k, y, T, steps, st);
}

}  // namespace simfuse
