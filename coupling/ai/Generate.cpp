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
#include "simfuse/core/Paths.hpp"
#include "simfuse/core/Version.hpp"
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

GenerateResult generate(const ConfigDocument& spec, MPI_Comm comm, const GenerateOptions& opt) {
  const double t_start = MPI_Wtime();
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const Params p = generate_schema().validate_or_throw(spec, spec.root(), "");
  const std::string base = resolve_path(p.get<std::string>("base"), spec.origin());
  if (p.get<std::string>("output").empty())
    p.fail("output", "the output folder is empty", "give a folder, e.g. output: ../../out/my_data");
  const fs::path out_dir = resolve_path(p.get<std::string>("output"), spec.origin(), PathUse::output);
  const long members = p.get<int>("members");
  const int rpm = p.get<int>("ranks_per_member");
  if (size % rpm != 0)
    p.fail("ranks_per_member", fmt::format("{} ranks cannot form groups of {}", size, rpm),
           fmt::format("run on a multiple of {} ranks, or change ranks_per_member", rpm));
  const uint64_t seed = static_cast<uint64_t>(p.sub("sampling").get<int>("seed"));
  const std::vector<Sampled> sampled = sample(p, members);
  const std::vector<std::string> sets =
      p.is_set("set") ? p.get<std::vector<std::string>>("set") : std::vector<std::string>{};

  // The document of member m.
  auto member_doc = [&](long m) {
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
  };
  // Bad specs fail here, on every rank, before anything runs: member 0 built in full.
  std::vector<std::string> substeps;  // the captured sub-steps (the same in every member)
  {
    ConfigDocument d0 = member_doc(0);
    RunOptions ro;
    ro.dry_run = true;
    ro.write_output = false;
    try {
      Simulation sim(PETSC_COMM_SELF, d0, ro);
      for (const auto& c : Capture::of(sim)) substeps.push_back(c->spec().substep);
    } catch (const UserError& e) {
      auto ds = e.diagnostics();
      // A problem in the capture: section this spec gave its members is reported at that
      // section of the spec, not at the override it became.
      for (auto& d : ds) {
        if (d.where.in_file() || d.key_path.rfind("capture", 0) != 0 || !p.is_set("capture")) continue;
        YAML::Node cur;
        cur.reset(spec.root());
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
        if (found) d.where = spec.locate(cur, d.key_path);
      }
      ds.push_back(p.diag("base",
                          "while building member 0 of the ensemble from this base case and the spec's "
                          "parameters/set/capture"));
      throw UserError(ds);
    }
  }
  if (opt.check_only) {
    GenerateResult r;
    r.members = members;
    return r;
  }
  ensure_directory((out_dir / "members").string(), comm);
  // A member's record: written after its data, so a member killed half-way is run again.
  auto done_file = [&](long m) { return (out_dir / "members" / fmt::format("member_{:05d}.done", m)).string(); };
  auto member_key = [&](long m) -> std::string {
    try {
      YAML::Emitter e;
      e << member_doc(m).root();
      return fnv1a64_hex(e.c_str());
    } catch (const UserError&) {  // a member whose case cannot be built: it fails again
      return "unbuildable";
    }
  };
  if (!opt.resume && rank == 0) {  // a fresh ensemble: an earlier one's records are stale
    std::error_code ec;
    for (long m = 0; m < members; ++m) fs::remove(done_file(m), ec);
  }
  MPI_Barrier(comm);
  long resumed = 0;

  auto member_stem = [&](long m, const std::string& substep) {
    return (out_dir / "members" / fmt::format("member_{:05d}_{}", m, substep)).string();
  };

  // Groups of ranks; member m runs on group m % groups, in round m / groups.
  const int groups = size / rpm, group = rank / rpm;
  MPI_Comm sub;
  MPI_Comm_split(comm, group, rank, &sub);
  int sub_rank = 0;
  MPI_Comm_rank(sub, &sub_rank);
  std::vector<long> samples(static_cast<size_t>(members), 0);
  std::vector<std::string> status(static_cast<size_t>(members));
  const long rounds = (members + groups - 1) / groups;
  long done = 0, failed = 0, total_samples = 0;
  for (long r = 0; r < rounds; ++r) {
    const long m = r * groups + group;
    long my_samples = 0, my_failed = 0, my_done = 0;
    std::string message;
    bool finished_before = false;
    if (m < members && opt.resume) {
      std::ifstream in(done_file(m));
      const nlohmann::json rec = in ? nlohmann::json::parse(in, nullptr, false) : nlohmann::json();
      // Finished before, with the same case, and its data still there as written (a member
      // whose files were deleted or changed runs again, and says so).
      bool data_there = true;
      if (rec.is_object() && rec.contains("files") && rec["files"].is_object())
        for (const auto& [file, bytes] : rec["files"].items()) {
          std::error_code fe;
          const auto path = out_dir / "members" / file;
          if (!fs::is_regular_file(path, fe) || fs::file_size(path, fe) != bytes.get<std::uintmax_t>()) {
            data_there = false;
            if (sub_rank == 0)
              spdlog::warn("member {}: its data {} is missing or changed since it was written; it runs again", m,
                           path.string());
            break;
          }
        }
      if (rec.is_object() && rec.value("key", "") == member_key(m) && data_there) {
        finished_before = true;
        my_done = 1;
        my_failed = rec.value("status", "") == "failed" ? 1 : 0;
        my_samples = sub_rank == 0 ? rec.value("samples", 0L) : 0;
        message = rec.value("message", "");
        if (sub_rank == 0) ++resumed;
      }
    }
    if (m < members && !finished_before) {
      my_done = 1;
      nlohmann::json written = nlohmann::json::object();  // file name -> bytes, for --resume
      try {
        ConfigDocument doc = member_doc(m);
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
            const std::string stem = member_stem(m, c->spec().substep);
            ds.save(stem);
            std::error_code fe;
            written[fs::path(stem + ".pt").filename().string()] = fs::file_size(stem + ".pt", fe);
          }
          if (sub_rank == 0) my_samples += ds.size();
        }
      } catch (const UserError& e) {  // includes RunFailure; the same on every rank of the group
        my_failed = 1;
        message = e.what();
      }
      if (sub_rank == 0) {
        nlohmann::json rec = {{"member", m},
                              {"key", member_key(m)},
                              {"status", my_failed ? "failed" : "completed"},
                              {"samples", my_samples},
                              {"files", written}};
        if (my_failed) rec["message"] = message;
        write_file_atomic(done_file(m), rec.dump() + "\n", /*durable=*/true);
      }
    }
    // Progress and bookkeeping, over all groups.
    long counts[3] = {my_done, my_failed, my_samples};
    std::vector<long> all(3 * static_cast<size_t>(size));
    MPI_Allgather(counts, 3, MPI_LONG, all.data(), 3, MPI_LONG, comm);
    for (int g = 0; g < groups; ++g) {
      const long mg = r * groups + g;
      if (mg >= members) continue;
      const size_t leader = static_cast<size_t>(g * rpm);
      samples[mg] = all[3 * leader + 2];
      status[mg] = all[3 * leader + 1] ? "failed" : "completed";
    }
    for (int q = 0; q < size; q += rpm) {
      done += all[3 * static_cast<size_t>(q)];
      failed += all[3 * static_cast<size_t>(q) + 1];
      total_samples += all[3 * static_cast<size_t>(q) + 2];
    }
    if (my_failed && sub_rank == 0) spdlog::warn("member {} failed: {}", m, message);  // rank 0's group only
    if (my_failed && sub_rank == 0 && rank != 0)
      std::fprintf(stderr, "[warning] member %ld failed: %s\n", m, message.c_str());
    if (opt.progress && rank == 0) {
      const double el = MPI_Wtime() - t_start;
      spdlog::info("members {}/{} done ({} failed), {} samples, elapsed {:.1f}s, ETA {:.1f}s", done, members, failed,
                   total_samples, el, el / done * (members - done));
    }
  }
  MPI_Comm_free(&sub);
  MPI_Allreduce(MPI_IN_PLACE, &resumed, 1, MPI_LONG, MPI_SUM, comm);
  if (opt.resume && rank == 0)
    spdlog::info("resumed: {} of {} members were finished before and skipped", resumed, members);

  // Merge on rank 0, member by member, per captured sub-step.
  GenerateResult res;
  res.members = members;
  res.failed = failed;
  res.samples = total_samples;
  if (rank == 0) {
    YAML::Node man;
    man["provenance"]["tool"] = std::string("simfuse ") + SIMFUSE_VERSION + " generate";
    man["provenance"]["spec"] = spec.origin();
    man["provenance"]["base"] = base;
    man["provenance"]["ranks"] = size;
    man["provenance"]["ranks_per_member"] = rpm;
    man["sampling"]["method"] = p.sub("sampling").get<std::string>("method");
    man["sampling"]["seed"] = seed;
    for (long m = 0; m < members; ++m) {
      YAML::Node mn;
      mn["member"] = m;
      mn["status"] = status[m];
      mn["samples"] = samples[m];
      mn["capture_seed"] = seed + m;
      for (const auto& s : sampled) mn["parameters"][s.key] = s.values[m];
      mn["parameters"].SetStyle(YAML::EmitterStyle::Flow);
      man["members"].push_back(mn);
    }
    for (const auto& substep : substeps) {
      std::vector<Dataset> parts;
      std::error_code ec;
      for (long m = 0; m < members; ++m)  // a member that captured nothing wrote no file
        if (status[m] == "completed" && fs::exists(member_stem(m, substep) + ".pt", ec))
          parts.push_back(Dataset::load(member_stem(m, substep) + ".pt"));
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
      const std::string stem = (out_dir / substep).string();
      all.save(stem);
      res.datasets.push_back(stem + ".pt");
      spdlog::info("wrote {}.pt: {} samples of '{}' from {} member(s)", stem, all.size(), substep, parts.size());
    }
  }
  res.seconds = MPI_Wtime() - t_start;
  return res;
}

}  // namespace simfuse
