#include "command.hpp"

#include <algorithm>
#include <functional>
#include <iostream>

#include "genlab/core/discovery.hpp"
#include "genlab/core/experiment.hpp"
#include "genlab/util/error.hpp"

namespace fs = std::filesystem;

namespace genlab::cli {

bool parse(const std::vector<std::string>& args, const po::options_description& options,
           const po::positional_options_description& positional, po::variables_map& vm, const std::string& usage) {
  po::options_description all(options);
  all.add_options()("help,h", "this text");
  po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
  if (vm.count("help")) {
    std::cout << "Usage: " << usage << "\n\n" << all;
    return false;
  }
  po::notify(vm);
  return true;
}

int run_subcommand(const std::string& group, const std::vector<Subcommand>& table,
                   const std::vector<std::string>& args) {
  std::vector<std::string> names;
  for (const Subcommand& s : table) names.emplace_back(s.name);
  const std::string expected = join(names, ", ");
  if (args.empty()) throw UsageError("`genlab " + group + "` needs a command: " + expected);
  for (const Subcommand& s : table)
    if (args[0] == s.name) return s.run({args.begin() + 1, args.end()});
  throw UsageError("unknown command '" + group + " " + args[0] + "'" + did_you_mean(args[0], names) + "; expected " +
                   expected);
}

void add_plugin_path_option(po::options_description& options) {
  options.add_options()("plugin-path", po::value<std::vector<std::string>>()->composing(),
                        "also search DIR for plugins (repeatable)");
}

std::vector<fs::path> plugin_paths(const po::variables_map& vm) {
  std::vector<fs::path> out;
  if (vm.count("plugin-path"))
    for (const auto& p : vm["plugin-path"].as<std::vector<std::string>>()) out.emplace_back(p);
  return out;
}

void add_manifest_options(po::options_description& options, po::positional_options_description& positional) {
  options.add_options()("manifest", po::value<std::string>()->required(), "experiment manifest (TOML)")(
      "set", po::value<std::vector<std::string>>()->composing(), "override KEY=VALUE (repeatable)");
  positional.add("manifest", 1);
}

std::vector<std::string> overrides(const po::variables_map& vm) {
  return vm.count("set") ? vm["set"].as<std::vector<std::string>>() : std::vector<std::string>{};
}

void add_workspace_option(po::options_description& options, const char* doc) {
  options.add_options()("workspace", po::value<std::string>()->default_value("genlab-runs"), doc);
}

fs::path clean(const fs::path& path) {
  fs::path p = fs::absolute(path).lexically_normal();
  return p.filename().empty() ? p.parent_path() : p;
}

namespace {

// The names in the folder of `path` that `keep` accepts: what a mistyped `path` may have meant.
std::vector<std::string> names_beside(const fs::path& path,
                                      const std::function<bool(const fs::directory_entry&)>& keep) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(clean(path).parent_path(), ec))
    if (keep(entry)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

void require_folder(const fs::path& folder, const std::string& what) {
  std::error_code ec;
  if (fs::is_directory(folder, ec)) return;
  const auto folders = names_beside(folder, [](const fs::directory_entry& e) {
    std::error_code ignored;
    return e.is_directory(ignored);
  });
  throw HostError(folder.string() + ": no such " + what + " folder" +
                  did_you_mean(clean(folder).filename().string(), folders));
}

registry::Registry open_registry(const po::variables_map& vm) {
  const fs::path workspace = vm["workspace"].as<std::string>();
  require_folder(workspace, "workspace");
  return registry::Registry(workspace, registry::Registry::Open::Existing);
}

std::string manifest_of(const po::variables_map& vm) {
  const std::string manifest = vm["manifest"].as<std::string>();
  std::error_code ec;
  if (fs::is_regular_file(manifest, ec)) return manifest;
  const auto manifests =
      names_beside(manifest, [](const fs::directory_entry& e) { return e.path().extension() == ".toml"; });
  throw HostError(manifest + ": no such manifest" + did_you_mean(clean(manifest).filename().string(), manifests));
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

toml::array to_array(const std::vector<std::string>& v) {
  toml::array a;
  for (const auto& s : v) a.push_back(s);
  return a;
}

}  // namespace genlab::cli
