#pragma once
/// \file VtkWriter.hpp
/// Fields to VTK XML ImageData that ParaView opens: on one rank a `.vti` per output, on
/// several ranks a `.pvti` with one `.vti` piece per rank (in a sub-folder), and a
/// `.pvd` collection listing every output with its time. The `.pvd` is rewritten (to a
/// temporary file, then renamed) only after all pieces of an output are complete, so an
/// interrupted run leaves a series that opens.
#include <memory>
#include <string>
#include <vector>

#include "simfuse/core/Field.hpp"

namespace simfuse {

class VtkSeriesWriter {
 public:
  /// Writes into `dir` (created if needed) files named `<base>_<step>.vti` (`.pvti` on several ranks) and
  /// `<base>.pvd`. Collective on the grid's communicator.
  VtkSeriesWriter(const Grid& grid, std::string dir, std::string base);
  ~VtkSeriesWriter();

  /// Writes `fields` at time `t` (output number = number of previous writes). Collective.
  /// Returns the path of the file written (the .vti or .pvti).
  std::string write(const std::vector<const Field*>& fields, double t, long step);

  const std::string& pvd_path() const { return pvd_; }
  /// Files written so far (relative to dir), in order.
  const std::vector<std::string>& files() const { return files_; }
  /// Times of those files.
  const std::vector<double>& times() const { return times_; }
  /// Continues a series (a resumed run): the files and times written before, after which
  /// the next output is numbered; rewrites the .pvd (rank 0). Collective.
  void continue_series(std::vector<std::string> files, std::vector<double> times);

 private:
  void write_pvd() const;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  const Grid& grid_;
  std::string dir_, base_, pvd_;
  std::vector<std::string> files_;
  std::vector<double> times_;
};

}  // namespace simfuse
