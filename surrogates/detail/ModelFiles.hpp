#pragma once
/// \file ModelFiles.hpp
/// What `simfuse train` and the online trainer share when they write a model or a
/// checkpoint: the atomic write of a model and its card, a random engine's state as a
/// tensor, the card's creation date. Internal to simfuse_surrogates (includes torch).
#include <torch/torch.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>

#include "simfuse/surrogates/ModelCard.hpp"

namespace simfuse::model_files {

/// Writes `model` as STEM.pt and `card` as STEM.card.yaml (creating the folder): temporary
/// files, then renames, so a killed or failing write never leaves half a model (or a card
/// without its weights) under the final names. False, with nothing left behind, when a
/// rename fails.
inline bool write(const torch::nn::Sequential& model, const ModelCard& card, const std::string& stem) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(fs::path(stem).parent_path(), ec);
  const std::string tmp = ".tmp." + std::to_string(static_cast<long>(getpid()));
  const std::string pt = stem + ".pt", yaml = stem + ".card.yaml";
  torch::save(model, pt + tmp);
  card.save(yaml + tmp);
  fs::rename(pt + tmp, pt, ec);
  if (!ec) fs::rename(yaml + tmp, yaml, ec);
  if (ec) {
    fs::remove(pt + tmp, ec);
    fs::remove(yaml + tmp, ec);
    return false;
  }
  return true;
}

/// Local date and time, as a card's provenance.created.
inline std::string created_now() {
  const std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  return date;
}

/// The engine's state as bytes in a uint8 tensor (for a checkpoint archive), and back.
inline torch::Tensor rng_state(const std::mt19937_64& rng) {
  std::ostringstream rs;
  rs << rng;
  const std::string r = rs.str();
  return torch::from_blob(const_cast<char*>(r.data()), {static_cast<int64_t>(r.size())}, torch::kUInt8).clone();
}
inline void set_rng_state(const torch::Tensor& t, std::mt19937_64& rng) {
  std::istringstream(std::string(static_cast<const char*>(t.data_ptr()), t.numel())) >> rng;
}

}  // namespace simfuse::model_files
