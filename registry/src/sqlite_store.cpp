// The SQLite store: one file, WAL mode (readers never block the writer), a busy timeout so
// concurrent registrations queue instead of failing, and numbered schema migrations. The
// file carries genlab's application id; one without it (or without an older genlab schema)
// is refused, as is an empty one: a registry is made new only where there is no file.
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>

#include "genlab/registry/registry.hpp"
#include "sqlite_schema.hpp"
#include "sqlite_statement.hpp"

namespace genlab::registry {
namespace {

// PRAGMA application_id of a genlab registry ("glab").
constexpr int64_t kApplicationId = 0x676c6162;
const char* const kNotMadeOver =
    "genlab does not make a new registry over it (restore it from a backup, or move it away to start a new registry)";

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

class SqliteStore final : public Store {
 public:
  // `fresh`: a new file, made here (see open_sqlite_store); otherwise an existing one, which
  // must be a genlab registry.
  SqliteStore(const std::filesystem::path& path, bool fresh) : path_(path) {
    if (sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | (fresh ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_FULLMUTEX,
                        nullptr) != SQLITE_OK) {
      const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw RegistryError(path.string() + ": cannot open the registry database: " + why);
    }
    try {
      sqlite3_busy_timeout(db_, 30000);  // concurrent writers wait their turn
      if (!fresh) check_identity();      // before anything is written to it
      // A fresh file keeps the rollback journal: closed, it is whole without a -wal beside it.
      exec(fresh ? "PRAGMA foreign_keys=ON;"
                 : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
      migrate();
    } catch (...) {
      sqlite3_close(db_);
      throw;
    }
  }
  ~SqliteStore() override { sqlite3_close(db_); }

  int schema_version() override {
    Statement s(db_, "PRAGMA user_version");
    s.step();
    return static_cast<int>(s.integer(0));
  }

  int64_t add_version(const NewVersion& r, const std::vector<Artifact>& artifacts) override {
    Transaction t(*this);
    {
      Statement existing(db_, "SELECT version FROM versions WHERE run_id = ? AND eval_id = ? AND model = ?");
      existing.bind(1, r.run.id).bind(2, r.eval_id).bind(3, r.model);
      if (existing.step()) return existing.integer(0);
    }
    // The last version made of this run and evaluation, if deleted: refused unless restored.
    int64_t replaces = 0;
    if (auto last = last_deleted(r.model, r.run.id, r.eval_id)) {
      if (!last->restored) throw DeletedVersionError(deleted_version_message(*last), last->ref());
      replaces = last->version;
    }
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    std::vector<PluginBuild> builds = r.other_plugins;
    builds.push_back(r.model_plugin);
    for (const auto& b : builds) {
      Statement s(db_, "INSERT OR IGNORE INTO plugins VALUES (?, ?, ?, ?, ?)");
      s.bind(1, b.name).bind(2, b.version).bind(3, b.abi_version).bind(4, b.library_sha256).bind(5, now).step();
    }
    {
      Statement s(db_, "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
      s.bind(1, r.run.id).bind(2, r.run.experiment).bind(3, r.run.manifest).bind(4, r.run.resolved);
      s.bind(5, r.run.seed).bind(6, r.run.state).bind(7, r.run.seconds).bind(8, r.run.host);
      s.bind(9, r.run.created ? r.run.created : now).step();
    }
    // One more than the highest number ever given to the model, deleted versions included.
    int64_t number = 1;
    {
      Statement s(db_,
                  "SELECT MAX(COALESCE((SELECT last_version FROM models WHERE name = ?1), 0),"
                  " COALESCE((SELECT MAX(version) FROM versions WHERE model = ?1), 0)) + 1");
      s.bind(1, r.model).step();
      number = s.integer(0);
    }
    {
      Statement s(db_,
                  "INSERT INTO versions (model, version, created, run_id, eval_id, plugin, plugin_version, plugin_abi,"
                  " plugin_sha256, dataset_plugin, dataset_params, dataset_hash, seed, config, replaces)"
                  " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
      s.bind(1, r.model).bind(2, number).bind(3, now).bind(4, r.run.id).bind(5, r.eval_id);
      s.bind(6, r.model_plugin.name).bind(7, r.model_plugin.version).bind(8, r.model_plugin.abi_version);
      s.bind(9, r.model_plugin.library_sha256).bind(10, r.dataset_plugin).bind(11, r.dataset_params);
      s.bind(12, r.dataset_hash).bind(13, r.run.seed).bind(14, r.config).bind(15, replaces).step();
    }
    const int64_t id = sqlite3_last_insert_rowid(db_);
    Statement(db_, "INSERT OR REPLACE INTO models (name, last_version) VALUES (?, ?)")
        .bind(1, r.model)
        .bind(2, number)
        .step();
    for (const auto& m : r.metrics) {
      Statement s(db_, "INSERT OR REPLACE INTO metrics VALUES (?, ?, ?, ?, ?)");
      s.bind(1, id).bind(2, m.name).bind(3, m.value).bind(4, m.direction).bind(5, m.split).step();
    }
    for (const auto& a : artifacts) {
      Statement s(db_, "INSERT INTO artifacts VALUES (?, ?, ?, ?, ?)");
      s.bind(1, id).bind(2, a.path).bind(3, a.sha256).bind(4, a.size).bind(5, a.kind).step();
    }
    t.commit();
    return number;
  }

  std::optional<Version> version(const std::string& model, int64_t number) override {
    auto found = select("WHERE model = ?1 AND version = ?2", model, number);
    if (found.empty()) return std::nullopt;
    return found.front();
  }

  std::optional<int64_t> latest(const std::string& model) override {
    Statement s(db_, "SELECT MAX(version) FROM versions WHERE model = ?");
    s.bind(1, model);
    if (!s.step() || s.is_null(0)) return std::nullopt;
    return s.integer(0);
  }

  std::optional<int64_t> alias(const std::string& model, const std::string& name) override {
    Statement s(db_, "SELECT version FROM aliases WHERE model = ? AND alias = ?");
    s.bind(1, model).bind(2, name);
    if (!s.step()) return std::nullopt;
    return s.integer(0);
  }

  std::vector<Version> versions(const std::string& model) override {
    return model.empty() ? select("WHERE ?1 = ?1", std::string(), 0) : select("WHERE model = ?1 AND ?2 = ?2", model, 0);
  }

  std::vector<Version> versions_of_run(const std::string& run_id) override {
    return select("WHERE run_id = ?1 AND ?2 = ?2", run_id, 0);
  }

  std::optional<RunRecord> run(const std::string& id) override {
    Statement s(
        db_, "SELECT id, experiment, manifest, resolved, seed, state, seconds, host, created FROM runs WHERE id = ?");
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return RunRecord{s.text(0), s.text(1), s.text(2), s.text(3),   s.integer(4),
                     s.text(5), s.real(6), s.text(7), s.integer(8)};
  }

  void set_alias(const std::string& model, const std::string& name, int64_t number) override {
    Transaction t(*this);
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    Statement(db_, "INSERT OR REPLACE INTO aliases VALUES (?, ?, ?)")
        .bind(1, model)
        .bind(2, name)
        .bind(3, number)
        .step();
    Statement(db_, "INSERT INTO alias_history (model, alias, version, set_at) VALUES (?, ?, ?, ?)")
        .bind(1, model)
        .bind(2, name)
        .bind(3, number)
        .bind(4, now)
        .step();
    t.commit();
  }

  std::vector<AliasEvent> alias_history(const std::string& model, const std::string& name) override {
    Statement s(db_, "SELECT alias, version, set_at FROM alias_history WHERE model = ? AND alias = ? ORDER BY seq");
    s.bind(1, model).bind(2, name);
    std::vector<AliasEvent> out;
    while (s.step()) out.push_back(AliasEvent{s.text(0), s.integer(1), s.integer(2)});
    return out;
  }

  void delete_version(const std::string& model, int64_t number) override {
    Transaction t(*this);
    std::string run_id, eval_id;
    {
      Statement s(db_, "SELECT run_id, eval_id FROM versions WHERE model = ? AND version = ?");
      s.bind(1, model).bind(2, number);
      if (!s.step()) throw RegistryError("registry: no version " + model + ":" + std::to_string(number) + " to delete");
      run_id = s.text(0);
      eval_id = s.text(1);
    }
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    // What stays: its number, given never again, and its run and evaluation, registered never again.
    Statement(db_, "INSERT OR REPLACE INTO deleted_versions VALUES (?, ?, ?, ?, ?, 0)")
        .bind(1, model)
        .bind(2, number)
        .bind(3, run_id)
        .bind(4, eval_id)
        .bind(5, now)
        .step();
    Statement(db_, "INSERT OR IGNORE INTO models (name, last_version) VALUES (?, ?)")
        .bind(1, model)
        .bind(2, number)
        .step();
    Statement(db_, "UPDATE models SET last_version = MAX(last_version, ?) WHERE name = ?")
        .bind(1, number)
        .bind(2, model)
        .step();
    Statement(db_, "DELETE FROM versions WHERE model = ? AND version = ?").bind(1, model).bind(2, number).step();
    // Aliases pointing at it go away, recorded in their history as version 0.
    Statement aliases(db_, "SELECT alias FROM aliases WHERE model = ? AND version = ?");
    aliases.bind(1, model).bind(2, number);
    std::vector<std::string> removed;
    while (aliases.step()) removed.push_back(aliases.text(0));
    for (const auto& a : removed) {
      Statement(db_, "DELETE FROM aliases WHERE model = ? AND alias = ?").bind(1, model).bind(2, a).step();
      Statement(db_, "INSERT INTO alias_history (model, alias, version, set_at) VALUES (?, ?, 0, ?)")
          .bind(1, model)
          .bind(2, a)
          .bind(3, now)
          .step();
    }
    t.commit();
  }

  std::vector<DeletedVersion> deleted_versions(const std::string& model) override {
    Statement s(db_,
                "SELECT model, version, run_id, eval_id, deleted_at, restored FROM deleted_versions"
                " WHERE ?1 = '' OR model = ?1 ORDER BY model, version");
    s.bind(1, model);
    std::vector<DeletedVersion> out;
    while (s.step())
      out.push_back(DeletedVersion{s.text(0), s.integer(1), s.text(2), s.text(3), s.integer(4), s.integer(5) != 0});
    return out;
  }

  void restore_version(const std::string& model, int64_t number) override {
    Transaction t(*this);
    const std::string ref = model + ":" + std::to_string(number);
    if (!select("WHERE model = ?1 AND version = ?2", model, number).empty())
      throw RegistryError(ref + " is not deleted: restore is for a deleted version");
    std::optional<DeletedVersion> deleted;
    std::vector<std::string> refs;
    for (const auto& d : deleted_versions(model)) {
      refs.push_back(d.ref());
      if (d.version == number) deleted = d;
    }
    if (!deleted)
      throw RegistryError(
          "model '" + model + "' has no deleted version " + std::to_string(number) +
          (refs.empty() ? std::string(" (it has none)") : "; its deleted versions are " + joined(refs)));
    if (deleted->restored) {
      std::string now;
      const auto again = select("WHERE model = ?1 AND replaces = ?2", model, number);
      const auto last = last_deleted(model, deleted->run_id, deleted->eval_id);
      if (!again.empty()) now = ": its run is registered again as " + again.front().ref();
      else if (last && last->version > number)
        now = ": its run was registered again as " + last->ref() + ", deleted too (restore that one)";
      else now = ": the next `genlab run` of its manifest registers its run again, as a new version";
      throw RegistryError(ref + " is already restored" + now);
    }
    Statement(db_, "UPDATE deleted_versions SET restored = 1 WHERE model = ? AND version = ?")
        .bind(1, model)
        .bind(2, number)
        .step();
    t.commit();
  }

  std::vector<Artifact> artifacts() override {
    Statement s(db_, "SELECT path, sha256, size, kind FROM artifacts");
    std::vector<Artifact> out;
    while (s.step()) out.push_back(Artifact{s.text(0), s.text(1), s.integer(2), s.text(3)});
    return out;
  }

 private:
  // BEGIN IMMEDIATE takes the write lock at once, so two writers never both read the next
  // version number; rolled back unless committed (nothing is written half).
  class Transaction {
   public:
    explicit Transaction(SqliteStore& s) : s_(s) { s_.exec("BEGIN IMMEDIATE"); }
    ~Transaction() {
      if (!done_) sqlite3_exec(s_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    void commit() {
      s_.exec("COMMIT");
      done_ = true;
    }

   private:
    SqliteStore& s_;
    bool done_ = false;
  };

  void exec(const char* sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
      const std::string why = error ? error : "unknown error";
      sqlite3_free(error);
      throw RegistryError(path_.string() + ": " + why);
    }
  }

  int64_t pragma(const char* name) {
    Statement s(db_, (std::string("PRAGMA ") + name).c_str());
    return s.step() ? s.integer(0) : 0;
  }

  // A genlab registry has genlab's application id, or (made before it had one) a schema
  // version and genlab's tables. Anything else is refused with what it is.
  void check_identity() {
    const int64_t application = pragma("application_id"), schema = pragma("user_version");
    if (application == kApplicationId) return;
    std::vector<std::string> tables;
    Statement s(db_, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
    while (s.step()) tables.push_back(s.text(0));
    auto has = [&](const char* t) { return std::find(tables.begin(), tables.end(), t) != tables.end(); };
    if (application == 0 && schema >= 1 && has("versions") && has("runs") && has("aliases")) return;
    const std::string what =
        application != 0
            ? "an SQLite database of another application (application id " + std::to_string(application) + ")"
        : tables.empty() ? std::string("an SQLite database with no tables")
                         : "an SQLite database without genlab's registry schema (its tables: " + joined(tables) + ")";
    throw RegistryError(path_.string() + ": not a genlab registry: " + what + "; " + kNotMadeOver);
  }

  // The latest deleted version made of this run and evaluation.
  std::optional<DeletedVersion> last_deleted(const std::string& model, const std::string& run,
                                             const std::string& eval) {
    Statement s(db_,
                "SELECT model, version, run_id, eval_id, deleted_at, restored FROM deleted_versions"
                " WHERE model = ? AND run_id = ? AND eval_id = ? ORDER BY version DESC LIMIT 1");
    s.bind(1, model).bind(2, run).bind(3, eval);
    if (!s.step()) return std::nullopt;
    return DeletedVersion{s.text(0), s.integer(1), s.text(2), s.text(3), s.integer(4), s.integer(5) != 0};
  }

  void migrate() {
    Transaction t(*this);
    const int current = schema_version();
    if (current > kSchemaVersion)
      throw RegistryError(path_.string() + ": schema version " + std::to_string(current) +
                          " is newer than this genlab understands (" + std::to_string(kSchemaVersion) +
                          "); upgrade genlab");
    if (current == kSchemaVersion && pragma("application_id") == kApplicationId) return;  // nothing to write
    for (int v = current; v < kSchemaVersion; ++v) exec(kMigrations[v]);
    exec(("PRAGMA user_version = " + std::to_string(kSchemaVersion)).c_str());
    exec(("PRAGMA application_id = " + std::to_string(kApplicationId)).c_str());
    t.commit();
  }

  std::vector<Version> select(const std::string& where, const std::string& a, int64_t b) {
    Statement s(db_,
                ("SELECT id, model, version, created, run_id, eval_id, plugin, plugin_version, plugin_abi,"
                 " plugin_sha256, dataset_plugin, dataset_params, dataset_hash, seed, config, replaces FROM versions " +
                 where + " ORDER BY model, version")
                    .c_str());
    s.bind(1, a).bind(2, b);
    std::vector<std::pair<int64_t, Version>> rows;
    while (s.step()) {
      Version v;
      v.model = s.text(1);
      v.version = s.integer(2);
      v.created = s.integer(3);
      v.run_id = s.text(4);
      v.eval_id = s.text(5);
      v.plugin = PluginBuild{s.text(6), s.text(7), s.text(8), s.text(9)};
      v.dataset_plugin = s.text(10);
      v.dataset_params = s.text(11);
      v.dataset_hash = s.text(12);
      v.seed = s.integer(13);
      v.config = s.text(14);
      v.replaces = s.integer(15);
      rows.emplace_back(s.integer(0), std::move(v));
    }
    std::vector<Version> out;
    for (auto& [id, v] : rows) {
      Statement m(db_, "SELECT name, value, direction, split FROM metrics WHERE version_id = ? ORDER BY name");
      m.bind(1, id);
      while (m.step()) v.metrics.push_back(Metric{m.text(0), m.real(1), m.text(2), m.text(3)});
      Statement f(db_, "SELECT path, sha256, size, kind FROM artifacts WHERE version_id = ?");
      f.bind(1, id);
      while (f.step()) v.artifacts.push_back(Artifact{f.text(0), f.text(1), f.integer(2), f.text(3)});
      Statement al(db_, "SELECT alias FROM aliases WHERE model = ? AND version = ? ORDER BY alias");
      al.bind(1, v.model).bind(2, v.version);
      while (al.step()) v.aliases.push_back(al.text(0));
      out.push_back(std::move(v));
    }
    return out;
  }

  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
};

// What is wrong with an existing registry.db before SQLite reads it ("" if nothing).
std::string file_problem(const std::filesystem::path& database) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(database, ec)) return "not a regular file";
  const auto size = std::filesystem::file_size(database, ec);
  if (ec) return "cannot read its size: " + ec.message();
  if (size == 0) return "the registry database is empty (0 bytes): it was truncated or never written";
  char header[16] = {0};
  std::ifstream in(database, std::ios::binary);
  if (!in) return std::string("cannot read it: ") + std::strerror(errno);
  in.read(header, sizeof header);
  if (in.gcount() != sizeof header || std::memcmp(header, "SQLite format 3", 16) != 0)
    return "not an SQLite database (" + std::to_string(size) + " bytes without the 'SQLite format 3' header)";
  return "";
}

// A new registry is made whole beside `database`, then linked in: `database` never exists
// half made (so an empty one is never genlab's), and two processes making it at once both
// end up with one registry.
void create_database(const std::filesystem::path& database) {
  namespace fs = std::filesystem;
  static std::atomic<int> counter{0};
  const fs::path temp = database.parent_path() / ("." + database.filename().string() + ".new-" +
                                                  std::to_string(getpid()) + "-" + std::to_string(counter++));
  auto remove_temp = [&] {
    std::error_code ignored;
    for (const char* suffix : {"", "-journal", "-wal", "-shm"}) fs::remove(temp.string() + suffix, ignored);
  };
  remove_temp();
  try {
    SqliteStore made(temp, true);
  } catch (...) {
    remove_temp();
    throw;
  }
  if (::link(temp.c_str(), database.c_str()) != 0 && errno != EEXIST) {
    // A file system without hard links: a rename, unless another process made it meanwhile.
    const std::string why = std::strerror(errno);
    std::error_code ec;
    if (!fs::exists(database, ec)) fs::rename(temp, database, ec);
    if (ec) {
      remove_temp();
      throw RegistryError(database.string() + ": cannot create the registry database: " + why + "; " + ec.message());
    }
  }
  remove_temp();
}

}  // namespace

std::unique_ptr<Store> open_sqlite_store(const std::filesystem::path& database) {
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::symlink_status(database, ec))) create_database(database);
  else if (const std::string problem = file_problem(database); !problem.empty())
    throw RegistryError(database.string() + ": " + problem + "; " + kNotMadeOver);
  return std::make_unique<SqliteStore>(database, false);
}

}  // namespace genlab::registry
