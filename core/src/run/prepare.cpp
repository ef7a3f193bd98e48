// The prepare node, run once per distinct dataset configuration before the runs that train
// on it: opens the dataset and writes its modality and split sizes to the node's done file.
// Separate from training and evaluation: it needs a dataset plugin only.
#include "worker_parts.hpp"

#include "genlab/core/loader.hpp"
#include "genlab/core/workspace.hpp"
#include "genlab/util/error.hpp"

namespace genlab {
namespace fs = std::filesystem;

int prepare(const fs::path& dir) {
  const auto node = toml::parse_file((dir / "node.toml").string());
  const toml::table* dataset = node["dataset"].as_table();
  if (dataset == nullptr) throw HostError((dir / "node.toml").string() + ": no [dataset]");
  auto plugin = load_plugin_library((*dataset)["library"].value_or(std::string()));
  const toml::table* params = (*dataset)["params"].as_table();
  HostSettings s;
  s.plugin_name = plugin->name();
  s.cancel = cancel_flag;
  DatasetInstance data(plugin, s, params ? *params : toml::table{});
  toml::table splits;
  for (size_t i = 0; i < data.info().split_count; ++i)
    splits.insert(data.info().split_names[i], data.info().split_sizes[i]);
  write_toml(done_file(dir, NodeKind::Prepare),
             toml::table{{"modality", data.info().modality}, {"splits", std::move(splits)}});
  return 0;
}

}  // namespace genlab
