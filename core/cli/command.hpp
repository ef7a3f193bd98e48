// What the genlab commands share: exit codes, option parsing, the arguments several commands
// take (a manifest with --set overrides, --plugin-path, a workspace), and the commands
// themselves, each `int NAME(args)` with `args` the words after its name. main.cpp holds
// the one table that names them.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>
#include <boost/program_options.hpp>
#include <toml++/toml.h>

#include "genlab/registry/registry.hpp"

namespace genlab::cli {

namespace po = boost::program_options;

constexpr int kOk = 0, kFailure = 1, kUsage = 2;

// A command used wrongly: main prints the message and the overview, and exits with kUsage.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Parses a command's options (adding --help); --help prints `usage` and the options and
// returns false, so the command returns kOk at once.
bool parse(const std::vector<std::string>& args, const po::options_description& options,
           const po::positional_options_description& positional, po::variables_map& vm, const std::string& usage);

// A subcommand's table: `genlab GROUP SUB ARGS...` runs the entry named SUB with ARGS.
struct Subcommand {
  const char* name;
  int (*run)(const std::vector<std::string>& args);
};
int run_subcommand(const std::string& group, const std::vector<Subcommand>& table,
                   const std::vector<std::string>& args);

// --plugin-path DIR (repeatable), where a command loads plugins.
void add_plugin_path_option(po::options_description& options);
std::vector<std::filesystem::path> plugin_paths(const po::variables_map& vm);

// MANIFEST (positional) and --set KEY=VALUE (repeatable).
void add_manifest_options(po::options_description& options, po::positional_options_description& positional);
// The manifest argument: a missing file is an error naming the closest .toml beside it.
std::string manifest_of(const po::variables_map& vm);
std::vector<std::string> overrides(const po::variables_map& vm);

// --workspace W (default genlab-runs).
void add_workspace_option(po::options_description& options, const char* doc = "the workspace (registry.db)");
// The registry of --workspace. Reading commands open an existing registry only: a mistyped
// workspace is an error, never a new, empty registry.
registry::Registry open_registry(const po::variables_map& vm);
// `path` made absolute and normal, without a trailing separator (so it has a file name).
std::filesystem::path clean(const std::filesystem::path& path);
// A folder a command reads must exist: a mistyped one is an error with the closest folder beside it.
void require_folder(const std::filesystem::path& folder, const std::string& what);

std::string join(const std::vector<std::string>& v, const char* sep = ", ");
toml::array to_array(const std::vector<std::string>& v);

// The commands (plugins_command.cpp, experiment_commands.cpp, results_commands.cpp,
// registry_command.cpp, data_command.cpp).
int plugins_command(const std::vector<std::string>& args);
int validate_command(const std::vector<std::string>& args);
int run_command(const std::vector<std::string>& args);
int cancel_command(const std::vector<std::string>& args);
int worker_command(const std::vector<std::string>& args);
int status_command(const std::vector<std::string>& args);
int serve_command(const std::vector<std::string>& args);  // serve_command.cpp
int compare_command(const std::vector<std::string>& args);
int report_command(const std::vector<std::string>& args);
int sample_command(const std::vector<std::string>& args);
int registry_command(const std::vector<std::string>& args);
// `genlab data SUBCOMMAND`: commands that make data sets (render-views: posed views of a mesh).
int data_command(const std::vector<std::string>& args);

}  // namespace genlab::cli
