// bench/abi_overhead: the median cost of a model call through the genlab ABI (host
// ModelInstance -> C table -> SDK -> model) against the same call made directly in C++,
// with a map of 4 small tensors, plus the check that no tensor data is copied.
//
// Run: build/bin/bench_abi_overhead   (prints the command, per-call medians and the ratio)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "bench_model.hpp"
#include "genlab/core/instances.hpp"
#include "genlab/core/loader.hpp"
#include "genlab/core/plugin_manifest.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Times `a` and `b` in alternating rounds (so drifts of this noisy machine hit both alike)
// and returns the median ns per call of each.
template <class A, class B>
std::pair<double, double> side_by_side(A&& a, B&& b, int calls, int repeats) {
  std::vector<double> ta, tb;
  auto time = [&](auto&& body) {
    const auto start = Clock::now();
    for (int i = 0; i < calls; ++i) body();
    return std::chrono::duration<double, std::nano>(Clock::now() - start).count() / calls;
  };
  for (int r = 0; r < repeats; ++r) {
    ta.push_back(time(a));
    tb.push_back(time(b));
  }
  return {median(ta), median(tb)};
}

}  // namespace

int main(int argc, char** argv) {
  const char* plugin_dir = argc > 1 ? argv[1] : BENCH_PLUGIN_DIR;
  const int calls = 5000, repeats = 41;
  at::set_num_threads(1);

  // The batch: 4 tensors [8, 2] float32, as DLPack (for the ABI) and as at::Tensor (direct).
  genlab::sdk::Tensors direct_batch;
  std::vector<DLManagedTensor*> managed;
  std::vector<const char*> names = {"x0", "x1", "x2", "x3"};
  for (const char* name : names) {
    at::Tensor t = at::randn({8, 2});
    direct_batch.add(name, t);
    managed.push_back(at::toDLPack(t));
  }
  genlab_tensor_map batch{GENLAB_TENSOR_MAP_STRUCT_SIZE, managed.size(), names.data(), managed.data(), nullptr};

  genlab::sdk::Context context;
  IdentityModel direct(context);
  auto plugin = genlab::load_plugin(genlab::read_plugin_manifest(plugin_dir));
  genlab::HostSettings settings;
  settings.plugin_name = "bench-identity";
  genlab::ModelInstance through_abi(plugin, settings, toml::table{}, DLDevice{kDLCPU, 0}, nullptr);

  // Zero copies: the output's DLPack data pointer is the plugin's own tensor storage.
  genlab::TensorMapPtr out = through_abi.generate(8, nullptr, nullptr);
  const void* crossed = out->tensors[0]->dl_tensor.data;
  out.reset();

  double sink = 0;
  const auto [train_direct, train_abi] =
      side_by_side([&] { sink += direct.train_step(direct_batch, 0)[0].value; },
                   [&] { sink += through_abi.train_step(batch, 0)[0].value; }, calls, repeats);
  const auto [gen_direct, gen_abi] =
      side_by_side([&] { sink += direct.generate(8, genlab::sdk::Config(), genlab::sdk::Tensors()).size(); },
                   [&] { sink += through_abi.generate(8, nullptr, nullptr)->count; }, calls, repeats);

  std::printf("command: %s %s\n", argv[0], plugin_dir);
  std::printf("model call with a 4-tensor map ([8,2] float32 each), median of %d x %d calls, 1 thread\n", repeats,
              calls);
  std::printf("%-28s %12s %12s %12s %8s\n", "call", "direct ns", "ABI ns", "extra ns", "ratio");
  std::printf("%-28s %12.0f %12.0f %12.0f %8.2f\n", "train_step (4 tensors in)", train_direct, train_abi,
              train_abi - train_direct, train_abi / train_direct);
  std::printf("%-28s %12.0f %12.0f %12.0f %8.2f\n", "generate (1 tensor out)", gen_direct, gen_abi,
              gen_abi - gen_direct, gen_abi / gen_direct);
  std::printf("zero-copy output: %s (plugin data %p crossed as %p)\n", crossed != nullptr ? "yes" : "no", crossed,
              crossed);
  for (auto* m : managed) m->deleter(m);
  return sink < 0 ? 1 : 0;
}
