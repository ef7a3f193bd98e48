#include "genlab/core/experiment.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>

#include "genlab/core/discovery.hpp"
#include "genlab/core/error.hpp"
#include "genlab/core/registration.hpp"
#include "genlab/core/reuse.hpp"
#include "genlab/core/util/files.hpp"
#include "genlab/core/util/sha256.hpp"

namespace genlab {
namespace fs = std::filesystem;

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& s : names) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& known) {
  auto close = close_matches(word, known);
  return close.empty() ? std::string() : " (did you mean '" + close.front() + "'?)";
}

std::string manifest_position(const toml::source_region& region, const fs::path& fallback) {
  // A command-line override has no position (or that of its own one-line parse, no file).
  if (region.begin.line == 0 || !region.path) return "--set";
  const std::string file = region.path ? *region.path : fallback.string();
  return file + ":" + std::to_string(region.begin.line) + ":" + std::to_string(region.begin.column);
}

namespace {

// ------------------------------------------------------------------- where and what

std::string where(const toml::source_region& region, const fs::path& fallback) { return manifest_position(region, fallback); }

const char* type_name(genlab_param_type t) {
  switch (t) {
    case GENLAB_PARAM_INT: return "an integer";
    case GENLAB_PARAM_DOUBLE: return "a number";
    case GENLAB_PARAM_BOOL: return "a boolean";
    case GENLAB_PARAM_STRING: return "a string";
  }
  return "a value";
}

bool has_type(const toml::node& node, genlab_param_type t) {
  switch (t) {
    case GENLAB_PARAM_INT: return node.is_integer();
    case GENLAB_PARAM_DOUBLE: return node.is_number();
    case GENLAB_PARAM_BOOL: return node.is_boolean();
    case GENLAB_PARAM_STRING: return node.is_string();
  }
  return false;
}

// A value as it appears in run names and plans: 0.1, 32, "x" -> x.
// `text` for a message: control characters escaped, at most 60 characters.
std::string printable(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (out.size() >= 60) return out + "...";
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char code[8];
      std::snprintf(code, sizeof code, "\\x%02x", u);
      out += code;
    } else {
      out += c;
    }
  }
  return out;
}

std::string short_text(const toml::node& node) {
  std::ostringstream out;
  if (const auto* s = node.as_string()) return s->get();
  if (const auto* f = node.as_floating_point()) {
    out << f->get();
    return out.str();
  }
  node.visit([&](const auto& v) { out << v; });
  return out.str();
}

// ------------------------------------------------------------------ reading and merging

void deep_merge(toml::table& into, toml::table&& from) {
  for (auto&& [key, node] : from) {
    toml::node* existing = into.get(key.str());
    if (existing && existing->is_table() && node.is_table()) {
      deep_merge(*existing->as_table(), std::move(*node.as_table()));
    } else {
      into.insert_or_assign(key, std::move(node));
    }
  }
}

// Reads `file` with its includes merged under it (included files first, in order; this file
// wins). Nodes are moved, never copied, so they keep their file, line and column.
toml::table read_with_includes(const fs::path& file, std::vector<fs::path>& stack, std::vector<fs::path>& read) {
  const fs::path path = fs::absolute(file).lexically_normal();
  if (std::find(stack.begin(), stack.end(), path) != stack.end()) {
    std::string chain;
    for (const auto& p : stack) chain += p.string() + " -> ";
    throw HostError("include cycle: " + chain + path.string() + " (remove one of these includes)");
  }
  std::error_code status;  // a name the file system refuses (too long, say) is an error of the manifest's
  if (!fs::is_regular_file(path, status))
    throw HostError(path.string() + ": " + (status ? "cannot be read: " + status.message() : "no such manifest") +
                    (stack.empty() ? std::string() : " (included from " + stack.back().string() + ")"));
  toml::table document;
  try {
    document = toml::parse_file(path.string());
  } catch (const toml::parse_error& e) {
    throw HostError(where(e.source(), path) + ": " + std::string(e.description()));
  }
  read.push_back(path);
  toml::table merged;
  if (const toml::node* include = document.get("include")) {
    std::vector<std::string> names;
    if (include->is_string()) names.push_back(include->as_string()->get());
    else if (const toml::array* array = include->as_array()) {
      for (const auto& element : *array) {
        if (!element.is_string())
          throw HostError(where(element.source(), path) + ": expected 'include' to hold file names (strings)");
        names.push_back(element.as_string()->get());
      }
    } else {
      throw HostError(where(include->source(), path) + ": expected 'include' to be a file name or an array of them");
    }
    stack.push_back(path);
    for (const auto& name : names) {
      fs::path included = name;
      if (included.is_relative()) included = path.parent_path() / included;
      deep_merge(merged, read_with_includes(included, stack, read));
    }
    stack.pop_back();
    document.erase("include");
  }
  deep_merge(merged, std::move(document));
  return merged;
}

// ------------------------------------------------------------------------ sweeps

bool is_sweep(const toml::node& node) {
  const toml::table* t = node.as_table();
  return t && t->size() == 1 && (t->contains("sweep") || t->contains("range"));
}

// A parameter's values (copies): one value, or the points of a {sweep = [...]} or
// {range = [start, stop, step]} table (stop excluded, as in Python). Throws naming the
// position when malformed.
std::vector<toml::table> sweep_values(const toml::node& node, const fs::path& file, const std::string& key) {
  std::vector<toml::table> out;  // each a one-entry table {"v": value}, to copy nodes of any type
  if (!is_sweep(node)) {
    toml::table t;
    t.insert("v", node);
    out.push_back(std::move(t));
    return out;
  }
  const toml::table& spec = *node.as_table();
  if (const toml::node* sweep = spec.get("sweep")) {
    const toml::array* values = sweep->as_array();
    if (values == nullptr || values->empty())
      throw HostError(where(sweep->source(), file) + ": expected '" + key + ".sweep' to be a non-empty array");
    for (const auto& v : *values) {
      toml::table t;
      t.insert("v", v);
      out.push_back(std::move(t));
    }
    return out;
  }
  const toml::node* range = spec.get("range");
  const toml::array* bounds = range->as_array();
  if (bounds == nullptr || bounds->size() < 2 || bounds->size() > 3)
    throw HostError(where(range->source(), file) + ": expected '" + key + ".range' as [start, stop] or [start, stop, step]");
  bool integral = true;
  std::vector<double> b;
  for (const auto& v : *bounds) {
    if (!v.is_number()) throw HostError(where(v.source(), file) + ": expected '" + key + ".range' to hold numbers");
    integral &= v.is_integer();
    b.push_back(v.is_integer() ? static_cast<double>(v.as_integer()->get()) : v.as_floating_point()->get());
  }
  for (size_t i = 0; i < b.size(); ++i)
    if (!std::isfinite(b[i]))
      throw HostError(where((*bounds)[i].source(), file) + ": expected '" + key + ".range' bounds and step to be finite numbers");
  const double step = b.size() == 3 ? b[2] : 1.0;
  if (step == 0 || (b[1] - b[0]) / step < 0)
    throw HostError(where(range->source(), file) + ": '" + key + ".range' " + "never reaches its stop with that step");
  if ((b[1] - b[0]) / step > 10000)
    throw HostError(where(range->source(), file) + ": '" + key + ".range' has more than 10000 points");
  for (int64_t i = 0;; ++i) {
    const double v = b[0] + static_cast<double>(i) * step;
    if (step > 0 ? v >= b[1] - 1e-12 * std::abs(step) : v <= b[1] + 1e-12 * std::abs(step)) break;
    toml::table t;
    if (integral) t.insert("v", static_cast<int64_t>(std::llround(v)));
    else t.insert("v", v);
    out.push_back(std::move(t));
  }
  if (out.empty()) throw HostError(where(range->source(), file) + ": '" + key + ".range' is empty");
  return out;
}

// ---------------------------------------------------------------------- settings

const std::vector<std::string> kExperimentKeys = {
    "name",    "seeds",  "workspace", "plugin_paths", "steps",   "epochs",          "max_seconds",
    "batch_size", "checkpoint_every", "device", "threads", "timeout", "memory_limit_mb", "processes", "precision"};
const std::vector<std::string> kRunKeys = {"steps",  "epochs",  "max_seconds", "batch_size",      "checkpoint_every",
                                           "device", "threads", "timeout",     "memory_limit_mb", "processes",
                                           "precision"};

// Bounds of counts in a manifest: beyond them a worker hangs or the arithmetic overflows.
constexpr int64_t kMaxSteps = int64_t{1} << 40;
constexpr int64_t kMaxThreads = 1024;   // a LibTorch pool of 100000 threads hangs the worker
constexpr int64_t kMaxProcesses = 256;  // the local ranks a worker starts (worker.cpp)

std::string short_number(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

// A name that becomes a folder or file in the workspace (util/files.hpp says which).
void check_path_name(const std::string& name, const std::string& what, const toml::source_region& at, const fs::path& file) {
  if (const std::string problem = path_name_problem(name); !problem.empty())
    throw HostError(where(at, file) + ": invalid " + what + " \"" + printable(name) + "\": " + problem +
                    "; expected 1 to 128 letters, digits, '_', '-' or '.', not starting with '.' (it names a folder in the "
                    "workspace)");
}

// Sets one run setting from [experiment] or an override. Returns false for a key that is
// not a run setting.
bool apply_setting(RunSettings& s, const std::string& key, const toml::node& node, const fs::path& file) {
  const std::string what = "experiment." + key;
  // Counts are integers within what a machine can do; the limit is in the message.
  auto count = [&](int64_t low, int64_t high, const char* why) {
    const int64_t v = manifest_value<int64_t>(node, file, what, "an integer");
    if (v < low || v > high)
      throw HostError(where(node.source(), file) + ": expected " + what + " in [" + std::to_string(low) + ", " +
                      std::to_string(high) + "]" + why + ", got " + std::to_string(v));
    return v;
  };
  // Amounts are finite numbers >= 0 (NaN and inf would mean no limit, or none reached).
  auto amount = [&](double high) {
    const double v = manifest_value<double>(node, file, what, "a number");
    if (!(v >= 0) || !std::isfinite(v) || v > high)
      throw HostError(where(node.source(), file) + ": expected " + what + " to be a finite number in [0, " +
                      short_number(high) + "], got " + short_text(node));
    return v;
  };
  if (key == "steps") s.budget.steps = count(1, kMaxSteps, "");
  else if (key == "epochs") s.budget.epochs = amount(1e9);
  else if (key == "max_seconds") s.budget.seconds = amount(1e9);
  else if (key == "batch_size") s.batch_size = count(1, int64_t{1} << 24, "");
  else if (key == "checkpoint_every") s.checkpoint_every = count(0, kMaxSteps, " (steps; 0: only at the end)");
  else if (key == "threads") s.threads = static_cast<int32_t>(count(1, kMaxThreads, " (CPU threads of one run)"));
  else if (key == "timeout") s.timeout = amount(1e9);
  else if (key == "memory_limit_mb") s.memory_limit_mb = count(0, int64_t{1} << 30, " (MiB; 0: none)");
  else if (key == "processes") s.processes = static_cast<int32_t>(count(1, kMaxProcesses, " (data-parallel processes of one run)"));
  else if (key == "precision") {
    s.precision = manifest_value<std::string>(node, file, what, "a string");
    if (s.precision != "fp32" && s.precision != "bf16" && s.precision != "fp16")
      throw HostError(where(node.source(), file) + ": expected precision \"fp32\", \"bf16\" or \"fp16\", got \"" +
                      printable(s.precision) + "\"");
  } else if (key == "device") {
    s.device = manifest_value<std::string>(node, file, what, "a string");
    const bool ok = s.device == "cpu" || s.device == "cuda" ||
                    (s.device.rfind("cuda:", 0) == 0 && s.device.size() > 5 && s.device.size() <= 9 &&
                     s.device.find_first_not_of("0123456789", 5) == std::string::npos);
    if (!ok)
      throw HostError(where(node.source(), file) + ": expected device \"cpu\", \"cuda\" or \"cuda:N\" (N up to 4 digits), got \"" +
                      printable(s.device) + "\"");
  } else {
    return false;
  }
  return true;
}

// Sets one evaluation setting from [evaluation] or an override. Returns false for a key
// that is not one.
bool apply_eval_setting(RunSettings& s, const std::string& key, const toml::node& v, const fs::path& file) {
  if (key == "samples") {
    s.eval_samples = manifest_value<int64_t>(v, file, "evaluation.samples", "an integer");
    if (s.eval_samples <= 0 || s.eval_samples > (int64_t{1} << 24))
      throw HostError(where(v.source(), file) + ": expected evaluation.samples in [1, 16777216], got " +
                      std::to_string(s.eval_samples));
  } else if (key == "split") {
    s.eval_split = manifest_value<std::string>(v, file, "evaluation.split", "a string");
  } else if (key == "generate") {
    const toml::table* options = v.as_table();
    if (options == nullptr)
      throw HostError(where(v.source(), file) + ": expected evaluation.generate to be a table of options for the " +
                      "model's generate, e.g. { sampler = \"ddim\", steps = 50 }");
    for (const auto& [ok, ov] : *options)
      if (ov.is_table() || ov.is_array())
        throw HostError(where(ov.source(), file) + ": expected evaluation.generate." + std::string(ok.str()) +
                        " to be a string, number or boolean");
    s.eval_generate = *options;
  } else {
    return false;
  }
  return true;
}

toml::table settings_table(const RunSettings& s) {
  return toml::table{{"steps", s.budget.steps},
                     {"epochs", s.budget.epochs},
                     {"max_seconds", s.budget.seconds},
                     {"batch_size", s.batch_size},
                     {"checkpoint_every", s.checkpoint_every},
                     {"device", s.device},
                     {"precision", s.precision},
                     {"threads", s.threads},
                     {"timeout", s.timeout},
                     {"memory_limit_mb", s.memory_limit_mb},
                     {"processes", s.processes},
                     {"eval_samples", s.eval_samples},
                     {"eval_split", s.eval_split},
                     {"eval_generate", s.eval_generate}};
}

// -------------------------------------------------------------------- components

struct ComponentSpec {
  std::string name;
  std::string plugin_name;
  std::shared_ptr<const Plugin> plugin;
  const toml::table* body = nullptr;  // in the merged manifest (positions intact)
};

// Checks `key = node` of a component against the plugin's declared parameters (sweeps too).
void check_param(const fs::path& file, const std::string& section, const ComponentSpec& c, const std::string& key,
                 const toml::node& node, const toml::source_region& key_source) {
  const auto& declared = c.plugin->description().params;
  if (declared.empty()) return;  // the plugin did not declare its keys: it checks them itself
  std::vector<std::string> names;
  for (const auto& p : declared) names.push_back(p.name);
  auto it = std::find_if(declared.begin(), declared.end(), [&](const ParamSpec& p) { return p.name == key; });
  const std::string path = section + (c.name.empty() ? "" : "." + c.name) + "." + key;
  if (it == declared.end())
    throw HostError(where(key_source, file) + ": unknown key '" + path + "' for plugin '" + c.plugin_name + "'" +
                    did_you_mean(key, names) + "; it reads " + join_names(names));
  for (const auto& value : sweep_values(node, file, path)) {
    const toml::node& v = *value.get("v");
    if (!has_type(v, it->type))
      throw HostError(where(node.source(), file) + ": expected '" + path + "' to be " + type_name(it->type) +
                      (is_sweep(node) ? " in every point of its sweep" : std::string()));
    if (v.is_floating_point() && !std::isfinite(v.as_floating_point()->get()))
      throw HostError(where(node.source(), file) + ": expected '" + path + "' to be a finite number, got " + short_text(v));
  }
}

// Keys of a component's table that the host reads, not the plugin: `plugin`, for a metric
// the runs it applies to (`models`, `datasets`), for a model the datasets it trains on.
bool is_host_key(const std::string& section, const std::string& key) {
  return key == "plugin" || (section == "metrics" && (key == "models" || key == "datasets")) ||
         (section == "models" && key == "datasets");
}

std::vector<ComponentSpec> read_components(const fs::path& file, const toml::table& root, const char* section,
                                           genlab_plugin_kind kind, const Discovery& found) {
  std::vector<ComponentSpec> out;
  const toml::node* node = root.get(section);
  if (node == nullptr) return out;
  const toml::table* table = node->as_table();
  if (table == nullptr) throw HostError(where(node->source(), file) + ": expected [" + section + ".NAME] tables");
  for (const auto& [k, entry] : *table) {
    ComponentSpec c;
    c.name = std::string(k.str());
    const toml::table* body = entry.as_table();
    if (body == nullptr)
      throw HostError(where(entry.source(), file) + ": expected [" + section + "." + c.name + "] to be a table");
    c.body = body;
    check_path_name(c.name, std::string(section) + " name", k.source(), file);
    const toml::node* plugin = body->get("plugin");
    if (plugin == nullptr)
      throw HostError(where(k.source(), file) + ": [" + section + "." + c.name + "] lacks 'plugin = \"NAME\"'");
    c.plugin_name = manifest_value<std::string>(*plugin, file, "plugin", "a string");
    try {
      c.plugin = load_plugin(find_plugin(found, c.plugin_name));
    } catch (const HostError& e) {
      throw HostError(where(plugin->source(), file) + ": " + e.what());
    }
    if (c.plugin->kind() != kind)
      throw HostError(where(plugin->source(), file) + ": plugin '" + c.plugin_name + "' is a " +
                      kind_name(c.plugin->kind()) + ", but [" + section + "] needs a " + kind_name(kind));
    for (const auto& [pk, pv] : *body)
      if (!is_host_key(section, std::string(pk.str()))) check_param(file, section, c, std::string(pk.str()), pv, pk.source());
    for (const auto& p : c.plugin->description().params)
      if (!p.default_value && !body->get(p.name))
        throw HostError(where(k.source(), file) + ": [" + section + "." + c.name + "] lacks the required key '" +
                        p.name + "' (" + p.doc + ")");
    out.push_back(std::move(c));
  }
  return out;
}

// The points of a component's sweeps: each a resolved Component and its label.
std::vector<std::pair<Component, std::string>> expand(const ComponentSpec& spec, const fs::path& file,
                                                      const std::string& section) {
  std::vector<std::pair<Component, std::string>> points(1);
  points[0].first.name = spec.name;
  points[0].first.plugin_name = spec.plugin_name;
  points[0].first.plugin = spec.plugin;
  for (const auto& [k, v] : *spec.body) {
    const std::string key(k.str());
    if (is_host_key(section, key)) continue;
    const auto values = sweep_values(v, file, section + "." + spec.name + "." + key);
    std::vector<std::pair<Component, std::string>> next;
    for (const auto& point : points) {
      for (const auto& value : values) {
        auto copy = point;
        copy.first.params.insert_or_assign(key, *value.get("v"));
        if (values.size() > 1 || is_sweep(v))
          copy.second += (copy.second.empty() ? "" : "-") + key + "=" + short_text(*value.get("v"));
        next.push_back(std::move(copy));
      }
    }
    points = std::move(next);
  }
  return points;
}

bool serves(const Plugin& plugin, const std::string& modality) {
  const auto& m = plugin.description().modalities;
  return m.empty() || std::find(m.begin(), m.end(), modality) != m.end();
}

int32_t device_type_of(const std::string& device) { return device == "cpu" ? kDLCPU : kDLCUDA; }

// ---------------------------------------------------------------------- identity

toml::table build_of(const Component& c) {
  return toml::table{{"plugin", c.plugin_name},
                     {"version", c.plugin->description().version},
                     {"library_sha256", library_sha256(c.plugin->library())},
                     {"params", c.params}};
}

std::string canonical(const toml::table& t) {
  std::ostringstream out;
  out << toml::json_formatter(t);  // keys sorted: toml::table is ordered
  return out.str();
}

// The content hash of a dataset's files (see dataset_content_hash), once per configuration
// and process: several runs on one dataset read it once.
std::string data_content(const toml::table& params) {
  static std::mutex mutex;
  static std::map<std::string, std::string> hashes;
  const std::string key = canonical(params);
  std::lock_guard<std::mutex> lock(mutex);
  auto found = hashes.find(key);
  if (found == hashes.end()) found = hashes.emplace(key, dataset_content_hash(params)).first;
  return found->second;
}

void assign_identity(RunPlan& r) {
  const RunSettings& s = r.settings;
  // The data's files decide the weights as much as the parameters that name them: a folder
  // rendered again, or a file replaced, is new data.
  toml::table dataset = build_of(r.dataset);
  if (const std::string content = data_content(r.dataset.params); !content.empty()) dataset.insert("content_sha256", content);
  // What changes the trained weights. Timeouts, limits and checkpoint intervals do not.
  toml::table train{{"model", build_of(r.model)},
                    {"dataset", std::move(dataset)},
                    {"seed", r.seed},
                    {"steps", s.budget.steps},
                    {"epochs", s.budget.epochs},
                    {"max_seconds", s.budget.seconds},
                    {"batch_size", s.batch_size},
                    {"device", s.device},
                    {"threads", s.threads}};
  // Only when set, so that the ids of single-process runs stay unchanged. Several processes
  // sum gradients in another order and draw their noise per shard: not the same weights.
  if (s.processes > 1) train.insert("processes", s.processes);
  if (s.precision != "fp32") train.insert("precision", s.precision);  // likewise: fp32 ids unchanged
  r.id = sha256_hex(canonical(train));
  // What decides the samples and scores the metrics read.
  toml::table samples{{"train", r.id}, {"eval_samples", s.eval_samples}, {"eval_split", s.eval_split}};
  if (!s.eval_generate.empty()) samples.insert("eval_generate", s.eval_generate);
  r.samples_id = sha256_hex(canonical(samples));
  // Each metric: its build and parameters on those samples (and the feature network's
  // outputs when it reads them).
  toml::array metric_ids;
  for (auto& m : r.metrics) {
    toml::table metric{{"samples", r.samples_id}, {"name", m.name}, {"build", build_of(m)}};
    if (!r.features_id.empty() && m.plugin->has(GENLAB_CAPABILITY_READS_FEATURES)) metric.insert("features", r.features_id);
    m.id = sha256_hex(canonical(metric));
    metric_ids.push_back(m.id);
  }
  toml::table evaluation{{"samples", r.samples_id}, {"metrics", std::move(metric_ids)}};
  if (!r.features_id.empty()) evaluation.insert("features", r.features_id);
  r.eval_id = sha256_hex(canonical(evaluation));
}

toml::table component_table(const Component& c) {
  toml::table t{{"name", c.name}, {"plugin", c.plugin_name}, {"library", c.plugin->library().string()}, {"params", c.params}};
  if (!c.id.empty()) t.insert("id", c.id);
  return t;
}

Component component_from(const toml::table& t, const fs::path& file) {
  Component c;
  c.name = t["name"].value_or(std::string());
  c.plugin_name = t["plugin"].value_or(std::string());
  const std::string library = t["library"].value_or(std::string());
  if (c.name.empty() || library.empty()) throw HostError(file.string() + ": a component lacks its name or library");
  if (const toml::table* p = t["params"].as_table()) c.params = *p;
  c.id = t["id"].value_or(std::string());
  c.plugin = load_plugin_library(library);
  return c;
}

// ---------------------------------------------------------------------- feature networks

// [features]: the classifier the host trains per image dataset for the metrics that read
// features (FID, KID, precision/recall, class coverage). docs/manifest.md lists the keys.
struct FeatureSettings {
  bool enabled = true;
  Component net;  // the plugin and its parameters
  int64_t steps = 2000;
  int64_t batch_size = 128;
  int64_t seed = 0;
  const toml::node* at = nullptr;
};

FeatureSettings read_features(const fs::path& file, const toml::table& root, const Discovery& found) {
  FeatureSettings f;
  f.net.name = "features";
  f.net.plugin_name = "classifier";
  const toml::node* node = root.get("features");
  const toml::table* table = node ? node->as_table() : nullptr;
  if (node != nullptr && table == nullptr) throw HostError(where(node->source(), file) + ": expected [features] to be a table");
  f.at = node;
  const toml::node* plugin = table ? table->get("plugin") : nullptr;
  if (plugin) f.net.plugin_name = manifest_value<std::string>(*plugin, file, "features.plugin", "a string");
  if (table && table->get("enabled")) f.enabled = manifest_value<bool>(*table->get("enabled"), file, "features.enabled", "true or false");
  if (!f.enabled) return f;
  try {
    f.net.plugin = load_plugin(find_plugin(found, f.net.plugin_name));
  } catch (const HostError& e) {
    // Only an error when a run needs the network (see feature_run_for).
    if (plugin) throw HostError(where(plugin->source(), file) + ": " + e.what());
    return f;
  }
  if (f.net.plugin->kind() != GENLAB_PLUGIN_KIND_MODEL)
    throw HostError(where(plugin ? plugin->source() : node->source(), file) + ": features.plugin '" + f.net.plugin_name +
                    "' is a " + kind_name(f.net.plugin->kind()) + ", expected a model (a classifier)");
  if (table == nullptr) return f;
  const ComponentSpec spec{"", f.net.plugin_name, f.net.plugin, table};  // keys read "features.KEY"
  for (const auto& [k, v] : *table) {
    const std::string key(k.str());
    if (key == "plugin" || key == "enabled") continue;
    if (key == "steps" || key == "batch_size" || key == "seed") {
      const int64_t value = manifest_value<int64_t>(v, file, "features." + key, "an integer");
      if (value < (key == "seed" ? 0 : 1))
        throw HostError(where(v.source(), file) + ": expected features." + key + (key == "seed" ? " >= 0" : " >= 1"));
      (key == "steps" ? f.steps : key == "batch_size" ? f.batch_size : f.seed) = value;
      continue;
    }
    if (is_sweep(v)) throw HostError(where(v.source(), file) + ": features." + key + " cannot be a sweep");
    check_param(file, "features", spec, key, v, k.source());
    f.net.params.insert_or_assign(key, v);
  }
  return f;
}

// Whether a run's evaluation gets a feature network: image data and a metric that reads it.
bool needs_features(const RunPlan& r) {
  const auto& modalities = r.dataset.plugin->description().modalities;
  return std::find(modalities.begin(), modalities.end(), "image") != modalities.end() &&
         std::any_of(r.metrics.begin(), r.metrics.end(),
                     [](const Component& m) { return m.plugin->has(GENLAB_CAPABILITY_READS_FEATURES); });
}

// The feature network of run `r`'s dataset: one per dataset configuration (and thread
// count and device, which are part of a run's identity), added to `e` on first use.
const RunPlan& feature_run_for(Experiment& e, const FeatureSettings& f, const RunPlan& r) {
  if (!f.net.plugin)
    throw HostError(e.file.string() + ": run '" + r.name + "' has metrics that read features, but the feature network's plugin '" +
                    f.net.plugin_name + "' is not found (build the plugins, or set [features] enabled = false to compute "
                    "them on pixels)");
  RunPlan net;
  net.is_feature_net = true;
  net.model = f.net;
  net.dataset = r.dataset;
  // The network is the measuring instrument: it learns from all the training data, whatever
  // the run trains on (a subset, a class made rare), so that runs on selections of one
  // dataset are measured by one network and their FIDs compare.
  for (const char* selection : {"subset", "subset_mode", "subset_seed", "rare_class", "rare_share"})
    net.dataset.params.erase(selection);
  net.seed = f.seed;
  net.settings.budget.steps = f.steps;
  net.settings.batch_size = f.batch_size;
  net.settings.threads = r.settings.threads;
  net.settings.device = r.settings.device;
  net.settings.timeout = r.settings.timeout;
  net.settings.memory_limit_mb = r.settings.memory_limit_mb;
  net.settings.eval_split = r.settings.eval_split;
  net.settings.eval_samples = 10000;
  net.name = "features-" + r.dataset.name;
  assign_identity(net);
  for (const auto& existing : e.feature_runs)
    if (existing.id == net.id) return existing;
  e.feature_runs.push_back(std::move(net));
  return e.feature_runs.back();
}

// Why this machine cannot run CUDA ("" when it can): the driver library loads and reports a
// device. Asked of the driver itself, not of a LibTorch: the host links none.
std::string cuda_problem() {
  static const std::string problem = [] {
    void* driver = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);  // kept: drivers are not unloaded
    if (driver == nullptr) return std::string("this machine has no CUDA driver (libcuda.so.1 does not load)");
    using Init = int (*)(unsigned);
    using Count = int (*)(int*);
    const auto init = reinterpret_cast<Init>(::dlsym(driver, "cuInit"));
    const auto count = reinterpret_cast<Count>(::dlsym(driver, "cuDeviceGetCount"));
    int devices = 0;
    if (init == nullptr || count == nullptr || init(0) != 0 || count(&devices) != 0 || devices == 0)
      return std::string("the CUDA driver of this machine reports no device");
    return std::string();
  }();
  return problem;
}

// ------------------------------------------------------------------ generate options

// Which evaluation.generate options the runs' models read, and those some run's model
// does not (where they were written). A plugin of ABI 1.5 declares its options; an older
// one is taken to read every option it is given.
struct GenerateKeysRead {
  std::set<std::string> keys;
  bool all = false;
  std::map<std::string, toml::source_region> unread;
  void insert(const GenerateKeysRead& other) {
    keys.insert(other.keys.begin(), other.keys.end());
    all |= other.all;
    unread.insert(other.unread.begin(), other.unread.end());
  }
};

// [evaluation] generate is shared by every model of a manifest, each reading its own
// options: a run keeps those its model declares (so that another model's sampler steps are
// no part of its identity), and an option of the wrong type is an error here.
GenerateKeysRead keep_generate_options(RunPlan& r, const fs::path& file) {
  GenerateKeysRead read;
  const PluginDescription& d = r.model.plugin->description();
  if (!d.declares_generate_params) {
    read.all = true;
    return read;
  }
  toml::table kept;
  for (const auto& [k, v] : r.settings.eval_generate) {
    const std::string key(k.str());
    auto it = std::find_if(d.generate_params.begin(), d.generate_params.end(), [&](const ParamSpec& p) { return p.name == key; });
    if (it == d.generate_params.end()) {
      read.unread.emplace(key, v.source());
      continue;
    }
    if (!has_type(v, it->type))
      throw HostError(where(v.source(), file) + ": expected evaluation.generate." + key + " to be " + type_name(it->type) +
                      " (a generate option of plugin '" + r.model.plugin_name + "')");
    kept.insert(key, v);
    read.keys.insert(key);
  }
  r.settings.eval_generate = std::move(kept);
  return read;
}

// An evaluation.generate option that no run's model reads is a typo or a model left out.
// Its position is the manifest's [evaluation] generate entry when it is written there.
void check_generate_options_read(const Experiment& e, const GenerateKeysRead& read, const fs::path& file,
                                 const toml::table& root) {
  if (read.all) return;
  std::set<std::string> plugins, declared;
  for (const auto& r : e.runs) {
    plugins.insert(r.model.plugin_name);
    for (const auto& p : r.model.plugin->description().generate_params) declared.insert(p.name);
  }
  const std::vector<std::string> known(declared.begin(), declared.end());
  for (const auto& [key, source] : read.unread) {
    if (read.keys.count(key)) continue;
    // Where it is written: [evaluation] generate, or the `set` of an [[overrides]] entry.
    const toml::node* written = nullptr;
    if (const toml::table* generate = root.at_path("evaluation.generate").as_table()) written = generate->get(key);
    if (const toml::array* entries = root["overrides"].as_array(); entries && !written)
      for (const auto& entry : *entries)
        if (const toml::table* set = entry.at_path("set").as_table())
          if (const toml::table* generate = (*set)["evaluation.generate"].as_table(); generate && generate->get(key))
            written = generate->get(key);
    throw HostError(where(written ? written->source() : source, file) + ": no model of this experiment (" +
                    join_names(std::vector<std::string>(plugins.begin(), plugins.end())) +
                    ") reads the generate option '" + key + "'" + did_you_mean(key, known) +
                    (known.empty() ? "; they take no generate options" : "; they read " + join_names(known)));
  }
}

}  // namespace

void check_generate_options(const Plugin& plugin, const toml::table& options, const std::string& flag) {
  const PluginDescription& d = plugin.description();
  if (!d.declares_generate_params) return;
  std::vector<std::string> names;
  for (const auto& p : d.generate_params) names.push_back(p.name);
  for (const auto& [k, v] : options) {
    const std::string key(k.str());
    auto it = std::find_if(d.generate_params.begin(), d.generate_params.end(), [&](const ParamSpec& p) { return p.name == key; });
    if (it == d.generate_params.end())
      throw HostError(flag + " " + key + ": plugin '" + plugin.name() + "' has no generate option '" + key + "'" +
                      did_you_mean(key, names) + (names.empty() ? "; it takes none" : "; it reads " + join_names(names)));
    if (!has_type(v, it->type))
      throw HostError(flag + " " + key + ": expected " + type_name(it->type) + " (a generate option of plugin '" +
                      plugin.name() + "')");
  }
}

void apply_override(toml::table& root, const std::string& text, const std::string& flag) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw HostError(flag + " " + text + ": expected KEY=VALUE, e.g. " + (flag == "--set" ? "models.gmm.lr=0.1" : "steps=50"));
  const std::string key = text.substr(0, eq);
  const std::string value = text.substr(eq + 1);
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    parsed = toml::table{{"v", value}};
  }
  toml::table* table = &root;
  size_t start = 0;
  while (true) {
    const size_t dot = key.find('.', start);
    const std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) throw HostError(flag + " " + text + ": empty key part in '" + key + "'");
    if (dot == std::string::npos) {
      table->insert_or_assign(part, std::move(*parsed.get("v")));
      return;
    }
    toml::node* next = table->get(part);
    if (next == nullptr) {
      table->insert(part, toml::table{});
      next = table->get(part);
    }
    if (!next->is_table()) throw HostError(flag + " " + text + ": '" + part + "' is not a table");
    table = next->as_table();
    start = dot + 1;
  }
}

std::string library_sha256(const fs::path& library) {
  static std::mutex mutex;
  static std::map<fs::path, std::string> hashes;
  std::lock_guard<std::mutex> lock(mutex);
  auto& hash = hashes[library];
  if (hash.empty()) hash = sha256_file(library);
  return hash;
}

toml::table RunPlan::resolved() const {
  toml::array metrics_out;
  for (const auto& m : metrics) metrics_out.push_back(component_table(m));
  toml::table t{{"id", id},
                {"samples_id", samples_id},
                {"eval_id", eval_id},
                {"name", name},
                {"seed", seed},
                {"settings", settings_table(settings)},
                {"model", component_table(model)},
                {"dataset", component_table(dataset)},
                {"metrics", std::move(metrics_out)}};
  if (!features_id.empty())
    t.insert("features", toml::table{{"id", features_id}, {"dir", features_dir.string()}});
  if (is_feature_net) t.insert("role", "features");
  return t;
}

RunPlan run_from_resolved(const toml::table& t, const fs::path& file) {
  RunPlan r;
  r.id = t["id"].value_or(std::string());
  r.samples_id = t["samples_id"].value_or(std::string());
  r.eval_id = t["eval_id"].value_or(std::string());
  r.name = t["name"].value_or(std::string());
  r.seed = t["seed"].value_or(int64_t{0});
  const toml::table* s = t["settings"].as_table();
  const toml::table* model = t["model"].as_table();
  const toml::table* dataset = t["dataset"].as_table();
  if (r.id.empty() || s == nullptr || model == nullptr || dataset == nullptr)
    throw HostError(file.string() + ": not a resolved run (id, settings, model or dataset missing)");
  RunSettings& rs = r.settings;
  rs.budget.steps = (*s)["steps"].value_or(int64_t{0});
  rs.budget.epochs = (*s)["epochs"].value_or(0.0);
  rs.budget.seconds = (*s)["max_seconds"].value_or(0.0);
  rs.batch_size = (*s)["batch_size"].value_or(int64_t{64});
  rs.checkpoint_every = (*s)["checkpoint_every"].value_or(int64_t{0});
  rs.device = (*s)["device"].value_or(std::string("cpu"));
  rs.precision = (*s)["precision"].value_or(std::string("fp32"));
  rs.threads = (*s)["threads"].value_or(1);
  rs.timeout = (*s)["timeout"].value_or(0.0);
  rs.memory_limit_mb = (*s)["memory_limit_mb"].value_or(int64_t{0});
  rs.processes = (*s)["processes"].value_or(1);
  rs.eval_samples = (*s)["eval_samples"].value_or(int64_t{1024});
  rs.eval_split = (*s)["eval_split"].value_or(std::string("test"));
  if (const toml::table* generate = (*s)["eval_generate"].as_table()) rs.eval_generate = *generate;
  r.model = component_from(*model, file);
  r.dataset = component_from(*dataset, file);
  r.features_id = t["features"]["id"].value_or(std::string());
  r.features_dir = t["features"]["dir"].value_or(std::string());
  r.is_feature_net = t["role"].value_or(std::string()) == "features";
  if (const toml::array* metrics = t["metrics"].as_array())
    for (const auto& m : *metrics)
      if (const toml::table* mt = m.as_table()) r.metrics.push_back(component_from(*mt, file));
  return r;
}

toml::table Experiment::plan() const {
  toml::array runs_out;
  for (const auto& r : runs) {
    toml::table t = r.resolved();
    t.insert("folder", (folder() / "runs" / r.folder_name()).string());
    const RunFate fate = run_fate(r, folder() / "runs" / r.folder_name());
    t.insert("fate", toml::table{{"train", toml::table{{"action", fate.train.action}, {"why", fate.train.why}}},
                                 {"evaluate", toml::table{{"action", fate.evaluate.action}, {"why", fate.evaluate.why}}}});
    runs_out.push_back(std::move(t));
  }
  toml::array features_out;
  for (const auto& r : feature_runs) {
    toml::table t = r.resolved();
    t.insert("folder", feature_folder(r).string());
    features_out.push_back(std::move(t));
  }
  toml::array files;
  for (const auto& f : includes) files.push_back(f.string());
  return toml::table{{"manifest", file.string()},      {"files", std::move(files)},
                     {"experiment", name},             {"workspace", workspace.string()},
                     {"runs", std::move(runs_out)},    {"feature_networks", std::move(features_out)}};
}

// [executor]: where the nodes run (local worker processes, or Slurm batch jobs).
static ExecutorSettings read_executor(const toml::node& node, const fs::path& file) {
  const toml::table* table = node.as_table();
  if (table == nullptr) throw HostError(where(node.source(), file) + ": expected [executor] to be a table");
  static const std::vector<std::string> known = {"kind",           "partition",         "account",
                                                 "time_limit",     "cpus_per_run",      "gpus_per_run",
                                                 "memory_mb_per_run", "sbatch_options", "poll_seconds", "genlab"};
  ExecutorSettings x;
  for (const auto& [k, v] : *table) {
    const std::string key(k.str());
    const std::string what = "executor." + key;
    auto non_negative_int = [&, &node = v] {  // a structured binding is captured by name from C++20 on
      const int64_t n = manifest_value<int64_t>(node, file, what, "an integer");
      if (n < 0) throw HostError(where(node.source(), file) + ": expected " + what + " >= 0, got " + std::to_string(n));
      return n;
    };
    if (key == "kind") {
      x.kind = manifest_value<std::string>(v, file, what, "a string");
      if (x.kind != "local" && x.kind != "slurm")
        throw HostError(where(v.source(), file) + ": expected executor.kind \"local\" or \"slurm\", got \"" + x.kind + "\"");
    } else if (key == "partition") x.partition = manifest_value<std::string>(v, file, what, "a string");
    else if (key == "account") x.account = manifest_value<std::string>(v, file, what, "a string");
    else if (key == "time_limit") x.time_limit = manifest_value<std::string>(v, file, what, "a string such as \"01:30:00\"");
    else if (key == "cpus_per_run") x.cpus_per_run = non_negative_int();
    else if (key == "gpus_per_run") x.gpus_per_run = non_negative_int();
    else if (key == "memory_mb_per_run") x.memory_mb_per_run = non_negative_int();
    else if (key == "genlab") x.genlab = manifest_value<std::string>(v, file, what, "a path");
    else if (key == "poll_seconds") {
      x.poll_seconds = manifest_value<double>(v, file, what, "a number");
      if (!(x.poll_seconds > 0)) throw HostError(where(v.source(), file) + ": expected executor.poll_seconds > 0");
    } else if (key == "sbatch_options") {
      const toml::array* array = v.as_array();
      if (array == nullptr)
        throw HostError(where(v.source(), file) + ": expected executor.sbatch_options to be an array of strings, e.g. [\"--qos=short\"]");
      for (const auto& o : *array) x.sbatch_options.push_back(manifest_value<std::string>(o, file, what, "an array of strings"));
    } else {
      throw HostError(where(k.source(), file) + ": unknown key 'executor." + key + "'" + did_you_mean(key, known) +
                      "; expected one of " + join_names(known));
    }
  }
  return x;
}

// `scale = "NAME"` picks [scales.NAME], merged over the manifest (tables key by key, other
// values replaced) so that one file states an experiment at several sizes. Removes both
// keys; returns whether a scale was applied.
static bool apply_scale(toml::table& root, const fs::path& file) {
  const toml::node* scale = root.get("scale");
  const toml::node* scales = root.get("scales");
  if (scales != nullptr && !scales->is_table())
    throw HostError(where(scales->source(), file) + ": expected [scales.NAME] tables, one per scale");
  std::vector<std::string> names;
  if (scales != nullptr)
    for (const auto& [k, v] : *scales->as_table()) {
      if (!v.is_table())
        throw HostError(where(v.source(), file) + ": expected scales." + std::string(k.str()) +
                        " to be a table of manifest keys, e.g. [scales." + std::string(k.str()) + "] experiment.steps = 100");
      names.emplace_back(k.str());
    }
  std::optional<toml::table> chosen;
  if (scale != nullptr) {
    const std::string name = manifest_value<std::string>(*scale, file, "scale", "the name of a [scales.NAME] table");
    const toml::table* table = scales ? (*scales->as_table())[name].as_table() : nullptr;
    if (table == nullptr)
      throw HostError(where(scale->source(), file) + ": scale '" + name + "' has no [scales." + name + "] table" +
                      did_you_mean(name, names) + (names.empty() ? "" : "; the scales are " + join_names(names)));
    chosen = *table;
  }
  root.erase("scale");
  root.erase("scales");
  if (!chosen) return false;
  deep_merge(root, std::move(*chosen));
  return true;
}

Experiment load_experiment(const fs::path& path, const std::vector<std::string>& overrides) {
  GenerateKeysRead generate_keys_read;  // the evaluation.generate options some run's model reads
  Experiment e;
  e.file = fs::absolute(path).lexically_normal();
  std::vector<fs::path> stack;
  toml::table root = read_with_includes(e.file, stack, e.includes);
  for (const auto& o : overrides) apply_override(root, o);
  const fs::path& file = e.file;
  if (apply_scale(root, file)) {
    for (const auto& o : overrides) apply_override(root, o);  // the command line wins over the scale
    root.erase("scale");
    root.erase("scales");
  }

  static const std::vector<std::string> sections = {"experiment", "datasets", "models",    "metrics",
                                                    "features",   "evaluation", "report", "overrides",
                                                    "exclude",    "executor",   "claims"};
  for (const auto& [k, node] : root) {
    const std::string key(k.str());
    if (std::find(sections.begin(), sections.end(), key) == sections.end())
      throw HostError(where(k.source(), file) + ": unknown top-level key '" + key + "'" + did_you_mean(key, sections) +
                      "; expected " + join_names(sections));
  }

  // [experiment]
  RunSettings base;
  base.budget.steps = 100;  // the default budget when none is given
  std::vector<int64_t> seeds = {0};
  e.name = e.file.stem().string();
  e.workspace = "genlab-runs";
  bool budget_given = false;
  if (const toml::node* node = root.get("experiment")) {
    const toml::table* table = node->as_table();
    if (table == nullptr) throw HostError(where(node->source(), file) + ": expected [experiment] to be a table");
    for (const auto& [k, v] : *table) {
      const std::string key(k.str());
      if (key == "name") {
        e.name = manifest_value<std::string>(v, file, "name", "a string");
        check_path_name(e.name, "experiment.name", v.source(), file);
      }
      else if (key == "workspace") e.workspace = manifest_value<std::string>(v, file, "workspace", "a string");
      else if (key == "plugin_paths") {
        const toml::array* array = v.as_array();
        if (array == nullptr) throw HostError(where(v.source(), file) + ": expected 'plugin_paths' to be an array of folders");
        for (const auto& p : *array) {
          fs::path folder = manifest_value<std::string>(p, file, "plugin_paths", "an array of strings");
          // Relative to the file that names it, not to the shell's folder.
          if (folder.is_relative() && p.source().path) folder = fs::path(*p.source().path).parent_path() / folder;
          e.plugin_paths.push_back(folder.lexically_normal());
        }
      } else if (key == "seeds") {
        seeds.clear();
        if (const toml::array* array = v.as_array()) {
          for (const auto& s : *array) seeds.push_back(manifest_value<int64_t>(s, file, "seeds", "an array of integers"));
        } else if (is_sweep(v)) {
          for (const auto& s : sweep_values(v, file, "experiment.seeds"))
            if (s.get("v")->is_integer()) seeds.push_back(s.get("v")->as_integer()->get());
            else throw HostError(where(v.source(), file) + ": expected experiment.seeds to be integers");
        } else {
          throw HostError(where(v.source(), file) + ": expected experiment.seeds as [1, 2] or {range = [0, 5]}");
        }
      } else if (!apply_setting(base, key, v, file)) {
        throw HostError(where(k.source(), file) + ": unknown key 'experiment." + key + "'" +
                        did_you_mean(key, kExperimentKeys) + "; expected one of " + join_names(kExperimentKeys));
      }
      budget_given |= key == "steps" || key == "epochs" || key == "max_seconds";
    }
    if (budget_given && !table->get("steps")) base.budget.steps = 0;  // only the limits given apply
  }
  if (seeds.empty()) throw HostError(file.string() + ": experiment.seeds is empty");
  if (!root["experiment"]["name"])  // named after the file: that name must do as a folder too
    check_path_name(e.name, "experiment name (the manifest's file name; set experiment.name)", {}, file);
  if (e.workspace.is_relative()) e.workspace = fs::current_path() / e.workspace;

  // [evaluation]
  std::vector<std::string> eval_metrics;
  if (const toml::node* node = root.get("evaluation")) {
    const toml::table* table = node->as_table();
    if (table == nullptr) throw HostError(where(node->source(), file) + ": expected [evaluation] to be a table");
    static const std::vector<std::string> known = {"samples", "split", "metrics", "generate"};
    for (const auto& [k, v] : *table) {
      const std::string key(k.str());
      if (key == "metrics") {
        const toml::array* array = v.as_array();
        if (array == nullptr) throw HostError(where(v.source(), file) + ": expected evaluation.metrics to be an array of names");
        for (const auto& m : *array) eval_metrics.push_back(manifest_value<std::string>(m, file, "evaluation.metrics", "names"));
      } else if (!apply_eval_setting(base, key, v, file)) {
        throw HostError(where(k.source(), file) + ": unknown key 'evaluation." + key + "'" + did_you_mean(key, known) +
                        "; expected one of " + join_names(known));
      }
    }
  }

  // [report]
  if (const toml::node* node = root.get("report")) {
    const toml::table* table = node->as_table();
    if (table == nullptr) throw HostError(where(node->source(), file) + ": expected [report] to be a table");
    static const std::vector<std::string> known = {"title", "sort_by", "quality"};
    for (const auto& [k, v] : *table) {
      const std::string key(k.str());
      if (key == "title") e.report.title = manifest_value<std::string>(v, file, "report.title", "a string");
      else if (key == "sort_by") e.report.sort_by = manifest_value<std::string>(v, file, "report.sort_by", "a string");
      else if (key == "quality") e.report.quality = manifest_value<std::string>(v, file, "report.quality", "a metric name");
      else
        throw HostError(where(k.source(), file) + ": unknown key 'report." + key + "'" + did_you_mean(key, known) +
                        "; expected one of " + join_names(known));
    }
  }
  if (e.report.title.empty()) e.report.title = e.name;

  if (const toml::node* node = root.get("executor")) e.executor = read_executor(*node, file);

  // Components.
  const Discovery found = discover_plugins(plugin_search_path(e.plugin_paths));
  auto datasets = read_components(file, root, "datasets", GENLAB_PLUGIN_KIND_DATASET, found);
  auto models = read_components(file, root, "models", GENLAB_PLUGIN_KIND_MODEL, found);
  auto metric_specs = read_components(file, root, "metrics", GENLAB_PLUGIN_KIND_METRIC, found);
  if (datasets.empty()) throw HostError(file.string() + ": no [datasets.NAME] section: a run needs data");
  if (models.empty()) throw HostError(file.string() + ": no [models.NAME] section: nothing to train");
  // A metric applies to every run unless its `models` / `datasets` lists limit it.
  struct ScopedMetric {
    Component metric;
    std::vector<std::string> models, datasets;
    bool applies(const std::string& model, const std::string& dataset) const {
      return (models.empty() || std::find(models.begin(), models.end(), model) != models.end()) &&
             (datasets.empty() || std::find(datasets.begin(), datasets.end(), dataset) != datasets.end());
    }
  };
  auto names_in = [&](const ComponentSpec& spec, const char* key, const std::vector<ComponentSpec>& defined,
                      const char* section = "metrics") {
    std::vector<std::string> out;
    const toml::node* node = spec.body->get(key);
    if (node == nullptr) return out;
    const std::string path = std::string(section) + "." + spec.name + "." + key;
    const toml::array* array = node->as_array();
    if (array == nullptr) throw HostError(where(node->source(), file) + ": expected '" + path + "' to be a list of names");
    for (const auto& item : *array) {
      out.push_back(manifest_value<std::string>(item, file, path, "a name"));
      if (std::none_of(defined.begin(), defined.end(), [&](const ComponentSpec& c) { return c.name == out.back(); }))
        throw HostError(where(item.source(), file) + ": '" + path + "' names '" + out.back() + "', which no [" +
                        (std::string(key) == "models" ? "models." : "datasets.") + out.back() + "] defines");
    }
    return out;
  };
  std::vector<ScopedMetric> metrics;
  for (const auto& spec : metric_specs) {
    if (!eval_metrics.empty() && std::find(eval_metrics.begin(), eval_metrics.end(), spec.name) == eval_metrics.end())
      continue;
    auto points = expand(spec, file, "metrics");
    if (points.size() != 1)
      throw HostError(file.string() + ": metric '" + spec.name + "' has a sweep; sweep models and datasets, not metrics");
    metrics.push_back({points[0].first, names_in(spec, "models", models), names_in(spec, "datasets", datasets)});
  }
  const FeatureSettings features = read_features(file, root, found);
  for (const auto& name : eval_metrics)
    if (std::none_of(metric_specs.begin(), metric_specs.end(), [&](const ComponentSpec& m) { return m.name == name; }))
      throw HostError(file.string() + ": evaluation.metrics names '" + name + "', which no [metrics." + name + "] defines");

  // [[exclude]] and [[overrides]]: read once, applied per run below.
  struct Match {
    std::string model, dataset;
    std::optional<int64_t> seed;
    const toml::node* node;
    bool matches(const RunPlan& r) const {
      return (model.empty() || model == r.model.name) && (dataset.empty() || dataset == r.dataset.name) &&
             (!seed || *seed == r.seed);
    }
  };
  auto read_match = [&](const toml::table& t, const toml::node& at, const char* section) {
    Match m{{}, {}, {}, &at};
    static const std::vector<std::string> known = {"model", "dataset", "seed"};
    for (const auto& [k, v] : t) {
      const std::string key(k.str());
      if (key == "model") m.model = manifest_value<std::string>(v, file, "model", "a model name");
      else if (key == "dataset") m.dataset = manifest_value<std::string>(v, file, "dataset", "a dataset name");
      else if (key == "seed") m.seed = manifest_value<int64_t>(v, file, "seed", "an integer");
      else
        throw HostError(where(k.source(), file) + ": unknown key '" + key + "' in " + section + did_you_mean(key, known) +
                        "; expected model, dataset or seed");
    }
    if (!m.model.empty() && std::none_of(models.begin(), models.end(), [&](auto& c) { return c.name == m.model; }))
      throw HostError(where(at.source(), file) + ": " + section + " names model '" + m.model + "', which is not defined");
    if (!m.dataset.empty() && std::none_of(datasets.begin(), datasets.end(), [&](auto& c) { return c.name == m.dataset; }))
      throw HostError(where(at.source(), file) + ": " + section + " names dataset '" + m.dataset + "', which is not defined");
    return m;
  };
  std::vector<Match> excludes;
  if (const toml::node* node = root.get("exclude")) {
    const toml::array* array = node->as_array();
    if (array == nullptr) throw HostError(where(node->source(), file) + ": expected [[exclude]] entries");
    for (const auto& entry : *array) {
      if (!entry.is_table()) throw HostError(where(entry.source(), file) + ": expected [[exclude]] to hold tables");
      excludes.push_back(read_match(*entry.as_table(), entry, "[[exclude]]"));
    }
  }
  std::vector<std::pair<Match, const toml::table*>> run_overrides;
  if (const toml::node* node = root.get("overrides")) {
    const toml::array* array = node->as_array();
    if (array == nullptr) throw HostError(where(node->source(), file) + ": expected [[overrides]] entries");
    for (const auto& entry : *array) {
      const toml::table* t = entry.as_table();
      const toml::table* where_t = t ? (*t)["where"].as_table() : nullptr;
      const toml::table* set_t = t ? (*t)["set"].as_table() : nullptr;
      if (t == nullptr || set_t == nullptr || t->size() != (where_t ? 2u : 1u))
        throw HostError(where(entry.source(), file) +
                        ": expected [[overrides]] with 'where = {model = ..., dataset = ..., seed = ...}' and 'set = {...}'");
      run_overrides.emplace_back(where_t ? read_match(*where_t, entry, "[[overrides]].where") : Match{{}, {}, {}, &entry},
                                 set_t);
    }
  }

  // The matrix: models x datasets x seeds x sweep points.
  for (const auto& model_spec : models) {
    const std::vector<std::string> trains_on = names_in(model_spec, "datasets", datasets, "models");
    for (const auto& data_spec : datasets) {
      const bool all_excluded = std::any_of(excludes.begin(), excludes.end(), [&](const Match& m) {
        return !m.seed && (m.model.empty() || m.model == model_spec.name) && (m.dataset.empty() || m.dataset == data_spec.name);
      });
      if (all_excluded) continue;
      if (!trains_on.empty() && std::find(trains_on.begin(), trains_on.end(), data_spec.name) == trains_on.end()) continue;
      if (model_spec.plugin->has(GENLAB_CAPABILITY_GENERATE_NEEDS_INPUTS))
        throw HostError(where(model_spec.body->source(), file) + ": model '" + model_spec.name + "' (plugin '" +
                        model_spec.plugin_name + "') only maps inputs to outputs, it has nothing to sample: it can " +
                        "serve as the feature network ([features] plugin = \"" + model_spec.plugin_name + "\"), not " +
                        "as a model of an experiment");
      const auto& data_modalities = data_spec.plugin->description().modalities;
      for (const auto& modality : data_modalities)
        if (!serves(*model_spec.plugin, modality))
          throw HostError(where(model_spec.body->source(), file) + ": model '" + model_spec.name + "' (plugin '" +
                          model_spec.plugin_name + "', modalities " + join_names(model_spec.plugin->description().modalities) +
                          ") cannot train on dataset '" + data_spec.name + "' of modality '" + modality +
                          "'; leave the pair out with [[exclude]] model = \"" + model_spec.name + "\", dataset = \"" +
                          data_spec.name + "\"");
      std::vector<Component> run_metrics;
      for (const auto& m : metrics) {
        if (!m.applies(model_spec.name, data_spec.name)) continue;
        const std::string pair = "metric '" + m.metric.name + "' (plugin '" + m.metric.plugin_name + "')";
        const std::string fix = "; limit the metric to the runs it serves with models = [...] or datasets = [...] in [metrics." +
                                m.metric.name + "]";
        for (const auto& modality : data_modalities)
          if (!serves(*m.metric.plugin, modality))
            throw HostError(file.string() + ": " + pair + " cannot evaluate model '" + model_spec.name + "' on dataset '" +
                            data_spec.name + "' of modality '" + modality + "' (it serves " +
                            join_names(m.metric.plugin->description().modalities) + ")" + fix);
        if (m.metric.plugin->has(GENLAB_CAPABILITY_NEEDS_SCORES) && !model_spec.plugin->has(GENLAB_CAPABILITY_SCORE))
          throw HostError(file.string() + ": " + pair + " needs a likelihood (score), which model '" + model_spec.name +
                          "' (plugin '" + model_spec.plugin_name + "') does not offer" + fix);
        run_metrics.push_back(m.metric);
      }
      const auto model_points = expand(model_spec, file, "models");
      const auto data_points = expand(data_spec, file, "datasets");
      for (int64_t seed : seeds) {
        for (const auto& [model, model_label] : model_points) {
          for (const auto& [data, data_label] : data_points) {
            RunPlan r;
            r.model = model;
            r.dataset = data;
            r.metrics = run_metrics;
            r.seed = seed;
            r.settings = base;
            if (std::any_of(excludes.begin(), excludes.end(), [&](const Match& m) { return m.matches(r); })) continue;
            for (const auto& [match, set] : run_overrides) {
              if (!match.matches(r)) continue;
              for (const auto& [k, v] : *set) {
                const std::string key(k.str());
                const size_t dot = key.find('.');
                const std::string head = key.substr(0, dot);
                const std::string rest = dot == std::string::npos ? "" : key.substr(dot + 1);
                if (head == "experiment" && apply_setting(r.settings, rest, v, file)) continue;
                if (head == "evaluation" && apply_eval_setting(r.settings, rest, v, file)) continue;
                const size_t dot2 = rest.find('.');
                const std::string name = rest.substr(0, dot2), param = dot2 == std::string::npos ? "" : rest.substr(dot2 + 1);
                Component* target = head == "models" && name == r.model.name       ? &r.model
                                    : head == "datasets" && name == r.dataset.name ? &r.dataset
                                                                                   : nullptr;
                if (target == nullptr || param.empty())
                  throw HostError(where(k.source(), file) + ": an override sets '" + key +
                                  "'; expected experiment.<setting>, evaluation.samples|split|generate or models.<name>.<key> / "
                                  "datasets.<name>.<key> of "
                                  "the runs it matches");
                ComponentSpec spec{target->name, target->plugin_name, target->plugin, nullptr};
                check_param(file, head, spec, param, v, k.source());
                target->params.insert_or_assign(param, v);
              }
            }
            if (r.settings.budget.steps == 0 && r.settings.budget.epochs == 0 && r.settings.budget.seconds == 0)
              throw HostError(file.string() + ": run '" + model.name + "' on '" + data.name +
                              "' has no budget: set experiment.steps, epochs or max_seconds");
            // Posed-view data serves rays in "train" and whole views elsewhere (genlab.h):
            // a radiance field is evaluated on views it renders for their poses.
            const auto& modalities = r.dataset.plugin->description().modalities;
            if (std::find(modalities.begin(), modalities.end(), "rays") != modalities.end() &&
                r.settings.eval_split == "train")
              throw HostError(file.string() + ": run '" + model.name + "' on '" + data.name +
                              "' evaluates on split 'train', which holds rays of a posed-view dataset; set "
                              "evaluation.split to a split of whole views (\"test\", \"val\" or \"train-views\")");
            // Each process trains on its shard of the global batch.
            if (r.settings.batch_size % r.settings.processes != 0)
              throw HostError(file.string() + ": run '" + model.name + "' on '" + data.name + "': batch_size " +
                              std::to_string(r.settings.batch_size) + " does not split evenly over " +
                              std::to_string(r.settings.processes) +
                              " processes; expected a multiple of experiment.processes");
            const int32_t device = device_type_of(r.settings.device);
            const auto& devices = r.model.plugin->description().device_types;
            if (std::find(devices.begin(), devices.end(), device) == devices.end())
              throw HostError(file.string() + ": model '" + model.name + "' (plugin '" + model.plugin_name + "') cannot run on " +
                              r.settings.device + "; it runs on " + [&] {
                                std::vector<std::string> names;
                                for (int32_t d : devices) names.push_back(device_type_name(d));
                                return join_names(names);
                              }());
            // Mixed precision: only a model that says it computes correctly under it, and
            // fp16 (which needs CUDA's autocast and a loss scale) only on CUDA.
            if (r.settings.precision != "fp32" && !r.model.plugin->has(GENLAB_CAPABILITY_MIXED_PRECISION))
              throw HostError(file.string() + ": model '" + model.name + "' (plugin '" + model.plugin_name +
                              "') cannot run at precision " + r.settings.precision +
                              ": it does not declare mixed precision (capability mixed_precision); use fp32");
            if (r.settings.precision == "fp16" && r.settings.device == "cpu")
              throw HostError(file.string() + ": model '" + model.name + "' (plugin '" + model.plugin_name +
                              "') cannot run at precision fp16 on the CPU (LibTorch's CPU autocast is bf16); use bf16 "
                              "or device = \"cuda\"");
            r.name = model.name + "-" + data.name + "-s" + std::to_string(seed);
            if (!model_label.empty()) r.name += "-" + model_label;
            if (!data_label.empty()) r.name += "-" + data_label;
            for (char& c : r.name)
              if (c == '/' || c == ' ' || c == '"') c = '_';
            if (features.enabled && needs_features(r)) {
              const RunPlan& net = feature_run_for(e, features, r);
              r.features_id = net.id;
              r.features_dir = fs::absolute(e.feature_folder(net));
            }
            generate_keys_read.insert(keep_generate_options(r, file));
            assign_identity(r);
            e.runs.push_back(std::move(r));
          }
        }
      }
    }
  }
  if (e.runs.empty()) throw HostError(file.string() + ": every run is excluded: nothing to do");
  check_generate_options_read(e, generate_keys_read, file, root);
  // CUDA runs on this machine need its driver and a device: refused here, before anything
  // runs (on Slurm the nodes are other machines, and their own worker says).
  if (e.executor.kind == "local")
    for (const auto& r : e.runs)
      if (r.settings.device != "cpu")
        if (const std::string problem = cuda_problem(); !problem.empty())
          throw HostError(file.string() + ": run '" + r.name + "' (model plugin '" + r.model.plugin_name + "') asks for " +
                          r.settings.device + ", but " + problem +
                          "; set experiment.device = \"cpu\", or run on machines with GPUs (executor.kind = \"slurm\")");
  if (const toml::node* node = root.get("claims")) {
    e.claims = read_claims(*node, file);
    check_claims_cover(e.claims, e.runs);
  }
  if (const std::string why = check_writable(e.folder()); !why.empty())
    throw HostError("workspace " + e.folder().string() + ": " + why + " (set experiment.workspace to a writable folder)");
  return e;
}

}  // namespace genlab
