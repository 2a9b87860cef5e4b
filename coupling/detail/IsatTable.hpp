#pragma once
/// \file IsatTable.hpp
/// In situ adaptive tabulation (Pope 1997, as OpenFOAM's TDAC builds it) of a map
/// x -> R(x) of n components, learnt while the run goes. An entry (a leaf) holds a point
/// x0, its exact image R(x0), the sensitivity A = dR/dx there and an ellipsoid of accuracy
/// (EOA) {x : (x - x0)^T B (x - x0) <= 1} (in scaled coordinates) inside which the linear
/// approximation R(x0) + A (x - x0) is trusted. Queries are
///  - retrieved: the leaf the binary tree of cutting planes leads to, or one of the most
///    recently used leaves, holds x in its EOA;
///  - on a miss, R(x) is computed by the caller, then the leaf and the recent ones whose
///    linear approximation at x is within the tolerance have their EOA grown to hold x
///    (the smallest concentric ellipsoid containing the old one and x); if none is, a
///    leaf is added (its A asked of the caller), splitting the tree's leaf by the plane
///    halfway between the two points.
/// The error test is the 2-norm of (R_exact - R_linear) / scale over the components.
/// Points are keyed by exact values (`key`: a sub-step's local conditions such as the
/// pressure): a key has its own tree. Memory is bounded: when an add would exceed it, the
/// least recently used tenth of the leaves is evicted and the trees are rebuilt balanced
/// (median splits); a tree that grows deeper than 3 log2(leaves) + 8 is rebuilt too.
/// No PETSc objects, no MPI: one table per rank. Deterministic: the same queries in the
/// same order give the same table bit for bit, and serialize()/restore() reproduce it.
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <vector>

namespace simfuse::detail {

struct IsatSettings {
  double tolerance = 1e-4;    ///< on the scaled 2-norm of the linear approximation's error
  std::vector<double> scale;  ///< per component (x and R share them); > 0
  size_t max_bytes = 0;       ///< the table's bound (leaves and tree)
  int recent = 10;            ///< most recently used leaves searched after the tree's leaf
  /// A leaf grows to hold a point only if its error there is within this share of the
  /// tolerance: growth stretches the ellipsoid over points it never checked (the
  /// reflection of the grown one), and the margin keeps those within the tolerance.
  double grow_fraction = 0.5;
};

/// What a query became (the values are the codes of the `<sub-step>_isat` field).
enum class IsatOutcome : char { retrieved = 0, grown = 1, added = 2, direct = 3 };

class IsatTable {
 public:
  IsatTable(int n, int nkey, IsatSettings settings);

  /// Bytes of one leaf with its tree node.
  size_t entry_bytes() const;
  /// R(x) from a leaf whose EOA holds x (same key); false on a miss (r untouched).
  bool retrieve(const double* key, const double* x, double* r);
  /// After a miss: r = R(x) computed exactly. Grows, or adds a leaf with A from
  /// `sensitivity` (row-major n x n; false: not available, the query stays direct).
  IsatOutcome learn(const double* key, const double* x, const double* r,
                    const std::function<bool(double* A)>& sensitivity);
  /// The scaled error of the best leaf's linear approximation at x against r (infinite if
  /// the table has no leaf for the key): for checks and tests.
  double linear_error(const double* key, const double* x, const double* r);

  void clear();
  size_t entries() const { return leaves_.size() - free_leaves_.size(); }
  size_t bytes() const;
  long evicted() const { return evicted_; }
  long rebuilds() const { return rebuilds_; }
  /// The deepest leaf over all trees.
  int depth() const;

  /// The whole table (leaves, trees, recent lists, clocks) as numbers, and back: a
  /// restored table answers every query as the saved one would.
  std::vector<double> serialize() const;
  void restore(const std::vector<double>& data);

 private:
  struct Leaf {
    std::vector<double> key, x, r, A, B;  // x, r unscaled; B in scaled coordinates
    long used = 0;
    bool alive = false;
  };
  struct Node {
    std::vector<double> v;  // cutting plane in scaled coordinates: left when v.x <= a
    double a = 0;
    int left = 0, right = 0;  // >= 0: a node; < 0: leaf -(id + 1)
  };
  struct Tree {
    int root = kEmpty;
    std::vector<Node> nodes;
    std::deque<int> recent;  // leaf ids, most recent first
  };
  static constexpr int kEmpty = 1 << 30;

  Tree* tree_of(const double* key);
  /// The leaf the tree leads x to (-1 if empty); its parent node and side for an insert.
  int descend(const Tree& t, const double* xs, int* parent = nullptr, bool* right = nullptr) const;
  bool inside(const Leaf& l, const double* xs) const;
  double error_at(const Leaf& l, const double* x, const double* r) const;
  void grow(Leaf& l, const double* xs);
  void touch(Tree& t, int id);
  void evict();
  void rebuild(const std::vector<double>& key, Tree& t);
  int build(Tree& t, std::vector<int>& ids, size_t b, size_t e);
  int depth_of(const Tree& t, int child) const;
  void scaled(const double* x, double* xs) const;
  bool make_leaf(Leaf& l, const double* key, const double* x, const double* r,
                 const std::function<bool(double* A)>& sensitivity);

  int n_, nkey_;
  IsatSettings s_;
  std::vector<Leaf> leaves_;
  std::vector<int> free_leaves_;
  std::map<std::vector<double>, Tree> trees_;
  long clock_ = 0, evicted_ = 0, rebuilds_ = 0;
  std::vector<double> xs_;
  mutable std::vector<double> d_;  // work of inside()
};

}  // namespace simfuse::detail
