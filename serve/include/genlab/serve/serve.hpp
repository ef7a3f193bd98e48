// `genlab serve`: a local web dashboard over a workspace, read-only. It lists the
// experiments and their runs with live state, step, loss and ETA; draws loss curves and
// the evaluations during training (samples per step, with a slider, runs side by side);
// shows each experiment's comparison table, claims and failed runs; and the registry.
// It listens on loopback unless told otherwise, writes nothing, and serves no path outside
// the workspace (a name with "..", a separator or a symlink out is refused).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace genlab::serve {

struct ServeOptions {
  std::filesystem::path workspace;
  std::string host = "127.0.0.1";
  int port = 8080;                 // 0: any free port (printed)
  std::filesystem::path vega_dir;  // vega.min.js, vega-lite.min.js, vega-embed.min.js
};

// Serves until SIGINT or SIGTERM; returns the exit code. Prints "serving http://HOST:PORT/"
// once listening. A workspace that does not exist, or a port that cannot be bound, is a
// HostError with what to do.
int serve(const ServeOptions& options);

// The folder `root`/`names`..., if each name is one plain path component (no "..", no
// separator, not starting with '.') and the folder, symlinks resolved, lies inside `root`;
// else nullopt.
std::optional<std::filesystem::path> inside(const std::filesystem::path& root, const std::vector<std::string>& names);

}  // namespace genlab::serve
