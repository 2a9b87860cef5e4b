#include "simfuse/surrogates/DataSupport.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nanoflann.hpp>

#include "simfuse/core/base/Error.hpp"

namespace simfuse {

namespace {

// nanoflann's view of the sample: rows of `dim` floats.
struct Rows {
  const std::vector<float>* v;
  size_t dim;
  size_t kdtree_get_point_count() const { return v->size() / dim; }
  float kdtree_get_pt(size_t i, size_t d) const { return (*v)[i * dim + d]; }
  template <class B>
  bool kdtree_get_bbox(B&) const {
    return false;
  }
};

using Tree = nanoflann::KDTreeSingleIndexAdaptor<nanoflann::L2_Simple_Adaptor<float, Rows>, Rows, -1, uint32_t>;

// Stops at the first sample within the radius: "is any near" needs no nearest one.
struct AnyWithin {
  float r2;
  bool found = false;
  float worstDist() const { return r2; }
  bool addPoint(float d2, uint32_t) {
    if (d2 <= r2) found = true;
    return !found;
  }
  size_t size() const { return found ? 1 : 0; }
  bool full() const { return found; }
  void init() {}
};

// Every row of `rows` (row-major, floors.size() channels) raised to the per-channel floors.
void raise_to_floors(std::vector<float>& rows, const std::vector<float>& floors) {
  for (size_t k = 0; k < rows.size(); ++k) rows[k] = std::max(rows[k], floors[k % floors.size()]);
}

}  // namespace

struct DataSupport::Index {
  Rows rows;
  Tree tree;
  Index(const std::vector<float>& v, int dim)
      : rows{&v, static_cast<size_t>(dim)}, tree(static_cast<size_t>(dim), rows, {16}) {}
};

void DataSupport::normalise(const ModelCard& c, const double* x, float* z) {
  const int n = c.in_channels();
  for (int i = 0; i < n; ++i) z[i] = static_cast<float>((c.transform_input(i, x[i]) - c.in_mean[i]) / c.in_std[i]);
}

DataSupport::DataSupport(const ModelCard& card, std::vector<float> points, int dim, double radius)
    : card_(&card), points_(std::move(points)), dim_(dim), radius_(radius), z_(static_cast<size_t>(dim)) {
  if (dim != card.in_channels())
    throw UserError(
        fmt::format("support file '{}' of model '{}': {} channels, the card {} inputs",
                    card.support ? card.support->file : std::string("(in memory)"), card.name, dim, card.in_channels()),
        "the support file belongs to another model: retrain, or remove the card's support entry");
  if (card.support && card.support->floor > 0) {
    floors_ = normalised_floors(card, card.support->floor);
    zc_.resize(static_cast<size_t>(dim));
    raise_to_floors(points_, floors_);
  }
  index_ = std::make_unique<Index>(points_, dim_);
  for (int i = 0; i < dim; ++i) kind_.push_back(card.input_transform(i));
}

std::vector<float> DataSupport::normalised_floors(const ModelCard& card, double floor) {
  std::vector<float> f;
  if (!(floor > 0)) return f;
  const int n = static_cast<int>(card.in_mean.size());
  for (int i = 0; i < n; ++i)
    f.push_back(card.input_transform(i) == ModelCard::Transform::none
                    ? std::numeric_limits<float>::lowest()
                    : static_cast<float>((card.transform_input(i, floor) - card.in_mean[i]) / card.in_std[i]));
  return f;
}

const float* DataSupport::floored(const float* z) const {
  if (floors_.empty()) return z;
  for (size_t i = 0; i < floors_.size(); ++i) zc_[i] = std::max(z[i], floors_[i]);
  return zc_.data();
}

DataSupport::~DataSupport() = default;

long DataSupport::points() const {
  return static_cast<long>(points_.size() / static_cast<size_t>(dim_));
}

bool DataSupport::near(const double* x) const {
  // The transforms resolved once (kind_), not by name per channel and point: by name they
  // were half of a near point's ~0.6 us.
  const ModelCard& c = *card_;
  for (int i = 0; i < dim_; ++i)
    z_[i] = static_cast<float>((c.transform_input(kind_[i], x[i]) - c.in_mean[i]) / c.in_std[i]);
  return near_normalized(z_.data());
}

bool DataSupport::near_normalized(const float* z) const {
  for (int i = 0; i < dim_; ++i)
    if (!std::isfinite(z[i])) return false;
  AnyWithin res{static_cast<float>(radius_ * radius_)};
  index_->tree.findNeighbors(res, floored(z), nanoflann::SearchParams());
  return res.found;
}

double DataSupport::distance(const double* x) const {
  normalise(*card_, x, z_.data());
  uint32_t i = 0;
  float d2 = 0;
  nanoflann::KNNResultSet<float, uint32_t> res(1);
  res.init(&i, &d2);
  index_->tree.findNeighbors(res, floored(z_.data()), nanoflann::SearchParams());
  return std::sqrt(static_cast<double>(d2));
}

double DataSupport::measure_radius(const std::vector<float>& zin, int dim, long n_support, long n_held, double quantile,
                                   const std::vector<float>& floors) {
  std::vector<float> floored;  // the rows raised to the floors; without floors, zin as given
  if (!floors.empty()) {
    floored.assign(zin.begin(), zin.begin() + (n_support + n_held) * dim);
    raise_to_floors(floored, floors);
  }
  const std::vector<float>& z = floors.empty() ? zin : floored;
  const std::vector<float> sample(z.begin(), z.begin() + n_support * dim);
  const Rows rows{&sample, static_cast<size_t>(dim)};
  const Tree tree(static_cast<size_t>(dim), rows, {16});
  std::vector<double> d(static_cast<size_t>(n_held));
  for (long k = 0; k < n_held; ++k) {
    uint32_t i = 0;
    float d2 = 0;
    nanoflann::KNNResultSet<float, uint32_t> res(1);
    res.init(&i, &d2);
    tree.findNeighbors(res, z.data() + (n_support + k) * dim, nanoflann::SearchParams());
    d[static_cast<size_t>(k)] = std::sqrt(static_cast<double>(d2));
  }
  if (d.empty()) return 0;
  // The smallest distance at least `quantile` of them do not exceed.
  const size_t k = static_cast<size_t>(std::ceil(quantile * static_cast<double>(d.size())));
  const size_t q = std::min(d.size(), std::max<size_t>(k, 1)) - 1;
  std::nth_element(d.begin(), d.begin() + static_cast<long>(q), d.end());
  return d[q];
}

// ---- .npy (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html) --------
// Written by hand: one dtype, one layout, 40 lines; no npy library is packaged in Debian 12.

void DataSupport::write_npy(const std::string& path, const std::vector<float>& rows, long n, int dim) {
  std::string header = fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}", n, dim);
  // magic (6) + version (2) + header length (2) + header + '\n', padded to 64 bytes
  const size_t total = (10 + header.size() + 1 + 63) / 64 * 64;
  header.append(total - 10 - header.size() - 1, ' ');
  header += '\n';
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary);
    const char magic[8] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0};
    out.write(magic, 8);
    const uint16_t hl = static_cast<uint16_t>(header.size());
    const char len[2] = {static_cast<char>(hl & 0xff), static_cast<char>(hl >> 8)};
    out.write(len, 2);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(reinterpret_cast<const char*>(rows.data()), static_cast<std::streamsize>(rows.size() * sizeof(float)));
    if (!out) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      throw UserError("cannot write the support file '" + path + "'", "check that the folder is writable");
    }
  }
  std::filesystem::rename(tmp, path);
}

std::vector<float> DataSupport::read_npy(const std::string& path, long& n, int& dim) {
  auto bad = [&](const std::string& why) {
    return UserError(fmt::format("support file '{}': {}", path, why),
                     "it is written by simfuse train beside the card; retrain, or remove the card's support entry");
  };
  std::ifstream in(path, std::ios::binary);
  if (!in) throw bad("cannot be opened");
  char head[10];
  if (!in.read(head, 10) || std::memcmp(head, "\x93NUMPY\x01\x00", 8) != 0) throw bad("not an .npy file (version 1.0)");
  const size_t hl =
      static_cast<unsigned char>(head[8]) | (static_cast<size_t>(static_cast<unsigned char>(head[9])) << 8);
  std::string header(hl, ' ');
  if (!in.read(header.data(), static_cast<std::streamsize>(hl))) throw bad("truncated header");
  if (header.find("'descr': '<f4'") == std::string::npos || header.find("'fortran_order': False") == std::string::npos)
    throw bad("expected little-endian float32 rows in C order");
  const size_t s = header.find("'shape': (");
  long a = -1, b = -1;
  if (s == std::string::npos || std::sscanf(header.c_str() + s + 10, "%ld, %ld", &a, &b) != 2 || a < 1 || b < 1 ||
      b > 100000)
    throw bad("expected a shape (points, channels)");
  std::vector<float> v(static_cast<size_t>(a) * static_cast<size_t>(b));
  if (!in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float))))
    throw bad(fmt::format("truncated: fewer than the {} x {} values its header states", a, b));
  for (float x : v)
    if (!std::isfinite(x)) throw bad("a value is not finite");
  n = a;
  dim = static_cast<int>(b);
  return v;
}

std::unique_ptr<DataSupport> DataSupport::load(const ModelCard& card) {
  if (!card.support) return nullptr;
  long n = 0;
  int dim = 0;
  std::vector<float> v = read_npy(card.support->file, n, dim);
  return std::make_unique<DataSupport>(card, std::move(v), dim, card.support->radius);
}

}  // namespace simfuse
