#include "genlab/core/experiment.hpp"

#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <numeric>
#include <random>
#include <sstream>
#include <spdlog/spdlog.h>

#include "genlab/core/error.hpp"
#include "genlab/core/json.hpp"

namespace genlab {
namespace fs = std::filesystem;

namespace {

std::string where(const fs::path& file, const toml::node& node) {
  const auto& begin = node.source().begin;
  return file.string() + ":" + std::to_string(begin.line) + ":" + std::to_string(begin.column);
}

std::string where(const fs::path& file, const toml::key& key) {
  const auto& begin = key.source().begin;
  return file.string() + ":" + std::to_string(begin.line) + ":" + std::to_string(begin.column);
}

std::string did_you_mean(const std::string& key, const std::vector<std::string>& known) {
  auto close = close_matches(key, known);
  return close.empty() ? std::string() : " (did you mean '" + close.front() + "'?)";
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// Applies one "a.b.c=value" override; the value is parsed as TOML (so 32, 0.1, true, "x",
// [1, 2] keep their types) and falls back to a plain string.
void apply_override(toml::table& root, const std::string& text) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw HostError("--set " + text + ": expected KEY=VALUE, e.g. models.gmm.lr=0.1");
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
    if (part.empty()) throw HostError("--set " + text + ": empty key part in '" + key + "'");
    if (dot == std::string::npos) {
      table->insert_or_assign(part, *parsed.get("v"));
      return;
    }
    toml::node* next = table->get(part);
    if (next == nullptr) {
      table->insert(part, toml::table{});
      next = table->get(part);
    }
    if (!next->is_table()) throw HostError("--set " + text + ": '" + part + "' is not a table");
    table = next->as_table();
    start = dot + 1;
  }
}

template <class T>
T read_value(const fs::path& file, const toml::node& node, const char* key, const char* expected) {
  auto value = node.value<T>();
  if (!value) throw HostError(where(file, node) + ": expected '" + key + "' to be " + expected);
  return *value;
}

ExperimentSettings read_settings(const fs::path& file, const toml::table* table) {
  ExperimentSettings s;
  s.name = file.stem().string();
  if (table == nullptr) return s;
  static const std::vector<std::string> known = {"name", "seeds", "steps", "batch_size", "eval_samples",
                                                 "threads", "device", "log_every", "workspace", "plugin_paths"};
  for (const auto& [k, node] : *table) {
    const std::string key(k.str());
    if (key == "name") s.name = read_value<std::string>(file, node, "name", "a string");
    else if (key == "steps") s.steps = read_value<int64_t>(file, node, "steps", "an integer");
    else if (key == "batch_size") s.batch_size = read_value<int64_t>(file, node, "batch_size", "an integer");
    else if (key == "eval_samples") s.eval_samples = read_value<int64_t>(file, node, "eval_samples", "an integer");
    else if (key == "threads") s.threads = static_cast<int32_t>(read_value<int64_t>(file, node, "threads", "an integer"));
    else if (key == "log_every") s.log_every = read_value<int64_t>(file, node, "log_every", "an integer");
    else if (key == "device") s.device = read_value<std::string>(file, node, "device", "a string");
    else if (key == "workspace") s.workspace = read_value<std::string>(file, node, "workspace", "a string");
    else if (key == "seeds" || key == "plugin_paths") {
      const toml::array* array = node.as_array();
      if (array == nullptr) throw HostError(where(file, node) + ": expected '" + key + "' to be an array");
      if (key == "seeds") s.seeds.clear();
      for (const toml::node& element : *array) {
        if (key == "seeds") s.seeds.push_back(read_value<int64_t>(file, element, "seeds", "an array of integers"));
        else s.plugin_paths.emplace_back(read_value<std::string>(file, element, "plugin_paths", "an array of strings"));
      }
    } else {
      throw HostError(where(file, k) + ": unknown key 'experiment." + key + "'" + did_you_mean(key, known) +
                      "; expected one of " + join(known));
    }
  }
  auto positive = [&](int64_t value, const char* key) {
    if (value <= 0)
      throw HostError(where(file, *table->get(key)) + ": expected experiment." + key + " > 0, got " + std::to_string(value));
  };
  if (table->get("steps")) positive(s.steps, "steps");
  if (table->get("batch_size")) positive(s.batch_size, "batch_size");
  if (table->get("eval_samples")) positive(s.eval_samples, "eval_samples");
  if (table->get("threads")) positive(s.threads, "threads");
  if (s.seeds.empty()) throw HostError(file.string() + ": experiment.seeds is empty");
  if (s.device != "cpu")
    throw HostError(where(file, *table->get("device")) + ": device '" + s.device +
                    "' is not available to this runner yet (expected \"cpu\")");
  // Relative paths are relative to the manifest's folder, not the shell's.
  for (auto& p : s.plugin_paths)
    if (p.is_relative()) p = (file.parent_path() / p).lexically_normal();
  return s;
}

// Checks one section's params (`body`, the parsed table: copies lose their source
// positions) against the plugin's declared parameters.
void check_params(const fs::path& file, const std::string& section, const Component& c, const toml::table& body) {
  const auto& declared = c.plugin->description().params;
  if (declared.empty()) return;  // the plugin did not declare its keys: it checks them itself
  std::vector<std::string> names;
  for (const auto& p : declared) names.push_back(p.name);
  for (const auto& [k, node] : body) {
    const std::string key(k.str());
    if (key == "plugin") continue;
    auto it = std::find_if(declared.begin(), declared.end(), [&](const ParamSpec& p) { return p.name == key; });
    if (it == declared.end())
      throw HostError(where(file, k) + ": unknown key '" + section + "." + c.name + "." + key + "' for " +
                      "plugin '" + c.plugin_name + "'" + did_you_mean(key, names) + "; it reads " + join(names));
    bool ok = true;
    const char* expected = "";
    switch (it->type) {
      case GENLAB_PARAM_INT: ok = node.is_integer(); expected = "an integer"; break;
      case GENLAB_PARAM_DOUBLE: ok = node.is_number(); expected = "a number"; break;
      case GENLAB_PARAM_BOOL: ok = node.is_boolean(); expected = "a boolean"; break;
      case GENLAB_PARAM_STRING: ok = node.is_string(); expected = "a string"; break;
    }
    if (!ok)
      throw HostError(where(file, node) + ": expected '" + section + "." + c.name + "." + key + "' to be " + expected);
  }
  for (const auto& p : declared)
    if (!p.default_value && !c.params.get(p.name))
      throw HostError(file.string() + ": '" + section + "." + c.name + "' lacks the required key '" + p.name +
                      "' (" + p.doc + ")");
}

std::vector<Component> read_components(const fs::path& file, const toml::table& root, const char* section,
                                       genlab_plugin_kind kind, const Discovery& found) {
  std::vector<Component> out;
  const toml::node* node = root.get(section);
  if (node == nullptr) return out;
  const toml::table* table = node->as_table();
  if (table == nullptr) throw HostError(where(file, *node) + ": expected [" + section + ".NAME] tables");
  for (const auto& [k, entry] : *table) {
    Component c;
    c.name = std::string(k.str());
    const toml::table* body = entry.as_table();
    if (body == nullptr) throw HostError(where(file, entry) + ": expected [" + section + "." + c.name + "] to be a table");
    const toml::node* plugin = body->get("plugin");
    if (plugin == nullptr)
      throw HostError(where(file, entry) + ": [" + section + "." + c.name + "] lacks 'plugin = \"NAME\"'");
    c.plugin_name = read_value<std::string>(file, *plugin, "plugin", "a string");
    c.params = *body;
    c.params.erase("plugin");
    try {
      c.plugin = load_plugin(find_plugin(found, c.plugin_name));
    } catch (const HostError& e) {
      throw HostError(where(file, *plugin) + ": " + e.what());
    }
    if (c.plugin->kind() != kind)
      throw HostError(where(file, *plugin) + ": plugin '" + c.plugin_name + "' is a " + kind_name(c.plugin->kind()) +
                      ", but [" + section + "] needs a " + kind_name(kind));
    check_params(file, section, c, *body);
    out.push_back(std::move(c));
  }
  return out;
}

bool serves(const Plugin& plugin, const std::string& modality) {
  const auto& m = plugin.description().modalities;
  return m.empty() || std::find(m.begin(), m.end(), modality) != m.end();
}

}  // namespace

Experiment load_experiment(const fs::path& path, const std::vector<std::string>& overrides) {
  Experiment e;
  e.file = fs::absolute(path).lexically_normal();
  toml::table root;
  try {
    root = toml::parse_file(e.file.string());
  } catch (const toml::parse_error& err) {
    const auto& b = err.source().begin;
    throw HostError(e.file.string() + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) + ": " +
                    std::string(err.description()));
  }
  for (const auto& o : overrides) apply_override(root, o);

  static const std::vector<std::string> sections = {"experiment", "datasets", "models", "metrics"};
  for (const auto& [k, node] : root) {
    const std::string key(k.str());
    if (std::find(sections.begin(), sections.end(), key) == sections.end())
      throw HostError(where(e.file, k) + ": unknown top-level key '" + key + "'" + did_you_mean(key, sections) +
                      "; expected " + join(sections));
  }
  const toml::node* exp = root.get("experiment");
  if (exp && !exp->is_table()) throw HostError(where(e.file, *exp) + ": expected [experiment] to be a table");
  e.settings = read_settings(e.file, exp ? exp->as_table() : nullptr);

  const Discovery found = discover_plugins(plugin_search_path(e.settings.plugin_paths));
  e.datasets = read_components(e.file, root, "datasets", GENLAB_PLUGIN_KIND_DATASET, found);
  e.models = read_components(e.file, root, "models", GENLAB_PLUGIN_KIND_MODEL, found);
  e.metrics = read_components(e.file, root, "metrics", GENLAB_PLUGIN_KIND_METRIC, found);
  if (e.datasets.empty()) throw HostError(e.file.string() + ": no [datasets.NAME] section: a run needs data");
  if (e.models.empty()) throw HostError(e.file.string() + ": no [models.NAME] section: nothing to train");

  for (const auto& model : e.models) {
    for (const auto& data : e.datasets) {
      // The dataset's modality comes from its plugin.toml/description: no data is opened.
      const auto& data_modalities = data.plugin->description().modalities;
      for (const auto& modality : data_modalities)
        if (!serves(*model.plugin, modality))
          throw HostError(e.file.string() + ": model '" + model.name + "' (plugin '" + model.plugin_name +
                          "', modalities " + join(model.plugin->description().modalities) + ") cannot train on dataset '" +
                          data.name + "' of modality '" + modality + "'");
      for (const auto& metric : e.metrics) {
        if (metric.plugin->has(GENLAB_CAPABILITY_NEEDS_SCORES) && !model.plugin->has(GENLAB_CAPABILITY_SCORE))
          throw HostError(e.file.string() + ": metric '" + metric.name + "' needs a likelihood (score), which model '" +
                          model.name + "' (plugin '" + model.plugin_name + "') does not offer");
      }
      for (int64_t seed : e.settings.seeds) {
        RunSpec run;
        run.id = model.name + "-" + data.name + "-s" + std::to_string(seed);
        run.model = &model;
        run.dataset = &data;
        run.seed = seed;
        e.runs.push_back(run);
      }
    }
  }
  return e;
}

toml::table Experiment::plan() const {
  toml::array runs_out;
  for (const auto& r : runs) {
    runs_out.push_back(toml::table{{"id", r.id},
                                   {"model", r.model->name},
                                   {"model_plugin", r.model->plugin_name},
                                   {"model_params", r.model->params},
                                   {"dataset", r.dataset->name},
                                   {"dataset_plugin", r.dataset->plugin_name},
                                   {"dataset_params", r.dataset->params},
                                   {"seed", r.seed},
                                   {"steps", settings.steps},
                                   {"batch_size", settings.batch_size}});
  }
  toml::array metrics_out;
  for (const auto& m : metrics) metrics_out.push_back(toml::table{{"name", m.name}, {"plugin", m.plugin_name}, {"params", m.params}});
  return toml::table{{"manifest", file.string()},
                     {"experiment", settings.name},
                     {"workspace", settings.workspace.string()},
                     {"threads", settings.threads},
                     {"eval_samples", settings.eval_samples},
                     {"runs", std::move(runs_out)},
                     {"metrics", std::move(metrics_out)}};
}

namespace {

std::string format_scalars(const std::vector<NamedScalar>& scalars) {
  std::ostringstream out;
  out << std::setprecision(5);
  for (const auto& s : scalars) out << (out.tellp() > 0 ? " " : "") << s.name << "=" << s.value;
  return out.str();
}

// The first `count` indices of a split (evaluation uses a fixed slice, not a sample).
std::vector<int64_t> first_indices(int64_t count) {
  std::vector<int64_t> v(static_cast<size_t>(count));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

RunResult execute(const Experiment& e, const RunSpec& run, bool quiet) {
  RunResult result;
  result.id = run.id;
  result.folder = e.settings.workspace / e.settings.name / run.id;
  const auto start = std::chrono::steady_clock::now();
  fs::create_directories(result.folder);
  std::ofstream losses_log(result.folder / "losses.jsonl");
  if (!losses_log) throw HostError(result.folder.string() + ": cannot write losses.jsonl");

  auto settings_for = [&](const Component& c) {
    HostSettings s;
    s.plugin_name = c.plugin_name;
    s.seed = static_cast<uint64_t>(run.seed);
    s.num_threads = e.settings.threads;
    return s;
  };
  DatasetInstance data(run.dataset->plugin, settings_for(*run.dataset), run.dataset->params);
  const int64_t train_size = data.split_size("train");
  const std::string eval_split = [&] {
    for (size_t i = 0; i < data.info().split_count; ++i)
      if (std::string(data.info().split_names[i]) == "test") return std::string("test");
    return std::string("train");
  }();
  ModelInstance model(run.model->plugin, settings_for(*run.model), run.model->params, DLDevice{kDLCPU, 0}, &data.info());

  // The host owns the data order: a permutation per epoch from the run's seed.
  std::mt19937_64 rng(static_cast<uint64_t>(run.seed));
  std::vector<int64_t> order = first_indices(train_size);
  size_t cursor = order.size();
  const int64_t log_every = e.settings.log_every > 0 ? e.settings.log_every : std::max<int64_t>(1, e.settings.steps / 10);
  for (int64_t step = 0; step < e.settings.steps; ++step) {
    std::vector<int64_t> indices;
    while (static_cast<int64_t>(indices.size()) < std::min(e.settings.batch_size, train_size)) {
      if (cursor == order.size()) {
        std::shuffle(order.begin(), order.end(), rng);
        cursor = 0;
      }
      indices.push_back(order[cursor++]);
    }
    TensorMapPtr batch = data.get_batch("train", indices, static_cast<uint64_t>(run.seed) * 1000003ULL + step);
    result.final_losses = model.train_step(*batch, step);
    if (!result.final_losses.empty() && !std::isfinite(result.final_losses.front().value))
      throw HostError("run " + run.id + ": loss '" + result.final_losses.front().name + "' is " +
                      std::to_string(result.final_losses.front().value) + " at step " + std::to_string(step) +
                      "; stopped early (lower the learning rate or check the data)");
    toml::table line{{"step", step}};
    for (const auto& l : result.final_losses) line.insert(l.name, l.value);
    losses_log << to_json(line) << "\n";
    if (!quiet && ((step + 1) % log_every == 0 || step + 1 == e.settings.steps))
      spdlog::info("{} step {}/{} {}", run.id, step + 1, e.settings.steps, format_scalars(result.final_losses));
  }

  // Evaluation: the same number of real (held-out) and generated examples, plus scores.
  const int64_t n = std::min(e.settings.eval_samples, data.split_size(eval_split));
  TensorMapPtr real = data.get_batch(eval_split, first_indices(n), static_cast<uint64_t>(run.seed));
  TensorMapPtr generated = model.generate(n, nullptr, nullptr);
  TensorMapPtr scores;
  if (model.can_score()) scores = model.score(*real);
  for (const auto& m : e.metrics) {
    MetricInstance metric(m.plugin, settings_for(m), m.params);
    metric.update(real.get(), generated.get(), scores.get());
    for (auto& s : metric.compute()) result.metrics.emplace_back(m.name, s);
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.ok = true;
  return result;
}

void write_result(const RunResult& r) {
  toml::table metrics;
  for (const auto& [section, s] : r.metrics) {
    // NaN is written as a string: JSON has no NaN, and a NaN must never read as a number.
    if (std::isfinite(s.value)) metrics.insert(section + "." + s.name, s.value);
    else metrics.insert(section + "." + s.name, std::to_string(s.value));
  }
  toml::table losses;
  for (const auto& l : r.final_losses) losses.insert(l.name, l.value);
  toml::table out{{"id", r.id}, {"ok", r.ok}, {"seconds", r.seconds}, {"final_losses", std::move(losses)},
                  {"metrics", std::move(metrics)}};
  if (!r.ok) out.insert("error", r.error);
  std::error_code ec;
  fs::create_directories(r.folder, ec);
  std::ofstream(r.folder / "results.json") << to_json(out) << "\n";
}

}  // namespace

std::vector<RunResult> run_experiment(const Experiment& e, bool quiet) {
  std::vector<RunResult> results;
  for (const auto& run : e.runs) {
    RunResult r;
    try {
      r = execute(e, run, quiet);
    } catch (const std::exception& err) {
      r.id = run.id;
      r.folder = e.settings.workspace / e.settings.name / run.id;
      r.ok = false;
      r.error = err.what();
      spdlog::error("run {} failed: {}", run.id, r.error);
    }
    write_result(r);
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace genlab
