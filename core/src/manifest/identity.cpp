// The identities of a run: hashes of everything that decides its weights, its samples,
// each metric and the whole evaluation. A change here changes every run's id (and with it
// every run's folder): tests pin them.
#include <map>
#include <mutex>
#include <sstream>

#include "genlab/core/registration.hpp"
#include "genlab/util/sha256.hpp"
#include "manifest_parts.hpp"

namespace genlab {
namespace fs = std::filesystem;

std::string library_sha256(const fs::path& library) {
  static std::mutex mutex;
  static std::map<fs::path, std::string> hashes;
  std::lock_guard<std::mutex> lock(mutex);
  auto& hash = hashes[library];
  if (hash.empty()) hash = sha256_file(library);
  return hash;
}

namespace manifest {
namespace {

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

}  // namespace

void assign_identity(RunPlan& r) {
  const RunSettings& s = r.settings;
  // The data's files decide the weights as much as the parameters that name them: a folder
  // rendered again, or a file replaced, is new data.
  toml::table dataset = build_of(r.dataset);
  if (const std::string content = data_content(r.dataset.params); !content.empty())
    dataset.insert("content_sha256", content);
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
    if (!r.features_id.empty() && m.plugin->has(GENLAB_CAPABILITY_READS_FEATURES))
      metric.insert("features", r.features_id);
    m.id = sha256_hex(canonical(metric));
    metric_ids.push_back(m.id);
  }
  toml::table evaluation{{"samples", r.samples_id}, {"metrics", std::move(metric_ids)}};
  if (!r.features_id.empty()) evaluation.insert("features", r.features_id);
  r.eval_id = sha256_hex(canonical(evaluation));
}

}  // namespace manifest
}  // namespace genlab
