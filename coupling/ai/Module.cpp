#include "simfuse/coupling/ai/Module.hpp"

#include <spdlog/spdlog.h>

#include <ostream>

#include "simfuse/core/Petsc.hpp"
#include "simfuse/core/base/Config.hpp"
#include "simfuse/coupling/ai/Builtins.hpp"
#include "simfuse/coupling/ai/Capture.hpp"
#include "simfuse/coupling/ai/CoupledValidation.hpp"
#include "simfuse/coupling/ai/Generate.hpp"
#include "simfuse/surrogates/ModelCard.hpp"
#include "simfuse/surrogates/Training.hpp"

namespace simfuse::ai {

namespace {

int train_command(const ConfigDocument& spec, const CommandOptions& o) {
  TrainOptions to;
  to.resume = o.resume;
  to.force = o.force;
  to.progress = o.progress;
  to.check_only = o.check_only;
  to.coupled_validator = make_coupled_validator;
  const TrainResult r = train(spec, PETSC_COMM_WORLD, to);
  if (o.check_only) return 0;
  spdlog::info("trained {} epochs (wrote epoch {}, chosen by {}), {:.4g} s per epoch, {}; card: {}", r.epochs,
               r.selected_epoch, r.selected_by == "coupled_validation" ? "the coupled validation" : "the held-out loss",
               r.seconds_per_epoch, r.stopped_early ? "stopped early" : "all epochs", r.card_path);
  return 0;
}

int generate_command(const ConfigDocument& spec, const CommandOptions& o) {
  GenerateOptions go;
  go.progress = o.progress;
  go.resume = o.resume;
  go.check_only = o.check_only;
  const GenerateResult r = generate(spec, PETSC_COMM_WORLD, go);
  if (o.check_only) return 0;
  spdlog::info("ensemble: {} members ({} failed), {} samples in {:.1f} s ({:.0f} samples/s)", r.members, r.failed,
               r.samples, r.seconds, r.seconds > 0 ? r.samples / r.seconds : 0.0);
  return r.failed == r.members ? 3 : 0;
}

void document(const std::string& what, bool markdown, std::ostream& os) {
  const Schema& s = what == "capture"    ? Capture::schema()
                    : what == "card"     ? ModelCard::schema()
                    : what == "generate" ? generate_schema()
                                         : train_schema();
  const std::string prefix = what == "capture" ? "capture.<sub-step>" : "";
  if (markdown)
    s.document_markdown(os, prefix);
  else
    s.document(os, prefix, 2);
}

}  // namespace

}  // namespace simfuse::ai

extern "C" const simfuse::ai::ModuleApi* simfuse_ai_module() {
  static const simfuse::ai::ModuleApi api{simfuse::ai::kModuleApiVersion, &simfuse::ai::register_builtins,
                                          &simfuse::ai::train_command, &simfuse::ai::generate_command,
                                          &simfuse::ai::document};
  return &api;
}
