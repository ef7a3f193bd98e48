// A manifest for a test, said key by key rather than spliced into TOML text: values are
// written by toml++ (paths with quotes or backslashes stay paths), and what a test does not
// say has the defaults every test shares (experiment "exp", its workspace in the test's
// folder, the test plugins on the plugin path).
//
//   const fs::path file = ManifestBuilder(dir)
//                             .set("experiment.steps", 6)
//                             .dataset("ring", "example-toy2d", toml::table{{"train_size", 128}})
//                             .model("gmm", "example-gmm")
//                             .write();
#pragma once

#include <sstream>
#include <string>
#include <toml++/toml.h>

#include "support.hpp"

namespace genlab::test {

class ManifestBuilder {
 public:
  explicit ManifestBuilder(const TempDir& dir, const std::string& name = "exp") : dir_(dir) {
    set("experiment.name", name);
    set("experiment.workspace", (dir.path() / "ws").string());
    toml::array paths;
    paths.push_back(std::string(GENLAB_TEST_PLUGIN_DIR));
    set("experiment.plugin_paths", std::move(paths));
  }

  // Sets a key by its dotted path ("experiment.steps", "evaluation.samples"), making the
  // tables on the way.
  template <class Value>
  ManifestBuilder& set(const std::string& dotted, Value&& value) {
    toml::table* table = &root_;
    std::string rest = dotted;
    for (size_t dot; (dot = rest.find('.')) != std::string::npos; rest = rest.substr(dot + 1)) {
      const std::string part = rest.substr(0, dot);
      if (!table->contains(part)) table->insert(part, toml::table{});
      table = (*table)[part].as_table();
      REQUIRE(table != nullptr);
    }
    table->insert_or_assign(rest, std::forward<Value>(value));
    return *this;
  }

  ManifestBuilder& dataset(const std::string& name, const std::string& plugin, toml::table params = {}) {
    return component("datasets", name, plugin, std::move(params));
  }
  ManifestBuilder& model(const std::string& name, const std::string& plugin, toml::table params = {}) {
    return component("models", name, plugin, std::move(params));
  }
  ManifestBuilder& metric(const std::string& name, const std::string& plugin, toml::table params = {}) {
    return component("metrics", name, plugin, std::move(params));
  }
  // TOML said as text after the built part: what the builder has no verb for ([[claims]]).
  ManifestBuilder& append(const std::string& toml_text) {
    appended_ += toml_text;
    return *this;
  }

  std::string text() const {
    std::ostringstream out;
    out << toml::toml_formatter(root_) << "\n" << appended_;
    return out.str();
  }
  std::filesystem::path write(const std::string& file = "m.toml") const { return dir_.write(file, text()); }

 private:
  ManifestBuilder& component(const char* section, const std::string& name, const std::string& plugin,
                             toml::table params) {
    params.insert_or_assign("plugin", plugin);
    return set(std::string(section) + "." + name, std::move(params));
  }

  const TempDir& dir_;
  toml::table root_;
  std::string appended_;
};

}  // namespace genlab::test
