// Benchmark: the cost of the surrogate path itself.
//   BM_Model/N        the bare TorchScript forward on a prepared float32 [N, C] tensor
//                     (what Python's model(x) does; compared with Python by the script)
//   BM_Prepared/N     Surrogate::predict (normalise, forward, denormalise, increment) on a
//                     prepared float64 [N, C] tensor into a prepared output
//   BM_Bridge/N       the same from a PETSc field through FieldBridge into a PETSc field
//                     (zero-copy views of both arrays), as the policies run it
//   BM_IdentityCall   one call of an identity model through the bridge on a 4x4 field:
//                     the fixed per-call overhead
//   BM_Path/S/P       Surrogate::predict of MLP shape S (path_S.card.yaml: 2-24-24-2,
//                     2-64-64-2, 11-64-64-10, 54-256-256-53, tanh) on 65536 prepared
//                     points, P = 0 the plain libtorch path (BLAS), 1 the oneDNN path
// Run through bench/run_surrogate_bench.py, which exports the models, runs Python on the
// same files and prints the ratios.  Usage: bench_surrogate --model-dir DIR [gbench flags]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <petscsys.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>

#include "simfuse/core/Petsc.hpp"
#include "simfuse/core/base/Log.hpp"
#include "simfuse/coupling/ai/FieldBridge.hpp"
#include "simfuse/surrogates/Surrogate.hpp"

using namespace simfuse;

namespace {

std::string g_dir;

std::unique_ptr<Surrogate> load(const std::string& name) {
  SurrogateOptions o;
  o.threads = 1;
  o.chunk_points = 1 << 22;
  return Surrogate::load(g_dir + "/" + name + ".card.yaml", o);
}

void BM_Model(benchmark::State& st) {
  auto m = load("mlp");
  const at::Tensor x = at::rand({st.range(0), 2}, at::kFloat);
  for (auto _ : st) benchmark::DoNotOptimize(m->forward_normalized(x));
  st.SetItemsProcessed(st.iterations() * st.range(0));
}

void BM_Prepared(benchmark::State& st) {
  auto m = load("mlp");
  const at::Tensor x = at::rand({st.range(0), 2}, at::kDouble);  // as VecSetRandom in BM_Bridge
  at::Tensor y = at::empty({st.range(0), 2}, at::kDouble);
  for (auto _ : st) {
    m->predict(x, y);
    benchmark::ClobberMemory();
  }
  st.SetItemsProcessed(st.iterations() * st.range(0));
}

GridSpec square(PetscInt n) {
  GridSpec g;
  g.dim = 2;
  g.n = {n, n, 1};
  return g;
}

void BM_Bridge(benchmark::State& st) {
  auto m = load("mlp");
  const auto n = static_cast<PetscInt>(std::lround(std::sqrt(static_cast<double>(st.range(0)))));
  Grid g(PETSC_COMM_WORLD, square(n));
  Field in(g, "c", {"u", "v"}), out(g, "c", {"u", "v"});
  VecSetRandom(in.vec(), nullptr);
  for (auto _ : st) {
    FieldTensor x(in, true), y(out);
    m->predict(x.tensor(), y.tensor());
  }
  st.SetItemsProcessed(st.iterations() * n * n);
}

void BM_IdentityCall(benchmark::State& st) {
  auto m = load("identity");
  Grid g(PETSC_COMM_WORLD, square(4));
  Field in(g, "c", {"u", "v"}), out(g, "c", {"u", "v"});
  for (auto _ : st) {
    FieldTensor x(in, true), y(out);
    m->predict(x.tensor(), y.tensor());
  }
}

void BM_Path(benchmark::State& st) {
  SurrogateOptions o;
  o.threads = 1;
  o.chunk_points = 65536;
  o.inference = st.range(1) ? "auto" : "plain";
  auto m = Surrogate::load(g_dir + "/path_" + std::to_string(st.range(0)) + ".card.yaml", o);
  const int64_t n = 65536;
  const at::Tensor x = at::rand({n, m->card().in_channels()}, at::kDouble) * 2 - 1;
  at::Tensor y = at::empty({n, m->card().out_channels()}, at::kDouble);
  for (auto _ : st) {
    m->predict(x, y);
    benchmark::ClobberMemory();
  }
  st.SetLabel(m->inference_path().name);
  st.SetItemsProcessed(st.iterations() * n);
}

}  // namespace

BENCHMARK(BM_Path)->ArgsProduct({{0, 1, 2, 3}, {0, 1}})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Model)->Arg(1000)->Arg(1000000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Prepared)->Arg(1000)->Arg(1000000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Bridge)->Arg(1024)->Arg(1000000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_IdentityCall)->Unit(benchmark::kMicrosecond);

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i)
    if (!std::strcmp(argv[i], "--model-dir")) g_dir = argv[i + 1];
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--model-dir")) {
      ++i;
      continue;
    }
    rest.push_back(argv[i]);
  }
  int n = static_cast<int>(rest.size());
  benchmark::Initialize(&n, rest.data());
  PetscInitialize(nullptr, nullptr, nullptr, nullptr);
  init_logging(0, Verbosity::quiet);
  at::set_num_threads(1);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  PetscFinalize();
  return 0;
}
