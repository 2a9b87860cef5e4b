#include "simfuse/coupling/ai/Builtins.hpp"

#include "simfuse/coupling/Simulation.hpp"
#include "simfuse/coupling/ai/AiPolicies.hpp"
#include "simfuse/coupling/ai/Capture.hpp"
#include "simfuse/surrogates/Architectures.hpp"

namespace simfuse::ai {

void register_builtins() {
  static const bool done = [] {
    simfuse::register_builtins();
    register_policies();
    architecture_registry();
    register_case_section("capture", [](Simulation& sim) -> std::shared_ptr<void> {
      // Datasets are written at the end of a run that writes output (not by a dry run or
      // an ensemble member, whose driver gathers them itself).
      const bool write = sim.options().write_output && !sim.options().dry_run;
      return std::make_shared<std::vector<std::shared_ptr<Capture>>>(Capture::attach_all(sim, write));
    });
    return true;
  }();
  (void)done;
}

}  // namespace simfuse::ai
