// `genlab serve [WORKSPACE] [--port 8080] [--host 127.0.0.1]`: the dashboard (serve/).
#include <cstdlib>

#include "command.hpp"
#include "genlab/util/error.hpp"
#if GENLAB_WITH_SERVE
#include "genlab/serve/serve.hpp"
#endif

namespace genlab::cli {
namespace fs = std::filesystem;

int serve_command(const std::vector<std::string>& args) {
  po::options_description options("serve");
  options.add_options()("workspace", po::value<std::string>()->default_value("genlab-runs"), "the workspace folder")(
      "port", po::value<int>()->default_value(8080), "the port to listen on (0: any free port, printed)")(
      "host", po::value<std::string>()->default_value("127.0.0.1"),
      "the address to listen on; loopback unless told otherwise (0.0.0.0: every interface)");
  po::positional_options_description positional;
  positional.add("workspace", 1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm,
             "genlab serve [WORKSPACE] [--port 8080] [--host 127.0.0.1]\n"
             "A live, read-only dashboard of a workspace: open the printed address in a browser."))
    return kOk;
  const int port = vm["port"].as<int>();
  if (port < 0 || port > 65535) throw UsageError("expected --port in [0, 65535], got " + std::to_string(port));
#if GENLAB_WITH_SERVE
  serve::ServeOptions o;
  o.workspace = vm["workspace"].as<std::string>();
  require_folder(o.workspace, "workspace");
  o.host = vm["host"].as<std::string>();
  o.port = port;
  const char* data = std::getenv("GENLAB_DATA");
  o.vega_dir = fs::absolute(fs::path(data != nullptr && *data ? data : "data") / "vega");
  return serve::serve(o);
#else
  throw HostError(
      "this genlab was built without the dashboard: cpp-httplib was not found when it was configured "
      "(apt-get install libcpp-httplib-dev, then configure and build again)");
#endif
}

}  // namespace genlab::cli
