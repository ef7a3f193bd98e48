// evaluation.generate: options of the models' generate, each model reading its own.
#include "genlab/util/error.hpp"
#include "manifest_parts.hpp"

namespace genlab {

void check_generate_options(const Plugin& plugin, const toml::table& options, const std::string& flag) {
  const PluginDescription& d = plugin.description();
  if (!d.declares_generate_params) return;
  std::vector<std::string> names;
  for (const auto& p : d.generate_params) names.push_back(p.name);
  for (const auto& [k, v] : options) {
    const std::string key(k.str());
    auto it = std::find_if(d.generate_params.begin(), d.generate_params.end(),
                           [&](const ParamSpec& p) { return p.name == key; });
    if (it == d.generate_params.end())
      throw HostError(flag + " " + key + ": plugin '" + plugin.name() + "' has no generate option '" + key + "'" +
                      did_you_mean(key, names) +
                      (names.empty() ? "; it takes none" : "; it reads " + join_names(names)));
    if (!manifest::has_type(v, it->type))
      throw HostError(flag + " " + key + ": expected " + manifest::type_name(it->type) +
                      " (a generate option of plugin '" + plugin.name() + "')");
  }
}

namespace manifest {

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
    auto it = std::find_if(d.generate_params.begin(), d.generate_params.end(),
                           [&](const ParamSpec& p) { return p.name == key; });
    if (it == d.generate_params.end()) {
      read.unread.emplace(key, v.source());
      continue;
    }
    if (!has_type(v, it->type))
      throw HostError(where(v.source(), file) + ": expected evaluation.generate." + key + " to be " +
                      type_name(it->type) + " (a generate option of plugin '" + r.model.plugin_name + "')");
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

}  // namespace manifest
}  // namespace genlab
