// The model registry: trained model versions (immutable, numbered 1, 2, ...), movable
// aliases with their history, metrics, lineage back to the run that made each version,
// and artifacts (checkpoints) kept content-addressed beside the database.
//
// A version number names one version only, ever: numbers go on from the highest given to
// the model (deleted versions included), and a deleted version leaves a record behind, so
// that registering its run and evaluation again registers nothing (DeletedVersionError)
// until `Registry::restore_version` allows it, as a new version that `replaces` it.
//
// It knows neither plugins nor LibTorch: it stores names, hashes, numbers and files.
// Storage sits behind `Store`, so a server database can replace SQLite for teams without
// touching the callers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace genlab::registry {

// The registry's one exception type; messages name the model, version, file or field.
class RegistryError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A name that matches nothing (a model, an alias, a version): what was asked for and the
// names there are, so that a caller can suggest the closest one. The registry knows no
// edit distance; the command line adds the "did you mean".
class UnknownNameError : public RegistryError {
 public:
  // `subject`: "no model 'x' in ..."; `listing`: "the registry holds a, b" ("" for none).
  UnknownNameError(const std::string& subject, std::string name, std::vector<std::string> known,
                   const std::string& listing)
      : RegistryError(subject + (listing.empty() ? "" : "; " + listing)), subject_(subject), listing_(listing),
        name_(std::move(name)), known_(std::move(known)) {}
  const std::string& name() const { return name_; }
  const std::vector<std::string>& known() const { return known_; }
  // The message with `suggestion` (" (did you mean 'y'?)") after the subject.
  std::string message(const std::string& suggestion) const {
    return subject_ + suggestion + (listing_.empty() ? "" : "; " + listing_);
  }

 private:
  std::string subject_, listing_, name_;
  std::vector<std::string> known_;
};

// Registering a run and evaluation whose version was deleted (see the top of this file).
class DeletedVersionError : public RegistryError {
 public:
  DeletedVersionError(const std::string& message, std::string ref) : RegistryError(message), ref_(std::move(ref)) {}
  const std::string& ref() const { return ref_; }  // "model:N", the deleted version

 private:
  std::string ref_;
};

struct PluginBuild {
  std::string name, version, abi_version, library_sha256;
};

struct RunRecord {
  std::string id;  // the run's identity (sha256)
  std::string experiment;
  std::string manifest;  // path of the manifest it came from
  std::string resolved;  // the run's resolved manifest (TOML text)
  int64_t seed = 0;
  std::string state;    // "finished", ...
  double seconds = 0;   // training wall seconds
  std::string host;     // host name, OS, CPU count
  int64_t created = 0;  // unix seconds
};

struct Metric {
  std::string name;
  double value = 0;       // NaN is kept as NaN, never as a number
  std::string direction;  // "lower", "higher", "none"
  std::string split;      // the data the metric was computed on ("test")
};

struct Artifact {
  std::string path;  // relative to the registry's root
  std::string sha256;
  int64_t size = 0;
  std::string kind;  // "checkpoint", "samples", "log", "report"
};

// What a new model version is made from. The files are copied into the registry.
struct NewVersion {
  std::string model;  // the model's registry name
  RunRecord run;
  std::string eval_id;  // with run.id and model: the key that makes registering idempotent
  PluginBuild model_plugin;
  std::vector<PluginBuild> other_plugins;  // dataset, metrics
  std::string dataset_plugin, dataset_params, dataset_hash;
  std::string config;  // the model's resolved parameters (TOML text)
  std::vector<Metric> metrics;
  struct File {
    std::filesystem::path source;
    std::string kind;
  };
  std::vector<File> files;
};

struct Version {
  std::string model;
  int64_t version = 0;
  int64_t created = 0;
  std::string run_id, eval_id;
  PluginBuild plugin;
  std::string dataset_plugin, dataset_params, dataset_hash;
  int64_t seed = 0;
  std::string config;
  std::vector<Metric> metrics;
  std::vector<Artifact> artifacts;
  std::vector<std::string> aliases;
  int64_t replaces = 0;  // the deleted version whose run this registers again (0: none)
  std::string ref() const { return model + ":" + std::to_string(version); }
};

// What a deleted version leaves: its number and the run and evaluation it came from.
struct DeletedVersion {
  std::string model;
  int64_t version = 0;
  std::string run_id, eval_id;
  int64_t deleted_at = 0;  // unix seconds
  bool restored = false;   // its run and evaluation may be registered again, as a new version
  std::string ref() const { return model + ":" + std::to_string(version); }
};

struct AliasEvent {
  std::string alias;
  int64_t version = 0;  // 0: removed
  int64_t at = 0;
};

// The storage interface (see the top of this file).
class Store {
 public:
  virtual ~Store() = default;
  // Inserts the version with its run, plugins, metrics and artifacts in one transaction and
  // returns its number, one more than the highest ever given to the model; if (run, eval,
  // model) is already registered, returns that number; if its version was deleted (and not
  // restored), throws DeletedVersionError and writes nothing.
  virtual int64_t add_version(const NewVersion& request, const std::vector<Artifact>& artifacts) = 0;
  virtual std::optional<Version> version(const std::string& model, int64_t number) = 0;
  virtual std::optional<int64_t> latest(const std::string& model) = 0;
  virtual std::optional<int64_t> alias(const std::string& model, const std::string& alias) = 0;
  virtual std::vector<Version> versions(const std::string& model_filter) = 0;  // "" = all
  virtual std::vector<Version> versions_of_run(const std::string& run_id) = 0;
  virtual std::optional<RunRecord> run(const std::string& run_id) = 0;
  virtual void set_alias(const std::string& model, const std::string& alias, int64_t version) = 0;
  virtual std::vector<AliasEvent> alias_history(const std::string& model, const std::string& alias) = 0;
  // Removes the version, its metrics, artifacts rows and aliases; keeps a DeletedVersion.
  virtual void delete_version(const std::string& model, int64_t version) = 0;
  virtual std::vector<DeletedVersion> deleted_versions(const std::string& model_filter) = 0;  // "" = all
  // Lets the deleted version's run and evaluation be registered again (as a new version).
  virtual void restore_version(const std::string& model, int64_t version) = 0;
  virtual std::vector<Artifact> artifacts() = 0;  // of every version
  virtual int schema_version() = 0;
};

// SQLite in WAL mode, one file; migrates an older genlab schema in place. A missing file is
// made whole (built aside, then linked in); an existing one that is empty, not SQLite, or
// SQLite without genlab's application id and schema is refused, never made over.
std::unique_ptr<Store> open_sqlite_store(const std::filesystem::path& database);

// The registry of a workspace: <root>/registry.db and <root>/artifacts/.
class Registry {
 public:
  // `Create` makes the folder and the database when missing (registering); `Existing`
  // refuses a folder without registry.db (reading: a mistyped workspace is an error, not
  // an empty registry).
  enum class Open { Create, Existing };
  explicit Registry(const std::filesystem::path& root, Open mode = Open::Create);

  const std::filesystem::path& root() const { return root_; }
  Store& store() { return *store_; }

  // Copies the files into the artifact store (verified, atomically), then records the
  // version. Registering the same run and evaluation again returns the same version; if
  // that version was deleted, throws DeletedVersionError (see the top of this file).
  Version register_version(const NewVersion& request);
  // "name:3", a deleted version: its run and evaluation may be registered again, which makes
  // a new version recording that it replaces this one. The deleted number stays deleted.
  DeletedVersion restore_version(const std::string& ref);

  // "name", "name:3" or "name@best" -> the version (latest for a bare name). A model,
  // alias or version that does not exist throws UnknownNameError with the ones that do
  // (and says when the version was deleted).
  Version resolve(const std::string& ref);
  // The registered model names, sorted.
  std::vector<std::string> model_names();
  // Throws UnknownNameError (with the registered model names) unless `model` has a version.
  void require_model(const std::string& model);
  void set_alias(const std::string& ref, const std::string& alias);

  // The absolute path of an artifact, after checking its size and sha256 against the record.
  std::filesystem::path verified_artifact(const Artifact& artifact);

  // Files under artifacts/ that no version references; removed unless `dry_run`.
  std::vector<std::filesystem::path> gc(bool dry_run);

  // Metrics side by side and only the config keys that differ, as a Markdown table.
  std::string compare(const std::vector<std::string>& refs);

  // A version's MODEL_CARD.md: what it is, its lineage, its metrics, its files.
  std::string model_card(const Version& v);
  // The checkpoint, config.toml and MODEL_CARD.md of a version into `dir`.
  void export_version(const std::string& ref, const std::filesystem::path& dir);

 private:
  std::filesystem::path root_;
  std::unique_ptr<Store> store_;
};

// Model and alias names: the host's rule for names (genlab::path_name_problem: 1 to 128
// letters, digits, '_', '-', '.', not starting with '.'), and no "..". Throws RegistryError
// naming the field, the name and what is wrong with it.
void check_name(const std::string& name, const char* what);

// "model:N was deleted (...)": what registering a deleted version's run again says, and how
// to allow it.
std::string deleted_version_message(const DeletedVersion& deleted);
// A metric value as the registry prints it (compare, model cards, the CLI): six significant
// digits, NaN as "NaN".
std::string number_text(double value);

}  // namespace genlab::registry
