#include "simfuse/coupling/Policy.hpp"

#include <algorithm>

#include "simfuse/core/Timer.hpp"
#include "simfuse/coupling/Balanced.hpp"
#include "simfuse/coupling/Isat.hpp"

namespace simfuse {

void run_classical(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats) {
  const BusyClock busy;
  step.apply(state, info);
  stats.classical_seconds += busy.seconds();
  if (auto* it = dynamic_cast<Iterative*>(&step)) {
    stats.iterative = true;
    stats.last_iterations = it->last_iterations();
    stats.iterations += stats.last_iterations;
    stats.max_iterations = std::max(stats.max_iterations, static_cast<long>(stats.last_iterations));
  }
}

void ClassicalPolicy::apply(SubStep& step, State& state, const StepInfo& info, SubStepStats& stats) {
  run_classical(step, state, info, stats);
}

const std::vector<StatCounter>& substep_counters() {
  using S = SubStepStats;
  static const std::vector<StatCounter> table{
      // key, count or seconds member, reduction over ranks, when shown, steps.csv column, doc
      {"calls", &S::calls, nullptr, Reduce::max, Show::always, false, "calls"},
      {"seconds", nullptr, &S::seconds, Reduce::max, Show::always, true, "wall time"},
      {"iterations", &S::iterations, nullptr, Reduce::max, Show::iterative, true, "solver iterations"},
      {"max_iterations", &S::max_iterations, nullptr, Reduce::max, Show::iterative, false, "most iterations in a call"},
      {"inference_seconds", nullptr, &S::inference_seconds, Reduce::max, Show::surrogate, true, "inference time"},
      {"check_seconds", nullptr, &S::check_seconds, Reduce::max, Show::surrogate, true, "guard time"},
      {"classical_seconds", nullptr, &S::classical_seconds, Reduce::max, Show::always, true, "classical time"},
      {"points", &S::points, nullptr, Reduce::sum, Show::points, true, "points asked of the model"},
      {"accepted", &S::accepted, nullptr, Reduce::sum, Show::points, true, "points accepted"},
      {"fallback.nan", &S::fallback_nan, nullptr, Reduce::sum, Show::points, true, "fallback: NaN/Inf"},
      {"fallback.ood", &S::fallback_ood, nullptr, Reduce::sum, Show::points, true, "fallback: out of range"},
      {"fallback.estimate", &S::fallback_estimate, nullptr, Reduce::sum, Show::points, true,
       "fallback: error estimate"},
      {"fallback.whole_substep", &S::whole_fallbacks, nullptr, Reduce::max, Show::points, true,
       "fallback: whole sub-step"},
      {"surrogate_calls", &S::surrogate_calls, nullptr, Reduce::max, Show::surrogate, true, "calls using the model"},
      {"fallback.inadmissible", &S::fallback_inadmissible, nullptr, Reduce::sum, Show::points, true,
       "fallback: not admissible"},
      {"estimated", &S::estimated, nullptr, Reduce::sum, Show::points, true, "points error-estimated"},
      {"accepted_out_of_range", &S::accepted_out_of_range, nullptr, Reduce::sum, Show::points, true,
       "accepted outside the ranges (estimate passed)"},
      {"outside_support", &S::outside_support, nullptr, Reduce::sum, Show::points, false,
       "in the ranges or regime but far from the data (judged as out of range)"},
      {"fallback.estimate_reused", &S::reused_estimate, nullptr, Reduce::sum, Show::points, true,
       "of the estimate's rejects, given the estimate's own integration"},
      {"online.guarded_steps", &S::guarded_steps, nullptr, Reduce::max, Show::online, true,
       "steps served by the model"},
      {"online.train_iterations", &S::train_iterations, nullptr, Reduce::max, Show::online, true,
       "training iterations"},
      {"online.train_seconds", nullptr, &S::train_seconds, Reduce::max, Show::online, true, "training time"},
      {"online.validation_error", nullptr, &S::validation_error, Reduce::max, Show::online, true,
       "validation error (last)", true},
      {"online.shadow_points", &S::shadow_points, nullptr, Reduce::sum, Show::online, true, "shadow checks"},
      {"online.shadow_failures", &S::shadow_failures, nullptr, Reduce::sum, Show::online, true, "shadow checks failed"},
      {"online.switch_ins", &S::switch_ins, nullptr, Reduce::max, Show::online, true, "switches to the model"},
      {"online.rollbacks", &S::rollbacks, nullptr, Reduce::max, Show::online, true, "rollbacks"},
      {"online.buffer_samples", &S::buffer_samples, nullptr, Reduce::max, Show::online, true, "replay buffer samples",
       true},
      {"isat.retrieved", &S::isat_retrieved, nullptr, Reduce::sum, Show::table, true,
       "points retrieved from the table"},
      {"isat.grown", &S::isat_grown, nullptr, Reduce::sum, Show::table, true, "misses that grew an entry"},
      {"isat.added", &S::isat_added, nullptr, Reduce::sum, Show::table, true, "misses that added an entry"},
      {"isat.direct", &S::isat_direct, nullptr, Reduce::sum, Show::table, true, "misses computed, not tabulated"},
      {"isat.inadmissible", &S::isat_inadmissible, nullptr, Reduce::sum, Show::table, true,
       "retrievals not admissible, computed"},
      {"isat.evicted", &S::isat_evicted, nullptr, Reduce::sum, Show::table, true, "entries evicted"},
      {"isat.entries", &S::isat_entries, nullptr, Reduce::sum, Show::table, true, "table entries (all ranks)", true},
      {"isat.megabytes", nullptr, &S::isat_megabytes, Reduce::sum, Show::table, true, "table size, MB (all ranks)",
       true},
      {"isat.table_seconds", nullptr, &S::table_seconds, Reduce::max, Show::table, true,
       "table time (search, grow, add, sensitivities)"},
      {"isat.verified", &S::isat_verified, nullptr, Reduce::sum, Show::table, true, "retrievals verified directly"},
      {"isat.verified_within", &S::isat_verified_within, nullptr, Reduce::sum, Show::table, true,
       "verified retrievals within the tolerance"},
      {"isat.worst_verified", nullptr, &S::isat_worst_verified, Reduce::max, Show::table, true,
       "largest verified error / tolerance", true},
      {"balance.sent", &S::balance_sent, nullptr, Reduce::sum, Show::balance, true, "points computed on another rank"},
      {"balance.mapped", &S::balance_mapped, nullptr, Reduce::sum, Show::balance, true,
       "points given a reference point's result"},
      {"balance.imbalance", nullptr, &S::balance_imbalance, Reduce::max, Show::balance, true,
       "max / mean busy time over the ranks (last call)", true},
      {"balance.unbalanced", nullptr, &S::balance_unbalanced, Reduce::max, Show::balance, true,
       "the same without the moves (last call)", true},
      {"balance.transfer_seconds", nullptr, &S::balance_transfer_seconds, Reduce::max, Show::balance, true,
       "packing, exchanging and waiting"},
  };
  return table;
}

void reduce_stats(std::vector<SubStepStats>& stats, MPI_Comm comm) {
  const auto& table = substep_counters();
  for (Reduce r : {Reduce::sum, Reduce::max}) {
    std::vector<double> buf;  // doubles hold counts exactly up to 2^53
    for (const auto& s : stats)
      for (const auto& c : table)
        if (c.reduce == r) buf.push_back(c.value(s));
    MPI_Allreduce(MPI_IN_PLACE, buf.data(), static_cast<int>(buf.size()), MPI_DOUBLE,
                  r == Reduce::sum ? MPI_SUM : MPI_MAX, comm);
    size_t k = 0;
    for (auto& s : stats)
      for (const auto& c : table)
        if (c.reduce == r) {
          if (c.count)
            s.*c.count = static_cast<long>(buf[k]);
          else
            s.*c.seconds = buf[k];
          ++k;
        }
  }
  // Flags: any rank's counts make the sub-step iterative, online or tabulated (the same on every rank).
  for (auto& s : stats) {
    int fl[4] = {s.iterative ? 1 : 0, s.online ? 1 : 0, s.tabulated ? 1 : 0, s.balanced ? 1 : 0};
    MPI_Allreduce(MPI_IN_PLACE, fl, 4, MPI_INT, MPI_MAX, comm);
    s.balanced = fl[3] != 0;
    s.iterative = fl[0] != 0;
    s.online = fl[1] != 0;
    s.tabulated = fl[2] != 0;
  }
}

std::vector<std::map<std::string, RankSpread>> rank_spread(const std::vector<SubStepStats>& local, MPI_Comm comm) {
  int size = 1;
  MPI_Comm_size(comm, &size);
  std::vector<double> mx, sum;
  for (const auto& s : local)
    for (const auto& c : substep_counters())
      if (c.is_time()) mx.push_back(s.*c.seconds);
  sum = mx;
  MPI_Allreduce(MPI_IN_PLACE, mx.data(), static_cast<int>(mx.size()), MPI_DOUBLE, MPI_MAX, comm);
  MPI_Allreduce(MPI_IN_PLACE, sum.data(), static_cast<int>(sum.size()), MPI_DOUBLE, MPI_SUM, comm);
  std::vector<std::map<std::string, RankSpread>> out(local.size());
  size_t k = 0;
  for (size_t i = 0; i < local.size(); ++i)
    for (const auto& c : substep_counters())
      if (c.is_time()) {
        out[i][c.key] = {mx[k], sum[k] / size, sum[k]};
        ++k;
      }
  return out;
}

std::string StatCounter::column() const {
  std::string col = key;
  std::replace(col.begin(), col.end(), '.', '_');
  return col;
}

nlohmann::ordered_json::json_pointer StatCounter::pointer() const {
  std::string ptr = std::string("/") + key;
  std::replace(ptr.begin(), ptr.end(), '.', '/');
  return nlohmann::ordered_json::json_pointer(ptr);
}

bool shown(const StatCounter& c, const SubStepStats& s) {
  switch (c.show) {
    case Show::always:
      return true;
    case Show::iterative:
      return s.iterative;
    case Show::surrogate:
      return s.surrogate_calls > 0;
    case Show::points:
      return s.surrogate_calls > 0 && s.points > 0;
    case Show::online:
      return s.online;
    case Show::table:
      return s.tabulated;
    case Show::balance:
      return s.balanced;
  }
  return false;
}

PolicyRegistry& policy_registry() {
  static PolicyRegistry* r = [] {
    auto* reg = new PolicyRegistry("policy");
    reg->add("classical", "the solver's own implementation", nullptr,
             [](const PolicyContext&) { return std::make_unique<ClassicalPolicy>(); });
    reg->add("isat",
             "in situ adaptive tabulation (Pope 1997, as OpenFOAM's TDAC) of a pointwise sub-step: results retrieved "
             "by linear extrapolation from entries whose region of accuracy holds the point, misses computed by the "
             "sub-step and tabulated (docs/user-guide.md)",
             declare_isat, make_isat_policy);
    reg->add("balanced",
             "the solver's own implementation of a pointwise sub-step, its points shared among the ranks by their "
             "measured cost (point records sent from busy ranks to idle ones and back)",
             declare_balanced, make_balanced_policy);
    Catalog::instance().set_shorthand("policy", Catalog::type_name_shorthand,
                                      "a name means {type: name} with default parameters");
    return reg;
  }();
  return *r;
}

}  // namespace simfuse
