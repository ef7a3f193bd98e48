// The genlab command line: the overview, the one table of commands, global flags, and the
// mapping of errors to exit codes (0 ok, 1 failure, 2 usage error).
#include <iostream>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "command.hpp"
#include "genlab/core/discovery.hpp"
#include "genlab/core/experiment.hpp"
#include "genlab/genlab.h"
#include "genlab/util/error.hpp"

#ifndef GENLAB_VERSION
#define GENLAB_VERSION "0.0.0"
#endif

using namespace genlab;
using namespace genlab::cli;

namespace {

const char* kOverview = R"(genlab — a runtime and model registry for generative models, built as plugins.

Usage: genlab [--verbose] COMMAND [ARGS...]

Commands:
  plugins list [--json]            the plugins found (built-in, GENLAB_PLUGIN_PATH, --plugin-path)
  plugins info NAME [--json]       one plugin's description, capabilities and parameters
  plugins check PATH               conformance check of a plugin folder or library
  validate MANIFEST [--json]       resolve a manifest and print its run plan; runs nothing
  run MANIFEST [--jobs N] [--executor local|slurm] [--resume | --restart] [--threads N]
      [--fail-fast | --keep-going] [--settle [--max-seeds N]]
                                   run an experiment: each step in a worker process (or a
                                   Slurm job), finished runs skipped, interrupted ones resumed
                                   with --resume (or begun again with --restart), Slurm jobs
                                   still running re-attached; --settle adds seeds to the cells
                                   of inconclusive claims until they are decided
  cancel MANIFEST                  cancel what runs an experiment's nodes (Slurm jobs, local
                                   workers: they checkpoint and stop)
  status [WORKSPACE]               the runs of a workspace: state, progress, time, failures
  serve [WORKSPACE] [--port 8080] [--host 127.0.0.1]
                                   a live dashboard of a workspace in the browser (read-only):
                                   runs, loss curves, samples during training, comparisons
  compare MANIFEST [--metric M]    per metric, the models ranked over their seeds (mean, 95% CI)
  report MANIFEST                  write report.html and report.md again from the runs' results,
                                   and print the verdicts of the manifest's [[claims]]
  registry list|show|alias|compare|export|delete|restore|gc
                                   the model registry of a workspace (genlab-runs/registry.db)
  sample REF [--n 64] [--out F] [--option K=V]...
                                   draw samples from a registered model (NAME[:VERSION|@ALIAS]),
                                   with options for its generate (sampler=ddim, steps=50, ...)
  data render-views MESH --out DIR [--size 100] [--train 100] [--val 10] [--test 20]
                                   posed views of a mesh (.off, .obj) in the NeRF-synthetic
                                   (Blender) layout; `genlab data --help` for the data commands

Global options:
  -h, --help       this text; `genlab COMMAND --help` for a command's options
  --version        the genlab and ABI versions
  -v, --verbose    debug logging

Exit codes: 0 ok, 1 failure, 2 usage error.
)";

// The commands, once: dispatch and the did-you-mean of an unknown command both read this
// table (`worker` is the host's own, started by the executors, and offered to nobody).
struct Command {
  const char* name;
  int (*run)(const std::vector<std::string>& args);
  bool offered = true;
};
const Command kCommands[] = {
    {"plugins", plugins_command}, {"validate", validate_command}, {"run", run_command},
    {"cancel", cancel_command},   {"status", status_command},     {"serve", serve_command},
    {"compare", compare_command}, {"report", report_command},     {"registry", registry_command},
    {"sample", sample_command},   {"data", data_command},         {"worker", worker_command, false}};

int dispatch(const std::vector<std::string>& words) {
  if (words.empty()) throw UsageError("no command given");
  const std::string& command = words[0];
  const std::vector<std::string> rest(words.begin() + 1, words.end());
  std::vector<std::string> offered;
  for (const Command& c : kCommands) {
    if (command == c.name) return c.run(rest);
    if (c.offered) offered.emplace_back(c.name);
  }
  auto close = close_matches(command, offered);
  throw UsageError("unknown command '" + command + "'" + (close.empty() ? "" : " (did you mean '" + close[0] + "'?)"));
}

}  // namespace

int main(int argc, char** argv) {
  auto logger = spdlog::stderr_color_mt("genlab");  // workers: stderr is the node's log file
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("[%H:%M:%S] %^%l%$ %v");

  std::vector<std::string> words(argv + 1, argv + argc);
  // Global flags come before the command; everything after it belongs to the command.
  size_t i = 0;
  for (; i < words.size() && !words[i].empty() && words[i][0] == '-'; ++i) {
    const std::string& flag = words[i];
    if (flag == "-h" || flag == "--help") {
      std::cout << kOverview;
      return kOk;
    }
    if (flag == "--version") {
      std::cout << "genlab " << GENLAB_VERSION << " (plugin ABI " << GENLAB_ABI_VERSION_MAJOR << "."
                << GENLAB_ABI_VERSION_MINOR << ")\n";
      return kOk;
    }
    if (flag == "-v" || flag == "--verbose") {
      spdlog::set_level(spdlog::level::debug);
      continue;
    }
    std::cerr << "genlab: unknown option '" << flag << "'\n\n" << kOverview;
    return kUsage;
  }
  words.erase(words.begin(), words.begin() + static_cast<long>(i));
  try {
    return dispatch(words);
  } catch (const UsageError& e) {
    std::cerr << "genlab: " << e.what() << "\n\n" << kOverview;
    return kUsage;
  } catch (const po::error& e) {
    std::cerr << "genlab: " << e.what() << " (see --help)\n";
    return kUsage;
  } catch (const registry::UnknownNameError& e) {
    std::cerr << "error: " << e.message(did_you_mean(e.name(), e.known())) << "\n";
    return kFailure;
  } catch (const HostError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kFailure;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kFailure;
  }
}
