// The ISAT table alone (coupling/detail/IsatTable.hpp) on a smooth nonlinear map with an
// exact sensitivity: no solver, no MPI. The chemistry runs of the isat policy are the
// case tests (tests/cases/check_isat.py).
#include <catch2/catch.hpp>
#include <cmath>
#include <random>

#include "simfuse/coupling/detail/IsatTable.hpp"

using simfuse::detail::IsatOutcome;
using simfuse::detail::IsatSettings;
using simfuse::detail::IsatTable;

namespace {

constexpr int kN = 4;

// R_i(x) = exp(-k_i) x_i + c x_{i+1}^2 (indices mod 4): a contraction with a quadratic
// coupling, like a stiff relaxation with a slow nonlinear part.
void map(const double* x, double* r) {
  for (int i = 0; i < kN; ++i) r[i] = std::exp(-0.5 * (i + 1)) * x[i] + 0.3 * x[(i + 1) % kN] * x[(i + 1) % kN];
}
bool jac(const double* x, double* A) {
  for (int i = 0; i < kN * kN; ++i) A[i] = 0;
  for (int i = 0; i < kN; ++i) {
    A[i * kN + i] = std::exp(-0.5 * (i + 1));
    A[i * kN + (i + 1) % kN] += 0.6 * x[(i + 1) % kN];
  }
  return true;
}

double err(const double* a, const double* b) {
  double s = 0;
  for (int i = 0; i < kN; ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return std::sqrt(s);
}

// Queries along a wandering trajectory on a curve of the unit box, with a little scatter
// off it (as a flow's cells revisit compositions near a low-dimensional manifold).
struct Walk {
  std::mt19937_64 rng{7};
  std::normal_distribution<double> step{0.0, 0.01}, off{0.0, 1e-3};
  double s = 0.5, x[kN] = {0, 0, 0, 0};
  const double* next() {
    s = std::min(1.0, std::max(0.0, s + step(rng)));
    const double c[kN] = {s, s * s, 0.5 + 0.4 * std::sin(3 * s), 1 - 0.5 * s};
    for (int i = 0; i < kN; ++i) x[i] = c[i] + off(rng);
    return x;
  }
};

IsatTable make(double tol, double mb = 50) {
  IsatSettings s;
  s.tolerance = tol;
  s.scale.assign(kN, 1.0);
  s.max_bytes = static_cast<size_t>(mb * 1e6);
  return IsatTable(kN, 0, s);
}

void feed(IsatTable& t, Walk& w, int n, long* counts) {
  double r[kN], exact[kN];
  for (int k = 0; k < n; ++k) {
    const double* x = w.next();
    if (t.retrieve(nullptr, x, r)) {
      ++counts[0];
      continue;
    }
    map(x, exact);
    const IsatOutcome o = t.learn(nullptr, x, exact, [&](double* A) { return jac(x, A); });
    ++counts[static_cast<int>(o)];
  }
}

}  // namespace

TEST_CASE("ISAT: held-out retrievals are within the tolerance", "[isat]") {
  // The bar: at least 99% of retrieval errors within the tolerance, none beyond
  // 10x (the ellipsoids are grown from checked points, so excursions stay local).
  for (double tol : {1e-3, 1e-4}) {
    IsatTable t = make(tol);
    Walk w;
    long counts[4] = {0, 0, 0, 0};
    feed(t, w, 20000, counts);
    INFO("tol " << tol << ": retrieved " << counts[0] << ", grown " << counts[1] << ", added " << counts[2]);
    CHECK(counts[1] > 0);
    CHECK(counts[2] > 0);
    // Held out: new queries from another walk, retrieve only.
    Walk held;
    held.rng.seed(99);
    long retrieved = 0, within = 0;
    double worst = 0, r[kN], exact[kN];
    for (int k = 0; k < 5000; ++k) {
      const double* x = held.next();
      if (!t.retrieve(nullptr, x, r)) continue;
      map(x, exact);
      const double e = err(r, exact) / tol;
      ++retrieved;
      if (e <= 1.0) ++within;
      worst = std::max(worst, e);
    }
    INFO("held out: retrieved " << retrieved << " of 5000, within " << within << ", worst " << worst << " tol");
    REQUIRE(retrieved > 2500);  // the table answers most queries after 20000 of them
    CHECK(within >= 0.99 * retrieved);
    CHECK(worst <= 10.0);
  }
}

TEST_CASE("ISAT: the memory bound holds; eviction keeps the table answering", "[isat]") {
  IsatTable big = make(1e-4);
  IsatTable small = make(1e-4, 0.0);
  const double bound = 40 * small.entry_bytes() / 1e6;  // forty entries
  small = make(1e-4, bound);
  Walk w1, w2;
  long c1[4] = {0, 0, 0, 0}, c2[4] = {0, 0, 0, 0};
  feed(big, w1, 20000, c1);
  feed(small, w2, 20000, c2);
  INFO("unbounded: " << big.entries() << " entries; bounded: " << small.entries() << ", evicted " << small.evicted());
  REQUIRE(big.entries() > 40);
  CHECK(small.bytes() <= static_cast<size_t>(bound * 1e6));
  CHECK(small.evicted() > 0);
  CHECK(c2[0] > 0.2 * 20000);  // still retrieving at the bound
  // A table too small for one entry tabulates nothing.
  IsatTable none = make(1e-4, 0.5 * small.entry_bytes() / 1e6);
  Walk w3;
  long c3[4] = {0, 0, 0, 0};
  feed(none, w3, 100, c3);
  CHECK(none.entries() == 0);
  CHECK(c3[3] == 100);
}

TEST_CASE("ISAT: a restored table answers as the saved one; keys keep tables apart", "[isat]") {
  IsatTable t = make(1e-3);
  Walk w;
  long c[4] = {0, 0, 0, 0};
  feed(t, w, 5000, c);
  IsatTable u = make(1e-3);
  u.restore(t.serialize());
  CHECK(u.entries() == t.entries());
  CHECK(u.serialize() == t.serialize());
  Walk a, b;
  a.rng.seed(5);
  b.rng.seed(5);
  long ca[4] = {0, 0, 0, 0}, cb[4] = {0, 0, 0, 0};
  feed(t, a, 3000, ca);
  feed(u, b, 3000, cb);
  for (int k = 0; k < 4; ++k) CHECK(ca[k] == cb[k]);
  CHECK(u.serialize() == t.serialize());  // bit for bit, as a resumed run needs

  // Keyed: an entry serves only its own key (the pressure of a sweep's reactor).
  IsatSettings s;
  s.tolerance = 1e-3;
  s.scale.assign(kN, 1.0);
  s.max_bytes = 10000000;
  IsatTable k(kN, 1, s);
  const double x[kN] = {0.5, 0.5, 0.5, 0.5};
  double r[kN], exact[kN];
  map(x, exact);
  const double p1 = 1e5, p2 = 2e5;
  REQUIRE(k.learn(&p1, x, exact, [&](double* A) { return jac(x, A); }) == IsatOutcome::added);
  CHECK(k.retrieve(&p1, x, r));
  CHECK(!k.retrieve(&p2, x, r));
}
