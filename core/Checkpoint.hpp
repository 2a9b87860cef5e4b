#pragma once
/// \file Checkpoint.hpp
/// What a run needs to continue identically after it was stopped: named binary records
/// of one rank's state (CheckpointData), and the capability a solver, sub-step, policy or
/// extension implements to take part (Checkpointable).
///
/// The Simulation gathers every participant's records into one file per rank, written
/// atomically with a checksum (coupling/Checkpoints.hpp); `simfuse run --resume` reads
/// them back. A participant saves what its next steps depend on and nothing it can
/// recompute: a history vector (Adams-Bashforth), a step-size memory, a phase counter.
/// Keys are the participant's own ("n_old"); the Simulation prefixes them.
///
///     class MyStep : public SubStep, public Checkpointable {
///       void save_state(CheckpointData& out) const override { out.put("h", h_); }
///       void restore_state(const CheckpointData& in) override { h_ = in.get<std::vector<double>>("h"); }
///     };
#include <petscvec.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "simfuse/core/base/Error.hpp"

namespace simfuse {

/// Named binary records (this rank's part of a checkpoint). Values are stored as bytes:
/// trivially copyable scalars, vectors of them, strings, and PETSc vectors (the owned
/// values of this rank).
class CheckpointData {
 public:
  /// A view of the records under `prefix` ("solver/"): put/get then add/strip it.
  CheckpointData scoped(const std::string& prefix) const;

  void put_bytes(const std::string& key, std::string bytes);
  void put(const std::string& key, const std::string& s) { put_bytes(key, s); }
  void put(const std::string& key, const char* s) { put_bytes(key, s); }
  template <class T, class = std::enable_if_t<std::is_trivially_copyable_v<T>>>
  void put(const std::string& key, const T& v) {
    put_bytes(key, std::string(reinterpret_cast<const char*>(&v), sizeof(T)));
  }
  template <class T, class = std::enable_if_t<std::is_trivially_copyable_v<T>>>
  void put(const std::string& key, const std::vector<T>& v) {
    put_bytes(key, std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T)));
  }
  /// This rank's values of `v`. Not collective.
  void put_vec(const std::string& key, Vec v);

  bool has(const std::string& key) const;
  /// The record; throws CheckpointError if it is missing or of the wrong size.
  const std::string& get_bytes(const std::string& key) const;
  template <class T>
  T get(const std::string& key) const {
    if constexpr (std::is_same_v<T, std::string>) {
      return get_bytes(key);
    } else if constexpr (std::is_trivially_copyable_v<T>) {
      const std::string& b = get_bytes(key);
      check_size(key, b.size(), sizeof(T));
      T v;
      std::memcpy(&v, b.data(), sizeof(T));
      return v;
    } else {
      using E = typename T::value_type;
      static_assert(std::is_trivially_copyable_v<E>, "vectors of trivially copyable values only");
      const std::string& b = get_bytes(key);
      if (b.size() % sizeof(E) != 0) check_size(key, b.size(), (b.size() / sizeof(E) + 1) * sizeof(E));
      T v(b.size() / sizeof(E));
      if (!v.empty()) std::memcpy(v.data(), b.data(), b.size());
      return v;
    }
  }
  /// Fills `v` (this rank's values) from the record; its length must match. Not collective.
  void get_vec(const std::string& key, Vec v) const;

  /// All records as one byte string (magic, count, then key/value pairs).
  std::string serialize() const;
  /// The inverse; throws CheckpointError naming `origin` on a malformed string.
  static CheckpointData parse(const std::string& bytes, const std::string& origin);
  size_t size() const { return store_->size(); }

  CheckpointData();

 private:
  void check_size(const std::string& key, size_t got, size_t want) const;
  std::shared_ptr<std::map<std::string, std::string>> store_;
  std::string prefix_;
};

/// A checkpoint that cannot be used (corrupt, from another case, another rank count).
class CheckpointError : public UserError {
 public:
  using UserError::UserError;
};

/// The capability of taking part in checkpoints. Solvers, sub-steps and policies that
/// implement it are found by the Simulation (dynamic_cast); extensions that are none of
/// those register with Simulation::add_checkpointable.
class Checkpointable {
 public:
  virtual ~Checkpointable() = default;
  /// Adds what the next steps depend on. Not collective.
  virtual void save_state(CheckpointData& out) const = 0;
  /// Restores it (the object was built from the same case). Not collective.
  virtual void restore_state(const CheckpointData& in) = 0;
};

/// 64-bit FNV-1a of `bytes`, as 16 hex digits: the checksum of checkpoint files.
std::string fnv1a64_hex(const std::string& bytes);

/// Fault injection for the reliability tests: when the environment variable
/// SIMFUSE_FAULT is "<where>:<n>" (e.g. "step:7", "output:3", "checkpoint:2"), the n-th
/// call with `where` kills the process with SIGKILL, as `kill -9` would. An optional
/// "@<rank>" limits it to one MPI rank. Costs a string comparison when unset.
void fault_point(const char* where);
/// The same counting, but returns true (once) instead of killing: for faults the program
/// must handle itself, e.g. "blowup:N" poisons the solution with NaN after step N.
bool fault_due(const char* where);

}  // namespace simfuse
