#include "simfuse/coupling/detail/Checkpoints.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "simfuse/core/Files.hpp"
#include "simfuse/core/Petsc.hpp"

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

}  // namespace simfuse
