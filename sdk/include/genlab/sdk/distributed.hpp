// genlab/sdk/distributed.hpp — data-parallel training of one run over several processes
// with LibTorch's c10d: Gloo on the CPU, NCCL for CUDA tensors where LibTorch has it.
//
// Header-only, and only for code that uses it (genlab/sdk/adam.hpp does): it pulls in
// c10d's and Gloo's headers. The host starts the processes (genlab_host_api::rank,
// world_size, rendezvous, ABI 1.4) and gives each its shard of every batch; what is left to
// the model is what only it can see, the gradients between backward() and the optimiser:
//
//   loss.backward();
//   genlab::sdk::average_gradients(parameters);  // one collective; nothing with 1 process
//   optimiser.step();
//
// The SDK's train_step wrapper does the rest: it averages the step's losses over the
// processes and agrees on when to stop (genlab_model_train_step_args::stop). Every process
// must make the same collective calls in the same order; two optimisers in one step (a GAN)
// are two calls, the same in every process, so they stay matched.
//
// The process group is made once per process, on first use, from the host's rendezvous
// file (c10d::FileStore). Gloo picks its network interface from GLOO_SOCKET_IFNAME (a
// comma-separated list, as PyTorch reads it) or else from the host name.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "genlab/sdk/plugin.hpp"

// USE_C10D_GLOO says that LibTorch was built with Gloo (genlab's CMake checks and defines
// it); the headers of c10d and of Gloo itself (Debian: libgloo-dev) must be there too.
#if defined(USE_C10D_GLOO) && __has_include(<torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>) && \
    __has_include(<gloo/context.h>)
#define GENLAB_SDK_HAS_GLOO 1
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#if defined(USE_C10D_NCCL) && __has_include(<torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>)
#define GENLAB_SDK_HAS_NCCL 1
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#endif

namespace genlab::sdk {

#if defined(GENLAB_SDK_HAS_GLOO)

// The processes that train this run. One per process (and per plugin library), made on
// first use and never destroyed: tearing down Gloo's threads at exit only risks a hang.
class ProcessGroup {
 public:
  // The group of the run `host` belongs to; throws Error naming the rendezvous if the
  // processes cannot meet.
  static ProcessGroup& of(const Host& host) {
    static std::once_flag once;
    static ProcessGroup* group = nullptr;
    std::call_once(once, [&] { group = new ProcessGroup(host); });
    return *group;
  }

  int rank() const { return rank_; }
  int size() const { return size_; }

  // Sums `buffer` (dense, contiguous) over the processes in place. A CUDA buffer goes
  // through NCCL where LibTorch has it, else through Gloo by way of the CPU.
  void sum(at::Tensor& buffer) {
    if (buffer.is_cuda()) {
#if defined(GENLAB_SDK_HAS_NCCL)
      run(nccl(), buffer);
#else
      at::Tensor on_cpu = buffer.cpu();
      run(gloo_, on_cpu);
      buffer.copy_(on_cpu);
#endif
      return;
    }
    run(gloo_, buffer);
  }

  // How many gradient averages this process has made: a model that trains over several
  // processes and never averaged (its own optimiser) is an error, not a silent divergence.
  int64_t averages = 0;

 private:
  explicit ProcessGroup(const Host& host) : rank_(host.rank()), size_(host.world_size()) {
    const char* rendezvous = host.rendezvous();
    GENLAB_CHECK(rendezvous != nullptr && *rendezvous != '\0', GENLAB_ERROR_FAILED_PRECONDITION,
                 "the host gives world_size " + std::to_string(size_) + " but no rendezvous file");
    try {
      store_ = c10::make_intrusive<c10d::FileStore>(rendezvous, size_);
      auto options = c10d::ProcessGroupGloo::Options::create();
      if (const char* names = std::getenv("GLOO_SOCKET_IFNAME"); names != nullptr && *names != '\0') {
        std::string list = names;
        for (size_t from = 0; from <= list.size();) {
          const size_t comma = std::min(list.find(',', from), list.size());
          if (comma > from)
            options->devices.push_back(
                c10d::ProcessGroupGloo::createDeviceForInterface(list.substr(from, comma - from)));
          from = comma + 1;
        }
      }
      if (options->devices.empty()) options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      gloo_ = c10::make_intrusive<c10d::ProcessGroupGloo>(c10::make_intrusive<c10d::PrefixStore>("gloo", store_), rank_,
                                                          size_, options);
    } catch (const c10::Error& e) {
      throw Error(GENLAB_ERROR_IO,
                  "rank " + std::to_string(rank_) + " of " + std::to_string(size_) + " could not meet the others at " +
                      rendezvous + " (Gloo over " +
                      (std::getenv("GLOO_SOCKET_IFNAME") ? "GLOO_SOCKET_IFNAME" : "the host name's interface") +
                      "): " + e.what_without_backtrace());
    }
    host.info("rank " + std::to_string(rank_) + " of " + std::to_string(size_) + " joined the process group at " +
              rendezvous);
  }

  template <class Group>
  static void run(Group& group, at::Tensor& buffer) {
    std::vector<at::Tensor> tensors = {buffer};
    group->allreduce(tensors)->wait();
  }

#if defined(GENLAB_SDK_HAS_NCCL)
  c10::intrusive_ptr<c10d::ProcessGroupNCCL>& nccl() {
    if (!nccl_)
      nccl_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(c10::make_intrusive<c10d::PrefixStore>("nccl", store_), rank_,
                                                          size_);
    return nccl_;
  }
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl_;
#endif

  int rank_, size_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo_;
};

namespace detail {

// The group of the current train_step's run, or null when one process trains it.
inline ProcessGroup* current_group() {
  const Host* host = current_host();
  return host != nullptr && host->world_size() > 1 ? &ProcessGroup::of(*host) : nullptr;
}

}  // namespace detail

// Averages the gradients of `params` over the processes that train the run: a sum, then a
// division by their number, so each process holds the gradient of the whole global batch.
// One collective per dtype and device, not one per parameter: every gradient is copied
// into one flat buffer. A gradient undefined in one process (a parameter its shard did not
// reach) counts as zeros there; undefined in all it stays undefined, as with one process.
// Call it between backward() and the optimiser step, inside a train_step; with one process
// it does nothing. Sparse gradients are refused.
inline void average_gradients(const std::vector<at::Tensor>& params) {
  ProcessGroup* group = detail::current_group();
  if (group == nullptr) return;
  at::NoGradGuard no_grad;
  ++group->averages;
  // Groups by dtype and device, in the order of `params`: the same in every process.
  std::vector<std::pair<at::TensorOptions, std::vector<size_t>>> groups;
  for (size_t i = 0; i < params.size(); ++i) {
    const at::Tensor& p = params[i];
    GENLAB_CHECK(!p.grad().defined() || !p.grad().is_sparse(), GENLAB_ERROR_UNIMPLEMENTED,
                 "parameter " + std::to_string(i) + " has a sparse gradient; average_gradients takes dense ones");
    auto same = std::find_if(groups.begin(), groups.end(), [&](const auto& g) {
      return g.first.dtype() == p.dtype() && g.first.device() == p.device();
    });
    if (same == groups.end()) groups.push_back({p.options(), {i}});
    else same->second.push_back(i);
  }
  for (auto& [options, members] : groups) {
    // [every gradient, flattened | one count per parameter: 1 where it is defined here]
    int64_t total = 0;
    for (size_t i : members) total += params[i].numel();
    const int64_t count = static_cast<int64_t>(members.size());
    at::Tensor buffer = at::empty({total + count}, options);
    std::vector<double> defined_here(members.size());
    int64_t offset = 0;
    for (size_t k = 0; k < members.size(); ++k) {
      const at::Tensor& p = params[members[k]];
      at::Tensor slot = buffer.narrow(0, offset, p.numel());
      if (p.grad().defined()) slot.copy_(p.grad().reshape({-1}));
      else slot.zero_();
      defined_here[k] = p.grad().defined() ? 1 : 0;
      offset += p.numel();
    }
    buffer.narrow(0, total, count).copy_(at::tensor(defined_here, at::kDouble));
    group->sum(buffer);
    const at::Tensor defined_in = buffer.narrow(0, total, count).to(at::kCPU, at::kDouble).contiguous();
    const double* processes_with_grad = defined_in.data_ptr<double>();
    buffer.narrow(0, 0, total).div_(group->size());
    offset = 0;
    for (size_t k = 0; k < members.size(); ++k) {
      at::Tensor p = params[members[k]];
      const at::Tensor mean = buffer.narrow(0, offset, p.numel()).view(p.sizes());
      offset += p.numel();
      if (processes_with_grad[k] == 0) continue;  // undefined everywhere: as with one process
      if (p.grad().defined()) p.mutable_grad().copy_(mean);
      else p.mutable_grad() = mean.clone();
    }
  }
}

namespace detail {

// The end of every train_step of a run trained by several processes (see plugin.hpp's
// ModelTable): one small collective over the losses, which become their mean over the
// processes, and the stop votes, which become the largest. Votes are 0, 1 or 2 (see
// genlab_model_train_step_args::stop), summed as one-hot columns so one sum does both.
inline int32_t end_distributed_step(const Host& host, Scalars& losses, int32_t stop) {
  ProcessGroup& group = ProcessGroup::of(host);
  GENLAB_CHECK(group.averages > 0, GENLAB_ERROR_FAILED_PRECONDITION,
               "this model trains over " + std::to_string(group.size()) +
                   " processes but has not averaged its gradients: call genlab::sdk::average_gradients "
                   "between backward() and each optimiser step (genlab::sdk::Adam does)");
  const int64_t n = static_cast<int64_t>(losses.size());
  at::Tensor buffer = at::zeros({n + 2}, at::kDouble);
  double* values = buffer.data_ptr<double>();
  for (int64_t i = 0; i < n; ++i) values[i] = losses[static_cast<size_t>(i)].value;
  if (stop == 1 || stop == 2) values[n + stop - 1] = 1.0;
  group.sum(buffer);  // in place: `values` sees the sums
  for (int64_t i = 0; i < n; ++i) losses[static_cast<size_t>(i)].value = values[i] / group.size();
  return values[n + 1] > 0 ? 2 : values[n] > 0 ? 1 : 0;
}

// Registered when the plugin library loads, so that its description declares
// GENLAB_CAPABILITY_DATA_PARALLEL and its train_step ends with the step's collective.
inline const bool distributed_registered = [] {
  distributed_step_end() = &end_distributed_step;
  return true;
}();

}  // namespace detail

#else  // no c10d with Gloo in this build

// Without LibTorch's c10d and Gloo this build trains one process only: the model does not
// declare GENLAB_CAPABILITY_DATA_PARALLEL, so the host refuses processes > 1 before any
// step; should it be asked anyway, this says why.
inline void average_gradients(const std::vector<at::Tensor>& /*params*/) {
  const Host* host = detail::current_host();
  GENLAB_CHECK(host == nullptr || host->world_size() <= 1, GENLAB_ERROR_UNIMPLEMENTED,
               "this plugin was built without LibTorch's c10d with Gloo (USE_C10D_GLOO and the gloo headers; "
               "Debian: libgloo-dev) and cannot train over " +
                   std::to_string(host->world_size()) +
                   " processes; rebuild it where they are, or set experiment.processes = 1");
}

#endif

}  // namespace genlab::sdk
