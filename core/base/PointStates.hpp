#pragma once
/// \file PointStates.hpp
/// The point-state record: what a Pointwise sub-step needs to compute one point anywhere,
/// detached from the grid and the rank the point lives on. Per point, three blocks:
///  - the state: the sub-step's written components (chemistry: T, Y_1..Y_N), in and out;
///  - the local conditions the computation borrows from the point's cell and does not
///    change (chemistry: the pressure, and the density of a constant-volume reactor);
///  - the per-point solver memory carried from call to call (e.g. an integrator's last
///    step size), in and out. Empty when the sub-step keeps none.
/// A Relocatable sub-step (core/SubStep.hpp) fills records from owned points
/// (take_points), computes them (apply_states) and writes them back (return_points); a
/// policy that moves work between ranks sends records as flat rows (pack/unpack). No
/// PETSc, no MPI: plain data.
#include <cstddef>
#include <string>
#include <vector>

namespace simfuse {

/// The shape of one record: how many values each block holds, and their names (for
/// messages and the audit trail).
struct PointLayout {
  int components = 0;
  std::vector<std::string> conditions;  ///< names of the local conditions (may be empty)
  std::vector<std::string> memory;      ///< names of the per-point memory values (may be empty)
  int n_conditions() const { return static_cast<int>(conditions.size()); }
  int n_memory() const { return static_cast<int>(memory.size()); }
  /// Values of one packed row: components + conditions + memory.
  int row_size() const { return components + n_conditions() + n_memory(); }
  bool operator==(const PointLayout& o) const {
    return components == o.components && conditions == o.conditions && memory == o.memory;
  }
};

/// The records of n points, each block contiguous (point-major).
class PointStates {
 public:
  PointStates() = default;
  explicit PointStates(PointLayout layout, size_t n = 0) : layout_(std::move(layout)) { resize(n); }

  const PointLayout& layout() const { return layout_; }
  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  /// Resizes to n points; new points are zero.
  void resize(size_t n) {
    n_ = n;
    state_.resize(n * static_cast<size_t>(layout_.components));
    conditions_.resize(n * static_cast<size_t>(layout_.n_conditions()));
    memory_.resize(n * static_cast<size_t>(layout_.n_memory()));
  }

  double* state(size_t q) { return state_.data() + q * static_cast<size_t>(layout_.components); }
  const double* state(size_t q) const { return state_.data() + q * static_cast<size_t>(layout_.components); }
  double* conditions(size_t q) { return conditions_.data() + q * static_cast<size_t>(layout_.n_conditions()); }
  const double* conditions(size_t q) const {
    return conditions_.data() + q * static_cast<size_t>(layout_.n_conditions());
  }
  double* memory(size_t q) { return memory_.data() + q * static_cast<size_t>(layout_.n_memory()); }
  const double* memory(size_t q) const { return memory_.data() + q * static_cast<size_t>(layout_.n_memory()); }

  /// Appends point q of `other` (same layout; InternalError otherwise).
  void append(const PointStates& other, size_t q);
  /// Points [begin, end) as packed rows (state, conditions, memory of each point in turn):
  /// what is sent to another rank.
  std::vector<double> pack(size_t begin, size_t end) const;
  std::vector<double> pack() const { return pack(0, n_); }
  /// Appends the `rows` packed rows at `data` (from pack() of a record of this layout).
  void unpack(const double* data, size_t rows);

 private:
  PointLayout layout_;
  size_t n_ = 0;
  std::vector<double> state_, conditions_, memory_;
};

}  // namespace simfuse
