// `genlab serve`: the routes of the dashboard over cpp-httplib. Every route reads; none
// writes. Names in a path are checked by inside() before any file is opened.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>
#include <httplib.h>

#include "genlab/core/scheduler.hpp"
#include "genlab/serve/serve.hpp"
#include "genlab/util/error.hpp"
#include "genlab/util/files.hpp"
#include "workspace_view.hpp"

namespace genlab::serve {
namespace fs = std::filesystem;

extern const char* const kDashboardPage;

std::optional<fs::path> inside(const fs::path& root, const std::vector<std::string>& names) {
  fs::path path = root;
  for (const auto& name : names) {
    if (name.empty() || name == "." || name == ".." || name[0] == '.' || name.find('/') != std::string::npos ||
        name.find('\\') != std::string::npos || name.find('\0') != std::string::npos)
      return std::nullopt;
    path /= name;
  }
  std::error_code ec;
  const fs::path real_root = fs::canonical(root, ec);
  if (ec) return std::nullopt;
  const fs::path real = fs::canonical(path, ec);  // symlinks resolved: one pointing out is caught here
  if (ec) return std::nullopt;
  const auto [end, at] = std::mismatch(real_root.begin(), real_root.end(), real.begin(), real.end());
  if (end != real_root.end()) return std::nullopt;
  return real;
}

namespace {

std::atomic<int> stop_signal{0};
void on_signal(int signal) { stop_signal = signal; }

void send_json(httplib::Response& res, const Json& body) {
  res.set_header("Cache-Control", "no-store");
  res.set_content(body.dump(), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(Json{{"error", message}}.dump(), "application/json");
}

// The handler of a route: its errors become a 500 with the message (a corrupt file must
// not take the server down); a name outside the workspace a 404.
template <typename F>
httplib::Server::Handler guarded(F f) {
  return [f](const httplib::Request& req, httplib::Response& res) {
    try {
      f(req, res);
    } catch (const std::exception& e) {
      send_error(res, 500, e.what());
    }
  };
}

// The socket options and the routes: the page, the charting libraries, the workspace's JSON.
void add_routes(httplib::Server& server, const fs::path& workspace, const fs::path& vega_dir) {
  // cpp-httplib's default is SO_REUSEPORT, with which a second dashboard on a taken port
  // would share it silently; SO_REUSEADDR alone refuses it (and still rebinds at once
  // after a restart).
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  server.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kDashboardPage, "text/html; charset=utf-8");
  });
  // The charting libraries, from the data folder (bash scripts/fetch-data.sh vega).
  server.Get(R"(/assets/(vega|vega-lite|vega-embed)\.min\.js)",
             guarded([vega_dir](const httplib::Request& req, httplib::Response& res) {
               const fs::path file = vega_dir / (req.matches[1].str() + ".min.js");
               if (!fs::is_regular_file(file))
                 return send_error(res, 404, file.string() + " is missing: bash scripts/fetch-data.sh vega");
               res.set_header("Cache-Control", "max-age=3600");
               res.set_content(read_file(file), "text/javascript");
             }));
  server.Get("/api/workspace", guarded([workspace](const httplib::Request&, httplib::Response& res) {
               send_json(res, workspace_json(workspace));
             }));
  server.Get(R"(/api/experiments/([^/]+))", guarded([workspace](const httplib::Request& req, httplib::Response& res) {
               const std::string name = req.matches[1];
               if (!inside(workspace, {name, "runs"}))
                 return send_error(res, 404, "no experiment '" + name + "' in the workspace");
               send_json(res, experiment_json(workspace, name));
             }));
  server.Get(R"(/api/runs/([^/]+)/([^/]+))", guarded([workspace](const httplib::Request& req, httplib::Response& res) {
               const auto run = inside(workspace, {req.matches[1], "runs", req.matches[2]});
               if (!run) return send_error(res, 404, "no such run in the workspace");
               send_json(res, run_json(*run));
             }));
  server.Get(R"(/api/runs/([^/]+)/([^/]+)/samples/(\d{1,12})\.png)",
             guarded([workspace](const httplib::Request& req, httplib::Response& res) {
               const auto run = inside(workspace, {req.matches[1], "runs", req.matches[2]});
               if (!run) return send_error(res, 404, "no such run in the workspace");
               const std::string png = during_png(*run, std::stoll(req.matches[3]));
               if (png.empty()) return send_error(res, 404, "no samples to draw at step " + req.matches[3].str());
               res.set_content(png, "image/png");
             }));
  server.Get("/api/registry", guarded([workspace](const httplib::Request&, httplib::Response& res) {
               send_json(res, registry_json(workspace));
             }));
  // Anything else, a path with ".." among it: nothing here.
  server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) res.set_content(Json{{"error", "not found"}}.dump(), "application/json");
  });
}

}  // namespace

int serve(const ServeOptions& o) {
  std::error_code ec;
  if (!fs::is_directory(o.workspace, ec))
    throw HostError(o.workspace.string() +
                    ": no such workspace (give the folder that `genlab run` wrote into, "
                    "genlab-runs by default)");
  const fs::path workspace = fs::canonical(o.workspace);
  if (experiment_folders(workspace).empty())
    std::cerr << "note: " << workspace.string()
              << " holds no experiment yet; the page shows them as `genlab run` makes them\n";

  httplib::Server server;
  add_routes(server, workspace, o.vega_dir);

  int port = o.port;
  if (port == 0) {
    port = server.bind_to_any_port(o.host.c_str());
    if (port <= 0) throw HostError("cannot listen on " + o.host + ": no free port");
  } else if (!server.bind_to_port(o.host.c_str(), port)) {
    throw HostError("cannot listen on " + o.host + ":" + std::to_string(port) +
                    ": the port is in use or not allowed; choose another with --port (0: any free port)");
  }
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  std::thread watcher([&server] {
    while (stop_signal == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    server.stop();
  });
  std::cout << "serving http://" << o.host << ":" << port << "/ (workspace " << workspace.string()
            << "; Ctrl-C to stop)" << std::endl;
  if (o.host != "127.0.0.1" && o.host != "localhost" && o.host != "::1")
    std::cerr << "note: listening on " << o.host << ": anyone who reaches it can read this workspace\n";
  server.listen_after_bind();
  stop_signal = stop_signal == 0 ? -1 : stop_signal.load();
  watcher.join();
  return 0;
}

}  // namespace genlab::serve
