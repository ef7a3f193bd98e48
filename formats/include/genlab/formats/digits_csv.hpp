// The 8x8 digits of UCI as scikit-learn ships them: one row per image, 64 pixel values
// 0..16 then the label, comma-separated. No LibTorch: tests/fuzz/ fuzzes this reader alone.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include <genlab/sdk/error.hpp>

namespace genlab::data::formats {

struct DigitsRows {
  std::vector<float> pixels;    // 64 per row, in [0, 1]
  std::vector<int64_t> labels;  // one per row
};

// Parses the CSV `text` read from `path`; an error names the line, its byte offset and what
// was expected.
inline DigitsRows parse_digits_csv(const std::string& text, const std::string& path) {
  DigitsRows out;
  std::istringstream lines(text);
  std::string line;
  int64_t row = 0;
  size_t offset = 0;
  while (std::getline(lines, line)) {
    ++row;
    const size_t line_offset = offset;
    offset += line.size() + 1;
    if (line.empty() || line == "\r") continue;
    const std::string where =
        path + ": line " + std::to_string(row) + " (byte offset " + std::to_string(line_offset) + ")";
    std::istringstream cells(line);
    std::string cell;
    std::vector<long> values;
    while (std::getline(cells, cell, ',')) {
      GENLAB_CHECK(values.size() < 65, GENLAB_ERROR_INVALID_ARGUMENT,
                   where + ": expected 65 values (64 pixels and a label), got more");
      char* end = nullptr;
      errno = 0;
      const long v = std::strtol(cell.c_str(), &end, 10);
      GENLAB_CHECK(end != cell.c_str() && (*end == '\0' || *end == '\r'), GENLAB_ERROR_INVALID_ARGUMENT,
                   where + ": expected an integer, got \"" + cell.substr(0, 40) + "\"");
      GENLAB_CHECK(errno != ERANGE, GENLAB_ERROR_INVALID_ARGUMENT,
                   where + ": value " + std::to_string(values.size() + 1) + " (\"" + cell.substr(0, 40) +
                       "\") is out of range, expected " + (values.size() < 64 ? "a pixel 0..16" : "a label"));
      values.push_back(v);
    }
    GENLAB_CHECK(values.size() == 65, GENLAB_ERROR_INVALID_ARGUMENT,
                 where + ": expected 65 values (64 pixels and a label), got " + std::to_string(values.size()));
    for (int i = 0; i < 64; ++i) {
      GENLAB_CHECK(values[i] >= 0 && values[i] <= 16, GENLAB_ERROR_INVALID_ARGUMENT,
                   where + ": pixel " + std::to_string(i) + " is " + std::to_string(values[i]) + ", expected 0..16");
      out.pixels.push_back(static_cast<float>(values[i]) / 16.0f);
    }
    GENLAB_CHECK(values[64] >= 0, GENLAB_ERROR_INVALID_ARGUMENT,
                 where + ": label is " + std::to_string(values[64]) + ", expected >= 0");
    out.labels.push_back(values[64]);
  }
  return out;
}

}  // namespace genlab::data::formats
