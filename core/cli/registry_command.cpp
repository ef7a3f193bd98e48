// `genlab registry list|show|alias|compare|export|delete|restore|gc`: the model registry of a
// workspace (WORKSPACE/registry.db).
#include <cmath>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "command.hpp"
#include "genlab/core/json.hpp"

namespace genlab::cli {
namespace {

toml::table version_table(const registry::Version& v) {
  toml::table metrics;
  for (const auto& m : v.metrics) {
    if (std::isfinite(m.value)) metrics.insert(m.name, m.value);
    else metrics.insert(m.name, registry::number_text(m.value));
  }
  toml::array artifacts;
  for (const auto& a : v.artifacts)
    artifacts.push_back(toml::table{{"kind", a.kind}, {"path", a.path}, {"sha256", a.sha256}, {"size", a.size}});
  return toml::table{
      {"ref", v.ref()},
      {"model", v.model},
      {"version", v.version},
      {"created", v.created},
      {"aliases", to_array(v.aliases)},
      {"run_id", v.run_id},
      {"plugin", toml::table{{"name", v.plugin.name},
                             {"version", v.plugin.version},
                             {"abi_version", v.plugin.abi_version},
                             {"library_sha256", v.plugin.library_sha256}}},
      {"dataset", toml::table{{"plugin", v.dataset_plugin}, {"params", v.dataset_params}, {"sha256", v.dataset_hash}}},
      {"seed", v.seed},
      {"config", v.config},
      {"metrics", std::move(metrics)},
      {"artifacts", std::move(artifacts)},
      {"replaces", v.replaces}};  // the deleted version it registers again (0: none)
}

// Every registry command reads --workspace; `usage` is its --help line.
struct RegistryArgs {
  po::options_description options;
  po::positional_options_description positional;
  po::variables_map vm;
  explicit RegistryArgs(const std::string& sub) : options("registry " + sub) { add_workspace_option(options); }
  bool parse(const std::vector<std::string>& args, const std::string& usage) {
    return cli::parse(args, options, positional, vm, usage);
  }
};

void print_versions(const std::vector<registry::Version>& versions,
                    const std::vector<registry::DeletedVersion>& deleted) {
  std::cout << std::left << std::setw(24) << "VERSION" << std::setw(16) << "ALIASES" << std::setw(16) << "PLUGIN"
            << std::setw(16) << "DATASET"
            << "RUN\n";
  for (const auto& v : versions)
    std::cout << std::left << std::setw(24) << v.ref() << std::setw(16) << join(v.aliases, ",") << std::setw(16)
              << v.plugin.name << std::setw(16) << v.dataset_plugin << v.run_id.substr(0, 12)
              << (v.replaces ? "  (replaces " + v.model + ":" + std::to_string(v.replaces) + ")" : "") << "\n";
  // Deleted numbers are never given again, nor their runs registered again unless restored.
  std::vector<std::string> gone;
  for (const auto& d : deleted) gone.push_back(d.ref() + (d.restored ? " (restored)" : ""));
  if (!gone.empty())
    std::cout << "deleted: " << join(gone) << " (numbers never given again; `genlab run` registers a deleted version's "
              << "run again only once `genlab registry restore NAME:VERSION` allows it, as a new version)\n";
}

int list(const std::vector<std::string>& args) {
  RegistryArgs a("list");
  a.options.add_options()("name", po::value<std::string>()->default_value(""), "only this model")("json", "print JSON");
  a.positional.add("name", 1);
  if (!a.parse(args, "genlab registry list [NAME] [--json] [--workspace W]")) return kOk;
  auto reg = open_registry(a.vm);
  const std::string name = a.vm["name"].as<std::string>();
  const auto deleted = reg.store().deleted_versions(name);
  if (!name.empty() && deleted.empty()) reg.require_model(name);
  const auto versions = reg.store().versions(name);
  if (!a.vm.count("json")) {
    print_versions(versions, deleted);
    return kOk;
  }
  toml::array out, gone;
  for (const auto& v : versions) out.push_back(version_table(v));
  for (const auto& d : deleted)
    gone.push_back(
        toml::table{{"ref", d.ref()}, {"run_id", d.run_id}, {"deleted_at", d.deleted_at}, {"restored", d.restored}});
  std::cout << to_json(toml::table{{"versions", std::move(out)}, {"deleted", std::move(gone)}}) << "\n";
  return kOk;
}

int show(const std::vector<std::string>& args) {
  RegistryArgs a("show");
  a.options.add_options()("ref", po::value<std::string>()->required(), "NAME[:VERSION|@ALIAS]")("json", "print JSON");
  a.positional.add("ref", 1);
  if (!a.parse(args, "genlab registry show NAME[:VERSION|@ALIAS] [--json]")) return kOk;
  auto reg = open_registry(a.vm);
  const auto v = reg.resolve(a.vm["ref"].as<std::string>());
  if (a.vm.count("json")) {
    std::cout << to_json(version_table(v)) << "\n";
    return kOk;
  }
  std::cout << v.ref() << (v.aliases.empty() ? "" : "  @" + join(v.aliases, " @")) << "\n"
            << "  plugin:   " << v.plugin.name << " " << v.plugin.version << " (ABI " << v.plugin.abi_version
            << ", library sha256 " << v.plugin.library_sha256.substr(0, 16) << "...)\n"
            << "  dataset:  " << v.dataset_plugin
            << (v.dataset_hash.empty() ? "" : ", data sha256 " + v.dataset_hash.substr(0, 16) + "...") << "\n"
            << "  run:      " << v.run_id << ", seed " << v.seed << "\n";
  if (v.replaces) std::cout << "  replaces: " << v.model << ":" << v.replaces << " (deleted)\n";
  if (auto run = reg.store().run(v.run_id))
    std::cout << "  manifest: " << run->manifest << " (experiment " << run->experiment << ")\n";
  std::cout << "  metrics:\n";
  for (const auto& m : v.metrics)
    std::cout << "    " << std::left << std::setw(28) << m.name << std::setw(14) << registry::number_text(m.value)
              << (m.direction == "none" ? std::string("informational") : m.direction + " is better") << ", " << m.split
              << "\n";
  std::cout << "  artifacts:\n";
  for (const auto& art : v.artifacts)
    std::cout << "    " << std::setw(11) << art.kind << art.path << " (" << art.size << " bytes)\n";
  return kOk;
}

int alias(const std::vector<std::string>& args) {
  RegistryArgs a("alias");
  a.options.add_options()("ref", po::value<std::string>()->required(), "NAME:VERSION")(
      "alias", po::value<std::string>()->required(), "the alias (best, production, ...)");
  a.positional.add("ref", 1).add("alias", 1);
  if (!a.parse(args, "genlab registry alias NAME:VERSION ALIAS")) return kOk;
  auto reg = open_registry(a.vm);
  reg.set_alias(a.vm["ref"].as<std::string>(), a.vm["alias"].as<std::string>());
  const auto v = reg.resolve(a.vm["ref"].as<std::string>());
  std::cout << v.model << "@" << a.vm["alias"].as<std::string>() << " -> " << v.ref() << "\n";
  return kOk;
}

int compare(const std::vector<std::string>& args) {
  RegistryArgs a("compare");
  a.options.add_options()("refs", po::value<std::vector<std::string>>()->multitoken()->required(), "versions");
  a.positional.add("refs", -1);
  if (!a.parse(args, "genlab registry compare REF REF...")) return kOk;
  std::cout << open_registry(a.vm).compare(a.vm["refs"].as<std::vector<std::string>>());
  return kOk;
}

int export_version(const std::vector<std::string>& args) {
  RegistryArgs a("export");
  a.options.add_options()("ref", po::value<std::string>()->required(), "NAME[:VERSION|@ALIAS]")(
      "dir", po::value<std::string>()->required(), "target folder");
  a.positional.add("ref", 1).add("dir", 1);
  if (!a.parse(args, "genlab registry export NAME[:VERSION|@ALIAS] DIR")) return kOk;
  open_registry(a.vm).export_version(a.vm["ref"].as<std::string>(), a.vm["dir"].as<std::string>());
  std::cout << "exported to " << a.vm["dir"].as<std::string>()
            << ": checkpoint.safetensors, config.toml, MODEL_CARD.md\n";
  return kOk;
}

int delete_version(const std::vector<std::string>& args) {
  RegistryArgs a("delete");
  a.options.add_options()("ref", po::value<std::string>()->required(), "NAME:VERSION");
  a.positional.add("ref", 1);
  if (!a.parse(args, "genlab registry delete NAME:VERSION")) return kOk;
  // Deleting takes a version named in full: a bare name means "its latest" elsewhere, and
  // `registry delete gmm` deleting whatever is newest today is too easy a mistake.
  const std::string ref = a.vm["ref"].as<std::string>();
  if (ref.find(':') == std::string::npos)
    throw UsageError("`genlab registry delete` needs NAME:VERSION or NAME:ALIAS, got '" + ref +
                     "'; see `genlab registry list " + ref + "` for its versions");
  auto reg = open_registry(a.vm);
  const auto v = reg.resolve(ref);
  reg.store().delete_version(v.model, v.version);
  std::cout << "deleted " << v.ref() << "; `genlab registry gc` removes its files. Its number is never given again, "
            << "and `genlab run` does not register its run again (`genlab registry restore " << v.ref()
            << "` allows it, as a new version)\n";
  return kOk;
}

int restore(const std::vector<std::string>& args) {
  RegistryArgs a("restore");
  a.options.add_options()("ref", po::value<std::string>()->required(), "NAME:VERSION, a deleted version");
  a.positional.add("ref", 1);
  if (!a.parse(args, "genlab registry restore NAME:VERSION")) return kOk;
  auto reg = open_registry(a.vm);
  const auto d = reg.restore_version(a.vm["ref"].as<std::string>());
  const auto run = reg.store().run(d.run_id);
  std::cout << "restored " << d.ref() << ": the next `genlab run" << (run ? " " + run->manifest : std::string())
            << "` registers its run (" << d.run_id.substr(0, 12) << ") again, as a new version; " << d.ref()
            << " itself stays deleted\n";
  return kOk;
}

int gc(const std::vector<std::string>& args) {
  RegistryArgs a("gc");
  a.options.add_options()("dry-run", "only list what would be removed");
  if (!a.parse(args, "genlab registry gc [--dry-run]")) return kOk;
  const bool dry = a.vm.count("dry-run") > 0;
  const auto removed = open_registry(a.vm).gc(dry);
  for (const auto& p : removed) std::cout << (dry ? "would remove " : "removed ") << p.string() << "\n";
  std::cout << removed.size() << " unreferenced artifact(s)" << (dry ? "" : " removed") << "\n";
  return kOk;
}

}  // namespace

int registry_command(const std::vector<std::string>& args) {
  static const std::vector<Subcommand> kTable = {{"list", list},
                                                 {"show", show},
                                                 {"alias", alias},
                                                 {"compare", compare},
                                                 {"export", export_version},
                                                 {"delete", delete_version},
                                                 {"restore", restore},
                                                 {"gc", gc}};
  return run_subcommand("registry", kTable, args);
}

}  // namespace genlab::cli
