#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "simfuse/core/Checkpoint.hpp"
#include "simfuse/core/Timer.hpp"
#include "simfuse/coupling/Balanced.hpp"
#include "simfuse/coupling/detail/Balance.hpp"

namespace simfuse {

namespace {

// The `balanced` policy: the classical computation of a Relocatable sub-step, its points
// shared among the ranks by what each cost the last time (coupling/detail/Balance.hpp).
class BalancedPolicy final : public Policy, public Checkpointable {
 public:
  explicit BalancedPolicy(const PolicyContext& c) : params_(c.params), comm_(c.comm) {
    threshold_ = params_.get<double>("threshold");
    if (params_.has("reference_mapping")) map_tol_ = params_.get<double>("reference_mapping");
  }
  const std::string& name() const override { return name_; }
  /// A Relocatable record carries everything its point's result depends on.
  bool takes_required_inputs() const override { return true; }

  void attach(SubStep& step, State& /*state*/, double /*dt*/) override {
    pw_ = dynamic_cast<Pointwise*>(&step);
    rel_ = dynamic_cast<Relocatable*>(&step);
    if (!pw_ || !rel_)
      params_.fail("type",
                   fmt::format("balanced moves points of a pointwise sub-step between ranks as records (Pointwise "
                               "and Relocatable); '{}' is not",
                               step.name()),
                   "use balanced on a pointwise sub-step such as the chemistry's react, and classical here");
    const int n = rel_->point_layout().components;
    auto* d = dynamic_cast<Differentiable*>(&step);
    for (int c = 0; c < n; ++c) scale_.push_back(d ? d->component_scale(c) : 1.0);
  }

  void apply(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats) override {
    stats.balanced = true;
    const BusyClock busy;
    PointStates rec = detail::take_owned(*rel_, state, state.get(step.writes().front()).grid().owned().size());
    std::vector<double> measured;
    std::vector<char> ok;
    detail::BalanceReport rep;
    if (map_tol_ >= 0) {
      // Reference mapping first (locally), then the references are balanced.
      const std::vector<size_t> ref = detail::reference_map(rec, map_tol_, scale_);
      PointStates refs(rec.layout());
      std::vector<size_t> slot(rec.size());
      std::vector<double> predicted;
      for (size_t q = 0; q < rec.size(); ++q)
        if (ref[q] == q) {
          slot[q] = refs.size();
          refs.append(rec, q);
          predicted.push_back(cost_.size() == rec.size() ? cost_[q] : 0.0);
        }
      std::vector<double> rmeasured;
      std::vector<char> rok;
      rep = detail::balanced_apply(*rel_, info, refs, predicted, rmeasured, rok, comm_, threshold_);
      measured.assign(rec.size(), 0.0);
      ok.assign(rec.size(), 1);
      const int nc = rec.layout().components, nm = rec.layout().n_memory();
      for (size_t q = 0; q < rec.size(); ++q) {
        const size_t r = slot[ref[q]];
        std::copy_n(refs.state(r), nc, rec.state(q));
        std::copy_n(refs.memory(r), nm, rec.memory(q));
        measured[q] = rmeasured[r];  // a mapped point is predicted to cost what its reference did
        ok[q] = rok[r];
        if (ref[q] != q) ++stats.balance_mapped;
      }
    } else {
      rep = detail::balanced_apply(*rel_, info, rec, cost_, measured, ok, comm_, threshold_);
    }
    cost_ = measured;
    detail::return_or_rerun(*rel_, *pw_, state, info, rec, ok);
    stats.classical_seconds += busy.seconds();
    account(rep, stats);
  }

  bool has_counters(Show s) const override { return s == Show::balance || Policy::has_counters(s); }

  nlohmann::ordered_json describe() const override {
    if (map_tol_ >= 0)
      return {{"threshold", threshold_},
              {"reference_mapping",
               {{"tolerance", map_tol_},
                {"rule", map_tol_ > 0 ? "points with the same conditions whose every component lies in the same "
                                        "bucket of width tolerance x scale share one computation"
                                      : "identical records (state, conditions, memory) share one computation"}}}};
    return {{"threshold", threshold_},
            {"cost", "each point's own computing time in the previous call (the first call: by count)"},
            {"moves", "records (state, conditions, solver memory) from ranks above the mean load to ranks below"}};
  }

  void save_state(CheckpointData& out) const override { out.put("cost", cost_); }
  void restore_state(const CheckpointData& in) override {
    if (in.has("cost")) cost_ = in.get<std::vector<double>>("cost");
  }

 private:
  // The per-call imbalance with and without the moves (max / mean over ranks).
  void account(const detail::BalanceReport& rep, SubStepStats& stats) const {
    stats.balance_sent += rep.sent;
    stats.balance_imbalance = detail::rank_imbalance(rep.busy, comm_);
    stats.balance_unbalanced = detail::rank_imbalance(std::accumulate(cost_.begin(), cost_.end(), 0.0), comm_);
    stats.balance_transfer_seconds += rep.transfer;
  }

  std::string name_ = "balanced";
  Params params_;
  MPI_Comm comm_;
  double threshold_ = 1.02, map_tol_ = -1;
  std::vector<double> scale_;
  Pointwise* pw_ = nullptr;
  Relocatable* rel_ = nullptr;
  std::vector<double> cost_;
};

}  // namespace

void declare_balanced(Schema& s) {
  s.add_real("threshold",
             "move work only when the predicted max / mean load over the ranks exceeds this (1 always moves)")
      .def(1.02)
      .min(1.0);
  s.add_real("reference_mapping",
             "as DLBFoam's reference mapping: points whose components differ by less than this x their scale (the "
             "chemistry's: 1000 K for T, 0.01 for a mass fraction), with the same conditions, are computed once; 0: "
             "only identical points (bit for bit); absent: off")
      .non_negative();
}

std::unique_ptr<Policy> make_balanced_policy(const PolicyContext& c) {
  return std::make_unique<BalancedPolicy>(c);
}

}  // namespace simfuse
