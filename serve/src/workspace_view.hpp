// What the dashboard reads from a workspace, as JSON (workspace_view.cpp): every function
// reads files only, and a run folder that cannot be read is reported, never fatal.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "genlab/util/json.hpp"

namespace genlab::serve {

// The experiments and their runs: state of each node, steps done and planned, the last
// loss, seconds, the steps evaluated during training, and for a failure its reason and
// the end of its log.
Json workspace_json(const std::filesystem::path& workspace);

// A run's loss curve (the first loss, at most `points` steps) and its evaluations during
// training (metrics per step, text samples where the model writes text).
Json run_json(const std::filesystem::path& run_dir, size_t points = 400);

// The samples evaluated during training after `step`, as a PNG grid (images) or scatter
// plot (2-D points), at most `limit` of them; empty when there are none to draw.
std::string during_png(const std::filesystem::path& run_dir, int64_t step, int64_t limit = 64);

// An experiment's comparison per dataset (the headline columns first), its failed runs,
// and the claims of its last report.
Json experiment_json(const std::filesystem::path& workspace, const std::string& name);

// The registry: versions with aliases, metrics, lineage and model card; deleted versions.
Json registry_json(const std::filesystem::path& workspace);

}  // namespace genlab::serve
