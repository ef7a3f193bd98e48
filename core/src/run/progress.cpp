// What a training reports as it goes: the "progress" lines the scheduler reads on the
// worker's stdout, and the lines of losses.jsonl (and cutting those back to a checkpoint on
// resume). Separate from the training loop because these are formats others read: the
// scheduler parses the progress lines, the report reads losses.jsonl.
#include "progress.hpp"

#include <time.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "genlab/util/files.hpp"
#include "genlab/util/json.hpp"

namespace genlab {

void report_progress(int64_t step, int64_t total, const std::vector<NamedScalar>& losses) {
  if (losses.empty()) std::printf("progress %lld %lld - nan\n", (long long)step, (long long)total);
  else
    std::printf("progress %lld %lld %s %.6g\n", (long long)step, (long long)total, losses[0].name.c_str(),
                losses[0].value);
  std::fflush(stdout);
}

std::string loss_line(int64_t step, const std::vector<NamedScalar>& losses) {
  std::string line = "{\"step\":" + std::to_string(step);
  char number[32];
  for (const auto& l : losses) {
    if (std::isfinite(l.value)) std::snprintf(number, sizeof number, "%.9g", l.value);
    else std::snprintf(number, sizeof number, "\"%s\"", std::isnan(l.value) ? "NaN" : l.value > 0 ? "inf" : "-inf");
    line += "," + json_quote(l.name) + ":" + number;
  }
  return line + "}\n";
}

void keep_lines_before(const std::filesystem::path& file, int64_t step) {
  std::ifstream in(file);
  std::string kept, line;
  const std::string prefix = "{\"step\":";
  long long at = 0;
  while (std::getline(in, line))  // a torn or garbled line is dropped: it is no step's record
    if (line.rfind(prefix, 0) == 0 && std::sscanf(line.c_str() + prefix.size(), "%lld", &at) == 1 && at >= 0 &&
        at < step)
      kept += line + "\n";
  write_file_atomic(file, kept, Durability::AtomicOnly);
}

double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

}  // namespace genlab
