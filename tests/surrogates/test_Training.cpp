// simfuse train: the validation loss falls under a threshold on a small problem; 2 ranks
// (data-parallel, gradients all-reduced) give the model of 1 rank with the same global
// batch; a run interrupted after a checkpoint and resumed gives the uninterrupted model.
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <random>

#include "simfuse/core/base/Error.hpp"
#include "simfuse/surrogates/DataSupport.hpp"
#include "simfuse/surrogates/Dataset.hpp"
#include "simfuse/surrogates/Surrogate.hpp"
#include "simfuse/surrogates/Training.hpp"
#include "support/TestUtil.hpp"

using namespace simfuse;

namespace {

// 2000 samples of a smooth 2 -> 2 map, written by rank 0 into `dir`/data.pt.
void write_data(const std::string& dir) {
  if (test::world_rank() == 0) {
    at::manual_seed(3);
    const int64_t n = 2000;
    Dataset d;
    d.substep = "react";
    d.inputs = at::rand({n, 2}, at::kDouble) * 0.9 + 0.1;
    const at::Tensor x0 = d.inputs.select(1, 0), x1 = d.inputs.select(1, 1);
    d.outputs = d.inputs + at::stack({0.05 * at::sin(3 * x0) * x1, -0.02 * x0 * x1}, 1);
    d.dt = at::full({n}, 0.02, at::kDouble);
    d.step = at::arange(n, at::kLong);
    d.member = at::zeros({n}, at::kLong);
    d.input_names = d.output_names = {"c.u", "c.v"};
    d.save(dir + "/data");
  }
  MPI_Barrier(PETSC_COMM_WORLD);
}

ConfigDocument spec(const std::string& dir, const std::string& out, int epochs, const std::string& dtype = "float64") {
  return ConfigDocument::from_string(fmt::format(R"(
dataset: data.pt
output: {}
model:
  name: test_model
  architecture: {{type: mlp, hidden: [16, 16], activation: tanh}}
  predicts: increment
  dtype: {}
training: {{epochs: {}, batch: 64, optimizer: adam, lr: 3.0e-3, schedule: {{type: cosine}}, seed: 4}}
checkpoint: {{every: 0}}
)",
                                                 out, dtype, epochs),
                                     dir + "/train.yaml");
}

// A training spec on write_data's data with a `support:` section (tiny model, few epochs).
ConfigDocument support_spec(const std::string& dir, const std::string& out, int epochs, const std::string& support) {
  return ConfigDocument::from_string(fmt::format(R"(
dataset: data.pt
output: {}
model:
  name: {}_model
  architecture: {{type: mlp, hidden: [8], activation: tanh}}
training: {{epochs: {}, batch: 64, seed: 4}}
support: {}
checkpoint: {{every: 0}}
)",
                                                 out, out, epochs, support),
                                     dir + "/" + out + ".yaml");
}

at::Tensor predictions(const std::string& card) {
  auto m = Surrogate::load(card);
  at::manual_seed(11);
  return m->predict(at::rand({500, 2}, at::kDouble) * 0.9 + 0.1);
}

TrainOptions quiet() {
  TrainOptions o;
  o.progress = false;
  return o;
}

}  // namespace

TEST_CASE("Training brings the validation loss under a threshold and writes a usable card", "[torch][train]") {
  const std::string dir = test::temp_dir("train");
  write_data(dir);
  const TrainResult r = train(spec(dir, "model", 30, "float32"), PETSC_COMM_WORLD, quiet());
  INFO("best normalised validation loss " << r.best_val_loss);
  CHECK(r.best_val_loss < 5e-3);
  CHECK(r.epochs == 30);
  CHECK(r.card.validation_value < 5e-3);  // max abs error in physical units
  CHECK(r.card.range_min[0] >= 0.1);
  CHECK(r.card.range_max[0] <= 1.0);
  CHECK(r.card.conditions.at("dt") == 0.02);
  // The card loads as a surrogate and reproduces the data.
  auto m = Surrogate::load(r.card_path);
  const at::Tensor x = at::full({1, 2}, 0.5, at::kDouble);
  const at::Tensor y = m->predict(x);
  CHECK(y[0][0].item<double>() == Approx(0.5 + 0.05 * std::sin(1.5) * 0.5).margin(5e-3));
}

TEST_CASE("A training spec's regime is written into the card, and read back from it", "[torch][train]") {
  const std::string dir = test::temp_dir("train_regime");
  write_data(dir);
  const ConfigDocument doc = ConfigDocument::from_string(R"(
dataset: data.pt
output: model
model:
  name: regime_model
  architecture: {type: mlp, hidden: [8], activation: tanh}
  regime: {temperature: [300, 2600], equivalence_ratio: [0.4, 1.2], pressure: [101325, 101325]}
training: {epochs: 2, batch: 64, seed: 4}
checkpoint: {every: 0}
)",
                                                         dir + "/train.yaml");
  const TrainResult r = train(doc, PETSC_COMM_WORLD, quiet());
  REQUIRE(r.card.regime.size() == 3);
  CHECK(r.card.regime.at("pressure") == std::make_pair(101325.0, 101325.0));  // one value: low = high
  const ModelCard back = ModelCard::load(r.card_path);
  CHECK(back.regime == r.card.regime);
}

TEST_CASE("A training that learns nothing (lr 1e10) says so", "[torch][train]") {
  // It wrote a model with a validation error of 9e9 and no word about it.
  const std::string dir = test::temp_dir("train_diverged");
  write_data(dir);
  ConfigDocument bad = spec(dir, "model", 3, "float32");
  bad.set("training.lr=1.0e10");
  CHECK(train(bad, PETSC_COMM_WORLD, quiet()).learned_nothing);
  CHECK_FALSE(train(spec(dir, "fine", 3, "float32"), PETSC_COMM_WORLD, quiet()).learned_nothing);
}

TEST_CASE("Data-parallel training on 2 ranks gives the model of 1 rank", "[torch][train][mpi]") {
  const std::string dir = test::temp_dir("train_dp");
  write_data(dir);
  const TrainResult all = train(spec(dir, "world", 8), PETSC_COMM_WORLD, quiet());
  // The same spec on each rank alone (its own output files).
  const TrainResult one = train(spec(dir, fmt::format("self_{}", test::world_rank()), 8), PETSC_COMM_SELF, quiet());
  const double diff = (predictions(all.card_path) - predictions(one.card_path)).abs().max().item<double>();
  INFO("ranks " << test::world_size() << ": max prediction difference " << diff);
  CHECK(diff < 1e-9);
  CHECK(all.best_val_loss == Approx(one.best_val_loss).epsilon(1e-8));
}

TEST_CASE("A checkpointed, interrupted and resumed run equals the uninterrupted one", "[torch][train]") {
  const std::string dir = test::temp_dir("train_resume");
  write_data(dir);
  const TrainResult whole = train(spec(dir, "whole", 10), PETSC_COMM_WORLD, quiet());
  TrainOptions stop = quiet();
  stop.stop_after_epochs = 4;
  const TrainResult first = train(spec(dir, "parts", 10), PETSC_COMM_WORLD, stop);
  REQUIRE(first.interrupted);
  REQUIRE(first.epochs == 4);
  TrainOptions resume = quiet();
  resume.resume = true;
  const TrainResult second = train(spec(dir, "parts", 10), PETSC_COMM_WORLD, resume);
  CHECK(second.epochs == 10);
  const double diff = (predictions(whole.card_path) - predictions(second.card_path)).abs().max().item<double>();
  INFO("max prediction difference " << diff);
  // Bitwise on purpose: both runs are in this process, with the same batch shapes, the
  // same thread count (training.threads: 1) and the same data order (the shuffling RNG is
  // checkpointed), so BLAS sees identical calls; any difference means the checkpoint lost
  // state (optimizer moments, RNG, best parameters).
  CHECK(diff == 0.0);
}

TEST_CASE("Output folders are checked at set-up and created; --resume refuses another spec, model or a damaged file",
          "[torch][train]") {
  const std::string dir = test::temp_dir("train_paths");
  write_data(dir);
  auto error = [&](const ConfigDocument& doc, bool resume, bool force = false) {
    TrainOptions o = quiet();
    o.resume = resume;
    o.force = force;
    try {
      train(doc, PETSC_COMM_WORLD, o);
    } catch (const UserError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  // A folder that does not exist yet is created (docs/plugins.md's `output: model/grow`);
  // one under a regular file is refused before the first epoch, naming the key.
  if (test::world_rank() == 0) std::ofstream(dir + "/afile") << "x";
  MPI_Barrier(PETSC_COMM_WORLD);
  CHECK_THAT(error(spec(dir, "afile/m", 2), false), Catch::Contains("output") && Catch::Contains("is a file"));
  CHECK(error(spec(dir, "new/sub/m", 2), false) == "(no error)");
  CHECK(std::filesystem::exists(dir + "/new/sub/m.pt"));
  // An interrupted run, then resumes that change what they must not.
  TrainOptions stop = quiet();
  stop.stop_after_epochs = 2;
  REQUIRE(train(spec(dir, "r", 6), PETSC_COMM_WORLD, stop).interrupted);
  auto changed = [&](const std::string& from, const std::string& to) {
    std::string text = R"(
dataset: data.pt
output: r
model:
  name: test_model
  architecture: {type: mlp, hidden: [16, 16], activation: tanh}
  predicts: increment
  dtype: float64
training: {epochs: 6, batch: 64, optimizer: adam, lr: 3.0e-3, schedule: {type: cosine}, seed: 4}
checkpoint: {every: 0}
)";
    REQUIRE(text.find(from) != std::string::npos);
    text.replace(text.find(from), from.size(), to);
    return ConfigDocument::from_string(text, dir + "/train.yaml");
  };
  CHECK_THAT(error(changed("lr: 3.0e-3", "lr: 1.0e-2"), true), Catch::Contains("the spec differs") &&
                                                                   Catch::Contains("training.lr (3.0e-3 -> 1.0e-2)") &&
                                                                   Catch::Contains("--force"));
  CHECK_THAT(error(changed("hidden: [16, 16]", "hidden: [8, 8]"), true, /*force=*/true),
             Catch::Contains("holds another model"));
  if (test::world_rank() == 0) std::ofstream(dir + "/r.ckpt", std::ios::trunc) << "not a checkpoint";
  MPI_Barrier(PETSC_COMM_WORLD);
  CHECK_THAT(error(changed("epochs: 6", "epochs: 8"), true), Catch::Contains("cannot use the checkpoint"));
}

TEST_CASE("Bad training specs are refused with the key and a fix", "[torch][train]") {
  const std::string dir = test::temp_dir("train_bad");
  write_data(dir);
  auto error = [&](const std::string& text) {
    try {
      train(ConfigDocument::from_string(text, dir + "/bad.yaml"), PETSC_COMM_WORLD, quiet());
    } catch (const UserError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  const std::string ok_model = "model: {name: m, architecture: {type: mlp, hidden: [8]}}\n";
  CHECK_THAT(error("dataset: missing.pt\noutput: m\n" + ok_model), Catch::Contains("missing.pt"));
  CHECK_THAT(error("dataset: data.pt\noutput: m\nepochs: 3\n" + ok_model), Catch::Contains("epochs"));
  CHECK_THAT(error("dataset: data.pt\noutput: m\nmodel: {name: m, architecture: {type: cnn}}\n"),
             Catch::Contains("pointwise data") && Catch::Contains("cnn"));
  CHECK_THAT(error("dataset: data.pt\noutput: m\nmodel: {name: m, architecture: mlp, transform: [log10]}\n"),
             Catch::Contains("1 entries for 2 input channels"));
  CHECK_THAT(error("dataset: data.pt\noutput: m\nmodel: {name: m, architecture: mlp, inputs: [c.w]}\n"),
             Catch::Contains("no input channel 'c.w'"));
  // Datasets recorded from different solvers (another mechanism) do not train one model.
  if (test::world_rank() == 0)
    for (const char* tag : {"a", "b"}) {
      Dataset d = Dataset::load(dir + "/data.pt");
      d.manifest.reset(YAML::Node(YAML::NodeType::Map));
      d.manifest["context"]["mechanism_hash"] = std::string("fnv1a64:") + tag;
      d.manifest["context"]["reactor"] = "constant_pressure";
      d.save(dir + "/data_" + tag);
    }
  MPI_Barrier(PETSC_COMM_WORLD);
  CHECK_THAT(error("dataset: [data_a.pt, data_b.pt]\noutput: m\n" + ok_model),
             Catch::Contains("the datasets come from different solvers: mechanism_hash = fnv1a64:a in") &&
                 Catch::Contains("mechanism_hash = fnv1a64:b in") && Catch::Contains("data_b.pt"));
}

TEST_CASE("The solver facts datasets share are the ones every part records with the same value", "[torch][train]") {
  auto part = [](std::map<std::string, std::string> c) {
    Dataset d;
    d.manifest = YAML::Node(YAML::NodeType::Map);
    for (const auto& [k, v] : c) d.manifest["context"][k] = v;
    return d;
  };
  std::optional<Dataset::ContextConflict> conflict;
  const auto shared = Dataset::common_context(
      {part({{"mechanism_hash", "h"}, {"reactor", "constant_pressure"}, {"pressure", "1e5 Pa"}}),
       part({{"mechanism_hash", "h"}, {"reactor", "constant_volume"}}), part({{"mechanism_hash", "h"}})},
      &conflict);
  CHECK(shared == std::map<std::string, std::string>{{"mechanism_hash", "h"}});
  REQUIRE(conflict);
  CHECK(conflict->key == "reactor");
  CHECK(conflict->first == 0);
  CHECK(conflict->other == 1);
  CHECK(conflict->other_value == "constant_volume");
  CHECK(Dataset::common_context({part({}), part({{"reactor", "x"}})}).empty());
}

TEST_CASE("Box-Cox channels: trained and predicted in that space, relative accuracy over 11 decades, never negative",
          "[torch][train]") {
  // A species u spanning 1e-12..1e-1 decays by exp(-v) over the step; v (a temperature-
  // like channel) is unchanged. In physical units the increment of u at 1e-10 is 1e9 times
  // smaller than at 1e-1, so a model trained on it gets tiny values wrong by orders of
  // magnitude; in Box-Cox space (lambda 0.1) the increment u^0.1 (exp(-0.1 v) - 1) / 0.1
  // is of the same order over the whole range.
  const std::string dir = test::temp_dir("train_boxcox");
  auto make = [](int64_t n, uint64_t seed) {
    at::manual_seed(seed);
    const at::Tensor u = at::pow(10.0, -1 - 11 * at::rand({n}, at::kDouble));
    const at::Tensor v = at::rand({n}, at::kDouble) * 0.9 + 0.1;
    return std::make_pair(at::stack({u, v}, 1), at::stack({u * at::exp(-v), v}, 1));
  };
  if (test::world_rank() == 0) {
    Dataset d;
    d.substep = "react";
    std::tie(d.inputs, d.outputs) = make(4000, 5);
    d.dt = at::full({4000}, 0.02, at::kDouble);
    d.step = at::arange(4000, at::kLong);
    d.member = at::zeros({4000}, at::kLong);
    d.input_names = d.output_names = {"c.u", "c.v"};
    d.save(dir + "/data");
  }
  MPI_Barrier(PETSC_COMM_WORLD);
  auto run = [&](const std::string& transform, const std::string& out) {
    return train(ConfigDocument::from_string(fmt::format(R"(
dataset: data.pt
output: {}
model: {{name: m, architecture: {{type: mlp, hidden: [32, 32], activation: tanh}}, predicts: increment, transform: {}}}
training: {{epochs: 40, batch: 128, optimizer: adam, lr: 3.0e-3, schedule: {{type: cosine}}, seed: 4}}
checkpoint: {{every: 0}}
)",
                                                         out, transform),
                                             dir + "/train.yaml"),
                 PETSC_COMM_WORLD, quiet());
  };
  const TrainResult bc = run("[boxcox, none]", "bc");
  const TrainResult plain = run("[log10, none]", "plain");  // log inputs, but a physical increment
  CHECK(bc.card.output_transform == std::vector<std::string>{"boxcox", "none"});
  CHECK(plain.card.output_transform == std::vector<std::string>{"none", "none"});
  REQUIRE(bc.card.validation_max_abs.size() == 2);  // per output channel, physical units
  CHECK(std::max(bc.card.validation_max_abs[0], bc.card.validation_max_abs[1]) == bc.card.validation_value);
  // The card round-trips (transforms, lambda, per-channel errors).
  const ModelCard back = ModelCard::load(bc.card_path);
  CHECK(back.transform == bc.card.transform);
  CHECK(back.output_transform == bc.card.output_transform);
  CHECK(back.boxcox_lambda == 0.1);
  CHECK(back.validation_rms == bc.card.validation_rms);
  // The guard's bounds map between the spaces; at Box-Cox's lower limit (x <= 0) a lower
  // bound is -inf and an upper bound 0, so a channel that is always 0 accepts 0.
  CHECK(back.untransform_input(0, back.transform_input(0, 1e-5), true) == Approx(1e-5).epsilon(1e-12));
  CHECK(back.transform_input(0, 0.0) == Approx(-10));
  CHECK(back.untransform_input(0, -10, true) == 0);
  CHECK(back.untransform_input(0, -10, false) == -std::numeric_limits<double>::infinity());
  CHECK(back.untransform_input(1, 0.5, false) == 0.5);

  // States it was not trained on: the median relative error of u below 1e-6.
  const auto [x, y] = make(2000, 99);
  auto median_rel = [&](const TrainResult& r) {
    const at::Tensor p = Surrogate::load(r.card_path)->predict(x);
    const at::Tensor small = x.select(1, 0) < 1e-6;
    const at::Tensor rel = ((p.select(1, 0) - y.select(1, 0)).abs() / y.select(1, 0)).masked_select(small);
    return std::make_pair(rel.median().item<double>(), p.select(1, 0).min().item<double>());
  };
  const auto [rel_bc, min_bc] = median_rel(bc);
  const auto [rel_plain, min_plain] = median_rel(plain);
  INFO("median relative error of u < 1e-6: boxcox " << rel_bc << ", physical increment " << rel_plain
                                                    << "; smallest prediction " << min_bc << " / " << min_plain);
  CHECK(rel_bc < 0.05);
  CHECK(rel_plain > 1);  // the physical increment's error is far larger than such values
  CHECK(min_bc >= 0);    // (1 + lambda z)^(1/lambda) is never negative

  // An increment in Box-Cox space needs its input in that space too: a card that says
  // otherwise is refused naming both channels.
  if (test::world_rank() == 0) {
    std::ifstream in(bc.card_path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto at = text.find("\ntransform: [boxcox, none]");  // the inputs' line (output_transform follows)
    REQUIRE(at != std::string::npos);
    text.replace(at, 26, "\ntransform: [none, none]");
    std::ofstream(dir + "/bad.card.yaml") << text;  // beside bc.pt, which it names
    std::string msg = "(no error)";
    try {
      ModelCard::load(dir + "/bad.card.yaml");
    } catch (const UserError& e) {
      msg = e.what();
    }
    CHECK_THAT(msg, Catch::Contains("output_transform") &&
                        Catch::Contains("output channel 0 is transformed 'boxcox'") &&
                        Catch::Contains("input channel 0 it increments is transformed 'none'"));
  }
}

namespace {

// A coupled check with known answers: the error of each epoch is scripted (read from the
// candidate card's provenance.candidate_epoch), and the candidate's predictions are kept.
class ScriptedCheck final : public CoupledValidator {
 public:
  ScriptedCheck(std::map<long, double> errors, std::map<long, at::Tensor>* seen, std::map<long, double> accepted = {})
      : errors_(std::move(errors)), accepted_(std::move(accepted)), seen_(seen) {}
  std::string metric() const override { return "scripted"; }
  CoupledScore score(const std::string& card_path) override {
    const long epoch = ModelCard::load(card_path).provenance["candidate_epoch"].as<long>();
    (*seen_)[epoch] = predictions(card_path);
    const auto it = errors_.find(epoch);
    const auto a = accepted_.find(epoch);
    return {it == errors_.end() ? 0.9 : it->second, "scripted", a == accepted_.end() ? 1.0 : a->second};
  }

 private:
  std::map<long, double> errors_, accepted_;
  std::map<long, at::Tensor>* seen_;  // the test's: the validator dies with train()
};

ConfigDocument coupled_spec(const std::string& dir, const std::string& out, int epochs) {
  ConfigDocument doc = spec(dir, out, epochs);
  doc.set("coupled_validation={case: any.yaml, every: 2}");
  return doc;
}

}  // namespace

TEST_CASE("coupled_validation writes the checked epoch of the lowest error, records every check, resumes",
          "[torch][train]") {
  const std::string dir = test::temp_dir("train_coupled");
  write_data(dir);
  const std::map<long, double> script{{2, 0.5}, {4, 0.1}, {6, 0.3}, {8, 0.4}, {10, 0.2}};
  std::map<long, at::Tensor> seen;  // candidate predictions by epoch
  auto options = [&](const std::map<long, double>& s) {
    TrainOptions o = quiet();
    o.coupled_validator = [&seen, s](const Params& section, const ConfigDocument&, const CoupledTarget& t, MPI_Comm) {
      CHECK(section.get<std::vector<std::string>>("case") == std::vector<std::string>{"any.yaml"});
      CHECK(t.substep == "react");
      REQUIRE(t.dt);
      CHECK(*t.dt == 0.02);  // the data's one dt
      return std::make_unique<ScriptedCheck>(s, &seen);
    };
    return o;
  };
  TrainOptions o = options(script);
  const TrainResult r = train(coupled_spec(dir, "coupled", 10), PETSC_COMM_WORLD, o);
  CHECK(r.selected_by == "coupled_validation");
  CHECK(r.selected_epoch == 4);  // the known-better epoch, whatever the held-out loss says
  std::vector<long> epochs;
  for (const auto& c : r.checks) epochs.push_back(c.epoch);
  const std::vector<long> every_two{2, 4, 6, 8, 10};
  CHECK(std::includes(epochs.begin(), epochs.end(), every_two.begin(), every_two.end()));
  CHECK(std::count(epochs.begin(), epochs.end(), r.best_epoch) == 1);  // the held-out best is a candidate
  // The written model is the epoch-4 candidate (bitwise: the same parameters, the same process).
  REQUIRE(seen.count(4));
  CHECK((predictions(r.card_path) - seen.at(4)).abs().max().item<double>() == 0.0);
  const ModelCard card = ModelCard::load(r.card_path);
  CHECK(card.selection["by"].as<std::string>() == "coupled_validation");
  CHECK(card.selection["metric"].as<std::string>() == "scripted");
  CHECK(card.selection["epoch"].as<long>() == 4);
  CHECK(card.selection["value"].as<double>() == 0.1);
  CHECK(card.selection["checks"].size() == r.checks.size());
  CHECK(card.provenance["best_epoch"].as<long>() == 4);
  CHECK_FALSE(std::filesystem::exists(dir + "/coupled.candidate.pt"));  // removed

  // Interrupted after 5 epochs and resumed: the same checks and the same model.
  TrainOptions stop = options(script);
  stop.stop_after_epochs = 5;
  REQUIRE(train(coupled_spec(dir, "parts", 10), PETSC_COMM_WORLD, stop).interrupted);
  TrainOptions resume = options(script);
  resume.resume = true;
  const TrainResult second = train(coupled_spec(dir, "parts", 10), PETSC_COMM_WORLD, resume);
  CHECK(second.selected_epoch == 4);
  REQUIRE(second.checks.size() == r.checks.size());
  for (size_t i = 0; i < r.checks.size(); ++i) {
    CHECK(second.checks[i].epoch == r.checks[i].epoch);
    CHECK(second.checks[i].error == r.checks[i].error);
  }
  // Bitwise for the reason of the resume test above (same process, shapes and threads).
  CHECK((predictions(second.card_path) - predictions(r.card_path)).abs().max().item<double>() == 0.0);

  // Every check failing (+inf): the held-out loss chooses, and the card says so.
  TrainOptions failing =
      options({{2, std::numeric_limits<double>::infinity()}, {4, std::numeric_limits<double>::infinity()}});
  failing.coupled_validator = [](const Params&, const ConfigDocument&, const CoupledTarget&, MPI_Comm) {
    struct Broken final : CoupledValidator {
      std::string metric() const override { return "broken"; }
      CoupledScore score(const std::string&) override { return {std::numeric_limits<double>::infinity(), "failed"}; }
    };
    return std::unique_ptr<CoupledValidator>(std::make_unique<Broken>());
  };
  const TrainResult f = train(coupled_spec(dir, "failing", 4), PETSC_COMM_WORLD, failing);
  CHECK(f.selected_by == "held_out_loss");
  CHECK(f.selected_epoch == f.best_epoch);

  // Without a factory (a program that does not link the solvers) the section is refused.
  try {
    train(coupled_spec(dir, "nofactory", 2), PETSC_COMM_WORLD, quiet());
    FAIL("no error");
  } catch (const UserError& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("coupled_validation") && Catch::Contains("simfuse train"));
  }
}

TEST_CASE("coupled_validation under the guarded policy: an epoch the guard mostly refused is not chosen",
          "[torch][train]") {
  // n-dodecane (issue 28): the guarded check chose the epoch whose run was 90% CVODE (its
  // error was CVODE's). Scripted: epoch 4 has the lowest error but 10% accepted.
  const std::string dir = test::temp_dir("train_coupled_accepted");
  write_data(dir);
  const std::map<long, double> errors{{2, 0.5}, {4, 0.1}, {6, 0.3}, {8, 0.4}, {10, 0.2}};
  std::map<long, at::Tensor> seen;
  auto options = [&](const std::map<long, double>& accepted) {
    TrainOptions o = quiet();
    o.coupled_validator = [&seen, errors, accepted](const Params&, const ConfigDocument&, const CoupledTarget&,
                                                    MPI_Comm) {
      return std::make_unique<ScriptedCheck>(errors, &seen, accepted);
    };
    return o;
  };
  auto guarded = [&](const std::string& out) {
    ConfigDocument doc = coupled_spec(dir, out, 10);
    doc.set("coupled_validation.policy=guarded");
    return doc;
  };
  // Every epoch not listed is accepted at 100% by the script: 4 and 10 below the floor.
  const std::map<long, double> acc{{4, 0.1}, {10, 0.5}};
  TrainOptions o = options(acc);
  const TrainResult r = train(guarded("acc"), PETSC_COMM_WORLD, o);
  CHECK(r.selected_epoch == 6);  // the lowest error among the epochs accepted at >= 90%
  const ModelCard card = ModelCard::load(r.card_path);
  CHECK(card.selection["min_accepted"].as<double>() == 0.9);
  CHECK(card.selection["accepted"].as<double>() == 1.0);
  CHECK_FALSE(card.selection["min_accepted_met"]);
  bool recorded = false;
  for (const auto& row : card.selection["checks"])
    if (row["epoch"].as<long>() == 4) recorded = row["accepted"].as<double>() == 0.1;
  CHECK(recorded);

  // Resumed after 5 epochs: the acceptance of the checks made before comes back with them.
  TrainOptions stop = options(acc);
  stop.stop_after_epochs = 5;
  REQUIRE(train(guarded("acc_parts"), PETSC_COMM_WORLD, stop).interrupted);
  TrainOptions resume = options(acc);
  resume.resume = true;
  CHECK(train(guarded("acc_parts"), PETSC_COMM_WORLD, resume).selected_epoch == 6);

  // A lower floor admits epoch 4 again.
  {
    ConfigDocument doc = guarded("low");
    doc.set("coupled_validation.min_accepted=0.05");
    TrainOptions lo = options(acc);
    CHECK(train(doc, PETSC_COMM_WORLD, lo).selected_epoch == 4);
  }
  // No epoch reaches the floor: the lowest error is written, and the card says so.
  std::map<long, double> none;
  for (long e = 1; e <= 10; ++e) none[e] = 0.2;
  TrainOptions n = options(none);
  const TrainResult rn = train(guarded("none"), PETSC_COMM_WORLD, n);
  CHECK(rn.selected_epoch == 4);
  CHECK(ModelCard::load(rn.card_path).selection["min_accepted_met"].as<bool>() == false);
  // Under the surrogate policy the floor does not apply (nothing is refused).
  TrainOptions su = options(acc);
  CHECK(train(coupled_spec(dir, "alone", 10), PETSC_COMM_WORLD, su).selected_epoch == 4);
}

TEST_CASE("The data's support: written by train, read back, near the data and not away from it", "[torch][train]") {
  const std::string dir = test::temp_dir("train_support");
  write_data(dir);  // inputs uniform on [0.1, 1]^2
  const TrainResult r =
      train(support_spec(dir, "model", 2, "{points: 1000, quantile: 0.99}"), PETSC_COMM_WORLD, quiet());
  REQUIRE(r.card.support);
  CHECK(r.card.support->points == 1000);
  CHECK(r.card.support->quantile == 0.99);
  // 1000 uniform points in a square of side 0.9 are ~0.03 apart; in normalised units (std
  // 0.26) ~0.11: the 99% quantile of the nearest distance lies well within [0.02, 0.5].
  INFO("radius " << r.card.support->radius);
  CHECK(r.card.support->radius > 0.02);
  CHECK(r.card.support->radius < 0.5);
  const ModelCard back = ModelCard::load(r.card_path);
  REQUIRE(back.support);
  CHECK(back.support->file == r.card.support->file);
  CHECK(back.support->radius == r.card.support->radius);
  const auto sup = DataSupport::load(back);
  CHECK(sup->points() == 1000);
  // Every training input is near (99% of held-out ones are, by construction; the points
  // of a lattice inside the square at least as often); a point of the square's far corner
  // region and one beyond the data are not.
  int near = 0, n = 0;
  for (double a = 0.15; a < 1.0; a += 0.1)
    for (double b = 0.15; b < 1.0; b += 0.1, ++n) {
      const double x[2] = {a, b};
      near += sup->near(x) ? 1 : 0;
    }
  CHECK(near >= n - 1);
  const double far[2] = {0.5, 2.0}, below[2] = {-0.5, 0.5};
  CHECK_FALSE(sup->near(far));
  CHECK_FALSE(sup->near(below));
  CHECK(sup->distance(far) > 3 * sup->radius());
  // points: 0 writes none
  const TrainResult r0 = train(support_spec(dir, "model_none", 1, "{points: 0}"), PETSC_COMM_WORLD, quiet());
  CHECK_FALSE(r0.card.support);
  CHECK_FALSE(std::filesystem::exists(dir + "/model_none.support.npy"));
}

TEST_CASE("The support's query agrees with the card's own normalisation (Box-Cox channels)", "[torch][train]") {
  // near() resolves the card's transforms once (the hot path); distance() goes through
  // ModelCard::transform_input by name; the guard asks near_normalized() with the inputs as
  // the model's inference normalised them (Surrogate::predict, float32, the transforms by
  // ATen). On the shipped h2_lean card (Box-Cox species) the three must agree on every
  // point: sample rows moved by 0.05-0.6 (normalised) span near, at the radius and far.
  // Points within 1e-4 of the radius are skipped: float rounding in the tree's sums (and
  // the float32 inference's, 1e-6 here) may put them on either side.
  const std::string path = std::string(SIMFUSE_SOURCE_DIR) + "/cases/models/h2_lean.card.yaml";
  const ModelCard card = ModelCard::load(path);
  const auto sup = DataSupport::load(card);
  REQUIRE(sup);
  const auto model = Surrogate::load(path);
  long n = 0;
  int dim = 0;
  const std::vector<float> z = DataSupport::read_npy(card.support->file, n, dim);
  std::mt19937 gen(11);
  std::normal_distribution<double> g;
  int near = 0, far = 0;
  const int npts = 400;
  at::Tensor xs = at::empty({npts, dim}, at::TensorOptions().dtype(at::kDouble));
  for (int k = 0; k < npts; ++k) {
    const long row = static_cast<long>(gen() % static_cast<unsigned>(n));
    const double sigma = 0.05 * (1 + k % 12);
    for (int i = 0; i < dim; ++i) {
      const double zi = z[static_cast<size_t>(row * dim + i)] + sigma * g(gen);
      xs[k][i] = card.untransform_input(i, zi * card.in_std[i] + card.in_mean[i], false);
    }
  }
  at::Tensor zn;
  model->predict(xs, at::empty({npts, card.out_channels()}, at::TensorOptions().dtype(at::kDouble)), &zn);
  REQUIRE(zn.size(0) == npts);
  REQUIRE(zn.size(1) == dim);
  zn = zn.contiguous();
  for (int k = 0; k < npts; ++k) {
    const double* x = xs.data_ptr<double>() + k * dim;
    const double d = sup->distance(x);
    if (std::abs(d - sup->radius()) < 1e-4) continue;
    INFO("point " << k << ", distance " << d << ", radius " << sup->radius());
    CHECK(sup->near(x) == (d <= sup->radius()));
    CHECK(sup->near_normalized(zn.data_ptr<float>() + k * dim) == (d <= sup->radius()));
    (d <= sup->radius() ? near : far) += 1;
  }
  // Both sides were exercised.
  CHECK(near > 20);
  CHECK(far > 20);
}

TEST_CASE("A support floor: mass fractions below it do not move a point away from the data", "[torch][train]") {
  // The radius: rows that differ only below the floor are at distance 0 with it, 2 without.
  const float lowest = std::numeric_limits<float>::lowest();
  const std::vector<float> rows = {0.5f, -7.0f, 0.5f, -9.0f};  // a sample row, then a held-out one
  CHECK(DataSupport::measure_radius(rows, 2, 1, 1, 0.99) == Approx(2.0));
  CHECK(DataSupport::measure_radius(rows, 2, 1, 1, 0.99, {lowest, -6.0f}) == 0.0);
  // On the shipped h2_lean card (Box-Cox species), with a floor of 1e-9 set: a sampled
  // point's species below 1e-9 moved to 1e-13 (a trace level) stay where they were in the
  // distance; without the floor they move it. A species above the floor still counts.
  const std::string path = std::string(SIMFUSE_SOURCE_DIR) + "/cases/models/h2_lean.card.yaml";
  ModelCard card = ModelCard::load(path);
  REQUIRE(card.support);
  long n = 0;
  int dim = 0;
  const std::vector<float> z = DataSupport::read_npy(card.support->file, n, dim);
  const DataSupport plain(card, z, dim, card.support->radius);
  ModelCard floored_card = card;
  floored_card.support->floor = 1e-9;
  const DataSupport floored(floored_card, z, dim, card.support->radius);
  int moved = 0;
  for (long row = 0; row < 200 && moved < 20; ++row) {
    std::vector<double> x(static_cast<size_t>(dim)), trace(static_cast<size_t>(dim));
    for (int c = 0; c < dim; ++c)
      x[c] = card.untransform_input(c, z[row * dim + c] * card.in_std[c] + card.in_mean[c], false);
    trace = x;
    int below = 0;
    for (int c = 0; c < dim; ++c)
      if (card.transform[c] == "boxcox" && x[c] > 1e-30 && x[c] < 1e-10) {
        trace[c] = x[c] > 1e-13 ? 1e-20 : 1e-13;
        ++below;
      }
    if (below == 0) continue;
    ++moved;
    INFO("row " << row << ", " << below << " species below the floor");
    CHECK(floored.distance(trace.data()) == Approx(floored.distance(x.data())).margin(1e-5));
    CHECK(plain.distance(trace.data()) > plain.distance(x.data()) + 0.01);
    std::vector<double> major = x;
    int c = 1;
    while (c < dim && !(card.transform[c] == "boxcox" && x[c] > 1e-4)) ++c;
    REQUIRE(c < dim);
    major[c] *= 2;
    CHECK(floored.distance(major.data()) > floored.distance(x.data()) + 0.01);
  }
  CHECK(moved >= 5);
  // The shipped ch4_flames card states its floor; its support reads it back.
  const ModelCard ch4 = ModelCard::load(std::string(SIMFUSE_SOURCE_DIR) + "/cases/models/ch4_flames.card.yaml");
  REQUIRE(ch4.support);
  CHECK(ch4.support->floor == 1e-9);
}

TEST_CASE("A support file that is missing, damaged or of another model is refused naming it", "[torch][train]") {
  const std::string dir = test::temp_dir("support_bad");
  write_data(dir);
  const TrainResult r = train(support_spec(dir, "model", 1, "{points: 500}"), PETSC_COMM_WORLD, quiet());
  MPI_Barrier(PETSC_COMM_WORLD);
  if (test::world_rank() != 0) return;
  const std::string npy = r.card.support->file;
  // Round trip of the file itself.
  long n = 0;
  int dim = 0;
  const std::vector<float> rows = DataSupport::read_npy(npy, n, dim);
  CHECK(n == 500);
  CHECK(dim == 2);
  CHECK(rows.size() == 1000);
  // Another model's sample (3 channels) does not fit the card.
  DataSupport::write_npy(dir + "/three.npy", std::vector<float>(30, 0.5f), 10, 3);
  ModelCard card = ModelCard::load(r.card_path);
  card.support->file = dir + "/three.npy";
  CHECK_THROWS_WITH(DataSupport::load(card),
                    Catch::Contains("3 channels, the card 2 inputs") && Catch::Contains("three.npy"));
  // A truncated file.
  {
    std::ifstream in(npy, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(dir + "/short.npy", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    std::ofstream(dir + "/text.npy") << "not numpy";
  }
  card.support->file = dir + "/short.npy";
  CHECK_THROWS_WITH(DataSupport::load(card), Catch::Contains("truncated") && Catch::Contains("short.npy"));
  card.support->file = dir + "/text.npy";
  CHECK_THROWS_WITH(DataSupport::load(card), Catch::Contains("not an .npy file"));
  // A card whose support file is gone: refused at load, naming the key.
  std::filesystem::remove(npy);
  CHECK_THROWS_WITH(ModelCard::load(r.card_path), Catch::Contains("support.file") && Catch::Contains("does not exist"));
}
