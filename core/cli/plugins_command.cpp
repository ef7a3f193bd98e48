// `genlab plugins list|info|check`.
#include <iomanip>
#include <iostream>

#include "command.hpp"
#include "genlab/core/conformance.hpp"
#include "genlab/core/discovery.hpp"
#include "genlab/core/json.hpp"
#include "genlab/core/loader.hpp"
#include "genlab/core/plugin_manifest.hpp"

namespace genlab::cli {
namespace {

int plugins_list(const std::vector<std::string>& args) {
  po::options_description options("plugins list");
  options.add_options()("json", "print JSON");
  add_plugin_path_option(options);
  po::variables_map vm;
  if (!parse(args, options, {}, vm, "genlab plugins list [--json] [--plugin-path DIR]...")) return kOk;
  const Discovery found = discover_plugins(plugin_search_path(plugin_paths(vm)));
  if (vm.count("json")) {
    toml::array plugins, problems;
    for (const auto& p : found.plugins)
      plugins.push_back(toml::table{{"name", p.name},
                                    {"kind", kind_name(p.kind)},
                                    {"version", p.version},
                                    {"abi_version", p.abi_version()},
                                    {"family", p.family},
                                    {"summary", p.summary},
                                    {"modalities", to_array(p.modalities)},
                                    {"folder", p.folder.string()}});
    for (const auto& problem : found.problems) problems.push_back(problem);
    std::cout << to_json(toml::table{{"plugins", std::move(plugins)}, {"problems", std::move(problems)}}) << "\n";
    return kOk;
  }
  // Columns as wide as their widest cell, so the table reads at any name length.
  std::vector<std::vector<std::string>> rows = {{"NAME", "KIND", "VERSION", "ABI", "FAMILY", "MODALITIES", "SUMMARY"}};
  for (const auto& p : found.plugins)
    rows.push_back(
        {p.name, kind_name(p.kind), p.version, p.abi_version(), p.family, join(p.modalities, ","), p.summary});
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  for (const auto& row : rows) {
    for (size_t c = 0; c + 1 < row.size(); ++c)
      std::cout << std::left << std::setw(static_cast<int>(widths[c] + 2)) << row[c];
    std::cout << row.back() << "\n";
  }
  for (const auto& problem : found.problems) std::cerr << "warning: " << problem << "\n";
  return kOk;
}

int plugins_info(const std::vector<std::string>& args) {
  po::options_description options("plugins info");
  options.add_options()("name", po::value<std::string>()->required(), "plugin name")("json", "print JSON");
  add_plugin_path_option(options);
  po::positional_options_description positional;
  positional.add("name", 1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm, "genlab plugins info NAME [--json]")) return kOk;
  const Discovery found = discover_plugins(plugin_search_path(plugin_paths(vm)));
  const PluginManifest& manifest = find_plugin(found, vm["name"].as<std::string>());
  auto plugin = load_plugin(manifest);
  const auto& d = plugin->description();
  std::vector<std::string> devices;
  for (int32_t t : d.device_types) devices.push_back(device_type_name(t));
  if (vm.count("json")) {
    auto specs = [](const std::vector<ParamSpec>& list) {
      toml::array out;
      for (const auto& p : list) {
        toml::table t{{"name", p.name}, {"type", param_type_name(p.type)}, {"doc", p.doc}};
        if (p.default_value) t.insert("default", *p.default_value);
        out.push_back(std::move(t));
      }
      return out;
    };
    toml::table info{{"name", d.name},
                     {"kind", kind_name(d.kind)},
                     {"version", d.version},
                     {"abi_version", manifest.abi_version()},
                     {"family", d.family},
                     {"summary", d.summary},
                     {"modalities", to_array(d.modalities)},
                     {"capabilities", to_array(capability_flag_names(d.capabilities))},
                     {"devices", to_array(devices)},
                     {"params", specs(d.params)},
                     {"library", plugin->library().string()}};
    if (d.declares_generate_params) info.insert("generate_options", specs(d.generate_params));
    std::cout << to_json(info) << "\n";
    return kOk;
  }
  std::cout << d.name << " " << d.version << " — " << d.summary << "\n"
            << "  kind:         " << kind_name(d.kind) << "\n"
            << "  family:       " << d.family << "\n"
            << "  abi:          " << plugin->api().abi_major << "." << plugin->api().abi_minor << "\n"
            << "  modalities:   " << join(d.modalities) << "\n"
            << "  capabilities: " << join(capability_flag_names(d.capabilities)) << "\n"
            << "  devices:      " << join(devices) << "\n"
            << "  library:      " << plugin->library().string() << "\n";
  auto list = [](const char* heading, const std::vector<ParamSpec>& specs) {
    std::cout << heading;
    for (const auto& p : specs)
      std::cout << "    " << std::left << std::setw(18) << p.name << std::setw(8) << param_type_name(p.type)
                << std::setw(12) << (p.default_value ? "= " + *p.default_value : std::string("(required)")) + " "
                << p.doc << "\n";
  };
  if (!d.params.empty()) list("  parameters:\n", d.params);
  if (d.kind == GENLAB_PLUGIN_KIND_MODEL) {
    if (!d.declares_generate_params) std::cout << "  generate options: not declared (ABI < 1.5): passed on unchecked\n";
    else if (d.generate_params.empty()) std::cout << "  generate options: none\n";
    else list("  generate options:\n", d.generate_params);
  }
  return kOk;
}

int plugins_check(const std::vector<std::string>& args) {
  po::options_description options("plugins check");
  options.add_options()("path", po::value<std::string>()->required(), "plugin folder or library")(
      "dataset", po::value<std::string>()->default_value(""), "dataset plugin to feed a model or metric");
  add_plugin_path_option(options);
  po::positional_options_description positional;
  positional.add("path", 1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm, "genlab plugins check PATH [--dataset NAME]")) return kOk;
  CheckOptions check;
  check.dataset = vm["dataset"].as<std::string>();
  check.plugin_paths = plugin_paths(vm);
  const auto items = check_plugin(vm["path"].as<std::string>(), check);
  size_t failed = 0;
  for (const auto& item : items) {
    failed += !item.passed;
    std::cout << (item.passed ? "PASS  " : "FAIL  ") << item.name << (item.detail.empty() ? "" : ": " + item.detail)
              << "\n";
  }
  std::cout << (items.size() - failed) << " passed, " << failed << " failed\n";
  return failed == 0 && !items.empty() ? kOk : kFailure;
}

}  // namespace

int plugins_command(const std::vector<std::string>& args) {
  static const std::vector<Subcommand> kTable = {
      {"list", plugins_list}, {"info", plugins_info}, {"check", plugins_check}};
  return run_subcommand("plugins", kTable, args);
}

}  // namespace genlab::cli
