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

}  // namespace manifest
}  // namespace genlab
