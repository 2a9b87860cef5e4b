#include "simfuse/coupling/ai/Generate.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>

#include "simfuse/core/Checkpoint.hpp"
#include "simfuse/core/Files.hpp"
#include "simfuse/core/Solver.hpp"
#include "simfuse/core/Version.hpp"
#include "simfuse/core/base/Config.hpp"
#include "simfuse/core/base/Paths.hpp"
#include "simfuse/coupling/Simulation.hpp"
#include "simfuse/coupling/ai/Capture.hpp"

namespace simfuse {

namespace fs = std::filesystem;

const Schema& generate_schema() {
  static const Schema s = [] {
    Schema s("generate", "an ensemble spec for simfuse generate");
    s.add_string("base", "the base case file, relative to the spec").required();
    s.add_string("output", "output folder, relative to the spec").required();
    s.add_int("members", "number of ensemble members").required().range(1, 100000);
    Schema& sm = s.add_section("sampling", "how parameter values are drawn");
    sm.add_string("method", "uniform (independent draws), latin_hypercube (one per stratum), list (values in turn)")
        .def("latin_hypercube")
        .choices({"uniform", "latin_hypercube", "list"});
    sm.add_int("seed", "random seed of the sampling and of the members' capture positions").def(1).min(0);
    s.add_map("parameters", "case key paths sampled per member: {range: [lo, hi]} or {values: [...]}");
    s.add("set", ParamType::StringList, "overrides applied to every member (key=value)");
    s.add_map("capture", "the capture: section of every member (default: the base case's)");
    s.add_int("ranks_per_member", "MPI ranks per member (the ranks form groups that run members side by side)")
        .def(1)
        .min(1);
    return s;
  }();
  return s;
}

namespace {

struct Sampled {
  std::string key;
  std::vector<YAML::Node> values;  // one per member
};

std::string to_yaml(const YAML::Node& n) {
  YAML::Emitter e;
  e.SetDoublePrecision(17);
  e << YAML::Flow << n;
  return e.c_str();
}

// Draws the members' values of every sampled key.
std::vector<Sampled> sample(const Params& p, long members) {
  std::vector<Sampled> out;
  if (!p.is_set("parameters")) return out;
  const Params& sp = p.sub("sampling");
  const std::string method = sp.get<std::string>("method");
  std::mt19937_64 rng(static_cast<uint64_t>(sp.get<int>("seed")));
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const YAML::Node& params = p.node("parameters");
  if (!params.IsMap())
    p.fail("parameters", "must be a map of key paths to {range: [lo, hi]} or {values: [...]}",
           "e.g. parameters: {solver.params.kinetics.f: {range: [2.2, 2.8]}}");
  for (const auto& kv : params) {
    Sampled s;
    s.key = kv.first.as<std::string>();
    const YAML::Node& spec = kv.second;
    const bool has_range = spec.IsMap() && spec["range"], has_values = spec.IsMap() && spec["values"];
    if (has_range == has_values)
      p.fail("parameters", fmt::format("'{}' needs exactly one of range: [lo, hi] or values: [...]", s.key),
             "e.g. {range: [0.3, 0.6]} or {values: [1, 2, 3]}");
    if (has_values) {
      const YAML::Node& v = spec["values"];
      if (!v.IsSequence() || v.size() == 0)
        p.fail("parameters", fmt::format("'{}': values must be a non-empty list", s.key));
      if (method == "list" && static_cast<long>(v.size()) != members)
        p.fail("parameters",
               fmt::format("'{}' lists {} values for {} members; list sampling takes one value per member", s.key,
                           v.size(), members),
               "give as many values as members");
      for (long m = 0; m < members; ++m)
        s.values.push_back(method == "list" ? v[m] : v[static_cast<size_t>(unit(rng) * v.size()) % v.size()]);
    } else {
      if (method == "list")
        p.fail("parameters", fmt::format("'{}' gives a range, but sampling.method is list", s.key),
               "give values: [...], or use uniform / latin_hypercube");
      const YAML::Node& r = spec["range"];
      double lo = 0, hi = 0;
      try {
        if (!r.IsSequence() || r.size() != 2) throw YAML::Exception(YAML::Mark(), "");
        lo = r[0].as<double>();
        hi = r[1].as<double>();
      } catch (const YAML::Exception&) {
        p.fail("parameters", fmt::format("'{}': range must be two numbers [lo, hi]", s.key));
      }
      if (!(hi >= lo)) p.fail("parameters", fmt::format("'{}': range [{}, {}] is empty", s.key, lo, hi));
      std::vector<long> strata(static_cast<size_t>(members));
      std::iota(strata.begin(), strata.end(), 0);
      if (method == "latin_hypercube") std::shuffle(strata.begin(), strata.end(), rng);
      for (long m = 0; m < members; ++m) {
        const double u =
            method == "latin_hypercube" ? (static_cast<double>(strata[m]) + unit(rng)) / members : unit(rng);
        s.values.push_back(YAML::Node(lo + u * (hi - lo)));
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

namespace {

// The ensemble a spec describes: its members' cases and where their data go.
struct Ensemble {
  const ConfigDocument& spec;
  Params p;
  std::string base;
  fs::path out_dir;
  long members = 0;
  int rpm = 1;  // ranks per member
  uint64_t seed = 1;
  std::vector<Sampled> sampled;
  std::vector<std::string> sets;

  Ensemble(const ConfigDocument& spec_doc, int size) : spec(spec_doc) {
    p = generate_schema().validate_or_throw(spec, spec.root(), "");
    base = resolve_path(p.get<std::string>("base"), spec.origin());
    if (p.get<std::string>("output").empty())
      p.fail("output", "the output folder is empty", "give a folder, e.g. output: ../../out/my_data");
    out_dir = resolve_path(p.get<std::string>("output"), spec.origin(), PathUse::output);
    members = p.get<int>("members");
    rpm = p.get<int>("ranks_per_member");
    if (size % rpm != 0)
      p.fail("ranks_per_member", fmt::format("{} ranks cannot form groups of {}", size, rpm),
             fmt::format("run on a multiple of {} ranks, or change ranks_per_member", rpm));
    seed = static_cast<uint64_t>(p.sub("sampling").get<int>("seed"));
    sampled = sample(p, members);
    if (p.is_set("set")) sets = p.get<std::vector<std::string>>("set");
  }

  // The document of member m.
  ConfigDocument member_doc(long m) const {
    ConfigDocument doc = ConfigDocument::load_file(base, "base case");
    for (const auto& s : sets) doc.set(s);
    for (const auto& s : sampled) doc.set(s.key + "=" + to_yaml(s.values[m]));
    if (p.is_set("capture")) doc.set("capture=" + to_yaml(p.node("capture")));
    const YAML::Node cap = doc.root()["capture"];
    if (!cap || !cap.IsMap() || cap.size() == 0)
      p.fail("capture", "neither the spec nor the base case has a capture: section, so members would record nothing",
             "add e.g. capture: {react: {every: 4, points: 2000}}");
    for (const auto& kv : cap) doc.set(fmt::format("capture.{}.seed={}", kv.first.as<std::string>(), seed + m));
    doc.set("output={every: 0}");
    return doc;
  }
  // The key of member m's case, recorded with its data: a resumed member whose case
  // changed runs again.
  std::string member_key(long m) const {
    try {
      YAML::Emitter e;
      e << member_doc(m).root();
      return fnv1a64_hex(e.c_str());
    } catch (const UserError&) {  // a member whose case cannot be built: it fails again
      return "unbuildable";
    }
  }
  // A member's record: written after its data, so a member killed half-way is run again.
  std::string done_file(long m) const { return (out_dir / "members" / fmt::format("member_{:05d}.done", m)).string(); }
  std::string member_stem(long m, const std::string& substep) const {
    return (out_dir / "members" / fmt::format("member_{:05d}_{}", m, substep)).string();
  }
};

// Bad specs fail here, on every rank, before anything runs: member 0 built in full.
// Returns the captured sub-steps (the same in every member).
std::vector<std::string> check_member0(const Ensemble& e) {
  std::vector<std::string> substeps;
  ConfigDocument d0 = e.member_doc(0);
  RunOptions ro;
  ro.dry_run = true;
  ro.write_output = false;
  try {
    Simulation sim(PETSC_COMM_SELF, d0, ro);
    for (const auto& c : Capture::of(sim)) substeps.push_back(c->spec().substep);
  } catch (const UserError& err) {
    auto ds = err.diagnostics();
    // A problem in the capture: section this spec gave its members is reported at that
    // section of the spec, not at the override it became.
    for (auto& d : ds) {
      if (d.where.in_file() || d.key_path.rfind("capture", 0) != 0 || !e.p.is_set("capture")) continue;
      YAML::Node cur;
      cur.reset(e.spec.root());
      bool found = true;
      for (const auto& part : split_key_path(d.key_path)) {
        const YAML::Node c = cur;
        const YAML::Node next = c.IsMap() ? c[part] : YAML::Node();
        if (!next) {
          found = false;
          break;
        }
        cur.reset(next);
      }
      if (found) d.where = e.spec.locate(cur, d.key_path);
    }
    ds.push_back(e.p.diag("base",
                          "while building member 0 of the ensemble from this base case and the spec's "
                          "parameters/set/capture"));
    throw UserError(ds);
  }
  return substeps;
}

// What became of a member on this rank of its group.
struct MemberOutcome {
  long done = 0, failed = 0, samples = 0;  // samples: on the group's first rank only
  std::string message;
};

// --resume: whether member m finished before, with the same case and its data still there
// as written (a member whose files were deleted or changed runs again, and says so).
bool finished_before(const Ensemble& e, long m, int sub_rank, MemberOutcome& out) {
  std::ifstream in(e.done_file(m));
  const nlohmann::json rec = in ? nlohmann::json::parse(in, nullptr, false) : nlohmann::json();
  bool data_there = true;
  if (rec.is_object() && rec.contains("files") && rec["files"].is_object())
    for (const auto& [file, bytes] : rec["files"].items()) {
      std::error_code fe;
      const auto path = e.out_dir / "members" / file;
      if (!fs::is_regular_file(path, fe) || fs::file_size(path, fe) != bytes.get<std::uintmax_t>()) {
        data_there = false;
        if (sub_rank == 0)
          spdlog::warn("member {}: its data {} is missing or changed since it was written; it runs again", m,
                       path.string());
        break;
      }
    }
  if (!rec.is_object() || rec.value("key", "") != e.member_key(m) || !data_there) return false;
  out.done = 1;
  out.failed = rec.value("status", "") == "failed" ? 1 : 0;
  out.samples = sub_rank == 0 ? rec.value("samples", 0L) : 0;
  out.message = rec.value("message", "");
  return true;
}

// Runs member m on the group `sub`, saves its datasets and then its record.
MemberOutcome run_member(const Ensemble& e, long m, MPI_Comm sub, int sub_rank) {
  MemberOutcome out;
  out.done = 1;
  nlohmann::json written = nlohmann::json::object();  // file name -> bytes, for --resume
  try {
    ConfigDocument doc = e.member_doc(m);
    RunOptions ro;
    ro.write_output = false;
    Simulation sim(sub, doc, ro);
    const auto caps = Capture::of(sim);
    while (!sim.done()) sim.step();
    for (const auto& c : caps) {
      Dataset ds = c->gather(m);
      if (sub_rank == 0 && ds.size() > 0) {
        ds.manifest["member"] = m;
        for (const auto& [k, v] : sim.solver().model_context()) ds.manifest["context"][k] = v;
        const std::string stem = e.member_stem(m, c->spec().substep);
        ds.save(stem);
        std::error_code fe;
        written[fs::path(stem + ".pt").filename().string()] = fs::file_size(stem + ".pt", fe);
      }
      if (sub_rank == 0) out.samples += ds.size();
    }
  } catch (const UserError& err) {  // includes RunFailure; the same on every rank of the group
    out.failed = 1;
    out.message = err.what();
  }
  if (sub_rank == 0) {
    nlohmann::json rec = {{"member", m},
                          {"key", e.member_key(m)},
                          {"status", out.failed ? "failed" : "completed"},
                          {"samples", out.samples},
                          {"files", written}};
    if (out.failed) rec["message"] = out.message;
    write_file_atomic(e.done_file(m), rec.dump() + "\n", /*durable=*/true);
  }
  return out;
}

// Per member: its status and samples, as the groups report them.
struct Tally {
  std::vector<long> samples;
  std::vector<std::string> status;
  long done = 0, failed = 0, total_samples = 0;
};

// Round r's outcomes of every group, gathered on every rank.
void tally_round(const Ensemble& e, long r, const MemberOutcome& mine, MPI_Comm comm, Tally& t) {
  int size = 1;
  MPI_Comm_size(comm, &size);
  const int groups = size / e.rpm;
  long counts[3] = {mine.done, mine.failed, mine.samples};
  std::vector<long> all(3 * static_cast<size_t>(size));
  MPI_Allgather(counts, 3, MPI_LONG, all.data(), 3, MPI_LONG, comm);
  for (int g = 0; g < groups; ++g) {
    const long mg = r * groups + g;
    if (mg >= e.members) continue;
    const size_t leader = static_cast<size_t>(g * e.rpm);
    t.samples[mg] = all[3 * leader + 2];
    t.status[mg] = all[3 * leader + 1] ? "failed" : "completed";
  }
  for (int q = 0; q < size; q += e.rpm) {
    t.done += all[3 * static_cast<size_t>(q)];
    t.failed += all[3 * static_cast<size_t>(q) + 1];
    t.total_samples += all[3 * static_cast<size_t>(q) + 2];
  }
}

// Merges the members' datasets per captured sub-step into <output>/<sub-step>.pt (rank 0).
void merge(const Ensemble& e, const std::vector<std::string>& substeps, const Tally& t, int size, GenerateResult& res) {
  YAML::Node man;
  man["provenance"]["tool"] = std::string("simfuse ") + SIMFUSE_VERSION + " generate";
  man["provenance"]["spec"] = e.spec.origin();
  man["provenance"]["base"] = e.base;
  man["provenance"]["ranks"] = size;
  man["provenance"]["ranks_per_member"] = e.rpm;
  man["sampling"]["method"] = e.p.sub("sampling").get<std::string>("method");
  man["sampling"]["seed"] = e.seed;
  for (long m = 0; m < e.members; ++m) {
    YAML::Node mn;
    mn["member"] = m;
    mn["status"] = t.status[m];
    mn["samples"] = t.samples[m];
    mn["capture_seed"] = e.seed + m;
    for (const auto& s : e.sampled) mn["parameters"][s.key] = s.values[m];
    mn["parameters"].SetStyle(YAML::EmitterStyle::Flow);
    man["members"].push_back(mn);
  }
  for (const auto& substep : substeps) {
    std::vector<Dataset> parts;
    std::error_code ec;
    for (long m = 0; m < e.members; ++m)  // a member that captured nothing wrote no file
      if (t.status[m] == "completed" && fs::exists(e.member_stem(m, substep) + ".pt", ec))
        parts.push_back(Dataset::load(e.member_stem(m, substep) + ".pt"));
    if (parts.empty()) {
      spdlog::warn("no member produced samples of '{}'", substep);
      continue;
    }
    // The solver facts every member shares (a fact that varies between members, such as a
    // sampled pressure, is not a fact of the dataset). Read before the merged manifest is
    // set: YAML nodes are shared handles, and concat's result shares the first part's.
    const auto shared_context = Dataset::common_context(parts);
    Dataset all = Dataset::concat(parts);
    all.manifest.reset(YAML::Clone(man));
    for (const auto& [key, value] : shared_context) all.manifest["context"][key] = value;
    const std::string stem = (e.out_dir / substep).string();
    all.save(stem);
    res.datasets.push_back(stem + ".pt");
    spdlog::info("wrote {}.pt: {} samples of '{}' from {} member(s)", stem, all.size(), substep, parts.size());
  }
}

}  // namespace

GenerateResult generate(const ConfigDocument& spec, MPI_Comm comm, const GenerateOptions& opt) {
  const double t_start = MPI_Wtime();
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const Ensemble e(spec, size);
  const std::vector<std::string> substeps = check_member0(e);
  GenerateResult res;
  res.members = e.members;
  if (opt.check_only) return res;
  ensure_directory((e.out_dir / "members").string(), comm);
  if (!opt.resume && rank == 0) {  // a fresh ensemble: an earlier one's records are stale
    std::error_code ec;
    for (long m = 0; m < e.members; ++m) fs::remove(e.done_file(m), ec);
  }
  MPI_Barrier(comm);

  // Groups of ranks; member m runs on group m % groups, in round m / groups.
  const int groups = size / e.rpm, group = rank / e.rpm;
  MPI_Comm sub;
  MPI_Comm_split(comm, group, rank, &sub);
  int sub_rank = 0;
  MPI_Comm_rank(sub, &sub_rank);
  Tally t;
  t.samples.assign(static_cast<size_t>(e.members), 0);
  t.status.resize(static_cast<size_t>(e.members));
  long resumed = 0;
  const long rounds = (e.members + groups - 1) / groups;
  for (long r = 0; r < rounds; ++r) {
    const long m = r * groups + group;
    MemberOutcome mine;
    if (m < e.members && opt.resume && finished_before(e, m, sub_rank, mine)) {
      if (sub_rank == 0) ++resumed;
    } else if (m < e.members) {
      mine = run_member(e, m, sub, sub_rank);
    }
    tally_round(e, r, mine, comm, t);
    if (mine.failed && sub_rank == 0) spdlog::warn("member {} failed: {}", m, mine.message);  // rank 0's group only
    if (mine.failed && sub_rank == 0 && rank != 0)
      std::fprintf(stderr, "[warning] member %ld failed: %s\n", m, mine.message.c_str());
    if (opt.progress && rank == 0) {
      const double el = MPI_Wtime() - t_start;
      spdlog::info("members {}/{} done ({} failed), {} samples, elapsed {:.1f}s, ETA {:.1f}s", t.done, e.members,
                   t.failed, t.total_samples, el, el / t.done * (e.members - t.done));
    }
  }
  MPI_Comm_free(&sub);
  MPI_Allreduce(MPI_IN_PLACE, &resumed, 1, MPI_LONG, MPI_SUM, comm);
  if (opt.resume && rank == 0)
    spdlog::info("resumed: {} of {} members were finished before and skipped", resumed, e.members);
  res.failed = t.failed;
  res.samples = t.total_samples;
  if (rank == 0) merge(e, substeps, t, size, res);
  res.seconds = MPI_Wtime() - t_start;
  return res;
}

}  // namespace simfuse
