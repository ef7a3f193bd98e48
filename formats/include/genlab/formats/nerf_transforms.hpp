// The transforms_<split>.json of the NeRF-synthetic (Blender) layout: the horizontal field of
// view `camera_angle_x` and one frame per view, its image `file_path` (relative to the JSON's
// folder, written by Blender without an extension) and its camera-to-world
// `transform_matrix` (4x4). Other keys (rotation, fl_x, w, ...) are ignored. No LibTorch:
// tests/fuzz/ fuzzes the parser alone, so parsing the text and looking for the images on
// disk are two steps.
#pragma once

#include <array>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <genlab/util/error.hpp>
#include <genlab/util/json.hpp>
#include <genlab/sdk/error.hpp>

namespace genlab::data::formats {

struct NerfFrame {
  std::string file_path;         // as written, e.g. "./train/r_0"
  std::string image_path;        // file_path with ".png" appended when it has no extension
  std::array<double, 16> c2w{};  // transform_matrix, row-major, camera-to-world
};

struct NerfTransforms {
  double camera_angle_x = 0;      // radians, in (0, pi)
  std::vector<NerfFrame> frames;  // in file order, at least one
};

namespace nerf_detail {

constexpr double kPi = 3.14159265358979323846;

using genlab::json_type_name;

// The member `key` of an object, or null.
inline const Json* member(const Json& object, const char* key) {
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

inline std::string format_number(double x) {
  std::ostringstream out;
  out << x + 0.0;  // + 0.0 writes -0 as 0
  return out.str();
}

// A file_path as messages show it: quoted, and cut short so a hostile file cannot make a
// message megabytes long.
inline std::string quoted(const std::string& text) {
  return "'" + (text.size() > 120 ? text.substr(0, 120) + "..." : text) + "'";
}

inline void check(bool condition, const std::string& where, const std::string& what) {
  GENLAB_CHECK(condition, GENLAB_ERROR_INVALID_ARGUMENT, where + ": " + what);
}

// The 4x4 transform_matrix of one frame; `where` names the file and the frame.
inline std::array<double, 16> read_matrix(const Json& m, const std::string& where) {
  const std::string expected = "transform_matrix must be 4 rows of 4 numbers (camera-to-world)";
  check(m.is_array() && m.size() == 4, where,
        expected + ", got " + (m.is_array() ? std::to_string(m.size()) + " rows" : json_type_name(m)));
  std::array<double, 16> out{};
  for (size_t r = 0; r < 4; ++r) {
    const Json& row = m[r];
    check(row.is_array() && row.size() == 4, where,
          expected + ", but row " + std::to_string(r) + " is " +
              (row.is_array() ? std::to_string(row.size()) + " values" : json_type_name(row)));
    for (size_t c = 0; c < 4; ++c) {
      const Json& x = row[c];
      check(x.is_number(), where,
            "transform_matrix[" + std::to_string(r) + "][" + std::to_string(c) + "] is " + json_type_name(x) +
                ", expected a number");
      out[r * 4 + c] = x.get<double>();  // finite: the reader refuses 1e999
    }
  }
  // Blender writes the last row exactly; float noise from other exporters is tolerated.
  const double bottom[4] = {0, 0, 0, 1};
  for (size_t c = 0; c < 4; ++c)
    check(std::fabs(out[12 + c] - bottom[c]) <= 1e-4, where,
          "transform_matrix's last row is [" + format_number(out[12]) + ", " + format_number(out[13]) + ", " +
              format_number(out[14]) + ", " + format_number(out[15]) + "], expected [0, 0, 0, 1]");
  // Blender's rotations are orthonormal only up to float error, so only invertibility is
  // asked: a singular rotation has no viewing direction for some pixels.
  const double det = out[0] * (out[5] * out[10] - out[6] * out[9]) - out[1] * (out[4] * out[10] - out[6] * out[8]) +
                     out[2] * (out[4] * out[9] - out[5] * out[8]);
  check(std::fabs(det) > 1e-6, where, "transform_matrix is not invertible (det " + format_number(det) + ")");
  return out;
}

}  // namespace nerf_detail

// Parses the JSON `text` of `path` (the name errors show; nothing is read from disk). Every
// error names `path`, the frame index and its file_path when known, and what was expected.
inline NerfTransforms parse_nerf_transforms(const std::string& text, const std::string& path) {
  using nerf_detail::check;
  using nerf_detail::json_type_name;
  using nerf_detail::member;
  Json root;
  try {
    root = parse_json(text, path);
  } catch (const HostError& e) {
    throw sdk::Error(GENLAB_ERROR_INVALID_ARGUMENT, e.what());
  }
  check(root.is_object(), path,
        std::string("expected a JSON object with 'camera_angle_x' and 'frames', got ") + json_type_name(root));
  NerfTransforms out;
  const Json* angle = member(root, "camera_angle_x");
  check(angle != nullptr, path, "missing 'camera_angle_x' (the horizontal field of view in radians)");
  check(angle->is_number(), path,
        std::string("camera_angle_x is ") + json_type_name(*angle) + ", expected a number (radians)");
  out.camera_angle_x = angle->get<double>();
  check(out.camera_angle_x > 0 && out.camera_angle_x < nerf_detail::kPi, path,
        "camera_angle_x is " + nerf_detail::format_number(out.camera_angle_x) + ", expected radians in (0, pi)");
  const Json* frames = member(root, "frames");
  check(frames != nullptr, path, "missing 'frames' (an array of {file_path, transform_matrix})");
  check(frames->is_array() && !frames->empty(), path,
        "frames must be a non-empty array, got " +
            (frames->is_array() ? std::string("an empty one") : std::string(json_type_name(*frames))));
  out.frames.reserve(frames->size());
  for (size_t i = 0; i < frames->size(); ++i) {
    const Json& frame = (*frames)[i];
    std::string where = path + ": frame " + std::to_string(i);
    check(frame.is_object(), where,
          std::string("expected an object with 'file_path' and 'transform_matrix', got ") + json_type_name(frame));
    NerfFrame f;
    const Json* file_path = member(frame, "file_path");
    check(file_path != nullptr, where, "missing 'file_path'");
    check(file_path->is_string() && !file_path->get_ref<const std::string&>().empty(), where,
          "file_path must be a non-empty string, got " +
              (file_path->is_string() ? std::string("an empty one") : std::string(json_type_name(*file_path))));
    f.file_path = file_path->get<std::string>();
    // A NUL would cut the path short when it reaches the C library.
    check(f.file_path.find('\0') == std::string::npos, where, "file_path holds a NUL character");
    where += " (" + nerf_detail::quoted(f.file_path) + ")";
    // Blender writes "./train/r_0" for ./train/r_0.png; a path with an extension is kept.
    f.image_path = f.file_path;
    if (std::filesystem::path(f.image_path).extension().empty()) f.image_path += ".png";
    const Json* matrix = member(frame, "transform_matrix");
    check(matrix != nullptr, where, "missing 'transform_matrix'");
    f.c2w = nerf_detail::read_matrix(*matrix, where);
    out.frames.push_back(std::move(f));
  }
  return out;
}

// The image file of every frame, resolved against the folder of `path` (the JSON's own path);
// throws GENLAB_ERROR_NOT_FOUND naming the frame when one is missing.
inline std::vector<std::filesystem::path> nerf_image_files(const NerfTransforms& transforms, const std::string& path) {
  const std::filesystem::path folder = std::filesystem::path(path).parent_path();
  std::vector<std::filesystem::path> files;
  files.reserve(transforms.frames.size());
  for (size_t i = 0; i < transforms.frames.size(); ++i) {
    const std::filesystem::path file = folder / transforms.frames[i].image_path;
    std::error_code ec;
    GENLAB_CHECK(std::filesystem::is_regular_file(file, ec), GENLAB_ERROR_NOT_FOUND,
                 path + ": frame " + std::to_string(i) + ": image " +
                     nerf_detail::quoted(transforms.frames[i].image_path) + " not found (looked for " +
                     file.lexically_normal().string() + ")");
    files.push_back(file);
  }
  return files;
}

}  // namespace genlab::data::formats
