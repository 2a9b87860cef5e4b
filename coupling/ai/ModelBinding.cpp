#include "simfuse/coupling/ai/ModelBinding.hpp"

namespace simfuse::ai {

void declare_model_keys(Schema& s) {
  s.add_string("model", "the model card (YAML beside the weights), relative to the case file").required();
  declare_inference_keys(s);
}

void declare_inference_keys(Schema& s) {
  s.add_int("threads", "intra-op threads of the model (ranks x threads <= cores)").def(1).range(1, 256);
  s.add_int("chunk_points", "pointwise inference in chunks of at most this many points").def(65536).min(1);
  s.add_string("device", "where the model runs (this libtorch build is CPU-only)").def("cpu").choices({"cpu"});
  s.add_string("inference",
               "auto: float32 MLPs run through oneDNN (faster than the system BLAS), other models through libtorch; "
               "plain: always libtorch's default path. summary.json records the path taken")
      .def("auto")
      .choices({"auto", "plain"});
}

}  // namespace simfuse::ai
