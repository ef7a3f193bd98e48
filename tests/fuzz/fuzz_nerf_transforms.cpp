// Fuzz target: the transforms.json reader of nerf-synthetic (the NeRF-synthetic layout). Any
// input must give a genlab::sdk::Error or transforms the plugin can use as they are.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <genlab/formats/nerf_transforms.hpp>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto t = genlab::data::formats::parse_nerf_transforms(std::string(reinterpret_cast<const char*>(data), size),
                                                                "fuzz/transforms_train.json");
    // What the plugin relies on without checking again: a usable focal, at least one frame,
    // finite camera-to-world matrices with an affine last row, an image name.
    if (!(t.camera_angle_x > 0 && t.camera_angle_x < 3.2) || t.frames.empty()) std::abort();
    for (const auto& f : t.frames) {
      if (f.file_path.empty() || f.image_path.size() < f.file_path.size()) std::abort();
      for (double x : f.c2w)
        if (!std::isfinite(x)) std::abort();
      if (std::fabs(f.c2w[15] - 1) > 1e-4) std::abort();
    }
  } catch (const genlab::sdk::Error&) {
  }
  return 0;
}
