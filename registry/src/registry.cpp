#include "genlab/registry/registry.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

#include "genlab/util/files.hpp"
#include "genlab/util/sha256.hpp"

namespace genlab::registry {
namespace fs = std::filesystem;

namespace {

// `text` with its control characters as \xNN, for a message.
std::string printable(const std::string& text) {
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      const char* hex = "0123456789abcdef";
      out += std::string("\\x") + hex[u >> 4] + hex[u & 15];
    } else {
      out += c;
    }
  }
  return out;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// The version number of `ref` ("model:NUMBER"), `text` being what follows the ':'.
int64_t version_number(const std::string& ref, const std::string& text) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
    throw RegistryError("'" + ref + "': expected NAME:VERSION with a version number");
  int64_t number = 0;
  if (std::from_chars(text.data(), text.data() + text.size(), number).ec != std::errc())
    throw RegistryError("'" + ref + "': version " + text + " is out of range (versions are numbered 1, 2, ... up to " +
                        std::to_string(INT64_MAX) + ")");
  return number;
}

std::string utc_time(int64_t seconds) {
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M UTC", &tm);
  return text;
}

}  // namespace

void check_name(const std::string& name, const char* what) {
  std::string problem = genlab::path_name_problem(name);
  if (problem.empty() && name.find("..") != std::string::npos) problem = "it holds '..'";
  if (!problem.empty())
    throw RegistryError(std::string("invalid ") + what + " '" + printable(name) + "': " + problem +
                        "; expected 1 to 128 letters, digits, '_', '-' or '.', not starting with '.', without '..'");
}

std::string deleted_version_message(const DeletedVersion& d) {
  return d.ref() + " was deleted (" + utc_time(d.deleted_at) + "): a deleted version is not registered again and its " +
         "number is never given again; `genlab registry restore " + d.ref() + "` lets its run (" +
         d.run_id.substr(0, 12) + ") be registered again, as a new version";
}

Registry::Registry(const fs::path& root, Open mode) : root_(fs::absolute(root)) {
  std::error_code ec;
  if (mode == Open::Existing) {
    if (!fs::is_directory(root_, ec)) throw RegistryError(root_.string() + ": no such workspace folder");
    if (!fs::is_regular_file(root_ / "registry.db", ec))
      throw RegistryError(root_.string() +
                          ": no registry here (no registry.db: `genlab run` makes it when it "
                          "registers its first model)");
  } else {
    fs::create_directories(root_, ec);
    if (ec) throw RegistryError(root_.string() + ": cannot create the registry folder: " + ec.message());
  }
  // The database first: one that is refused leaves the folder as it was.
  store_ = open_sqlite_store(root_ / "registry.db");
  fs::create_directories(root_ / "artifacts", ec);
  if (ec) throw RegistryError(root_.string() + ": cannot create the registry folder: " + ec.message());
}

Version Registry::register_version(const NewVersion& request) {
  check_name(request.model, "model name");
  // A deleted version's run is refused before its files are copied (the store checks again).
  std::optional<DeletedVersion> last;
  for (const auto& d : store_->deleted_versions(request.model))
    if (d.run_id == request.run.id && d.eval_id == request.eval_id) last = d;
  if (last && !last->restored) throw DeletedVersionError(deleted_version_message(*last), last->ref());
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

std::vector<std::string> Registry::model_names() {
  std::set<std::string> names;
  for (const auto& v : store_->versions("")) names.insert(v.model);
  return {names.begin(), names.end()};
}

void Registry::require_model(const std::string& model) {
  if (store_->latest(model)) return;
  std::vector<std::string> deleted;
  for (const auto& d : store_->deleted_versions(model)) deleted.push_back(d.ref());
  if (!deleted.empty())
    throw UnknownNameError("model '" + model + "' has no version left in the registry " +
                               (root_ / "registry.db").string() + ": " + joined(deleted) +
                               (deleted.size() == 1 ? " was deleted" : " were deleted"),
                           "", {}, "");
  const auto names = model_names();
  throw UnknownNameError("no model '" + model + "' in the registry " + (root_ / "registry.db").string(), model, names,
                         names.empty() ? "it holds no model yet" : "it holds " + joined(names));
}

Version Registry::resolve(const std::string& ref) {
  const size_t colon = ref.find(':'), at = ref.find('@');
  const std::string model = ref.substr(0, std::min(colon, at));
  check_name(model, "model name");
  std::optional<int64_t> number;
  if (colon != std::string::npos) {
    number = version_number(ref, ref.substr(colon + 1));
  } else if (at != std::string::npos) {
    const std::string alias = ref.substr(at + 1);
    check_name(alias, "alias");
    require_model(model);
    number = store_->alias(model, alias);
    if (!number) {
      std::set<std::string> aliases;
      for (const auto& v : store_->versions(model)) aliases.insert(v.aliases.begin(), v.aliases.end());
      const std::vector<std::string> known(aliases.begin(), aliases.end());
      throw UnknownNameError("model '" + model + "' has no alias '" + alias + "'", alias, known,
                             known.empty() ? "it has no alias (`genlab registry alias " + model + ":N ALIAS` sets one)"
                                           : "its aliases are " + joined(known));
    }
  } else {
    require_model(model);
    number = store_->latest(model);
  }
  auto version = store_->version(model, *number);
  if (!version) {
    std::vector<std::string> refs;
    for (const auto& v : store_->versions(model)) refs.push_back(v.ref());
    for (const auto& d : store_->deleted_versions(model))
      if (d.version == *number)
        throw UnknownNameError(
            "model '" + model + "' has no version " + std::to_string(*number) + ": it was deleted (" +
                utc_time(d.deleted_at) + ")" +
                (d.restored ? ", then restored: its run may be registered again, as a new version" : ""),
            "", {}, refs.empty() ? "it has no version left" : "its versions are " + joined(refs));
    require_model(model);
    // Version numbers get no "did you mean" (9 is as near to 8 as to 1): the list only.
    throw UnknownNameError("model '" + model + "' has no version " + std::to_string(*number), "", {},
                           "its versions are " + joined(refs));
  }
  return *version;
}

DeletedVersion Registry::restore_version(const std::string& ref) {
  const size_t colon = ref.find(':');
  if (colon == std::string::npos)
    throw RegistryError("'" + ref + "': expected NAME:VERSION, the number of the deleted version to restore");
  const std::string model = ref.substr(0, colon);
  check_name(model, "model name");
  const int64_t number = version_number(ref, ref.substr(colon + 1));
  store_->restore_version(model, number);
  for (const auto& d : store_->deleted_versions(model))
    if (d.version == number) return d;
  throw RegistryError(ref + ": restored, but its record is gone");  // not reached
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

std::string number_text(double v) {
  if (std::isnan(v)) return "NaN";
  std::ostringstream out;
  out << std::setprecision(6) << v;
  return out.str();
}

namespace {

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
      if (std::find(metric_names.begin(), metric_names.end(), m.name) == metric_names.end())
        metric_names.push_back(m.name);
  std::sort(metric_names.begin(), metric_names.end());
  for (const auto& name : metric_names) {
    std::string direction;
    std::ostringstream cells;
    for (const auto& v : versions) {
      auto it = std::find_if(v.metrics.begin(), v.metrics.end(), [&](const Metric& m) { return m.name == name; });
      cells << " " << (it == v.metrics.end() ? "" : number_text(it->value)) << " |";
      if (it != v.metrics.end()) direction = it->direction;
    }
    out << "| " << name
        << (direction == "lower"    ? " (lower is better)"
            : direction == "higher" ? " (higher is better)"
                                    : "")
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
    for (const auto& c : configs)
      differs |= (c.count(k) ? c.at(k) : "") != (configs[0].count(k) ? configs[0].at(k) : "");
    if (!differs) continue;
    out << "| " << k << " |";
    for (const auto& c : configs) out << " " << (c.count(k) ? c.at(k) : "") << " |";
    out << "\n";
  }
  return out.str();
}

std::string Registry::model_card(const Version& v) {
  // A dataset with no parameters of its own (digits-csv with its defaults) gets no empty ``.
  const std::string params = one_line(v.dataset_params);
  const std::string dataset_params = params.empty() ? "" : " `" + params + "`";
  std::ostringstream card;
  card << "# " << v.ref() << "\n\n"
       << "A " << v.plugin.name << " model (plugin version " << v.plugin.version << ", library sha256 "
       << v.plugin.library_sha256.substr(0, 16) << "...), trained by genlab.\n\n"
       << "## Lineage\n\n- run: `" << v.run_id << "`\n- dataset: " << v.dataset_plugin << dataset_params
       << (v.dataset_hash.empty() ? "" : " (data sha256 " + v.dataset_hash.substr(0, 16) + "...)")
       << "\n- seed: " << v.seed << "\n";
  if (auto run = store_->run(v.run_id)) card << "- experiment: " << run->experiment << " (" << run->manifest << ")\n";
  card << "\n## Metrics\n\n| metric | value | better |\n|---|---|---|\n";
  for (const auto& m : v.metrics)
    card << "| " << m.name << " | " << number_text(m.value) << " | " << m.direction << " |\n";
  card
      << "\n## Files\n\n- `checkpoint.safetensors`: the model's state (open it with the Python `safetensors` package)\n"
      << "- `config.toml`: the model's parameters\n";
  return card.str();
}

void Registry::export_version(const std::string& ref, const fs::path& dir) {
  const Version v = resolve(ref);
  fs::create_directories(dir);
  for (const auto& a : v.artifacts) {
    if (a.kind != "checkpoint") continue;
    const fs::path source = verified_artifact(a);
    fs::copy_file(source, dir / "checkpoint.safetensors", fs::copy_options::overwrite_existing);
  }
  write_file_atomic(dir / "config.toml", v.config);
  write_file_atomic(dir / "MODEL_CARD.md", model_card(v));
}

}  // namespace genlab::registry
