#include "genlab/core/discovery.hpp"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <boost/dll/runtime_symbol_info.hpp>

#include "genlab/util/error.hpp"

namespace genlab {
namespace fs = std::filesystem;

#ifndef GENLAB_BUILTIN_PLUGIN_SUBDIR
#define GENLAB_BUILTIN_PLUGIN_SUBDIR "lib/genlab/plugins"
#endif

fs::path builtin_plugin_dir() {
  const fs::path exe = boost::dll::program_location().string();
  return (exe.parent_path() / ".." / GENLAB_BUILTIN_PLUGIN_SUBDIR).lexically_normal();
}

std::vector<fs::path> plugin_search_path(const std::vector<fs::path>& extra) {
  std::vector<fs::path> roots(extra.begin(), extra.end());
  if (const char* env = std::getenv("GENLAB_PLUGIN_PATH")) {
    std::string value(env);
    size_t start = 0;
    while (start <= value.size()) {
      size_t end = value.find(':', start);
      if (end == std::string::npos) end = value.size();
      if (end > start) roots.emplace_back(value.substr(start, end - start));
      start = end + 1;
    }
  }
  roots.push_back(builtin_plugin_dir());
  return roots;
}

Discovery discover_plugins(const std::vector<fs::path>& roots) {
  Discovery out;
  std::map<std::string, fs::path> seen;  // name -> folder of the first one found
  auto consider = [&](const fs::path& folder) {
    try {
      PluginManifest m = read_plugin_manifest(folder);
      std::error_code status;
      if (!fs::is_regular_file(m.library, status)) {
        out.problems.push_back(m.manifest_path.string() + ": its library " + m.library.filename().string() +
                               " is missing (not built yet?)");
        return;
      }
      auto [it, inserted] = seen.emplace(m.name, m.folder);
      if (!inserted) {
        out.problems.push_back(m.manifest_path.string() + ": plugin '" + m.name + "' is shadowed by the one in " +
                               it->second.string());
        return;
      }
      out.plugins.push_back(std::move(m));
    } catch (const HostError& e) {
      out.problems.push_back(e.what());
    }
  };
  for (const fs::path& root : roots) {
    std::error_code ec;
    if (!fs::is_directory(root, ec)) {
      if (root != builtin_plugin_dir())
        out.problems.push_back(root.string() + ": plugin path entry is not a directory");
      continue;
    }
    if (fs::exists(root / "plugin.toml", ec)) {
      consider(root);
      continue;
    }
    std::vector<fs::path> folders;
    for (const auto& entry : fs::directory_iterator(root, ec))
      if (entry.is_directory(ec) && fs::exists(entry.path() / "plugin.toml", ec)) folders.push_back(entry.path());
    std::sort(folders.begin(), folders.end());  // directory order is not stable
    for (const fs::path& folder : folders) consider(folder);
  }
  std::stable_sort(out.plugins.begin(), out.plugins.end(), [](const PluginManifest& a, const PluginManifest& b) {
    return std::tie(a.kind, a.name) < std::tie(b.kind, b.name);
  });
  return out;
}

std::vector<std::string> close_matches(const std::string& word, const std::vector<std::string>& candidates) {
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      size_t diagonal = row[0];
      row[0] = i;
      for (size_t j = 1; j <= b.size(); ++j) {
        size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
        diagonal = up;
      }
    }
    return row[b.size()];
  };
  std::vector<std::pair<size_t, std::string>> scored;
  const size_t limit = std::max<size_t>(2, word.size() / 3);
  for (const auto& c : candidates) {
    size_t d = distance(word, c);
    if (d <= limit) scored.emplace_back(d, c);
  }
  std::sort(scored.begin(), scored.end());
  std::vector<std::string> out;
  for (auto& s : scored) out.push_back(s.second);
  return out;
}

const PluginManifest& find_plugin(const Discovery& found, const std::string& name) {
  std::vector<std::string> names;
  for (const auto& p : found.plugins) {
    if (p.name == name) return p;
    names.push_back(p.name);
  }
  std::string message = "no plugin named '" + name + "'";
  auto close = close_matches(name, names);
  if (!close.empty()) message += " (did you mean '" + close.front() + "'?)";
  message += "; `genlab plugins list` shows what is installed, GENLAB_PLUGIN_PATH adds folders";
  throw HostError(message);
}

}  // namespace genlab
