// The registry's database file: an empty, non-SQLite or foreign file is refused and left as
// it was, an older schema is migrated in place, and names and version numbers are checked.
#include "catch.hpp"

#include <sqlite3.h>

#include <cmath>
#include <cstdlib>

#include "registry_support.hpp"

using namespace genlab::registry;
using namespace genlab::test;
namespace fs = std::filesystem;

namespace {

// The bytes of `file`, to show that a refused database was left as it was.
std::string bytes_of(const fs::path& file) { return genlab::test::read_text(file); }

}  // namespace

TEST_CASE("an empty, non-SQLite or foreign registry.db is refused, never made over", "[registry][bad-input]") {
  TempDir dir;
  const fs::path db = dir.path() / "registry.db";
  dir.write("registry.db", "");
  for (const auto mode : {Registry::Open::Create, Registry::Open::Existing})
    CHECK_THAT(error_of([&] { Registry(dir.path(), mode); }), Contains(db.string()) && Contains("empty (0 bytes)"));
  CHECK(fs::file_size(db) == 0);
  dir.write("registry.db", "model,version\nvae,1\n");
  CHECK_THAT(error_of([&] { Registry(dir.path()); }), Contains(db.string()) && Contains("not an SQLite database"));
  CHECK(bytes_of(db) == "model,version\nvae,1\n");
  // SQLite, but of another application: by its tables, or by its application id.
  for (const char* sql : {"CREATE TABLE notes(text TEXT); INSERT INTO notes VALUES ('mine');",
                          "PRAGMA application_id = 42; PRAGMA user_version = 1; CREATE TABLE versions(x); "
                          "CREATE TABLE runs(x); CREATE TABLE aliases(x);"}) {
    fs::remove(db);
    sqlite3* other = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &other) == SQLITE_OK);
    REQUIRE(sqlite3_exec(other, sql, nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(other);
    const std::string before = bytes_of(db);
    const std::string why = error_of([&] { Registry(dir.path()); });
    CHECK_THAT(why, Contains(db.string() + ": not a genlab registry"));
    CHECK_THAT(why, Contains("its tables: notes") || Contains("application id 42"));
    CHECK(bytes_of(db) == before);
    CHECK_FALSE(fs::exists(db.string() + "-wal"));
  }
  CHECK_FALSE(fs::exists(dir.path() / "artifacts"));  // nothing made beside it either
}

TEST_CASE("a schema 1 registry is migrated in place, its numbers going on from the highest given",
          "[registry][migration]") {
  TempDir dir;
  const fs::path db = dir.path() / "registry.db";
  sqlite3* old = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &old) == SQLITE_OK);
  // The schema 1 of registry/src/sqlite_store.cpp, with vae:1 and vae:2 left and vae:3 deleted
  // (known only by its alias history), and gan:1, gan:2.
  const char* schema1 = R"sql(
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
INSERT INTO runs VALUES ('run-old', 'exp', '/m.toml', '', 1, 'finished', 1.0, 'host', 0);
INSERT INTO versions VALUES (1, 'vae', 1, 0, 'run-old', 'e1', 'vae', '1', '1.0', 'abc', 'd', '', '', 1, '');
INSERT INTO versions VALUES (2, 'vae', 2, 0, 'run-old', 'e2', 'vae', '1', '1.0', 'abc', 'd', '', '', 1, '');
INSERT INTO versions VALUES (4, 'gan', 1, 0, 'run-old', 'e4', 'gan', '1', '1.0', 'abc', 'd', '', '', 1, '');
INSERT INTO versions VALUES (5, 'gan', 2, 0, 'run-old', 'e5', 'gan', '1', '1.0', 'abc', 'd', '', '', 1, '');
INSERT INTO alias_history (model, alias, version, set_at) VALUES ('vae', 'best', 3, 0), ('vae', 'best', 0, 0);
PRAGMA user_version = 1;
)sql";
  REQUIRE(sqlite3_exec(old, schema1, nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(old);
  Registry reg(dir.path());
  CHECK(reg.store().schema_version() == 2);
  CHECK(reg.store().versions("").size() == 4);
  CHECK(reg.store().versions("vae")[0].replaces == 0);
  CHECK(reg.register_version(request(dir, "vae", "run-a")).version == 4);  // after the deleted vae:3
  CHECK(reg.register_version(request(dir, "gan", "run-a")).version == 3);
  // Migrated once: opened again, it is a genlab registry by its application id.
  Registry again(dir.path(), Registry::Open::Existing);
  CHECK(again.store().schema_version() == 2);
  CHECK(again.store().versions("vae").size() == 3);
}

TEST_CASE("registry names follow the host's rule for names and say what is wrong", "[registry][names]") {
  TempDir dir;
  Registry reg(dir.path());
  auto refusal = [&](const std::string& name) {
    return error_of([&] { reg.register_version(request(dir, name, "run-x")); });
  };
  CHECK_THAT(refusal("a/b"), Contains("invalid model name 'a/b': it holds '/'"));
  CHECK_THAT(refusal(""), Contains("invalid model name '': it is empty"));
  CHECK_THAT(refusal(".hidden"), Contains("it starts with '.'"));
  CHECK_THAT(refusal("x y"), Contains("it holds ' '"));
  CHECK_THAT(refusal(std::string(129, 'a')), Contains("longer than 128 characters"));
  CHECK_THAT(refusal("a\x01z"), Contains("invalid model name 'a\\x01z': it holds a control character"));
  CHECK_THAT(refusal("a..b"), Contains("it holds '..'"));
  CHECK(reg.register_version(request(dir, std::string(128, 'a'), "run-a")).version == 1);
  CHECK_THAT(error_of([&] { reg.set_alias(std::string(128, 'a') + ":1", "be st"); }),
             Contains("invalid alias 'be st': it holds ' '"));
}

TEST_CASE("a version number out of range is a clear error", "[registry][bad-input]") {
  TempDir dir;
  Registry reg(dir.path());
  reg.register_version(request(dir, "vae", "run-a"));
  CHECK_THAT(error_of([&] { reg.resolve("vae:99999999999999999999"); }),
             Contains("'vae:99999999999999999999': version 99999999999999999999 is out of range"));
  CHECK_THAT(error_of([&] { reg.resolve("vae:"); }), Contains("expected NAME:VERSION with a version number"));
}
