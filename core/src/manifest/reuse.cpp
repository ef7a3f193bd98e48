#include "genlab/core/reuse.hpp"

#include <map>
#include <sstream>

#include "genlab/core/safetensors.hpp"
#include "genlab/core/workspace.hpp"

namespace genlab {
namespace fs = std::filesystem;

namespace {

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

std::string value_text(const toml::node& node) {
  std::ostringstream out;
  node.visit([&](const auto& v) {
    if constexpr (toml::is_string<decltype(v)>) out << '"' << v.get() << '"';
    else if constexpr (toml::is_table<decltype(v)>) out << toml::json_formatter(v);
    else if constexpr (toml::is_array<decltype(v)>) out << toml::json_formatter(v);
    else out << v;
  });
  return out.str();
}

void flatten(const toml::table& table, const std::string& prefix, std::map<std::string, std::string>& out) {
  for (const auto& [k, v] : table) {
    const std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const toml::table* t = v.as_table(); t != nullptr && !t->empty()) flatten(*t, key, out);
    else out[key] = value_text(v);
  }
}

// The run folders beside `run_dir` of the run of the same name (an earlier configuration).
std::optional<toml::table> earlier_configuration(const RunPlan& r, const fs::path& run_dir) {
  std::optional<toml::table> best;
  fs::file_time_type newest{};
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(run_dir.parent_path(), ec)) {
    if (entry.path() == run_dir || !starts_with(entry.path().filename().string(), r.name + "--")) continue;
    auto resolved = read_toml(entry.path() / "run.toml");
    if (!resolved || (*resolved)["name"].value_or(std::string()) != r.name) continue;
    const auto time = fs::last_write_time(entry.path() / "run.toml", ec);
    if (!best || time > newest) best = std::move(resolved), newest = time;
  }
  return best;
}

std::string joined(const std::vector<std::string>& items, size_t at_most = 6) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < at_most; ++i) out += (out.empty() ? "" : "; ") + items[i];
  if (items.size() > at_most) out += "; and " + std::to_string(items.size() - at_most) + " more";
  return out;
}

// Keys of a resolved run that decide its training (identity.cpp's identity) or its samples.
const std::vector<std::string> kTrainKeys = {
    "model.plugin",     "model.params",       "dataset.plugin",       "dataset.params",      "seed",
    "settings.steps",   "settings.epochs",    "settings.max_seconds", "settings.batch_size", "settings.device",
    "settings.threads", "settings.processes", "settings.precision"};
const std::vector<std::string> kSampleKeys = {"settings.eval_samples", "settings.eval_split", "settings.eval_generate"};

}  // namespace

std::vector<std::string> table_changes(const toml::table& before, const toml::table& after,
                                       const std::vector<std::string>& under) {
  std::map<std::string, std::string> a, b;
  flatten(before, "", a);
  flatten(after, "", b);
  auto wanted = [&](const std::string& key) {
    if (under.empty()) return true;
    for (const auto& u : under)
      if (key == u || starts_with(key, u + ".")) return true;
    return false;
  };
  std::vector<std::string> out;
  for (const auto& [key, value] : b) {
    if (!wanted(key)) continue;
    auto it = a.find(key);
    if (it == a.end()) out.push_back(key + ": added " + value);
    else if (it->second != value) out.push_back(key + ": " + it->second + " -> " + value);
  }
  for (const auto& [key, value] : a)
    if (wanted(key) && !b.count(key)) out.push_back(key + ": removed (was " + value + ")");
  return out;
}

std::optional<EarlierEvaluation> find_earlier_evaluation(const fs::path& run_dir, const fs::path& self,
                                                         const std::string& samples_id) {
  std::optional<EarlierEvaluation> best;
  if (samples_id.empty()) return best;
  fs::file_time_type newest{};
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(run_dir, ec)) {
    if (!entry.is_directory() || entry.path() == self || !starts_with(entry.path().filename().string(), "eval-"))
      continue;
    const fs::path done = done_file(entry.path(), NodeKind::Evaluate);
    auto result = read_toml(done);
    if (!result || (*result)["samples_id"].value_or(std::string()) != samples_id) continue;
    if (!fs::exists(entry.path() / "samples.safetensors")) continue;
    if ((*result)["scored"].value_or(false) && !fs::exists(entry.path() / "scores.safetensors")) continue;
    const auto time = fs::last_write_time(done, ec);
    if (!best || time > newest) best = EarlierEvaluation{entry.path(), std::move(*result)}, newest = time;
  }
  return best;
}

RunFate run_fate(const RunPlan& r, const fs::path& run_dir) {
  RunFate fate;
  const bool trained = fs::exists(done_file(run_dir, NodeKind::Train));
  const auto state = read_toml(state_file(run_dir, NodeKind::Train));
  if (trained) {
    fate.train = {"reuse", "finished earlier"};
  } else if (const std::string s = state ? (*state)["state"].value_or(std::string()) : "";
             s == "paused" || s == "pruned") {
    fate.train = {"search", (s == "paused" ? "paused at a rung of the search (ASHA), " : "") +
                                (*state)["reason"].value_or(std::string())};
  } else if (state && (*state)["state"].value_or(std::string()) == "running") {
    fate.train = {"attach",
                  "an earlier genlab run left it running (re-attached if it still runs, else resumed with --resume)"};
  } else if (fs::exists(checkpoint_file(run_dir))) {
    fate.train = {"resume", "interrupted: a checkpoint is kept (genlab run --resume continues it)"};
  } else if (auto earlier = earlier_configuration(r, run_dir)) {
    const auto changes = table_changes(*earlier, r.resolved(), kTrainKeys);
    fate.train = {"train", changes.empty() ? "a plugin library or the data's files changed" : joined(changes)};
  } else {
    fate.train = {"train", "not trained before"};
  }

  const fs::path eval_dir = run_dir / r.eval_folder_name();
  if (fs::exists(done_file(eval_dir, NodeKind::Evaluate))) {
    fate.evaluate = {"reuse", "finished earlier"};
    return fate;
  }
  if (fate.train.action == "search") {
    fate.evaluate = {"search", "when the search trains it to the end"};
    return fate;
  }
  if (!trained) {
    fate.evaluate = {"evaluate", "after training"};
    return fate;
  }
  if (auto earlier = find_earlier_evaluation(run_dir, eval_dir, r.samples_id)) {
    const toml::table* ids = earlier->result["metric_ids"].as_table();
    std::vector<std::string> reused, computed;
    for (const auto& m : r.metrics) {
      const std::string id = ids ? (*ids)[m.name].value_or(std::string()) : std::string();
      if (!id.empty() && id == m.id) reused.push_back(m.name);
      else computed.push_back(m.name + (id.empty() ? " (new)" : " (changed)"));
    }
    std::string why = "samples of " + earlier->dir.filename().string() + " reused";
    if (!reused.empty()) why += "; reused: " + joined(reused, 20);
    if (!computed.empty()) why += "; computed: " + joined(computed, 20);
    fate.evaluate = {computed.empty() ? "reuse" : "metrics", why};
    return fate;
  }
  // Another evaluation of this run drew other samples: say what differs.
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(run_dir, ec)) {
    if (!entry.is_directory() || entry.path() == eval_dir || !starts_with(entry.path().filename().string(), "eval-"))
      continue;
    if (auto before = read_toml(entry.path() / "run.toml")) {
      const auto changes = table_changes(*before, r.resolved(), kSampleKeys);
      if (!changes.empty()) {
        fate.evaluate = {"evaluate", "new samples: " + joined(changes)};
        return fate;
      }
    }
  }
  fate.evaluate = {"evaluate", "not evaluated before"};
  return fate;
}

}  // namespace genlab
