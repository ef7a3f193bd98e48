// genlab/sdk/plugin.hpp — write a genlab plugin as a C++ class with LibTorch tensors.
//
// Header-only. A plugin derives from genlab::sdk::Model, Dataset, Metric or Backend, gives
// its class a static `info()` and a constructor taking a Context, and ends its file with
// GENLAB_PLUGIN(ClassName). This layer:
//   - converts DLPack tensor maps to at::Tensor and back without copying (inputs are
//     borrowed views; outputs hand the tensor's storage over through at::toDLPack);
//   - catches every exception at the boundary and returns it as a genlab_error;
//   - seeds LibTorch from the run's seed and sizes its thread pool from the host's budget;
//   - for a run trained by several processes, averages the losses, agrees on stopping and
//     gives each process its own random stream per step (the gradients are averaged by
//     genlab/sdk/distributed.hpp, which genlab/sdk/adam.hpp includes);
//   - exports the one entry symbol with the static function tables.
// It includes ATen, not torch/torch.h: a plugin that needs torch::nn includes that itself.
#pragma once

#include "genlab/sdk/host.hpp"
#include "genlab/sdk/tensors.hpp"
#include "genlab/sdk/objects.hpp"
#include "genlab/sdk/detail/tables.hpp"

#include "genlab/sdk/params.hpp"  // Params<Options>: each parameter declared once

// Exports the entry symbol for PluginClass. Use once per library, at namespace scope.
#define GENLAB_PLUGIN(PluginClass)                                                                        \
  extern "C" GENLAB_EXPORT const genlab_plugin_api* genlab_plugin_entry(uint32_t major, uint32_t minor) { \
    return ::genlab::sdk::detail::plugin_api<PluginClass>(major, minor);                                  \
  }
