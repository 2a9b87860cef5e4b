#include "simfuse/core/Checkpoint.hpp"

#include <fmt/format.h>
#include <mpi.h>

#include <csignal>
#include <cstdlib>

#include "simfuse/core/Petsc.hpp"

namespace simfuse {

namespace {
constexpr char kMagic[8] = {'S', 'F', 'C', 'K', 'P', 'T', '0', '1'};
}

CheckpointData::CheckpointData() : store_(std::make_shared<std::map<std::string, std::string>>()) {}

CheckpointData CheckpointData::scoped(const std::string& prefix) const {
  CheckpointData d;
  d.store_ = store_;
  d.prefix_ = prefix_ + prefix;
  return d;
}

void CheckpointData::put_bytes(const std::string& key, std::string bytes) {
  (*store_)[prefix_ + key] = std::move(bytes);
}

void CheckpointData::put_vec(const std::string& key, Vec v) {
  PetscInt n = 0;
  SIMFUSE_PETSC(VecGetLocalSize(v, &n));
  const PetscScalar* a = nullptr;
  SIMFUSE_PETSC(VecGetArrayRead(v, &a));
  put_bytes(key, std::string(reinterpret_cast<const char*>(a), static_cast<size_t>(n) * sizeof(PetscScalar)));
  SIMFUSE_PETSC(VecRestoreArrayRead(v, &a));
}

bool CheckpointData::has(const std::string& key) const {
  return store_->count(prefix_ + key) > 0;
}

const std::string& CheckpointData::get_bytes(const std::string& key) const {
  auto it = store_->find(prefix_ + key);
  if (it == store_->end())
    throw CheckpointError(fmt::format("the checkpoint has no record '{}'", prefix_ + key),
                          "it was written by another version of simfuse or another case; start the run afresh "
                          "(without --resume)");
  return it->second;
}

void CheckpointData::check_size(const std::string& key, size_t got, size_t want) const {
  if (got != want)
    throw CheckpointError(
        fmt::format("the checkpoint record '{}' has {} bytes, {} were expected", prefix_ + key, got, want),
        "it was written by another version of simfuse or another case; start the run afresh (without --resume)");
}

void CheckpointData::get_vec(const std::string& key, Vec v) const {
  const std::string& b = get_bytes(key);
  PetscInt n = 0;
  SIMFUSE_PETSC(VecGetLocalSize(v, &n));
  check_size(key, b.size(), static_cast<size_t>(n) * sizeof(PetscScalar));
  PetscScalar* a = nullptr;
  SIMFUSE_PETSC(VecGetArray(v, &a));
  if (n > 0) std::memcpy(a, b.data(), b.size());
  SIMFUSE_PETSC(VecRestoreArray(v, &a));
}

namespace {
template <class T>
void append(std::string& s, T v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof(T));
}
}  // namespace

std::string CheckpointData::serialize() const {
  std::string s(kMagic, sizeof kMagic);
  append<std::uint64_t>(s, store_->size());
  for (const auto& [k, v] : *store_) {
    append<std::uint64_t>(s, k.size());
    s += k;
    append<std::uint64_t>(s, v.size());
    s += v;
  }
  return s;
}

CheckpointData CheckpointData::parse(const std::string& bytes, const std::string& origin) {
  size_t pos = 0;
  auto fail = [&](const std::string& what) {
    return CheckpointError(fmt::format("checkpoint file '{}' is malformed: {}", origin, what),
                           "it is damaged; remove it, and resume from an earlier checkpoint or start afresh");
  };
  auto read_u64 = [&]() {
    if (bytes.size() - pos < 8) throw fail(fmt::format("it ends at byte {} inside a record header", bytes.size()));
    std::uint64_t v;
    std::memcpy(&v, bytes.data() + pos, 8);
    pos += 8;
    return v;
  };
  if (bytes.size() < sizeof kMagic || bytes.compare(0, sizeof kMagic, kMagic, sizeof kMagic) != 0)
    throw fail("it does not start with the simfuse checkpoint signature");
  pos = sizeof kMagic;
  CheckpointData d;
  const std::uint64_t n = read_u64();
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint64_t kl = read_u64();
    if (kl > bytes.size() - pos) throw fail("a key runs past the end of the file");
    std::string key = bytes.substr(pos, kl);
    pos += kl;
    const std::uint64_t vl = read_u64();
    if (vl > bytes.size() - pos) throw fail(fmt::format("record '{}' runs past the end of the file", key));
    (*d.store_)[std::move(key)] = bytes.substr(pos, vl);
    pos += vl;
  }
  if (pos != bytes.size()) throw fail(fmt::format("{} bytes follow the last record", bytes.size() - pos));
  return d;
}

std::string fnv1a64_hex(const std::string& bytes) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return fmt::format("{:016x}", h);
}

namespace {
// True when the n-th call with `where` is the one SIMFUSE_FAULT names (and this rank is
// the one it names, if any).
bool fault_now(const char* where) {
  static const std::string spec = [] {
    const char* e = std::getenv("SIMFUSE_FAULT");
    return std::string(e ? e : "");
  }();
  if (spec.empty()) return false;
  static std::map<std::string, long> counts;
  const long n = ++counts[where];
  std::string s = spec;
  int rank_only = -1;
  if (auto at = s.find('@'); at != std::string::npos) {
    rank_only = std::atoi(s.c_str() + at + 1);
    s = s.substr(0, at);
  }
  const auto colon = s.find(':');
  if (colon == std::string::npos || s.compare(0, colon, where) != 0 || colon != std::strlen(where)) return false;
  if (std::atol(s.c_str() + colon + 1) != n) return false;
  int rank = 0, init = 0;
  MPI_Initialized(&init);
  if (init) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank_only < 0 || rank == rank_only;
}
}  // namespace

void fault_point(const char* where) {
  if (fault_now(where)) std::raise(SIGKILL);
}

bool fault_due(const char* where) {
  return fault_now(where);
}

}  // namespace simfuse
