#include "simfuse/core/base/PointStates.hpp"

#include <algorithm>

#include "simfuse/core/base/Error.hpp"

namespace simfuse {

void PointStates::append(const PointStates& other, size_t q) {
  SIMFUSE_REQUIRE(other.layout_ == layout_, "PointStates::append: the records have different layouts");
  const size_t at = n_;
  resize(n_ + 1);
  std::copy_n(other.state(q), layout_.components, state(at));
  std::copy_n(other.conditions(q), layout_.n_conditions(), conditions(at));
  std::copy_n(other.memory(q), layout_.n_memory(), memory(at));
}

std::vector<double> PointStates::pack(size_t begin, size_t end) const {
  SIMFUSE_REQUIRE(begin <= end && end <= n_, "PointStates::pack: rows out of range");
  const int nc = layout_.components, nk = layout_.n_conditions(), nm = layout_.n_memory();
  std::vector<double> rows;
  rows.reserve((end - begin) * static_cast<size_t>(layout_.row_size()));
  for (size_t q = begin; q < end; ++q) {
    rows.insert(rows.end(), state(q), state(q) + nc);
    rows.insert(rows.end(), conditions(q), conditions(q) + nk);
    rows.insert(rows.end(), memory(q), memory(q) + nm);
  }
  return rows;
}

void PointStates::unpack(const double* data, size_t rows) {
  const int nc = layout_.components, nk = layout_.n_conditions(), nm = layout_.n_memory();
  const size_t at = n_;
  resize(n_ + rows);
  for (size_t r = 0; r < rows; ++r) {
    const double* row = data + r * static_cast<size_t>(layout_.row_size());
    std::copy_n(row, nc, state(at + r));
    std::copy_n(row + nc, nk, conditions(at + r));
    std::copy_n(row + nc + nk, nm, memory(at + r));
  }
}

}  // namespace simfuse
