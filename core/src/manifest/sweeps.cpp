// Sweeps: a parameter's values, and the points of a component's sweeps.
#include <cmath>

#include "genlab/util/error.hpp"
#include "manifest_parts.hpp"

namespace genlab {
namespace manifest {
namespace {

// The points of {range = [start, stop, step]} (stop excluded, as in Python), `range` the
// node of that array.
std::vector<toml::table> range_values(const toml::node* range, const fs::path& file, const std::string& key) {
  std::vector<toml::table> out;
  const toml::array* bounds = range->as_array();
  if (bounds == nullptr || bounds->size() < 2 || bounds->size() > 3)
    throw HostError(where(range->source(), file) + ": expected '" + key +
                    ".range' as [start, stop] or [start, stop, step]");
  bool integral = true;
  std::vector<double> b;
  for (const auto& v : *bounds) {
    if (!v.is_number()) throw HostError(where(v.source(), file) + ": expected '" + key + ".range' to hold numbers");
    integral &= v.is_integer();
    b.push_back(v.is_integer() ? static_cast<double>(v.as_integer()->get()) : v.as_floating_point()->get());
  }
  for (size_t i = 0; i < b.size(); ++i)
    if (!std::isfinite(b[i]))
      throw HostError(where((*bounds)[i].source(), file) + ": expected '" + key +
                      ".range' bounds and step to be finite numbers");
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

}  // namespace

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
  return range_values(spec.get("range"), file, key);
}

std::vector<Point> expand(const ComponentSpec& spec, const fs::path& file, const std::string& section,
                          const SearchSettings& search) {
  std::vector<Point> points(1);
  points[0].component.name = spec.name;
  points[0].component.plugin_name = spec.plugin_name;
  points[0].component.plugin = spec.plugin;
  std::vector<std::pair<std::string, const toml::node*>> distributions;
  for (const auto& [k, v] : *spec.body) {
    const std::string key(k.str());
    if (is_host_key(section, key)) continue;
    if (is_distribution(v)) {
      if (section != "models")
        throw HostError(where(v.source(), file) + ": " + section + "." + spec.name + "." + key +
                        " is a distribution; [search] draws the parameters of models only");
      if (search.trials == 0)
        throw HostError(where(v.source(), file) + ": models." + spec.name + "." + key +
                        " is a distribution: add [search] with trials = N (each trial draws its value)");
      distributions.emplace_back(key, &v);
      continue;
    }
    const auto values = sweep_values(v, file, section + "." + spec.name + "." + key);
    std::vector<Point> next;
    for (const auto& point : points) {
      for (const auto& value : values) {
        Point copy = point;
        copy.component.params.insert_or_assign(key, *value.get("v"));
        if (values.size() > 1 || is_sweep(v))
          copy.label += (copy.label.empty() ? "" : "-") + key + "=" + short_text(*value.get("v"));
        next.push_back(std::move(copy));
      }
    }
    points = std::move(next);
  }
  if (distributions.empty()) return points;
  // Each sweep point gets the trials; trial t draws the same values at every point.
  std::vector<Point> trials;
  for (const auto& point : points)
    for (int64_t t = 0; t < search.trials; ++t) {
      Point trial = point;
      trial.trial = t;
      trial.trial_label = "t" + std::to_string(t);
      for (const auto& [key, node] : distributions) {
        const std::string path = section + "." + spec.name + "." + key;
        const toml::table value = draw(*node, search.seed, path, t);
        trial.component.params.insert_or_assign(key, *value.get("v"));
        trial.searched.insert_or_assign(path, *value.get("v"));
        trial.trial_label += "-" + key + "=" + short_text(*value.get("v"));
      }
      trials.push_back(std::move(trial));
    }
  return trials;
}

}  // namespace manifest
}  // namespace genlab
