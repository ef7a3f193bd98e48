// genlab serve: the dashboard's routes over a workspace (read-only, nothing outside it),
// and the page in headless Chromium beside a run that trains.
#include "catch.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <map>
#include <regex>
#include <thread>
#include <httplib.h>

#include "experiment_dir.hpp"
#include "genlab/serve/serve.hpp"
#include "genlab/util/files.hpp"
#include "genlab/util/json.hpp"
#include "support.hpp"

using genlab::test::Contains;
using genlab::test::count_lines;
using genlab::test::ExperimentDir;
using genlab::test::read_text;
using genlab::test::run_genlab;
using genlab::test::spawn_genlab;
using genlab::test::TempDir;
namespace fs = std::filesystem;

namespace {

const std::string kWatched =
    std::string(genlab::test::kRingGmmMmd) + "[evaluation]\nsamples = 128\nduring = [\"mmd\"]\n";

// `genlab serve WORKSPACE --port 0` in the background, and the address it printed.
struct Server {
  pid_t pid = -1;
  int port = 0;
  fs::path output;
  Server(const fs::path& workspace, const fs::path& out) : output(out) {
    pid = spawn_genlab({"serve", workspace.string(), "--port", "0"}, output);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    const std::regex address("serving http://127\\.0\\.0\\.1:([0-9]+)/");
    while (std::chrono::steady_clock::now() < deadline && port == 0) {
      std::smatch m;
      const std::string text = read_text(output);
      if (std::regex_search(text, m, address)) port = std::stoi(m[1]);
      else std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  // Stops it with SIGINT; its exit status.
  int stop() {
    ::kill(pid, SIGINT);
    int status = 0;
    ::waitpid(pid, &status, 0);
    pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  ~Server() {
    if (pid > 0) stop();
  }
};

// Every file under `dir` with its size and modification time.
std::map<std::string, std::pair<uintmax_t, fs::file_time_type>> snapshot(const fs::path& dir) {
  std::map<std::string, std::pair<uintmax_t, fs::file_time_type>> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out[e.path().string()] = {e.file_size(), e.last_write_time()};
  return out;
}

// A finished run's curve, its evaluations during training and their sample grids.
void check_run_routes(httplib::Client& client, const std::string& folder) {
  const auto run = client.Get("/api/runs/exp/" + folder);
  REQUIRE(run);
  REQUIRE(run->status == 200);
  const genlab::Json detail = genlab::parse_json(run->body, "run");
  CHECK(detail["losses"].size() == 60);
  CHECK(detail["losses"][59]["step"] == 59);
  REQUIRE(detail["during"].size() == 3);
  CHECK(detail["during"][2]["step"] == 60);
  CHECK(detail["during"][2]["metrics"].contains("mmd.mmd2"));

  const auto png = client.Get("/api/runs/exp/" + folder + "/samples/40.png");
  REQUIRE(png);
  CHECK(png->status == 200);
  CHECK(png->get_header_value("Content-Type") == "image/png");
  CHECK(png->body.rfind("\x89PNG", 0) == 0);
  const auto none = client.Get("/api/runs/exp/" + folder + "/samples/30.png");
  REQUIRE(none);
  CHECK(none->status == 404);
}

void check_refusals(httplib::Client& client) {
  // Nothing outside the workspace: "..", encoded or not, a symlink out, an unknown name.
  for (const std::string path :
       {"/api/runs/exp/..", "/api/runs/exp/%2e%2e", "/api/runs/..%2f..%2f..%2fetc/passwd", "/api/runs/exp/escape",
        "/api/experiments/..", "/api/experiments/nope", "/../../../../etc/passwd", "/assets/../../etc/passwd"}) {
    const auto refused = client.Get(path);
    INFO(path);
    REQUIRE(refused);
    CHECK((refused->status == 404 || refused->status == 400));  // 400: cpp-httplib's own refusal of ".."
    CHECK_THAT(refused->body, !Contains("root:"));
  }
}

}  // namespace

TEST_CASE("serve: a name is served only when it is one plain component inside the workspace", "[serve]") {
  TempDir dir;
  fs::create_directories(dir.path() / "ws" / "exp" / "runs" / "a");
  fs::create_directories(dir.path() / "outside");
  fs::create_directory_symlink(dir.path() / "outside", dir.path() / "ws" / "exp" / "runs" / "link");
  const fs::path ws = dir.path() / "ws";
  CHECK(genlab::serve::inside(ws, {"exp", "runs", "a"}) == fs::canonical(ws / "exp" / "runs" / "a"));
  CHECK_FALSE(genlab::serve::inside(ws, {"exp", "runs", ".."}));
  CHECK_FALSE(genlab::serve::inside(ws, {"exp", "runs", "../.."}));
  CHECK_FALSE(genlab::serve::inside(ws, {"exp/runs", "a"}));
  CHECK_FALSE(genlab::serve::inside(ws, {".", "exp"}));
  CHECK_FALSE(genlab::serve::inside(ws, {"exp", "runs", "link"}));  // a symlink out
  CHECK_FALSE(genlab::serve::inside(ws, {"exp", "runs", "missing"}));
}

TEST_CASE("serve: the routes give runs, curves, samples per step, comparisons and the registry, and write nothing",
          "[serve]") {
  ExperimentDir e(std::string("steps = 60\nbatch_size = 32\nseeds = [1, 2]\n") + kWatched +
                  "every = 20\n[report]\nheadline = [\"mmd.mean_distance\"]\n");
  const auto r = run_genlab("run --quiet " + e.manifest.string());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const fs::path ws = e.dir.path() / "ws";
  fs::create_directory_symlink(e.dir.path(), e.folder() / "runs" / "escape");  // a symlink out of the workspace
  fs::create_directories(e.folder() / "runs" / "broken--000000000000");        // a corrupt run folder
  genlab::write_file_atomic(e.folder() / "runs" / "broken--000000000000" / "run.toml", "model = [");
  const auto before = snapshot(ws);

  Server server(ws, e.dir.path() / "serve.txt");
  INFO(read_text(server.output));
  REQUIRE(server.port > 0);
  httplib::Client client("127.0.0.1", server.port);

  const auto page = client.Get("/");
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK_THAT(page->body, Contains("<title>genlab</title>"));

  const auto workspace = client.Get("/api/workspace");
  REQUIRE(workspace);
  REQUIRE(workspace->status == 200);
  const genlab::Json w = genlab::parse_json(workspace->body, "/api/workspace");
  REQUIRE(w["experiments"].size() == 1);
  const genlab::Json& runs = w["experiments"][0]["runs"];
  REQUIRE(runs.size() == 2);  // the two seeds
  const std::string folder = runs[0]["folder"];
  CHECK(runs[0]["train"] == "finished");
  CHECK(runs[0]["step"] == 60);
  CHECK(runs[0]["total"] == 60);
  CHECK(runs[0]["during_steps"] == genlab::Json::parse("[20, 40, 60]"));
  // The corrupt folder and the symlink: said, and the other runs shown.
  REQUIRE(w["problems"].size() == 2);
  CHECK_THAT(w["problems"].dump(),
             Contains("broken--000000000000/run.toml") && Contains("escape: leads out of the workspace"));

  check_run_routes(client, folder);
  const auto comparison = client.Get("/api/experiments/exp");
  REQUIRE(comparison);
  REQUIRE(comparison->status == 200);
  const genlab::Json c = genlab::parse_json(comparison->body, "comparison");
  REQUIRE(c["datasets"].size() == 1);
  // The headline the manifest chose (report.headline, kept in report.json), then the rest.
  CHECK(c["datasets"][0]["titles"][0] == "mean_distance ↓");
  CHECK(c["datasets"][0]["titles"][1] == "samples/s ↑");
  CHECK(c["datasets"][0]["headline"] == 3);
  CHECK(c["datasets"][0]["rows"][0]["label"] == "gmm-ring");
  CHECK(c["datasets"][0]["rows"][0]["finished"] == 2);
  CHECK_THAT(c["datasets"][0]["rows"][0]["cells"][0].get<std::string>(), Contains(" ± "));

  const auto registry = client.Get("/api/registry");
  REQUIRE(registry);
  REQUIRE(registry->status == 200);
  const genlab::Json reg = genlab::parse_json(registry->body, "registry");
  REQUIRE(reg["versions"].size() == 2);
  CHECK(reg["versions"][0]["lineage"]["experiment"] == "exp");
  CHECK_THAT(reg["versions"][0]["card"].get<std::string>(), Contains("## Lineage"));

  check_refusals(client);
  CHECK(server.stop() == 0);
  // Read-only: every file as it was (SQLite's WAL index files come and go with a reader).
  auto after = snapshot(ws);
  for (auto it = after.begin(); it != after.end();)
    it = it->first.find(".db-") != std::string::npos ? after.erase(it) : std::next(it);
  CHECK(after == before);
}

TEST_CASE("serve: a workspace that is missing, or a port in use, is refused with what to do", "[serve][bad-input]") {
  TempDir dir;
  const auto missing = run_genlab("serve " + (dir.path() / "nope").string() + " --port 0");
  CHECK(missing.exit_code != 0);
  CHECK_THAT(missing.output, Contains("nope"));
  fs::create_directories(dir.path() / "ws");
  Server first(dir.path() / "ws", dir.path() / "first.txt");
  REQUIRE(first.port > 0);
  CHECK_THAT(read_text(first.output), Contains("holds no experiment yet"));
  const auto taken = run_genlab("serve " + (dir.path() / "ws").string() + " --port " + std::to_string(first.port));
  CHECK(taken.exit_code == 1);
  CHECK_THAT(taken.output, Contains("cannot listen on 127.0.0.1:" + std::to_string(first.port)) &&
                               Contains("choose another with --port"));
  CHECK(run_genlab("serve --port 70000 " + (dir.path() / "ws").string()).exit_code == 2);
}

TEST_CASE("serve: in Chromium the page follows a training run: its step advances, charts and samples draw",
          "[serve][chromium]") {
  if (std::system("command -v chromium > /dev/null 2>&1") != 0) GENLAB_SKIP("chromium is not installed");
  const char* data = std::getenv("GENLAB_DATA");
  if (data == nullptr || !fs::exists(fs::path(data) / "vega" / "vega.min.js"))
    GENLAB_SKIP("Vega is not in GENLAB_DATA/vega (bash scripts/fetch-data.sh vega)");
  ExperimentDir e(std::string("steps = 200000\nbatch_size = 32\nseeds = [1]\ncheckpoint_every = 1000\n") + kWatched +
                  "every = 2000\n");
  const pid_t training = spawn_genlab({"run", "--quiet", e.manifest.string()}, e.dir.path() / "run.txt");
  REQUIRE(training > 0);
  const fs::path series = genlab::test::wait_for_lines(e, fs::path("during") / "evaluations.jsonl", 1);
  REQUIRE(count_lines(series) >= 1);
  Server server(e.dir.path() / "ws", e.dir.path() / "serve.txt");
  REQUIRE(server.port > 0);
  const fs::path dom = e.dir.path() / "dom.html";
  const std::string command =
      "chromium --headless --no-sandbox --disable-gpu --virtual-time-budget=30000 --dump-dom "
      "'http://127.0.0.1:" +
      std::to_string(server.port) + "/' > '" + dom.string() + "' 2> '" + (e.dir.path() / "chromium.log").string() + "'";
  const int status = std::system(command.c_str());
  ::kill(training, SIGINT);
  ::waitpid(training, nullptr, 0);
  INFO("chromium log: " << read_text(e.dir.path() / "chromium.log"));
  REQUIRE(status == 0);
  const std::string page = read_text(dom);
  std::smatch m;
  REQUIRE(std::regex_search(page, m,
                            std::regex("id=\"check\" data-polls=\"([0-9]+)\" data-steps=\"([0-9,]*)\" "
                                       "data-charts=\"([0-9]+)\" data-images=\"([0-9]+)\"")));
  INFO(m[0].str());
  CHECK(std::stoi(m[1]) >= 3);
  std::vector<long long> steps;
  std::stringstream list(m[2].str());
  for (std::string s; std::getline(list, s, ',');) steps.push_back(std::stoll(s));
  REQUIRE(steps.size() >= 2);
  CHECK(steps.back() > steps.front());  // the step advanced on the page, without a reload
  CHECK(std::stoi(m[3]) >= 2);          // the loss curve and the metric during training
  CHECK(std::stoi(m[4]) >= 1);          // a sample grid
  CHECK_THAT(page, Contains("gmm-ring-s1") && Contains("Samples during training"));
  CHECK(server.stop() == 0);
}
