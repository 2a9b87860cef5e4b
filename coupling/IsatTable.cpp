#include "simfuse/coupling/detail/IsatTable.hpp"

#include <petscsys.h>
// after petscsys.h
#include <petscblaslapack.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "simfuse/core/base/Error.hpp"

namespace simfuse::detail {

namespace {
// Pope (1997): singular values of the scaled sensitivity below 1/2 are raised to 1/2, so
// no EOA reaches further than 2 tolerances (scaled) from its point along any direction,
// however flat the map is there (the linear error would allow any distance).
constexpr double kMinSingular = 0.5;
}  // namespace

IsatTable::IsatTable(int n, int nkey, IsatSettings settings)
    : n_(n), nkey_(nkey), s_(std::move(settings)), xs_(static_cast<size_t>(n)), d_(static_cast<size_t>(n)) {
  SIMFUSE_REQUIRE(n > 0 && static_cast<int>(s_.scale.size()) == n, "IsatTable: one scale per component");
  SIMFUSE_REQUIRE(s_.tolerance > 0, "IsatTable: a positive tolerance");
}

size_t IsatTable::entry_bytes() const {
  const size_t n = static_cast<size_t>(n_);
  return sizeof(double) * (2 * n * n + 3 * n + static_cast<size_t>(nkey_) + 1) + sizeof(Leaf) + sizeof(Node);
}

size_t IsatTable::bytes() const {
  size_t nodes = 0;
  for (const auto& [k, t] : trees_) nodes += t.nodes.size();
  const size_t n = static_cast<size_t>(n_);
  return entries() * (sizeof(double) * (2 * n * n + 2 * n + static_cast<size_t>(nkey_)) + sizeof(Leaf)) +
         nodes * (sizeof(double) * (n + 1) + sizeof(Node));
}

void IsatTable::scaled(const double* x, double* xs) const {
  for (int i = 0; i < n_; ++i) xs[i] = x[i] / s_.scale[i];
}

IsatTable::Tree* IsatTable::tree_of(const double* key) {
  auto it = trees_.find(std::vector<double>(key, key + nkey_));
  return it == trees_.end() ? nullptr : &it->second;
}

int IsatTable::descend(const Tree& t, const double* xs, int* parent, bool* right) const {
  if (t.root == kEmpty) return -1;
  int c = t.root;
  if (parent) *parent = -1;
  while (c >= 0) {
    const Node& nd = t.nodes[static_cast<size_t>(c)];
    double s = 0;
    for (int i = 0; i < n_; ++i) s += nd.v[i] * xs[i];
    const bool r = s > nd.a;
    if (parent) {
      *parent = c;
      *right = r;
    }
    c = r ? nd.right : nd.left;
  }
  return -c - 1;
}

bool IsatTable::inside(const Leaf& l, const double* xs) const {
  // (xs - x0s)^T B (xs - x0s) <= 1, B symmetric.
  double* d = d_.data();
  for (int i = 0; i < n_; ++i) d[i] = xs[i] - l.x[i] / s_.scale[i];
  double q = 0;
  for (int i = 0; i < n_; ++i) {
    const double* Bi = l.B.data() + static_cast<size_t>(i) * n_;
    double row = 0;
    for (int j = 0; j < n_; ++j) row += Bi[j] * d[j];
    q += d[i] * row;
  }
  return q <= 1.0;
}

double IsatTable::error_at(const Leaf& l, const double* x, const double* r) const {
  double e2 = 0;
  for (int i = 0; i < n_; ++i) {
    const double* Ai = l.A.data() + static_cast<size_t>(i) * n_;
    double lin = l.r[i];
    for (int j = 0; j < n_; ++j) lin += Ai[j] * (x[j] - l.x[j]);
    const double e = (r[i] - lin) / s_.scale[i];
    e2 += e * e;
  }
  return std::sqrt(e2);
}

void IsatTable::touch(Tree& t, int id) {
  leaves_[static_cast<size_t>(id)].used = ++clock_;
  auto it = std::find(t.recent.begin(), t.recent.end(), id);
  if (it != t.recent.end()) t.recent.erase(it);
  t.recent.push_front(id);
  while (static_cast<int>(t.recent.size()) > s_.recent) t.recent.pop_back();
}

bool IsatTable::retrieve(const double* key, const double* x, double* r) {
  Tree* t = tree_of(key);
  if (!t) return false;
  scaled(x, xs_.data());
  int hit = descend(*t, xs_.data());
  if (hit >= 0 && !inside(leaves_[static_cast<size_t>(hit)], xs_.data())) hit = -1;
  for (size_t k = 0; hit < 0 && k < t->recent.size(); ++k)
    if (inside(leaves_[static_cast<size_t>(t->recent[k])], xs_.data())) hit = t->recent[k];
  if (hit < 0) return false;
  const Leaf& l = leaves_[static_cast<size_t>(hit)];
  for (int i = 0; i < n_; ++i) {
    const double* Ai = l.A.data() + static_cast<size_t>(i) * n_;
    double v = l.r[i];
    for (int j = 0; j < n_; ++j) v += Ai[j] * (x[j] - l.x[j]);
    r[i] = v;
  }
  touch(*t, hit);
  return true;
}

double IsatTable::linear_error(const double* key, const double* x, const double* r) {
  Tree* t = tree_of(key);
  double best = std::numeric_limits<double>::infinity();
  if (!t) return best;
  scaled(x, xs_.data());
  const int leaf = descend(*t, xs_.data());
  if (leaf >= 0) best = error_at(leaves_[static_cast<size_t>(leaf)], x, r);
  for (int id : t->recent) best = std::min(best, error_at(leaves_[static_cast<size_t>(id)], x, r));
  return best;
}

void IsatTable::grow(Leaf& l, const double* xs) {
  // The smallest ellipsoid with the same centre holding the old one and xs: with
  // d = xs - x0 and s = d^T B d > 1, B' = B + (1/s - 1) (B d)(B d)^T / s puts xs on its
  // boundary and leaves every direction B-orthogonal to d unchanged.
  std::vector<double> d(static_cast<size_t>(n_)), Bd(static_cast<size_t>(n_), 0.0);
  for (int i = 0; i < n_; ++i) d[i] = xs[i] - l.x[i] / s_.scale[i];
  double s = 0;
  for (int i = 0; i < n_; ++i) {
    const double* Bi = l.B.data() + static_cast<size_t>(i) * n_;
    for (int j = 0; j < n_; ++j) Bd[i] += Bi[j] * d[j];
    s += d[i] * Bd[i];
  }
  if (!(s > 1.0) || !std::isfinite(s)) return;
  const double g = (1.0 / s - 1.0) / s;
  for (int i = 0; i < n_; ++i)
    for (int j = 0; j < n_; ++j) l.B[static_cast<size_t>(i) * n_ + j] += g * Bd[i] * Bd[j];
}

bool IsatTable::make_leaf(Leaf& l, const double* key, const double* x, const double* r,
                          const std::function<bool(double* A)>& sensitivity) {
  const size_t n = static_cast<size_t>(n_);
  l.A.assign(n * n, 0.0);
  if (!sensitivity(l.A.data())) return false;
  for (double a : l.A)
    if (!std::isfinite(a)) return false;
  // The scaled sensitivity As = D A D^-1 (D = 1/scale); the EOA of the linear error
  // |As d| <= tol is B = As^T As / tol^2, its eigenvalues (singular values squared) raised
  // to kMinSingular^2 so the ellipsoid stays bounded.
  std::vector<double> M(n * n, 0.0), As(n * n);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j) As[i * n + j] = l.A[i * n + j] * s_.scale[j] / s_.scale[i];
  for (size_t k = 0; k < n; ++k)
    for (size_t i = 0; i < n; ++i) {
      const double aki = As[k * n + i];
      if (aki == 0) continue;
      for (size_t j = 0; j < n; ++j) M[i * n + j] += aki * As[k * n + j];
    }
  PetscBLASInt bn = static_cast<PetscBLASInt>(n), lwork = static_cast<PetscBLASInt>(8 * n), info = 0;
  std::vector<double> w(n), work(static_cast<size_t>(lwork));
  LAPACKsyev_("V", "U", &bn, M.data(), &bn, w.data(), work.data(), &lwork, &info);
  if (info != 0) return false;
  // M now holds the eigenvectors (columns in LAPACK's column-major order: M[k*n + i] is
  // component i of vector k).
  const double tol2 = s_.tolerance * s_.tolerance;
  l.B.assign(n * n, 0.0);
  for (size_t k = 0; k < n; ++k) {
    const double lam = std::max(w[k], kMinSingular * kMinSingular) / tol2;
    const double* q = M.data() + k * n;
    for (size_t i = 0; i < n; ++i)
      for (size_t j = 0; j < n; ++j) l.B[i * n + j] += lam * q[i] * q[j];
  }
  l.key.assign(key, key + nkey_);
  l.x.assign(x, x + n_);
  l.r.assign(r, r + n_);
  l.alive = true;
  return true;
}

IsatOutcome IsatTable::learn(const double* key, const double* x, const double* r,
                             const std::function<bool(double* A)>& sensitivity) {
  Tree* t = tree_of(key);
  scaled(x, xs_.data());
  // Grow every candidate whose linear approximation holds at x.
  bool grown = false;
  if (t) {
    std::vector<int> cand;
    const int leaf = descend(*t, xs_.data());
    if (leaf >= 0) cand.push_back(leaf);
    for (int id : t->recent)
      if (id != leaf) cand.push_back(id);
    for (int id : cand) {
      Leaf& l = leaves_[static_cast<size_t>(id)];
      if (error_at(l, x, r) <= s_.grow_fraction * s_.tolerance) {
        grow(l, xs_.data());
        touch(*t, id);
        grown = true;
      }
    }
  }
  if (grown) return IsatOutcome::grown;
  if (entry_bytes() > s_.max_bytes) return IsatOutcome::direct;
  if (bytes() + entry_bytes() > s_.max_bytes) {
    evict();
    t = tree_of(key);
  }
  Leaf fresh;
  if (!make_leaf(fresh, key, x, r, sensitivity)) return IsatOutcome::direct;
  int id;
  if (!free_leaves_.empty()) {
    id = free_leaves_.back();
    free_leaves_.pop_back();
    leaves_[static_cast<size_t>(id)] = std::move(fresh);
  } else {
    id = static_cast<int>(leaves_.size());
    leaves_.push_back(std::move(fresh));
  }
  if (!t) t = &trees_[std::vector<double>(key, key + nkey_)];
  scaled(x, xs_.data());
  int parent = -1;
  bool right = false;
  const int old = descend(*t, xs_.data(), &parent, &right);
  if (old < 0) {
    t->root = -id - 1;
  } else {
    // The old leaf and the new one either side of the plane halfway between them.
    Node nd;
    nd.v.resize(static_cast<size_t>(n_));
    const Leaf& o = leaves_[static_cast<size_t>(old)];
    double a = 0;
    for (int i = 0; i < n_; ++i) {
      const double xo = o.x[i] / s_.scale[i];
      nd.v[i] = xs_[i] - xo;
      a += nd.v[i] * 0.5 * (xs_[i] + xo);
    }
    nd.a = a;
    nd.left = -old - 1;
    nd.right = -id - 1;
    t->nodes.push_back(std::move(nd));
    const int ni = static_cast<int>(t->nodes.size()) - 1;
    if (parent < 0)
      t->root = ni;
    else if (right)
      t->nodes[static_cast<size_t>(parent)].right = ni;
    else
      t->nodes[static_cast<size_t>(parent)].left = ni;
  }
  touch(*t, id);
  const double leaves = static_cast<double>(t->nodes.size() + 1);
  if (depth_of(*t, t->root) > 3.0 * std::log2(leaves) + 8.0) {
    rebuild(std::vector<double>(key, key + nkey_), *t);
    ++rebuilds_;
  }
  return IsatOutcome::added;
}

int IsatTable::depth_of(const Tree& t, int child) const {
  if (child == kEmpty || child < 0) return 0;
  const Node& nd = t.nodes[static_cast<size_t>(child)];
  return 1 + std::max(depth_of(t, nd.left), depth_of(t, nd.right));
}

int IsatTable::depth() const {
  int d = 0;
  for (const auto& [k, t] : trees_) d = std::max(d, depth_of(t, t.root));
  return d;
}

void IsatTable::evict() {
  // The least recently used tenth (at least one leaf), then every tree rebuilt balanced.
  std::vector<int> alive;
  for (size_t i = 0; i < leaves_.size(); ++i)
    if (leaves_[i].alive) alive.push_back(static_cast<int>(i));
  const size_t drop = std::max<size_t>(1, alive.size() / 10);
  std::stable_sort(alive.begin(), alive.end(), [&](int a, int b) {
    return leaves_[static_cast<size_t>(a)].used < leaves_[static_cast<size_t>(b)].used;
  });
  for (size_t k = 0; k < drop && k < alive.size(); ++k) {
    Leaf& l = leaves_[static_cast<size_t>(alive[k])];
    l = Leaf{};
    free_leaves_.push_back(alive[k]);
    ++evicted_;
  }
  for (auto it = trees_.begin(); it != trees_.end();) {
    Tree& t = it->second;
    t.recent.erase(std::remove_if(t.recent.begin(), t.recent.end(),
                                  [&](int id) { return !leaves_[static_cast<size_t>(id)].alive; }),
                   t.recent.end());
    rebuild(it->first, t);
    if (t.root == kEmpty)
      it = trees_.erase(it);
    else
      ++it;
  }
  ++rebuilds_;
}

void IsatTable::rebuild(const std::vector<double>& key, Tree& t) {
  std::vector<int> ids;
  for (size_t i = 0; i < leaves_.size(); ++i)
    if (leaves_[i].alive && leaves_[i].key == key) ids.push_back(static_cast<int>(i));
  t.nodes.clear();
  t.root = ids.empty() ? kEmpty : build(t, ids, 0, ids.size());
}

// Median split along the scaled coordinate of widest spread: a balanced tree.
int IsatTable::build(Tree& t, std::vector<int>& ids, size_t b, size_t e) {
  if (e - b == 1) return -ids[b] - 1;
  int dim = 0;
  double widest = -1;
  for (int i = 0; i < n_; ++i) {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (size_t k = b; k < e; ++k) {
      const double v = leaves_[static_cast<size_t>(ids[k])].x[i] / s_.scale[i];
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    if (hi - lo > widest) {
      widest = hi - lo;
      dim = i;
    }
  }
  auto coord = [&](int id) { return leaves_[static_cast<size_t>(id)].x[dim] / s_.scale[dim]; };
  std::stable_sort(ids.begin() + static_cast<long>(b), ids.begin() + static_cast<long>(e),
                   [&](int p, int q) { return coord(p) < coord(q); });
  const size_t mid = b + (e - b) / 2;
  Node nd;
  nd.v.assign(static_cast<size_t>(n_), 0.0);
  nd.v[static_cast<size_t>(dim)] = 1.0;
  nd.a = 0.5 * (coord(ids[mid - 1]) + coord(ids[mid]));
  t.nodes.push_back(std::move(nd));
  const int ni = static_cast<int>(t.nodes.size()) - 1;
  const int l = build(t, ids, b, mid);
  const int r = build(t, ids, mid, e);
  t.nodes[static_cast<size_t>(ni)].left = l;
  t.nodes[static_cast<size_t>(ni)].right = r;
  return ni;
}

void IsatTable::clear() {
  leaves_.clear();
  free_leaves_.clear();
  trees_.clear();
}

std::vector<double> IsatTable::serialize() const {
  std::vector<double> o{static_cast<double>(n_),
                        static_cast<double>(nkey_),
                        static_cast<double>(clock_),
                        static_cast<double>(evicted_),
                        static_cast<double>(rebuilds_),
                        static_cast<double>(leaves_.size()),
                        static_cast<double>(free_leaves_.size()),
                        static_cast<double>(trees_.size())};
  for (int f : free_leaves_) o.push_back(f);
  for (const Leaf& l : leaves_) {
    o.push_back(l.alive ? 1 : 0);
    if (!l.alive) continue;
    o.push_back(static_cast<double>(l.used));
    for (const auto* v : {&l.key, &l.x, &l.r, &l.A, &l.B}) o.insert(o.end(), v->begin(), v->end());
  }
  for (const auto& [key, t] : trees_) {
    o.insert(o.end(), key.begin(), key.end());
    o.push_back(t.root);
    o.push_back(static_cast<double>(t.nodes.size()));
    for (const Node& nd : t.nodes) {
      o.push_back(nd.a);
      o.push_back(nd.left);
      o.push_back(nd.right);
      o.insert(o.end(), nd.v.begin(), nd.v.end());
    }
    o.push_back(static_cast<double>(t.recent.size()));
    for (int id : t.recent) o.push_back(id);
  }
  return o;
}

void IsatTable::restore(const std::vector<double>& d) {
  size_t k = 0;
  auto next = [&]() {
    if (k >= d.size()) throw UserError("the checkpoint's ISAT table is truncated");
    return d[k++];
  };
  auto take = [&](std::vector<double>& v, size_t m) {
    if (k + m > d.size()) throw UserError("the checkpoint's ISAT table is truncated");
    v.assign(d.begin() + static_cast<long>(k), d.begin() + static_cast<long>(k + m));
    k += m;
  };
  if (static_cast<int>(next()) != n_ || static_cast<int>(next()) != nkey_)
    throw UserError("the checkpoint's ISAT table is of another sub-step layout");
  clear();
  clock_ = static_cast<long>(next());
  evicted_ = static_cast<long>(next());
  rebuilds_ = static_cast<long>(next());
  leaves_.resize(static_cast<size_t>(next()));
  free_leaves_.resize(static_cast<size_t>(next()));
  const size_t ntrees = static_cast<size_t>(next());
  for (int& f : free_leaves_) f = static_cast<int>(next());
  const size_t n = static_cast<size_t>(n_);
  for (Leaf& l : leaves_) {
    l.alive = next() != 0;
    if (!l.alive) continue;
    l.used = static_cast<long>(next());
    take(l.key, static_cast<size_t>(nkey_));
    take(l.x, n);
    take(l.r, n);
    take(l.A, n * n);
    take(l.B, n * n);
  }
  for (size_t i = 0; i < ntrees; ++i) {
    std::vector<double> key;
    take(key, static_cast<size_t>(nkey_));
    Tree& t = trees_[key];
    t.root = static_cast<int>(next());
    t.nodes.resize(static_cast<size_t>(next()));
    for (Node& nd : t.nodes) {
      nd.a = next();
      nd.left = static_cast<int>(next());
      nd.right = static_cast<int>(next());
      take(nd.v, n);
    }
    const size_t nr = static_cast<size_t>(next());
    for (size_t r = 0; r < nr; ++r) t.recent.push_back(static_cast<int>(next()));
  }
}

}  // namespace simfuse::detail
