#include "simfuse/coupling/detail/Balance.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "simfuse/core/Timer.hpp"

namespace simfuse::detail {

namespace {

// Computes record q of `ps` alone (timed), in place.
void compute_one(Relocatable& rel, const StepInfo& info, PointStates& ps, size_t q, double& secs, char& ok) {
  PointStates one(ps.layout());
  one.append(ps, q);
  std::vector<char> k;
  const double t0 = wall_time();
  rel.apply_states(info, one, k);
  secs = wall_time() - t0;
  ok = k.empty() ? 0 : k[0];
  std::copy_n(one.state(0), ps.layout().components, ps.state(q));
  std::copy_n(one.memory(0), ps.layout().n_memory(), ps.memory(q));
}

double max_over_mean(const std::vector<double>& v) {
  const double sum = std::accumulate(v.begin(), v.end(), 0.0);
  const double mx = v.empty() ? 0.0 : *std::max_element(v.begin(), v.end());
  return sum > 0 ? mx * static_cast<double>(v.size()) / sum : 1.0;
}

// Who gives how many seconds of work to whom: donors (above the mean) to receivers (below
// it), both in rank order. The same on every rank (computed from the same gathered loads).
std::vector<std::vector<double>> plan(const std::vector<double>& loads) {
  const size_t P = loads.size();
  const double mean = std::accumulate(loads.begin(), loads.end(), 0.0) / static_cast<double>(P);
  std::vector<double> ex(P);
  for (size_t r = 0; r < P; ++r) ex[r] = loads[r] - mean;
  std::vector<std::vector<double>> give(P, std::vector<double>(P, 0.0));
  size_t r = 0;
  for (size_t d = 0; d < P; ++d) {
    while (ex[d] > 1e-12 * mean) {
      while (r < P && ex[r] >= 0) ++r;
      if (r == P) break;
      const double amt = std::min(ex[d], -ex[r]);
      give[d][r] += amt;
      ex[d] -= amt;
      ex[r] += amt;
    }
  }
  return give;
}

}  // namespace

BalanceReport balanced_apply(Relocatable& rel, const StepInfo& info, PointStates& states,
                             const std::vector<double>& predicted, std::vector<double>& measured, std::vector<char>& ok,
                             MPI_Comm comm, double threshold) {
  const double t_start = wall_time();
  BalanceReport rep;
  int P = 1, me = 0;
  MPI_Comm_size(comm, &P);
  MPI_Comm_rank(comm, &me);
  const size_t n = states.size();
  const PointLayout& layout = states.layout();
  const int row = layout.row_size();

  // Predicted cost per record; without any measurement anywhere, one unit per record.
  std::vector<double> cost(n, 1.0);
  double mine = 0;
  if (predicted.size() == n)
    for (size_t q = 0; q < n; ++q) mine += predicted[q];
  double any = mine;
  MPI_Allreduce(MPI_IN_PLACE, &any, 1, MPI_DOUBLE, MPI_MAX, comm);
  if (any > 0 && predicted.size() == n) cost = predicted;
  double L = std::accumulate(cost.begin(), cost.end(), 0.0);
  std::vector<double> loads(static_cast<size_t>(P));
  MPI_Allgather(&L, 1, MPI_DOUBLE, loads.data(), 1, MPI_DOUBLE, comm);
  rep.predicted_before = max_over_mean(loads);
  std::vector<std::vector<double>> give(static_cast<size_t>(P), std::vector<double>(static_cast<size_t>(P), 0.0));
  if (P > 1 && rep.predicted_before > threshold) give = plan(loads);
  std::vector<double> after = loads;
  for (int d = 0; d < P; ++d)
    for (int r = 0; r < P; ++r) {
      after[d] -= give[d][r];
      after[r] += give[d][r];
    }
  rep.predicted_after = max_over_mean(after);

  // My records to send: from the end of my list, a record while it brings the amount
  // nearer (the sum within half a record of it).
  std::vector<int> dest(n, me);
  size_t k = n;
  for (int r = 0; r < P; ++r) {
    if (r == me || give[me][r] <= 0) continue;
    double acc = 0;
    while (k > 0 && acc + 0.5 * cost[k - 1] <= give[me][r]) {
      --k;
      dest[k] = r;
      acc += cost[k];
    }
  }
  std::vector<std::vector<size_t>> to(static_cast<size_t>(P));
  for (size_t q = 0; q < n; ++q)
    if (dest[q] != me) to[static_cast<size_t>(dest[q])].push_back(q);

  // Send the records (packed rows), receive others'.
  std::vector<int> scount(static_cast<size_t>(P), 0), rcount(static_cast<size_t>(P), 0), sdisp(P, 0), rdisp(P, 0);
  std::vector<double> sbuf;
  for (int r = 0; r < P; ++r) {
    sdisp[r] = static_cast<int>(sbuf.size());
    for (size_t q : to[static_cast<size_t>(r)]) {
      const std::vector<double> one = states.pack(q, q + 1);
      sbuf.insert(sbuf.end(), one.begin(), one.end());
    }
    scount[r] = static_cast<int>(sbuf.size()) - sdisp[r];
    rep.sent += static_cast<long>(to[static_cast<size_t>(r)].size());
  }
  MPI_Alltoall(scount.data(), 1, MPI_INT, rcount.data(), 1, MPI_INT, comm);
  int rtotal = 0;
  for (int r = 0; r < P; ++r) {
    rdisp[r] = rtotal;
    rtotal += rcount[r];
  }
  std::vector<double> rbuf(static_cast<size_t>(rtotal));
  MPI_Alltoallv(sbuf.data(), scount.data(), sdisp.data(), MPI_DOUBLE, rbuf.data(), rcount.data(), rdisp.data(),
                MPI_DOUBLE, comm);
  PointStates guests(layout);
  guests.unpack(rbuf.data(), static_cast<size_t>(rtotal / std::max(1, row)));
  rep.received = static_cast<long>(guests.size());

  // Compute what this rank holds: its kept records, then its guests.
  measured.assign(n, 0.0);
  ok.assign(n, 1);
  double busy = 0;
  for (size_t q = 0; q < n; ++q)
    if (dest[q] == me) {
      compute_one(rel, info, states, q, measured[q], ok[q]);
      busy += measured[q];
    }
  std::vector<double> gsecs(guests.size());
  std::vector<char> gok(guests.size(), 1);
  for (size_t g = 0; g < guests.size(); ++g) {
    compute_one(rel, info, guests, g, gsecs[g], gok[g]);
    busy += gsecs[g];
  }
  rep.busy = busy;

  // Results back to their owners: each guest's row, its seconds and its flag, in the
  // order they came.
  std::vector<double> back;
  std::vector<int> bcount(static_cast<size_t>(P), 0), bdisp(P, 0), ccount(P, 0), cdisp(P, 0);
  size_t g = 0;
  for (int r = 0; r < P; ++r) {
    bdisp[r] = static_cast<int>(back.size());
    const size_t rows = static_cast<size_t>(rcount[r] / std::max(1, row));
    for (size_t i = 0; i < rows; ++i, ++g) {
      const std::vector<double> one = guests.pack(g, g + 1);
      back.insert(back.end(), one.begin(), one.end());
      back.push_back(gsecs[g]);
      back.push_back(gok[g] ? 1.0 : 0.0);
    }
    bcount[r] = static_cast<int>(back.size()) - bdisp[r];
  }
  int ctotal = 0;
  for (int r = 0; r < P; ++r) {
    ccount[r] = static_cast<int>(to[static_cast<size_t>(r)].size()) * (row + 2);
    cdisp[r] = ctotal;
    ctotal += ccount[r];
  }
  std::vector<double> cbuf(static_cast<size_t>(ctotal));
  MPI_Alltoallv(back.data(), bcount.data(), bdisp.data(), MPI_DOUBLE, cbuf.data(), ccount.data(), cdisp.data(),
                MPI_DOUBLE, comm);
  PointStates res(layout);
  for (int r = 0; r < P; ++r) {
    const double* p = cbuf.data() + cdisp[r];
    for (size_t q : to[static_cast<size_t>(r)]) {
      res.resize(0);
      res.unpack(p, 1);
      std::copy_n(res.state(0), layout.components, states.state(q));
      std::copy_n(res.memory(0), layout.n_memory(), states.memory(q));
      measured[q] = p[row];
      ok[q] = p[row + 1] != 0 ? 1 : 0;
      p += row + 2;
    }
  }
  rep.transfer = (wall_time() - t_start) - busy;
  return rep;
}

double rank_imbalance(double mine, MPI_Comm comm) {
  double mx = mine, sum = mine;
  MPI_Allreduce(MPI_IN_PLACE, &mx, 1, MPI_DOUBLE, MPI_MAX, comm);
  MPI_Allreduce(MPI_IN_PLACE, &sum, 1, MPI_DOUBLE, MPI_SUM, comm);
  int P = 1;
  MPI_Comm_size(comm, &P);
  return sum > 0 ? mx * P / sum : 1.0;
}

PointStates take_owned(const Relocatable& rel, const State& state, PetscInt owned) {
  std::vector<PetscInt> all(static_cast<size_t>(owned));
  std::iota(all.begin(), all.end(), PetscInt(0));
  PointStates rec(rel.point_layout());
  rel.take_points(state, all, rec);
  return rec;
}

std::vector<PetscInt> return_or_rerun(Relocatable& rel, Pointwise& pw, State& state, const StepInfo& info,
                                      const PointStates& rec, const std::vector<char>& ok,
                                      const std::vector<PetscInt>* points) {
  std::vector<PetscInt> back, failed;
  PointStates out(rec.layout());
  for (size_t q = 0; q < rec.size(); ++q) {
    const PetscInt p = points ? (*points)[q] : static_cast<PetscInt>(q);
    if (ok[q]) {
      back.push_back(p);
      out.append(rec, q);
    } else {
      failed.push_back(p);
    }
  }
  rel.return_points(state, back, out);
  pw.apply_points(state, info, failed);
  return failed;
}

void record_balance(const BalanceReport& rep, SubStepStats& stats, MPI_Comm comm) {
  stats.balanced = true;
  stats.balance_sent += rep.sent;
  stats.balance_imbalance = rank_imbalance(rep.busy, comm);
  stats.balance_unbalanced = rep.predicted_before;
  stats.balance_transfer_seconds += rep.transfer;
}

std::vector<size_t> reference_map(const PointStates& s, double tolerance, const std::vector<double>& scale) {
  const PointLayout& l = s.layout();
  std::map<std::vector<double>, size_t> first;
  std::vector<size_t> ref(s.size());
  std::vector<double> key;
  for (size_t q = 0; q < s.size(); ++q) {
    key.assign(s.conditions(q), s.conditions(q) + l.n_conditions());
    if (tolerance > 0) {
      for (int c = 0; c < l.components; ++c) key.push_back(std::floor(s.state(q)[c] / (tolerance * scale[c])));
    } else {
      key.insert(key.end(), s.state(q), s.state(q) + l.components);
      key.insert(key.end(), s.memory(q), s.memory(q) + l.n_memory());
    }
    ref[q] = first.emplace(key, q).first->second;
  }
  return ref;
}

}  // namespace simfuse::detail
