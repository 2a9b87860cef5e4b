// libFuzzer target: the model-card reader (ModelCard::load), which every surrogate policy,
// `simfuse train --resume` and a card's reader in another program go through. The input is
// written to a file beside a small weights file it may name (`weights: w.pt`), so a card
// that passes validation reaches the end of load(). UserError is the expected answer;
// anything else escaping is a finding.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "simfuse/core/base/Error.hpp"
#include "simfuse/surrogates/ModelCard.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = [] {
    std::string d = "/tmp/simfuse_fuzz_card_" + std::to_string(getpid());
    std::string cmd = "mkdir -p " + d;
    if (std::system(cmd.c_str()) != 0) std::abort();
    std::ofstream(d + "/w.pt") << "not really a model";
    return d;
  }();
  const std::string path = dir + "/card.yaml";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    const simfuse::ModelCard card = simfuse::ModelCard::load(path);
    (void)card.inputs.size();
  } catch (const simfuse::UserError& e) {
    (void)e.what();
  }
  return 0;
}
