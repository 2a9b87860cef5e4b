#pragma once
/// \file DataSupport.hpp
/// Where a model's training data are: a sample of the training inputs in the space the
/// model sees them (transformed, normalised) and a radius. A point farther than the radius
/// from every sampled input is outside the data's support, which a box of ranges or a
/// regime cannot say: a lean flame's reaction zone at phi 0.7 has a local phi, T and
/// radicals that each lie inside h2_lean's regime, in a combination its flames never had
/// (docs/benchmarks.md). The guard judges such a point as out of range.
///
/// The radius is measured, not chosen: the `quantile` of the distances from held-out
/// training inputs to their nearest sampled input (0.999: one held-out input in a thousand
/// counts as outside). The sample is an .npy file (float32, points x channels) beside the
/// card, readable by numpy.
///
/// A k-d tree (nanoflann, header-only, Debian's libnanoflann-dev) answers "is any sampled
/// input within the radius" with an early exit: about 0.3 us for a point near the data, 2 us
/// for one near the radius, on h2_lean's 11 channels and 20,000 samples. No torch, no PETSc.
#include <memory>
#include <string>
#include <vector>

#include "simfuse/surrogates/ModelCard.hpp"

namespace simfuse {

class DataSupport {
 public:
  /// The card's support (its `support:` entry), loaded and indexed. UserError naming the
  /// file when it cannot be read or does not fit the card.
  static std::unique_ptr<DataSupport> load(const ModelCard& card);
  /// From normalised points (row-major, `dim` channels) and a radius.
  DataSupport(const ModelCard& card, std::vector<float> points, int dim, double radius);
  ~DataSupport();
  DataSupport(const DataSupport&) = delete;
  DataSupport& operator=(const DataSupport&) = delete;

  /// Whether some sampled input lies within the radius of `x` (physical units, the card's
  /// input channels in order). Not thread-safe (one scratch vector).
  bool near(const double* x) const;
  /// The same for a point already in the normalised space (z: in_channels values, as
  /// Surrogate::predict gives them): the guard's query, without the transforms again.
  bool near_normalized(const float* z) const;
  /// Per input channel, the normalised value below which a log10 or Box-Cox channel counts as
  /// at it (the card's support floor in the model's space; the lowest float elsewhere, and
  /// empty without a floor).
  static std::vector<float> normalised_floors(const ModelCard& card, double floor);
  /// The distance from `x` (physical units) to the nearest sampled input, normalised space.
  double distance(const double* x) const;
  double radius() const { return radius_; }
  long points() const;

  /// `x` (physical units) in the model's normalised space, into z (in_channels values).
  static void normalise(const ModelCard& card, const double* x, float* z);

  /// The support of a training: `n_support` rows of `z` (normalised, row-major, `dim`
  /// channels; the caller picks them at random) are the sample, the next `n_held` rows are
  /// held out; the radius is the `quantile` of the held-out rows' nearest-sample distances,
  /// every row raised to `floors` first (normalised_floors; empty: none). Returns the radius.
  static double measure_radius(const std::vector<float>& z, int dim, long n_support, long n_held, double quantile,
                               const std::vector<float>& floors = {});

  /// Writes / reads an .npy file of float32 rows (version 1.0, C order, little-endian).
  static void write_npy(const std::string& path, const std::vector<float>& rows, long n, int dim);
  static std::vector<float> read_npy(const std::string& path, long& n, int& dim);

 private:
  struct Index;
  const ModelCard* card_;
  std::vector<float> points_;
  int dim_;
  double radius_;
  std::unique_ptr<Index> index_;
  std::vector<ModelCard::Transform> kind_;  // per input channel, the card's transform
  std::vector<float> floors_;               // per channel (empty: no floor)
  mutable std::vector<float> z_, zc_;
  // z raised to the floors (into zc_), or z itself without them.
  const float* floored(const float* z) const;
};

}  // namespace simfuse
