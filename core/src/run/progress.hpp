// What a training reports as it goes (progress.cpp): progress lines for the scheduler, the
// loss lines of losses.jsonl, and the process's CPU time that its costs are measured in. Internal to the core library.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "genlab/core/instances.hpp"

namespace genlab {

// Progress for the scheduler, one line at a time on stdout.
void report_progress(int64_t step, int64_t total, const std::vector<NamedScalar>& losses);

// One line of losses.jsonl: {"step":12,"loss":0.5,...}; a non-finite loss is a string.
std::string loss_line(int64_t step, const std::vector<NamedScalar>& losses);

// Keeps the lines of a step series (losses.jsonl, during/evaluations.jsonl) whose "step" is
// before `step`: those a checkpoint at `step` covers.
void keep_lines_before(const std::filesystem::path& file, int64_t step);

// This process's CPU seconds so far (every thread's), for the costs measured beside the work.
double process_cpu_seconds();

}  // namespace genlab
