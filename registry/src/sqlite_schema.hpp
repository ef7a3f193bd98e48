// The registry's SQLite schema, as its numbered migrations: a new database runs them all,
// an older one those past its PRAGMA user_version.
#pragma once

namespace genlab::registry {

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
    // 2: version numbers are never given twice (the highest given per model, kept across
    // deletes, taken from the versions and the alias history of an older database), and a
    // deleted version leaves a record of its run and evaluation.
    R"sql(
CREATE TABLE models(name TEXT PRIMARY KEY, last_version INTEGER NOT NULL);
INSERT INTO models (name, last_version)
  SELECT model, MAX(version) FROM (SELECT model, version FROM versions UNION ALL SELECT model, version FROM alias_history)
  GROUP BY model;
CREATE TABLE deleted_versions(
  model TEXT NOT NULL, version INTEGER NOT NULL, run_id TEXT NOT NULL, eval_id TEXT NOT NULL,
  deleted_at INTEGER NOT NULL, restored INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(model, version));
ALTER TABLE versions ADD COLUMN replaces INTEGER NOT NULL DEFAULT 0;
)sql",
};
constexpr int kSchemaVersion = sizeof(kMigrations) / sizeof(kMigrations[0]);

}  // namespace genlab::registry
