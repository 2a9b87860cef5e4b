#pragma once
/// \file Capture.hpp
/// Records (input, output) pairs of a sub-step while a classical run proceeds -- the
/// "for AI" direction: classical solvers make the training data. Reads only; the run's
/// results do not change. Declared per sub-step in a case:
///
///     capture:
///       react:   {every: 5, points: 4000}                       # pointwise samples
///       diffuse: {every: 2, patches: 8, patch: 16, radius: 3}   # stencil patches
///       react:   {every: 1, points: 500, perturbed: {copies: 2, amplitude: 0.1}}
///
/// `perturbed` adds, per captured point, that many random states near it, labelled by the
/// classical sub-step (a Perturbable sub-step: it draws and integrates them): the states a
/// diffusing field produces off the trajectories get covered. Their random numbers
/// depend on the seed, the step and the global point index, never on the ranks.
///
/// Points (or patch positions) are drawn in global index space from a seed shared by all
/// ranks, so the samples do not depend on the number of ranks. At the end the pairs are
/// gathered on rank 0 and written as a Dataset (torch.load reads it).
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "simfuse/core/Checkpoint.hpp"
#include "simfuse/core/Solver.hpp"
#include "simfuse/coupling/Coupler.hpp"
#include "simfuse/coupling/Simulation.hpp"
#include "simfuse/surrogates/Dataset.hpp"

namespace simfuse {

/// A grid point drawn by sample_points().
struct SampledPoint {
  PetscInt global;   ///< i + n_x (j + n_y k)
  PetscInt local;    ///< index among this rank's owned points
  PetscInt i, j, k;  ///< grid indices
};

/// `count` distinct grid points drawn in global index space (Floyd's algorithm from
/// `gen`, which every rank seeds alike), so the choice does not depend on the rank count;
/// returns those this rank owns, in increasing global index.
std::vector<SampledPoint> sample_points(const Grid& grid, long count, std::mt19937_64& gen);

/// The values of `fields` (all components) at this rank's owned points `local`, point by
/// point, fields in order, into `out`; a field in `from` is read from that vector instead
/// (e.g. the values before a sub-step).
void read_points(const State& state, const std::vector<std::string>& fields, const std::vector<PetscInt>& local,
                 std::vector<double>& out, const std::map<std::string, Vec>& from = {});

struct CaptureSpec {
  std::string substep;
  int every = 1;     ///< capture calls at steps divisible by this
  long points = 0;   ///< pointwise: points per captured call (over the whole grid)
  long patches = 0;  ///< stencil: patches per captured call
  int patch = 8;     ///< stencil: output patch size
  int radius = 0;    ///< stencil: input margin around a patch
  uint64_t seed = 1;
  std::vector<std::string> inputs, outputs;  ///< fields (default: the sub-step's reads / writes)
  std::string file;                          ///< dataset stem, relative to the output folder
  int perturbed_copies = 0;                  ///< perturbed states per captured point
  double perturbed_amplitude = 0.1;          ///< Perturbable::perturb's amplitude
  bool pointwise() const { return patches == 0; }
};

class Capture final : public StepObserver, public Checkpointable {
 public:
  /// Checks the spec against the sub-step and state (UserError otherwise).
  Capture(const Grid& grid, const State& state, SubStep& step, CaptureSpec spec);
  void before(const SubStep& step, const State& state, const StepInfo& info) override;
  void after(const SubStep& step, const State& state, const StepInfo& info) override;
  /// Checkpoints: the samples recorded so far (a resumed run's dataset is the whole run's).
  void save_state(CheckpointData& out) const override;
  void restore_state(const CheckpointData& in) override;

  const CaptureSpec& spec() const { return spec_; }
  /// This rank's samples so far.
  long local_samples() const { return n_; }
  /// All samples on rank 0 of the grid's communicator (an empty Dataset elsewhere).
  /// `member` tags the samples. Collective.
  Dataset gather(long member) const;

  /// Reads the case's `capture:` section and attaches one Capture per entry to `sim`;
  /// with `write_files`, registers an end hook that writes the datasets into the output
  /// folder. The Simulation calls this itself (the handler ai::register_builtins()
  /// registers), so a library user cannot lose a case's captures.
  static std::vector<std::shared_ptr<Capture>> attach_all(Simulation& sim, bool write_files = true);
  /// The captures the Simulation attached for its `capture:` section (empty without one).
  static std::vector<std::shared_ptr<Capture>> of(const Simulation& sim);
  /// The schema of one `capture:` entry.
  static const Schema& schema();

 private:
  struct Site {
    PetscInt local;       // pointwise: local point index
    PetscInt i0, j0, k0;  // stencil: patch origin (global)
  };
  void sample_sites(long step);
  void add_perturbed(const State& state, const StepInfo& info);
  void read(const State& state, const std::vector<std::string>& fields, int margin, int size,
            std::vector<double>& out) const;

  const Grid& grid_;
  CaptureSpec spec_;
  std::vector<std::string> in_names_, out_names_;
  int cin_ = 0, cout_ = 0;
  /// Perturbed states of a sub-step with required inputs: where each input channel beyond
  /// the sub-step's own field lies in a record's conditions.
  std::vector<int> extra_conditions_;
  std::vector<Site> sites_;
  bool active_ = false;
  std::vector<double> pending_in_;
  std::vector<double> in_, out_, dt_;
  std::vector<int64_t> step_;
  long n_ = 0;
  Perturbable* perturbable_ = nullptr;  // the sub-step, when perturbed copies are asked for
  Relocatable* relocatable_ = nullptr;  // the same sub-step: takes and computes the copies' records
};

}  // namespace simfuse
