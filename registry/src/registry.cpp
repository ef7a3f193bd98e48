#include "genlab/registry/registry.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

#include "genlab/core/util/files.hpp"
#include "genlab/core/util/sha256.hpp"

namespace genlab::registry {
namespace fs = std::filesystem;

void check_name(const std::string& name, const char* what) {
  const bool ok = !name.empty() && name.size() <= 128 && name[0] != '.' &&
                  std::all_of(name.begin(), name.end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
                  }) &&
                  name.find("..") == std::string::npos;
  if (!ok)
    throw RegistryError(std::string("invalid ") + what + " '" + name +
                        "': expected letters, digits, '_', '-' and '.', not starting with '.', without '..' or '/'");
}

Registry::Registry(const fs::path& root) : root_(fs::absolute(root)) {
  std::error_code ec;
  fs::create_directories(root_ / "artifacts", ec);
  if (ec) throw RegistryError(root_.string() + ": cannot create the registry folder: " + ec.message());
  store_ = open_sqlite_store(root_ / "registry.db");
}

Version Registry::register_version(const NewVersion& request) {
  check_name(request.model, "model name");
  // Artifacts first, content-addressed and written atomically; the rows after, in one
  // transaction. A crash in between leaves only an unreferenced file, which gc removes.
  std::vector<Artifact> artifacts;
  for (const auto& file : request.files) {
    const std::string bytes = read_file(file.source);
    const std::string sha = sha256_hex(bytes);
    const std::string extension = file.source.extension().string();
    const fs::path relative = fs::path("artifacts") / sha.substr(0, 2) / (sha + extension);
    const fs::path target = root_ / relative;
    if (!fs::exists(target) || sha256_file(target) != sha) {
      fs::create_directories(target.parent_path());
      write_file_atomic(target, bytes);
    }
    artifacts.push_back(Artifact{relative.string(), sha, static_cast<int64_t>(bytes.size()), file.kind});
  }
  // A fault drill's crash point: the artifacts are written, the rows are not.
  if (std::getenv("GENLAB_FAULT_CRASH_BEFORE_REGISTRY_ROWS") != nullptr) std::_Exit(86);
  const int64_t number = store_->add_version(request, artifacts);
  return *store_->version(request.model, number);
}

Version Registry::resolve(const std::string& ref) {
  const size_t colon = ref.find(':'), at = ref.find('@');
  const std::string model = ref.substr(0, std::min(colon, at));
  check_name(model, "model name");
  std::optional<int64_t> number;
  if (colon != std::string::npos) {
    const std::string text = ref.substr(colon + 1);
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
      throw RegistryError("'" + ref + "': expected NAME:VERSION with a version number");
    number = std::stoll(text);
  } else if (at != std::string::npos) {
    const std::string alias = ref.substr(at + 1);
    check_name(alias, "alias");
    number = store_->alias(model, alias);
    if (!number) throw RegistryError("model '" + model + "' has no alias '" + alias + "'");
  } else {
    number = store_->latest(model);
    if (!number) throw RegistryError("no model '" + model + "' in the registry " + (root_ / "registry.db").string());
  }
  auto version = store_->version(model, *number);
  if (!version) throw RegistryError("model '" + model + "' has no version " + std::to_string(*number));
  return *version;
}

void Registry::set_alias(const std::string& ref, const std::string& alias) {
  check_name(alias, "alias");
  const Version v = resolve(ref);
  store_->set_alias(v.model, alias, v.version);
}

fs::path Registry::verified_artifact(const Artifact& artifact) {
  const fs::path path = root_ / artifact.path;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw RegistryError(path.string() + ": artifact missing (" + artifact.kind + ")");
  const auto size = static_cast<int64_t>(fs::file_size(path, ec));
  if (size != artifact.size)
    throw RegistryError(path.string() + ": artifact is " + std::to_string(size) + " bytes, the registry recorded " +
                        std::to_string(artifact.size) + " (truncated or replaced)");
  const std::string sha = sha256_file(path);
  if (sha != artifact.sha256)
    throw RegistryError(path.string() + ": sha256 " + sha + " differs from the recorded " + artifact.sha256 +
                        " (the file was changed)");
  return path;
}

std::vector<fs::path> Registry::gc(bool dry_run) {
  std::set<fs::path> referenced;
  for (const auto& a : store_->artifacts()) referenced.insert((root_ / a.path).lexically_normal());
  std::vector<fs::path> orphans;
  for (const auto& entry : fs::recursive_directory_iterator(root_ / "artifacts")) {
    if (!entry.is_regular_file()) continue;
    const fs::path p = entry.path().lexically_normal();
    if (!referenced.count(p)) orphans.push_back(p);
  }
  std::sort(orphans.begin(), orphans.end());
  if (!dry_run)
    for (const auto& p : orphans) fs::remove(p);
  return orphans;
}

namespace {

std::string number_text(double v) {
  if (std::isnan(v)) return "NaN";
  std::ostringstream out;
  out << std::setprecision(6) << v;
  return out.str();
}

// "key = value" lines of a TOML text, as a map (the configs are flat parameter tables).
std::map<std::string, std::string> config_lines(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const size_t eq = line.find(" = ");
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 3);
  }
  return out;
}

// A TOML table's lines joined with ", " (for a Markdown line).
std::string one_line(const std::string& text) {
  std::string out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out += (out.empty() ? "" : ", ") + line;
  return out;
}

}  // namespace

std::string Registry::compare(const std::vector<std::string>& refs) {
  if (refs.size() < 2) throw RegistryError("compare needs at least two versions");
  std::vector<Version> versions;
  for (const auto& r : refs) versions.push_back(resolve(r));
  std::ostringstream out;
  out << "| |";
  for (const auto& v : versions) out << " " << v.ref() << " |";
  out << "\n|---|";
  for (size_t i = 0; i < versions.size(); ++i) out << "---|";
  out << "\n";
  std::vector<std::string> metric_names;
  for (const auto& v : versions)
    for (const auto& m : v.metrics)
      if (std::find(metric_names.begin(), metric_names.end(), m.name) == metric_names.end()) metric_names.push_back(m.name);
  std::sort(metric_names.begin(), metric_names.end());
  for (const auto& name : metric_names) {
    std::string direction;
    std::ostringstream cells;
    for (const auto& v : versions) {
      auto it = std::find_if(v.metrics.begin(), v.metrics.end(), [&](const Metric& m) { return m.name == name; });
      cells << " " << (it == v.metrics.end() ? "" : number_text(it->value)) << " |";
      if (it != v.metrics.end()) direction = it->direction;
    }
    out << "| " << name << (direction == "lower" ? " (lower is better)" : direction == "higher" ? " (higher is better)" : "")
        << " |" << cells.str() << "\n";
  }
  // Only the configuration that differs.
  std::vector<std::map<std::string, std::string>> configs;
  std::set<std::string> keys;
  for (const auto& v : versions) {
    auto c = config_lines(v.config);
    c["(plugin)"] = v.plugin.name + " " + v.plugin.version;
    c["(dataset)"] = v.dataset_plugin;
    c["(seed)"] = std::to_string(v.seed);
    for (const auto& [k, _] : c) keys.insert(k);
    configs.push_back(std::move(c));
  }
  for (const auto& k : keys) {
    bool differs = false;
    for (const auto& c : configs) differs |= (c.count(k) ? c.at(k) : "") != (configs[0].count(k) ? configs[0].at(k) : "");
    if (!differs) continue;
    out << "| " << k << " |";
    for (const auto& c : configs) out << " " << (c.count(k) ? c.at(k) : "") << " |";
    out << "\n";
  }
  return out.str();
}

void Registry::export_version(const std::string& ref, const fs::path& dir) {
  const Version v = resolve(ref);
  fs::create_directories(dir);
  std::ostringstream card;
  card << "# " << v.ref() << "\n\n"
       << "A " << v.plugin.name << " model (plugin version " << v.plugin.version << ", library sha256 "
       << v.plugin.library_sha256.substr(0, 16) << "...), trained by genlab.\n\n"
       << "## Lineage\n\n- run: `" << v.run_id << "`\n- dataset: " << v.dataset_plugin << " `" << one_line(v.dataset_params)
       << "`" << (v.dataset_hash.empty() ? "" : " (data sha256 " + v.dataset_hash.substr(0, 16) + "...)") << "\n- seed: "
       << v.seed << "\n";
  if (auto run = store_->run(v.run_id)) card << "- experiment: " << run->experiment << " (" << run->manifest << ")\n";
  card << "\n## Metrics\n\n| metric | value | better |\n|---|---|---|\n";
  for (const auto& m : v.metrics) card << "| " << m.name << " | " << number_text(m.value) << " | " << m.direction << " |\n";
  card << "\n## Files\n\n- `checkpoint.safetensors`: the model's state (open it with the Python `safetensors` package)\n"
       << "- `config.toml`: the model's parameters\n";
  for (const auto& a : v.artifacts) {
    if (a.kind != "checkpoint") continue;
    const fs::path source = verified_artifact(a);
    fs::copy_file(source, dir / "checkpoint.safetensors", fs::copy_options::overwrite_existing);
  }
  write_file_atomic(dir / "config.toml", v.config);
  write_file_atomic(dir / "MODEL_CARD.md", card.str());
}

}  // namespace genlab::registry
