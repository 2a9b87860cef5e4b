#include "simfuse/coupling/detail/Checkpoints.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "simfuse/core/Files.hpp"
#include "simfuse/core/Petsc.hpp"
#include "simfuse/core/Solver.hpp"
#include "simfuse/core/Timer.hpp"
#include "simfuse/core/Version.hpp"
#include "simfuse/coupling/Coupler.hpp"
#include "simfuse/coupling/detail/RunOutput.hpp"

namespace simfuse {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

std::string stem(long step) {
  return fmt::format("checkpoint_{:08d}", step);
}

// The whole file, or nullopt if it cannot be read.
// Checkpoints in `dir` by step, newest first: (step, manifest path).
std::vector<std::pair<long, fs::path>> manifests(const std::string& dir) {
  std::vector<std::pair<long, fs::path>> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string f = e.path().filename().string();
    if (f.size() != 24 || f.compare(0, 11, "checkpoint_") != 0 || f.compare(19, 5, ".json") != 0) continue;
    const std::string digits = f.substr(11, 8);
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
    out.emplace_back(std::stol(digits), e.path());
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  return out;
}

// Why the checkpoint of `manifest_path` cannot be used, or "" if it can (rank 0).
std::string validate(const fs::path& manifest_path, json& manifest) {
  const auto text = read_file(manifest_path.string(), 64u << 20);  // a manifest is a few kB
  if (!text) return "its manifest cannot be read (missing, not a regular file, or over 64 MB)";
  manifest = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!manifest.is_object() || !manifest.contains("files") || !manifest["files"].is_array() ||
      !manifest.contains("step") || !manifest.contains("ranks"))
    return "its manifest is not a simfuse checkpoint manifest (damaged?)";
  const fs::path dir = manifest_path.parent_path();
  for (const auto& f : manifest["files"]) {
    if (!f.is_object() || !f.contains("file") || !f.contains("bytes") || !f.contains("fnv1a64"))
      return "its manifest lists a file without size or checksum";
    const std::string name = f["file"].get<std::string>();
    if (name.find('/') != std::string::npos) return "its manifest names a file outside the folder";
    // Read only as many bytes as the manifest says (a link to /dev/zero is never read).
    const auto bytes = read_file((dir / name).string(), f["bytes"].get<std::uintmax_t>());
    if (!bytes) return fmt::format("'{}' is missing, not a regular file, or larger than the manifest says", name);
    if (bytes->size() != f["bytes"].get<size_t>())
      return fmt::format("'{}' has {} bytes, the manifest says {} (truncated?)", name, bytes->size(),
                         f["bytes"].get<size_t>());
    if (fnv1a64_hex(*bytes) != f["fnv1a64"].get<std::string>())
      return fmt::format("'{}' does not match its checksum (damaged)", name);
  }
  return {};
}

}  // namespace

CheckpointStore::CheckpointStore(std::string dir, int keep, MPI_Comm comm)
    : dir_(std::move(dir)), keep_(std::max(1, keep)), comm_(comm) {}

std::string CheckpointStore::write(const CheckpointData& data, long step, json info) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm_, &rank);
  MPI_Comm_size(comm_, &size);
  ensure_directory(dir_, comm_);
  const std::string bytes = data.serialize();
  const std::string file = fmt::format("{}.rank{}.bin", stem(step), rank);
  on_all_ranks(comm_, [&] { write_file_atomic((fs::path(dir_) / file).string(), bytes, /*durable=*/true); });
  // Rank 0 learns every file's size and checksum.
  struct Entry {
    unsigned long bytes;
    char hash[17];
  } mine{bytes.size(), {}};
  std::snprintf(mine.hash, sizeof mine.hash, "%s", fnv1a64_hex(bytes).c_str());
  std::vector<Entry> all(static_cast<size_t>(size));
  MPI_Gather(&mine, sizeof(Entry), MPI_BYTE, all.data(), sizeof(Entry), MPI_BYTE, 0, comm_);
  fault_point("checkpoint");  // the rank files are there, the manifest is not
  const std::string manifest = (fs::path(dir_) / (stem(step) + ".json")).string();
  on_all_ranks(comm_, [&] {
    if (rank != 0) return;
    info["step"] = step;
    info["ranks"] = size;
    json files = json::array();
    for (int r = 0; r < size; ++r)
      files.push_back({{"file", fmt::format("{}.rank{}.bin", stem(step), r)},
                       {"bytes", all[static_cast<size_t>(r)].bytes},
                       {"fnv1a64", std::string(all[static_cast<size_t>(r)].hash)}});
    info["files"] = files;
    write_file_atomic(manifest, info.dump(2) + "\n", /*durable=*/true);
    // Keep the newest `keep_`: manifests first (a checkpoint without one does not exist),
    // then their files; also files of checkpoints that never got a manifest.
    const auto list = manifests(dir_);
    std::error_code ec;
    long oldest_kept = step;
    for (size_t i = 0; i < list.size(); ++i)
      if (i < static_cast<size_t>(keep_)) oldest_kept = std::min(oldest_kept, list[i].first);
    for (const auto& e : fs::directory_iterator(dir_, ec)) {
      const std::string f = e.path().filename().string();
      if (f.compare(0, 11, "checkpoint_") != 0 || f.size() < 19) continue;
      const std::string digits = f.substr(11, 8);
      if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
      const long s = std::stol(digits);
      const bool has_manifest = std::any_of(list.begin(), list.end(), [&](const auto& m) { return m.first == s; });
      if (s < oldest_kept || (!has_manifest && s < step) || f.find(".tmp.") != std::string::npos)
        fs::remove(e.path(), ec);
    }
  });
  return manifest;
}

std::optional<json> CheckpointStore::newest_valid(std::vector<std::string>& skipped, long max_step) const {
  int rank = 0;
  MPI_Comm_rank(comm_, &rank);
  std::string chosen, why;
  if (rank == 0) {
    for (const auto& [step, path] : manifests(dir_)) {
      if (max_step >= 0 && step > max_step) continue;
      json m;
      const std::string bad = validate(path, m);
      if (bad.empty()) {
        m["file"] = path.string();
        chosen = m.dump();
        break;
      }
      why += fmt::format("{}: {}\n", path.filename().string(), bad);
    }
  }
  bcast_string(comm_, chosen, 0);
  bcast_string(comm_, why, 0);
  std::istringstream lines(why);
  for (std::string l; std::getline(lines, l);) skipped.push_back(l);
  if (chosen.empty()) return std::nullopt;
  return json::parse(chosen);
}

CheckpointData CheckpointStore::read(const json& manifest) const {
  int rank = 0;
  MPI_Comm_rank(comm_, &rank);
  CheckpointData d;
  on_all_ranks(comm_, [&] {
    const auto& f = manifest["files"].at(static_cast<size_t>(rank));
    const fs::path p = fs::path(dir_) / f["file"].get<std::string>();
    const auto bytes = read_file(p.string(), f["bytes"].get<std::uintmax_t>());
    if (!bytes || fnv1a64_hex(*bytes) != f["fnv1a64"].get<std::string>())
      throw CheckpointError(fmt::format("checkpoint file '{}' changed while it was being read", p.string()),
                            "run --resume again");
    d = CheckpointData::parse(*bytes, p.string());
  });
  return d;
}

void CheckpointStore::remove_all(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string f = e.path().filename().string();
    if (f.compare(0, 11, "checkpoint_") == 0) fs::remove(e.path(), ec);
  }
}

// ---- RunCheckpoints ----

namespace {

// Flattens the case into key path -> value text, for the checkpoint's fingerprint. Left
// out: what a resumed run may change (the length of the run, the output folder, the
// checkpoint settings).
void flatten(const YAML::Node& n, const std::string& path, json& out) {
  static const std::set<std::string> free_keys{"time.steps", "time.t_end", "checkpoint", "output.dir"};
  if (free_keys.count(path)) return;
  if (n.IsMap()) {
    for (const auto& kv : n) flatten(kv.second, path.empty() ? kv.first.Scalar() : path + "." + kv.first.Scalar(), out);
  } else if (n.IsSequence()) {
    for (size_t i = 0; i < n.size(); ++i) flatten(n[i], fmt::format("{}[{}]", path, i), out);
  } else {
    out[path] = n.IsNull() ? std::string() : n.Scalar();
  }
}

// The whole file's FNV-1a checksum ("" if it cannot be read).
std::string file_checksum(const std::string& path) {
  const auto bytes = read_file(path);
  return bytes ? fnv1a64_hex(*bytes) : std::string();
}

// The first solution field holding NaN or inf on any rank ("" if none, and also when the
// bad field is on another rank: the caller only needs to know that there is one). Collective.
bool any_non_finite(const State& st, MPI_Comm comm, std::string& bad) {
  for (const auto& name : st.names()) {
    PetscInt n = 0;
    const PetscScalar* a = nullptr;
    SIMFUSE_PETSC(VecGetLocalSize(st.get(name).vec(), &n));
    SIMFUSE_PETSC(VecGetArrayRead(st.get(name).vec(), &a));
    for (PetscInt i = 0; i < n && bad.empty(); ++i)
      if (!std::isfinite(a[i])) bad = name;
    SIMFUSE_PETSC(VecRestoreArrayRead(st.get(name).vec(), &a));
  }
  int any = bad.empty() ? 0 : 1;
  MPI_Allreduce(MPI_IN_PLACE, &any, 1, MPI_INT, MPI_MAX, comm);
  return any != 0;
}

}  // namespace

RunCheckpoints::RunCheckpoints(const Params& ck, const std::string& out_dir, MPI_Comm comm, Parts parts)
    : store_((fs::path(out_dir) / "checkpoints").string(), ck.get<int>("keep"), comm),
      comm_(comm),
      parts_(parts),
      every_(ck.get<int>("every")),
      seconds_(ck.get<double>("seconds")),
      at_end_(ck.get<bool>("at_end")) {}

RunCheckpoints::~RunCheckpoints() = default;

void RunCheckpoints::set_fingerprint(const YAML::Node& case_root, const std::map<std::string, std::string>& weights) {
  case_values_ = json::object();
  flatten(case_root, "", case_values_);
  models_ = json::object();
  for (const auto& [sub, w] : weights) models_[sub] = {{"weights", w}, {"fnv1a64", file_checksum(w)}};
}

int RunCheckpoints::due(bool signalled) const {
  // One decision on every rank: rank 0's clock, any rank's signal.
  const RunClock& c = parts_.clock;
  int rank = 0;
  MPI_Comm_rank(comm_, &rank);
  int due[2] = {signalled ? 1 : 0, 0};
  if (rank == 0)
    due[1] = (every_ > 0 && c.step % every_ == 0) || (seconds_ > 0 && wall_time() - last_wall_ >= seconds_) ||
             (c.done() && at_end_);
  MPI_Allreduce(MPI_IN_PLACE, due, 2, MPI_INT, MPI_MAX, comm_);
  return due[0] ? 2 : due[1] ? 1 : 0;
}

void RunCheckpoints::write(const std::string& case_name, const std::string& case_file) {
  const RunClock& clock = parts_.clock;
  if (last_step_ == clock.step) return;
  const double t_start = wall_time();
  // Only good states are kept: a field gone to NaN/inf (a blow-up not yet caught by a
  // solver) stops the run here, and the previous checkpoint stays the newest.
  const State& state = parts_.solver.state();
  if (std::string bad; any_non_finite(state, comm_, bad))
    throw RunFailure(fmt::format("the solution holds NaN or inf after step {} (t = {:g}){}: the run blew up; no "
                                 "checkpoint is written of it",
                                 clock.step, clock.t, bad.empty() ? std::string() : " in field '" + bad + "'"),
                     fmt::format("reduce time.dt; the last good checkpoint (step {}) is in {}", last_step_, dir()));
  CheckpointData d;
  d.put("sim/step", clock.step);
  d.put("sim/t", clock.t);
  d.put("sim/steady", clock.steady);
  d.put("sim/run_seconds", t_start - clock.run_start);
  d.put("sim/restarts", parts_.restarts.dump());
  for (const auto& name : state.all_names()) d.put_vec("fields/" + name, state.get(name).vec());
  if (const auto* cp = dynamic_cast<const Checkpointable*>(&parts_.solver)) {
    CheckpointData sd = d.scoped("solver/");
    cp->save_state(sd);
  }
  parts_.coupler.save_state(d);
  {
    CheckpointData od = d.scoped("output/");
    parts_.output.save_state(od);
  }
  for (const auto& [key, c] : participants_) {
    CheckpointData ed = d.scoped("ext/" + key + "/");
    c->save_state(ed);
  }
  json info = {{"simfuse_version", SIMFUSE_VERSION},
               {"case", case_name},
               {"case_file", case_file},
               {"t", clock.t},
               {"steps", clock.steps},
               {"case_values", case_values_},
               {"models", models_},
               {"written_at", std::time(nullptr)}};
  const std::string file = store_.write(d, clock.step, info);
  last_step_ = clock.step;
  last_wall_ = wall_time();
  spdlog::debug("checkpoint at step {} ({}) in {:.3f} s", clock.step, file, last_wall_ - t_start);
}

bool RunCheckpoints::find(long max_step) {
  found_skipped_.clear();
  found_ = store_.newest_valid(found_skipped_, max_step);
  if (found_) return true;  // restore() reports the damaged ones skipped on the way
  for (const auto& why : found_skipped_) spdlog::warn("skipping checkpoint {}", why);
  found_skipped_.clear();
  return false;
}

void RunCheckpoints::forget_found() {
  found_.reset();
  found_skipped_.clear();
}

void RunCheckpoints::restore(const std::string& case_name, long max_step) {
  std::vector<std::string> skipped;
  std::optional<json> m;
  if (found_) {  // found (and validated) by find()
    m.swap(found_);
    skipped.swap(found_skipped_);
  } else {
    m = store_.newest_valid(skipped, max_step);
  }
  for (const auto& why : skipped) spdlog::warn("skipping checkpoint {}", why);
  if (!m)
    throw CheckpointError(fmt::format("--resume: no valid checkpoint in '{}'{}", dir(),
                                      skipped.empty() ? std::string() : " (the ones there are damaged, see above)"),
                          "run without --resume to start afresh");
  const json& man = *m;
  const std::string file = man["file"].get<std::string>();
  const auto refuse = [&](const std::string& what, const std::string& fix) {
    throw CheckpointError(fmt::format("--resume: checkpoint '{}' {}", file, what), fix);
  };
  RunClock& clock = parts_.clock;
  if (man.value("case", "") != case_name)
    refuse(fmt::format("belongs to case '{}', this is case '{}'", man.value("case", ""), case_name),
           "resume a case in its own output folder (-o), or start afresh without --resume");
  int size = 1;
  MPI_Comm_size(comm_, &size);
  const int ranks = man["ranks"].get<int>();
  if (ranks != size)
    refuse(fmt::format("was written by {} MPI rank(s), this run has {}", ranks, size),
           fmt::format("resume it with the rank count that wrote it: mpirun -n {} simfuse run ... --resume", ranks));
  const json& theirs = man["case_values"];
  for (const auto& [k, v] : case_values_.items())
    if (!theirs.contains(k) || theirs[k] != v)
      refuse(fmt::format("was made with {} = {}, this case has {} = {}", k,
                         theirs.contains(k) ? theirs[k].get<std::string>() : "(not set)", k, v.get<std::string>()),
             "only time.steps/t_end, output.dir and checkpoint may change when resuming; start afresh without "
             "--resume");
  for (const auto& [k, v] : theirs.items())
    if (!case_values_.contains(k))
      refuse(fmt::format("was made with {} = {}, which this case does not set", k, v.get<std::string>()),
             "only time.steps/t_end, output.dir and checkpoint may change when resuming; start afresh without "
             "--resume");
  const json& models = man["models"];
  for (const auto& [sub, mv] : models_.items())
    if (!models.contains(sub) || models[sub]["fnv1a64"] != mv["fnv1a64"])
      refuse(fmt::format("was made with another model on sub-step '{}' ({}), this run's is {}", sub,
                         models.contains(sub) ? models[sub]["weights"].get<std::string>() : "none",
                         mv["weights"].get<std::string>()),
             "resume with the model the run started with, or start afresh without --resume");
  const long step = man["step"].get<long>();
  if (step > clock.steps)
    refuse(fmt::format("is at step {}, beyond this case's {} steps", step, clock.steps),
           "give a t_end (or steps) at least as large as the checkpoint's to resume or extend the run");

  const CheckpointData d = store_.read(man);
  clock.step = d.get<long>("sim/step");
  clock.t = d.get<double>("sim/t");
  clock.steady = d.get<bool>("sim/steady");
  clock.run_start = wall_time() - d.get<double>("sim/run_seconds");
  parts_.restarts = json::parse(d.get<std::string>("sim/restarts"));
  State& state = parts_.solver.state();
  for (const auto& name : state.all_names()) d.get_vec("fields/" + name, state.get(name).vec());
  if (auto* cp = dynamic_cast<Checkpointable*>(&parts_.solver)) cp->restore_state(d.scoped("solver/"));
  parts_.coupler.restore_state(d);
  for (const auto& [key, c] : participants_) c->restore_state(d.scoped("ext/" + key + "/"));
  parts_.output.resume(d.scoped("output/"));
  parts_.restarts.push_back({{"step", clock.step}, {"t", clock.t}, {"checkpoint", fs::path(file).filename().string()}});
  last_step_ = clock.step;
  spdlog::info("resumed from checkpoint {} at step {} (t = {:g})", fs::path(file).filename().string(), clock.step,
               clock.t);
}

void RunCheckpoints::remove_earlier() const {
  int rank = 0;
  MPI_Comm_rank(comm_, &rank);
  if (rank == 0) CheckpointStore::remove_all(dir());
}

}  // namespace simfuse
