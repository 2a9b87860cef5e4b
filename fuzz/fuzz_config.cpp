// libFuzzer target: the case-file loader and the whole case schema (every key, type,
// range, block and cross-key check), as `simfuse config validate` runs them before a
// case is built. A user error (UserError) is the expected answer to bad input; anything
// else escaping (another exception, a crash, a sanitizer report) is a finding.
//   cmake -S . -B build-fuzz -DSIMFUSE_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
//   cmake --build build-fuzz --target fuzz_config && build-fuzz/fuzz/fuzz_config -max_total_time=600 CORPUS
#include <cstddef>
#include <cstdint>
#include <string>

#include "simfuse/core/base/Config.hpp"
#include "simfuse/core/base/Error.hpp"
#include "simfuse/coupling/Simulation.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const simfuse::Schema& schema = simfuse::case_schema();  // registers the built-ins
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const simfuse::ConfigDocument doc = simfuse::ConfigDocument::from_string(text, "fuzz.yaml");
    simfuse::Diagnostics diags;
    (void)schema.validate(doc, doc.root(), "", diags);
    for (const auto& d : diags) (void)d.str();  // formatting a message must not fail either
  } catch (const simfuse::UserError& e) {
    (void)e.what();
  }
  return 0;
}
