// The SQLite store: one file, WAL mode (readers never block the writer), a busy timeout so
// concurrent registrations queue instead of failing, and numbered schema migrations.
#include <sqlite3.h>

#include <cmath>
#include <ctime>
#include <mutex>

#include "genlab/registry/registry.hpp"

namespace genlab::registry {
namespace {

// Each entry moves the schema from version i to i + 1. Append only.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE plugins(
  name TEXT NOT NULL, version TEXT NOT NULL, abi_version TEXT NOT NULL, library_sha256 TEXT NOT NULL,
  first_seen INTEGER NOT NULL, PRIMARY KEY(name, version, library_sha256));
CREATE TABLE runs(
  id TEXT PRIMARY KEY, experiment TEXT NOT NULL, manifest TEXT NOT NULL, resolved TEXT NOT NULL,
  seed INTEGER NOT NULL, state TEXT NOT NULL, seconds REAL NOT NULL, host TEXT NOT NULL, created INTEGER NOT NULL);
CREATE TABLE versions(
  id INTEGER PRIMARY KEY, model TEXT NOT NULL, version INTEGER NOT NULL, created INTEGER NOT NULL,
  run_id TEXT NOT NULL REFERENCES runs(id), eval_id TEXT NOT NULL,
  plugin TEXT NOT NULL, plugin_version TEXT NOT NULL, plugin_abi TEXT NOT NULL, plugin_sha256 TEXT NOT NULL,
  dataset_plugin TEXT NOT NULL, dataset_params TEXT NOT NULL, dataset_hash TEXT NOT NULL,
  seed INTEGER NOT NULL, config TEXT NOT NULL,
  UNIQUE(model, version), UNIQUE(run_id, eval_id, model));
CREATE TABLE metrics(
  version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE, name TEXT NOT NULL,
  value REAL, direction TEXT NOT NULL, split TEXT NOT NULL, PRIMARY KEY(version_id, name));
CREATE TABLE artifacts(
  version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE, path TEXT NOT NULL,
  sha256 TEXT NOT NULL, size INTEGER NOT NULL, kind TEXT NOT NULL);
CREATE TABLE aliases(model TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY(model, alias));
CREATE TABLE alias_history(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, model TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL,
  set_at INTEGER NOT NULL);
)sql",
};
constexpr int kSchemaVersion = sizeof(kMigrations) / sizeof(kMigrations[0]);

class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
      throw RegistryError(std::string("registry: cannot prepare a query: ") + sqlite3_errmsg(db));
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Statement& bind(int i, double v) {
    if (std::isnan(v)) sqlite3_bind_null(stmt_, i);  // NaN is stored as NULL, read back as NaN
    else sqlite3_bind_double(stmt_, i, v);
    return *this;
  }
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw RegistryError(std::string("registry: query failed: ") + sqlite3_errmsg(db_));
  }
  std::string text(int i) const {
    const auto* t = sqlite3_column_text(stmt_, i);
    return t ? reinterpret_cast<const char*>(t) : "";
  }
  int64_t integer(int i) const { return sqlite3_column_int64(stmt_, i); }
  bool is_null(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }
  double real(int i) const {
    return sqlite3_column_type(stmt_, i) == SQLITE_NULL ? std::nan("") : sqlite3_column_double(stmt_, i);
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(const std::filesystem::path& path) : path_(path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        nullptr) != SQLITE_OK) {
      const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw RegistryError(path.string() + ": cannot open the registry database: " + why);
    }
    sqlite3_busy_timeout(db_, 30000);  // concurrent writers wait their turn
    exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
    migrate();
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
    int64_t number = 1;
    {
      Statement s(db_, "SELECT COALESCE(MAX(version), 0) + 1 FROM versions WHERE model = ?");
      s.bind(1, r.model).step();
      number = s.integer(0);
    }
    {
      Statement s(db_,
                  "INSERT INTO versions (model, version, created, run_id, eval_id, plugin, plugin_version, plugin_abi,"
                  " plugin_sha256, dataset_plugin, dataset_params, dataset_hash, seed, config)"
                  " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
      s.bind(1, r.model).bind(2, number).bind(3, now).bind(4, r.run.id).bind(5, r.eval_id);
      s.bind(6, r.model_plugin.name).bind(7, r.model_plugin.version).bind(8, r.model_plugin.abi_version);
      s.bind(9, r.model_plugin.library_sha256).bind(10, r.dataset_plugin).bind(11, r.dataset_params);
      s.bind(12, r.dataset_hash).bind(13, r.run.seed).bind(14, r.config).step();
    }
    const int64_t id = sqlite3_last_insert_rowid(db_);
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
    Statement s(db_, "SELECT id, experiment, manifest, resolved, seed, state, seconds, host, created FROM runs WHERE id = ?");
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return RunRecord{s.text(0), s.text(1), s.text(2), s.text(3), s.integer(4), s.text(5), s.real(6), s.text(7), s.integer(8)};
  }

  void set_alias(const std::string& model, const std::string& name, int64_t number) override {
    Transaction t(*this);
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    Statement(db_, "INSERT OR REPLACE INTO aliases VALUES (?, ?, ?)").bind(1, model).bind(2, name).bind(3, number).step();
    Statement(db_, "INSERT INTO alias_history (model, alias, version, set_at) VALUES (?, ?, ?, ?)")
        .bind(1, model).bind(2, name).bind(3, number).bind(4, now).step();
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
    Statement(db_, "DELETE FROM versions WHERE model = ? AND version = ?").bind(1, model).bind(2, number).step();
    if (sqlite3_changes(db_) == 0)
      throw RegistryError("registry: no version " + model + ":" + std::to_string(number) + " to delete");
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    // Aliases pointing at it go away, recorded in their history as version 0.
    Statement aliases(db_, "SELECT alias FROM aliases WHERE model = ? AND version = ?");
    aliases.bind(1, model).bind(2, number);
    std::vector<std::string> removed;
    while (aliases.step()) removed.push_back(aliases.text(0));
    for (const auto& a : removed) {
      Statement(db_, "DELETE FROM aliases WHERE model = ? AND alias = ?").bind(1, model).bind(2, a).step();
      Statement(db_, "INSERT INTO alias_history (model, alias, version, set_at) VALUES (?, ?, 0, ?)")
          .bind(1, model).bind(2, a).bind(3, now).step();
    }
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

  void migrate() {
    Transaction t(*this);
    const int current = schema_version();
    if (current > kSchemaVersion)
      throw RegistryError(path_.string() + ": schema version " + std::to_string(current) +
                          " is newer than this genlab understands (" + std::to_string(kSchemaVersion) +
                          "); upgrade genlab");
    for (int v = current; v < kSchemaVersion; ++v) exec(kMigrations[v]);
    exec(("PRAGMA user_version = " + std::to_string(kSchemaVersion)).c_str());
    t.commit();
  }

  std::vector<Version> select(const std::string& where, const std::string& a, int64_t b) {
    Statement s(db_, ("SELECT id, model, version, created, run_id, eval_id, plugin, plugin_version, plugin_abi,"
                      " plugin_sha256, dataset_plugin, dataset_params, dataset_hash, seed, config FROM versions " +
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

}  // namespace

std::unique_ptr<Store> open_sqlite_store(const std::filesystem::path& database) {
  return std::make_unique<SqliteStore>(database);
}

}  // namespace genlab::registry
