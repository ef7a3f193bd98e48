// Samples as pictures and text: what the report, `genlab registry sample` and the dashboard
// show of a generate call's outputs or of a samples file (registration.cpp, report_data.cpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "genlab/genlab.h"

namespace genlab {

// The first output of a generate call as PNG bytes: a grid for images [N, C, H, W] in
// [0, 1], a scatter plot for 2-D points [N, 2]; throws HostError for anything else.
std::string samples_png(const genlab_tensor_map& outputs);

// The first `limit` rows of the first output of a samples file (safetensors) as PNG bytes
// (images or 2-D points); empty if the file is missing or its outputs are neither.
std::string samples_file_png(const std::filesystem::path& samples, int64_t limit);

// Up to `limit` text samples of a samples file's "text" output (uint8 [N, L], zero-padded).
std::vector<std::string> sample_texts(const std::filesystem::path& samples, size_t limit);

}  // namespace genlab
