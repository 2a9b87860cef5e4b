#include "simfuse/surrogates/Dataset.hpp"

#include <fmt/format.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>
#include <torch/script.h>
#include <torch/serialize.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "simfuse/core/base/Error.hpp"

namespace simfuse {

namespace fs = std::filesystem;

namespace {

void write_atomic(const std::string& path, const char* data, size_t n) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(data, static_cast<std::streamsize>(n));
    if (!out) throw UserError("cannot write '" + path + "'", "check that the folder is writable and the disk not full");
  }
  fs::rename(tmp, path);
}

YAML::Node ranges(const at::Tensor& t) {
  // per channel (dim 1) min and max
  YAML::Node r;
  const at::Tensor flat = t.transpose(0, 1).reshape({t.size(1), -1});
  const at::Tensor mn = std::get<0>(flat.min(1)), mx = std::get<0>(flat.max(1));
  for (int64_t c = 0; c < t.size(1); ++c) {
    r["min"].push_back(mn[c].item<double>());
    r["max"].push_back(mx[c].item<double>());
  }
  r["min"].SetStyle(YAML::EmitterStyle::Flow);
  r["max"].SetStyle(YAML::EmitterStyle::Flow);
  return r;
}

// torch::pickle_save, without the type tags of typed dicts and lists
// (torch.jit._pickle.restore_type_tag): torch.load(weights_only=True), PyTorch's default
// from 2.6, refuses that global. Untagged, the archive holds only tensors, plain dicts,
// lists, strings and numbers, which the weights-only unpickler reads.
std::vector<char> save_untagged(const c10::IValue& value) {
  std::vector<char> pickled;
  torch::jit::Pickler pickler([&](const char* buf, size_t n) { pickled.insert(pickled.end(), buf, buf + n); },
                              /*tensor_table=*/nullptr, /*type_renamer=*/nullptr, /*memoized_class_types=*/nullptr,
                              /*get_tensor_id=*/nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(value);
  pickler.stop();
  std::vector<char> archive;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* bytes, size_t n) {
    const char* b = static_cast<const char*>(bytes);
    archive.insert(archive.end(), b, b + n);
    return n;
  });
  torch::jit::writeArchiveAndTensors("data", pickled.data(), pickled.size(), pickler.tensorData(), writer);
  writer.writeEndOfFile();
  return archive;
}

}  // namespace

void Dataset::save(const std::string& stem) const {
  SIMFUSE_REQUIRE(size() > 0, "saving an empty dataset");
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  d.insert("inputs", inputs.contiguous());
  d.insert("outputs", outputs.contiguous());
  d.insert("dt", dt.contiguous());
  d.insert("step", step.contiguous());
  d.insert("member", member.contiguous());
  d.insert("input_names", c10::List<std::string>(input_names));
  d.insert("output_names", c10::List<std::string>(output_names));
  d.insert("kind", kind);
  d.insert("radius", static_cast<int64_t>(radius));
  d.insert("substep", substep);
  const std::vector<char> bytes = save_untagged(c10::IValue(d));
  write_atomic(stem + ".pt", bytes.data(), bytes.size());

  YAML::Node m = manifest.IsDefined() ? YAML::Clone(manifest) : YAML::Node(YAML::NodeType::Map);
  m["format"] = "simfuse dataset 1 (torch.load the .pt file: a dict of tensors)";
  m["file"] = fs::path(stem + ".pt").filename().string();
  m["kind"] = kind;
  m["radius"] = radius;
  m["substep"] = substep;
  m["samples"] = size();
  auto shape = [](const at::Tensor& t) {
    YAML::Node s(YAML::NodeType::Sequence);
    for (auto v : t.sizes()) s.push_back(v);
    s.SetStyle(YAML::EmitterStyle::Flow);
    return s;
  };
  m["inputs"]["shape"] = shape(inputs);
  m["inputs"]["names"] = input_names;
  m["inputs"]["names"].SetStyle(YAML::EmitterStyle::Flow);
  m["inputs"]["ranges"] = ranges(inputs);
  m["outputs"]["shape"] = shape(outputs);
  m["outputs"]["names"] = output_names;
  m["outputs"]["names"].SetStyle(YAML::EmitterStyle::Flow);
  m["outputs"]["ranges"] = ranges(outputs);
  const at::Tensor dts = std::get<0>(at::_unique(dt));
  for (int64_t i = 0; i < dts.size(0) && i < 16; ++i) m["dt_values"].push_back(dts[i].item<double>());
  m["dt_values"].SetStyle(YAML::EmitterStyle::Flow);
  YAML::Emitter e;
  e.SetDoublePrecision(17);
  e << m;
  const std::string text = "# simfuse dataset manifest\n" + std::string(e.c_str()) + "\n";
  write_atomic(stem + ".yaml", text.data(), text.size());
}

Dataset Dataset::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw UserError(fmt::format("cannot read dataset '{}': {}", path, std::strerror(errno)),
                    "produce one with simfuse generate, or capture it in a run (capture:)");
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Dataset ds;
  try {
    const c10::IValue v = torch::pickle_load(bytes);
    if (!v.isGenericDict()) throw UserError("not a dict");
    const auto d = v.toGenericDict();
    auto tensor = [&](const char* k) {
      if (!d.contains(k)) throw UserError(fmt::format("missing entry '{}'", k));
      return d.at(k).toTensor();
    };
    auto names = [&](const char* k) {
      std::vector<std::string> out;
      for (const auto& s : d.at(k).toListRef()) out.push_back(s.toStringRef());
      return out;
    };
    ds.inputs = tensor("inputs");
    ds.outputs = tensor("outputs");
    ds.dt = tensor("dt");
    ds.step = tensor("step");
    ds.member = tensor("member");
    ds.input_names = names("input_names");
    ds.output_names = names("output_names");
    ds.kind = d.at("kind").toStringRef();
    ds.radius = static_cast<int>(d.at("radius").toInt());
    ds.substep = d.at("substep").toStringRef();
  } catch (const UserError& e) {
    throw UserError(fmt::format("'{}' is not a simfuse dataset: {}", path, e.what()),
                    "datasets are written by simfuse generate or a run's capture:");
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    throw UserError(fmt::format("'{}' is not a readable dataset: {}", path, what.substr(0, what.find('\n'))),
                    "the file may be truncated or of another format; regenerate it");
  }
  const int64_t n = ds.inputs.size(0);
  if (n == 0) throw UserError(fmt::format("dataset '{}' is empty (0 samples)", path), "capture more data");
  if (ds.outputs.size(0) != n || ds.dt.size(0) != n)
    throw UserError(fmt::format("dataset '{}' is inconsistent: {} inputs, {} outputs, {} dt values", path, n,
                                ds.outputs.size(0), ds.dt.size(0)),
                    "regenerate the dataset");
  if (ds.inputs.size(1) != static_cast<int64_t>(ds.input_names.size()) ||
      ds.outputs.size(1) != static_cast<int64_t>(ds.output_names.size()))
    throw UserError(
        fmt::format("dataset '{}' has {} input channels but {} names", path, ds.inputs.size(1), ds.input_names.size()),
        "regenerate the dataset");
  const fs::path manifest = fs::path(path).replace_extension(".yaml");
  std::error_code ec;
  if (fs::exists(manifest, ec)) ds.manifest = YAML::LoadFile(manifest.string());
  return ds;
}

Dataset Dataset::concat(const std::vector<Dataset>& parts) {
  SIMFUSE_REQUIRE(!parts.empty(), "concatenating no datasets");
  Dataset out = parts.front();
  std::vector<at::Tensor> in, o, dt, st, mb;
  for (const auto& p : parts) {
    if (p.kind != out.kind || p.input_names != out.input_names || p.output_names != out.output_names ||
        p.inputs.sizes().slice(1) != out.inputs.sizes().slice(1))
      throw UserError("datasets of different shapes or channels cannot be merged",
                      "capture the same sub-step with the same settings in every member");
    in.push_back(p.inputs);
    o.push_back(p.outputs);
    dt.push_back(p.dt);
    st.push_back(p.step);
    mb.push_back(p.member);
  }
  out.inputs = at::cat(in);
  out.outputs = at::cat(o);
  out.dt = at::cat(dt);
  out.step = at::cat(st);
  out.member = at::cat(mb);
  return out;
}

std::map<std::string, std::string> Dataset::common_context(const std::vector<Dataset>& parts,
                                                           std::optional<ContextConflict>* conflict) {
  // Read through const nodes: a non-const yaml-cpp lookup would insert the key.
  std::map<std::string, std::pair<std::string, size_t>> first;  // key -> (value, part)
  std::map<std::string, size_t> seen;
  std::map<std::string, bool> differs;
  for (size_t i = 0; i < parts.size(); ++i) {
    const YAML::Node& man = parts[i].manifest;
    const YAML::Node c = man.IsMap() ? man["context"] : YAML::Node();
    if (!c || !c.IsMap()) continue;
    for (const auto& kv : c) {
      const std::string key = kv.first.as<std::string>(), value = kv.second.as<std::string>();
      auto it = first.find(key);
      if (it == first.end()) {
        first[key] = {value, i};
      } else if (it->second.first != value && !differs[key]) {
        differs[key] = true;
        if (conflict && !*conflict) *conflict = ContextConflict{key, it->second.first, value, it->second.second, i};
      }
      ++seen[key];
    }
  }
  std::map<std::string, std::string> out;
  for (const auto& [key, vf] : first)
    if (seen[key] == parts.size() && !differs[key]) out[key] = vf.first;
  return out;
}

}  // namespace simfuse
