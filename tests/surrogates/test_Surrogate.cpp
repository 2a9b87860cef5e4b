// Surrogates: TorchScript fixtures give Python's numbers, inference in chunks equals one
// pass, and bad model files are refused with a clear UserError at load time.
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "simfuse/core/base/Error.hpp"
#include "simfuse/surrogates/Architectures.hpp"
#include "simfuse/surrogates/Surrogate.hpp"
#include "support/TestUtil.hpp"

using namespace simfuse;
namespace fs = std::filesystem;

namespace {

std::string fixture(const std::string& name) {
  return std::string(SIMFUSE_SOURCE_DIR) + "/tests/fixtures/" + name;
}

nlohmann::json reference() {
  std::ifstream in(fixture("torchscript_reference.json"));
  return nlohmann::json::parse(in);
}

at::Tensor to_tensor(const nlohmann::json& j, std::vector<int64_t> shape) {
  std::vector<double> v;
  std::function<void(const nlohmann::json&)> flat = [&](const nlohmann::json& x) {
    if (x.is_array())
      for (const auto& e : x) flat(e);
    else
      v.push_back(x.get<double>());
  };
  flat(j);
  return at::tensor(v, at::kDouble).view(shape);
}

// A copy of a fixture card (and its weights) in a temporary folder, with `edit` applied
// to the card text.
std::string edited_card(const std::string& card, const std::string& tag,
                        const std::function<void(std::string&)>& edit) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("simfuse_card_{}_{}", tag, ::getpid());
  fs::create_directories(dir);
  std::ifstream in(fixture(card));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  edit(text);
  const std::string weights = card.substr(0, card.find(".card.yaml")) + ".pt";
  fs::copy_file(fixture(weights), dir / weights, fs::copy_options::overwrite_existing);
  std::ofstream(dir / card) << text;
  return (dir / card).string();
}

// Replaces `from` (which must occur) by `to`.
void sub(std::string& t, const std::string& from, const std::string& to) {
  const auto p = t.find(from);
  REQUIRE(p != std::string::npos);
  t.replace(p, from.size(), to);
}

std::string load_error(const std::string& card) {
  try {
    Surrogate::load(card);
  } catch (const UserError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("A TorchScript MLP exported by Python gives Python's outputs in C++", "[torch]") {
  const auto ref = reference()["mlp"];
  const int64_t n = static_cast<int64_t>(ref["x"].size());
  const at::Tensor x = to_tensor(ref["x"], {n, 3});
  const at::Tensor y_py = to_tensor(ref["y"], {n, 2});
  auto model = Surrogate::load(fixture("tiny_mlp.card.yaml"));
  const at::Tensor y = model->predict(x);
  CHECK(y.sizes() == y_py.sizes());
  // float32 model: the same float32 arithmetic up to summation order
  CHECK((y - y_py).abs().max().item<double>() < 1e-6);
}

TEST_CASE("A traced TorchScript CNN gives Python's outputs in C++", "[torch]") {
  const auto ref = reference()["cnn"];
  const auto shape = ref["shape"].get<std::vector<int64_t>>();
  const auto yshape = ref["y_shape"].get<std::vector<int64_t>>();
  const at::Tensor x = to_tensor(ref["x"], shape);
  const at::Tensor y_py = to_tensor(ref["y"], yshape);
  auto model = Surrogate::load(fixture("tiny_cnn.card.yaml"));
  REQUIRE(model->card().radius == 2);
  const at::Tensor y = model->predict_stencil(x);
  REQUIRE(y.sizes() == y_py.sizes());
  CHECK((y - y_py).abs().max().item<double>() < 1e-6);
}

TEST_CASE("Pointwise inference in small chunks equals one pass, into a strided output", "[torch]") {
  SurrogateOptions small;
  small.chunk_points = 7;
  auto a = Surrogate::load(fixture("tiny_mlp.card.yaml"));
  auto b = Surrogate::load(fixture("tiny_mlp.card.yaml"), small);
  at::manual_seed(20261129);
  const at::Tensor x = at::rand({1000, 3}, at::kDouble) * 2 - 1;
  const at::Tensor ya = a->predict(x);
  at::Tensor wide = at::zeros({1000, 5}, at::kDouble);
  b->predict(x, wide.narrow(1, 1, 2));  // a non-contiguous view, as into an interleaved array
  // Not bitwise: BLAS (and oneDNN) block a 7-row product differently from a 1000-row one,
  // so the float32 sums are added in another order. Each output is a chain of float32
  // dot products of length <= 16 over O(1) terms; reordering one changes it by at most
  // n * eps32 * sum|terms| ~ 16 * 6e-8 * 10 = 1e-5. A chunking bug (rows shifted, the
  // wrong column) changes outputs by O(0.1).
  const double diff = (ya - wide.narrow(1, 1, 2)).abs().max().item<double>();
  INFO("max |chunked - one pass| = " << diff);
  CHECK(diff < 1e-5);
  CHECK(wide.select(1, 0).abs().max().item<double>() == 0);  // untouched columns stay untouched
  CHECK(wide.select(1, 3).abs().max().item<double>() == 0);
  CHECK(wide.select(1, 4).abs().max().item<double>() == 0);
}

TEST_CASE("A TorchScript nn.Sequential MLP runs through oneDNN and gives Python's outputs", "[torch]") {
  const auto ref = reference()["seq"];
  const int64_t n = static_cast<int64_t>(ref["x"].size());
  auto model = Surrogate::load(fixture("tiny_seq.card.yaml"));
  CHECK(model->inference_path().name == "onednn");
  const at::Tensor y = model->predict(to_tensor(ref["x"], {n, 3}));
  // float32 on both sides; oneDNN sums the 16-term dot products in its own order (see
  // the chunked-inference test for the bound).
  CHECK((y - to_tensor(ref["y"], {n, 2})).abs().max().item<double>() < 1e-5);
}

namespace {

// A built-in MLP card with seeded random weights, in a temporary folder.
// With `groups` (e.g. "[1, 1]"), one network per group of outputs.
std::string builtin_mlp(const std::string& activation, const std::string& dtype, const std::string& groups = "") {
  const fs::path dir = test::temp_dir("mlp_" + activation + "_" + dtype + (groups.empty() ? "" : "_grouped"));
  at::manual_seed(7);
  const std::string arch = fmt::format("{{type: mlp, hidden: [32, 32], activation: {}{}}}", activation,
                                       groups.empty() ? "" : ", groups: " + groups);
  auto seq = build_architecture(YAML::Load(arch), 3, 2).module;
  seq->to(dtype == "float64" ? at::kDouble : at::kFloat);
  torch::save(seq, (dir / "m.pt").string());
  std::ofstream(dir / "m.card.yaml") << fmt::format(R"(name: m
kind: pointwise
radius: 0
format: builtin
weights: m.pt
architecture: {}
dtype: {}
substep: fixture
inputs: [{{field: c, components: [a, b, c]}}]
outputs: [{{field: c, components: [a, b]}}]
predicts: state
normalisation: {{input_mean: [0.5, -1.0, 2.0], input_std: [2.0, 0.5, 1.0], output_mean: [1.0, -3.0], output_std: [0.1, 10.0]}}
training_ranges: {{min: [-1.0, -1.0, -1.0], max: [1.0, 1.0, 1.0]}}
validation: {{metric: none, value: -1, samples: 0}}
)",
                                                    arch, dtype);
  return (dir / "m.card.yaml").string();
}

}  // namespace

TEST_CASE("Built-in float32 MLPs run through oneDNN and give the plain path's results within float32 rounding",
          "[torch]") {
  at::manual_seed(20261129);
  const at::Tensor x = at::rand({5000, 3}, at::kDouble) * 4 - 2;
  for (const std::string act : {"tanh", "relu", "gelu", "silu", "none"}) {
    CAPTURE(act);
    const std::string card = builtin_mlp(act, "float32");
    SurrogateOptions plain;
    plain.inference = "plain";
    auto fast = Surrogate::load(card);
    auto slow = Surrogate::load(card, plain);
    CHECK(fast->inference_path().name == "onednn");
    CHECK(slow->inference_path().name == "libtorch");
    CHECK_THAT(slow->inference_path().reason, Catch::Contains("plain"));
    // In normalised output units: two float32 evaluations of the same network, whose dot
    // products (length <= 32, terms O(1)) BLAS and oneDNN sum in different orders: at most
    // 32 * 6e-8 * O(10) ~ 2e-5 per layer, attenuated by the activations. A wrong weight
    // layout or a missing bias changes outputs by O(1).
    const at::Tensor yf = fast->predict(x), ys = slow->predict(x);
    const at::Tensor scale = at::tensor({0.1, 10.0}, at::kDouble).view({1, 2});
    const double diff = ((yf - ys) / scale).abs().max().item<double>();
    INFO("max |onednn - plain| in normalised units: " << diff);
    CHECK(diff < 2e-5);
    CHECK(ys.abs().max().item<double>() > 0.1);  // a network that does something
  }
}

TEST_CASE("A grouped MLP is one network per block of outputs, on the oneDNN path too", "[torch]") {
  // Per-species-group chemistry networks behind one card: each group reads every input
  // and writes its own consecutive outputs.
  at::manual_seed(3);
  Architecture a = build_architecture(YAML::Load("{type: mlp, hidden: [8], groups: [2, 1]}"), 4, 3);
  const at::Tensor x = at::randn({50, 4});
  const at::Tensor y = a.module->forward(x);
  REQUIRE(y.sizes().vec() == std::vector<int64_t>{50, 3});
  auto nets = a.module->children().front()->as<GroupedMlp>()->nets();
  REQUIRE(nets.size() == 2);
  // The same float32 operations on the same data: bitwise.
  CHECK(at::equal(y.narrow(1, 0, 2), nets[0]->forward(x)));
  CHECK(at::equal(y.narrow(1, 2, 1), nets[1]->forward(x)));

  const std::string card = builtin_mlp("tanh", "float32", "[1, 1]");
  SurrogateOptions plain;
  plain.inference = "plain";
  auto fast = Surrogate::load(card);
  auto slow = Surrogate::load(card, plain);
  CHECK(fast->inference_path().name == "onednn");
  CHECK_THAT(fast->inference_path().reason, Catch::Contains("2 groups"));
  at::manual_seed(20261130);
  const at::Tensor xs = at::rand({2000, 3}, at::kDouble) * 4 - 2;
  // Bound as for the ungrouped MLPs above (same widths, same float32 reordering).
  const at::Tensor scale = at::tensor({0.1, 10.0}, at::kDouble).view({1, 2});
  CHECK(((fast->predict(xs) - slow->predict(xs)) / scale).abs().max().item<double>() < 2e-5);

  try {
    build_architecture(YAML::Load("{type: mlp, groups: [2, 2]}"), 4, 3);
    FAIL("groups that do not add up to the outputs were accepted");
  } catch (const UserError& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("hold 4 output channel(s), the model has 3"));
  }
}

TEST_CASE("The inference path is chosen from the model alone, with the reason", "[torch]") {
  const auto path = [](const std::string& card) { return Surrogate::load(card)->inference_path(); };
  const InferencePath f64 = path(builtin_mlp("tanh", "float64"));
  CHECK(f64.name == "libtorch");
  CHECK_THAT(f64.reason, Catch::Contains("float64"));
  const InferencePath script = path(fixture("tiny_mlp.card.yaml"));  // a custom forward()
  CHECK(script.name == "torchscript");
  CHECK_THAT(script.reason, Catch::Contains("nn.Sequential"));
  const InferencePath cnn = path(fixture("tiny_cnn.card.yaml"));
  CHECK(cnn.name == "torchscript");
  CHECK_THAT(cnn.reason, Catch::Contains("stencil"));
  CHECK(path(std::string(SIMFUSE_SOURCE_DIR) + "/cases/models/bz_react.card.yaml").name == "onednn");
  SurrogateOptions bad;
  bad.inference = "fastest";
  CHECK_THROWS_AS(Surrogate::load(fixture("tiny_mlp.card.yaml"), bad), UserError);
}

TEST_CASE("Bad model files are refused at load with the file and a fix", "[torch]") {
  SECTION("missing weights") {
    const auto card = edited_card("tiny_mlp.card.yaml", "missing",
                                  [](std::string& t) { sub(t, "weights: tiny_mlp.pt", "weights: nowhere.pt"); });
    const std::string msg = load_error(card);
    CHECK_THAT(msg, Catch::Contains("nowhere.pt"));
  }
  SECTION("corrupt weights") {
    const auto card = edited_card("tiny_mlp.card.yaml", "corrupt", [](std::string&) {});
    std::ofstream(fs::path(card).parent_path() / "tiny_mlp.pt", std::ios::trunc) << "not a zip archive";
    const std::string msg = load_error(card);
    CHECK_THAT(msg, Catch::Contains("cannot load") && Catch::Contains("tiny_mlp.pt"));
  }
  SECTION("the card's inputs do not fit the model") {
    const auto card = edited_card("tiny_mlp.card.yaml", "shape", [](std::string& t) {
      sub(t, "components: [a, b, c]", "components: [a, b]");
      sub(t, "input_mean: [0.0, 0.0, 0.0], input_std: [1.0, 1.0, 1.0]",
          "input_mean: [0.0, 0.0], input_std: [1.0, 1.0]");
      sub(t, "min: [-1.0, -1.0, -1.0], max: [1.0, 1.0, 1.0]", "min: [-1.0, -1.0], max: [1.0, 1.0]");
    });
    const std::string msg = load_error(card);
    CHECK_THAT(msg, Catch::Contains("does not accept the card's 2 input channel(s)"));
  }
  SECTION("the card's outputs do not fit the model") {
    const auto card = edited_card("tiny_mlp.card.yaml", "outputs", [](std::string& t) {
      sub(t, "outputs: [{field: c, components: [a, b]}]", "outputs: [{field: c, components: [a, b, c]}]");
      sub(t, "output_mean: [0.0, 0.0], output_std: [1.0, 1.0]",
          "output_mean: [0.0, 0.0, 0.0], output_std: [1.0, 1.0, 1.0]");
    });
    const std::string msg = load_error(card);
    CHECK_THAT(msg, Catch::Contains("the card expects [2, 3]"));
  }
  SECTION("a card with a missing key names the file and line") {
    const auto card =
        edited_card("tiny_mlp.card.yaml", "key", [](std::string& t) { sub(t, "kind: pointwise", "knd: pointwise"); });
    const std::string msg = load_error(card);
    CHECK_THAT(msg, Catch::Contains("tiny_mlp.card.yaml:") && Catch::Contains("knd"));
  }
}
