#include "genlab/render_views/render_views.hpp"

#include <stb_image_write.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <exception>
#include <mutex>
#include <random>
#include <thread>

#include "genlab/util/error.hpp"
#include "genlab/util/files.hpp"
#include "genlab/util/json.hpp"

namespace genlab::data {
namespace fs = std::filesystem;

namespace {

constexpr double kPi = 3.14159265358979323846;
// Triangles this close to the camera plane (or behind it) are skipped rather than clipped.
constexpr double kNearestDepth = 1e-6;

double dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
Vec3 cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
Vec3 minus(const Vec3& a, const Vec3& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }
Vec3 scaled(const Vec3& a, double s) { return {a[0] * s, a[1] * s, a[2] * s}; }
double norm(const Vec3& a) { return std::sqrt(dot(a, a)); }
Vec3 unit(const Vec3& a) { return scaled(a, 1.0 / norm(a)); }

struct Light {
  Vec3 direction;  // towards the light, unit
  double intensity;
};

// Fixed in the world (not the camera), so shading does not change from view to view: a key
// light from above the front, a weaker fill from the other side, a dim one from below.
const Light kLights[] = {{unit({0.5, -0.6, 0.8}), 0.65}, {unit({-0.7, 0.3, 0.4}), 0.3}, {unit({0.1, 0.6, -0.7}), 0.2}};
constexpr double kAmbient = 0.25;

// A uniform double in [0, 1) from the top 53 bits: std::uniform_real_distribution may differ
// between standard libraries, mt19937_64's output may not.
double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// The first and last sample (of `count`) whose centre i + 0.5 lies in [low, high]; clamped
// in double before the int cast, so a vertex far off screen cannot overflow it.
int first_sample(double low, int count) {
  return static_cast<int>(std::clamp(std::ceil(low - 0.5), 0.0, static_cast<double>(count)));
}
int last_sample(double high, int count) {
  return static_cast<int>(std::clamp(std::floor(high - 0.5), -1.0, static_cast<double>(count - 1)));
}

uint8_t to_byte(double x) { return static_cast<uint8_t>(std::lround(std::clamp(x, 0.0, 1.0) * 255.0)); }

}  // namespace

Pose look_at_origin(const Vec3& position) {
  const double distance = norm(position);
  if (!(distance > 0) || !std::isfinite(distance))
    throw HostError("camera position must be finite and away from the origin it looks at");
  const Vec3 z = scaled(position, 1.0 / distance);  // the camera looks down -z: at the origin
  Vec3 x = cross({0, 0, 1}, z);
  // At the poles world up is the viewing axis and fixes no x: take world +x, made
  // orthogonal to z.
  if (norm(x) < 1e-9) x = minus({1, 0, 0}, scaled(z, z[0]));
  x = unit(x);
  const Vec3 y = cross(z, x);
  Pose pose{};
  for (int r = 0; r < 3; ++r) pose[r] = {x[r], y[r], z[r], position[r]};
  pose[3] = {0, 0, 0, 1};
  return pose;
}

std::vector<Pose> random_poses(size_t count, double radius, bool hemisphere, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Pose> poses;
  poses.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    // z uniform in [-1, 1] (or [0, 1]) and a uniform azimuth: uniform on the sphere (Archimedes).
    const double z = hemisphere ? uniform01(rng) : 2.0 * uniform01(rng) - 1.0;
    const double azimuth = 2.0 * kPi * uniform01(rng);
    const double ring = std::sqrt(std::max(0.0, 1.0 - z * z));
    poses.push_back(look_at_origin({radius * ring * std::cos(azimuth), radius * ring * std::sin(azimuth), radius * z}));
  }
  return poses;
}

std::vector<Pose> turntable_poses(size_t count, double radius, double elevation) {
  std::vector<Pose> poses;
  poses.reserve(count);
  for (size_t k = 0; k < count; ++k) {
    const double azimuth = 2.0 * kPi * static_cast<double>(k) / static_cast<double>(count);
    poses.push_back(look_at_origin({radius * std::cos(elevation) * std::cos(azimuth),
                                    radius * std::cos(elevation) * std::sin(azimuth), radius * std::sin(elevation)}));
  }
  return poses;
}

double focal_from_angle(double camera_angle_x, int width) {
  return 0.5 * static_cast<double>(width) / std::tan(0.5 * camera_angle_x);
}

Rasteriser::Rasteriser(Mesh mesh) : mesh_(std::move(mesh)) {
  const size_t faces = mesh_.triangles.size();
  normals_.resize(faces);
  centroids_.resize(faces);
  albedos_.resize(faces);
  for (size_t f = 0; f < faces; ++f) {
    const auto& t = mesh_.triangles[f];
    const Vec3& a = mesh_.vertices.at(t[0]);
    const Vec3& b = mesh_.vertices.at(t[1]);
    const Vec3& c = mesh_.vertices.at(t[2]);
    const Vec3 n = cross(minus(b, a), minus(c, a));
    const double length = norm(n);
    normals_[f] = length > 0 ? scaled(n, 1.0 / length) : Vec3{0, 0, 0};
    centroids_[f] = {(a[0] + b[0] + c[0]) / 3, (a[1] + b[1] + c[1]) / 3, (a[2] + b[2] + c[2]) / 3};
    if (!mesh_.face_colours.empty() && has_colour(mesh_.face_colours[f])) {
      albedos_[f] = mesh_.face_colours[f];
    } else {
      for (int k = 0; k < 3; ++k)
        albedos_[f][k] = static_cast<float>(std::clamp(0.25 + 0.35 * (centroids_[f][k] + 1.0), 0.25, 0.95));
    }
  }
}

namespace {

// A vertex in sample coordinates, where sample (i, j) is centred at (i + 0.5, j + 0.5) and
// pixel u spans samples [u s, (u + 1) s), with its inverse depth (interpolates linearly on
// screen, so the z-test is exact). Depth 0 marks a vertex not in front.
struct Projected {
  double x, y, inverse_depth;
};

std::vector<Projected> project(const std::vector<Vec3>& vertices, const Vec3& position, const Vec3 (&axes)[3],
                               double focal, int width, int height, int s) {
  std::vector<Projected> projected(vertices.size());
  for (size_t i = 0; i < vertices.size(); ++i) {
    const Vec3 d = minus(vertices[i], position);
    const double depth = -dot(axes[2], d);
    if (depth < kNearestDepth) {
      projected[i] = {0, 0, 0};
      continue;
    }
    // rays.hpp: pixel (u, v)'s centre looks along (u + 0.5 - W/2, -(v + 0.5 - H/2), -focal).
    projected[i] = {s * (focal * dot(axes[0], d) / depth + 0.5 * width),
                    s * (0.5 * height - focal * dot(axes[1], d) / depth), 1.0 / depth};
  }
  return projected;
}

// The z-buffer: for each sample, the nearest face covering it (-1: none).
std::vector<int32_t> nearest_faces(const std::vector<std::array<uint32_t, 3>>& triangles,
                                   const std::vector<Projected>& projected, int samples_x, int samples_y) {
  std::vector<double> nearest(static_cast<size_t>(samples_x) * samples_y, 0.0);  // inverse depth
  std::vector<int32_t> face_at(nearest.size(), -1);
  for (size_t f = 0; f < triangles.size(); ++f) {
    const auto& t = triangles[f];
    const Projected& a = projected[t[0]];
    const Projected& b = projected[t[1]];
    const Projected& c = projected[t[2]];
    if (a.inverse_depth == 0 || b.inverse_depth == 0 || c.inverse_depth == 0) continue;
    const double area = (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x);
    if (std::fabs(area) < 1e-12) continue;
    const double sign = area > 0 ? 1.0 : -1.0;  // both windings: the mesh is drawn two-sided
    const int x0 = first_sample(std::min({a.x, b.x, c.x}), samples_x);
    const int x1 = last_sample(std::max({a.x, b.x, c.x}), samples_x);
    const int y0 = first_sample(std::min({a.y, b.y, c.y}), samples_y);
    const int y1 = last_sample(std::max({a.y, b.y, c.y}), samples_y);
    for (int j = y0; j <= y1; ++j) {
      const double py = j + 0.5;
      for (int i = x0; i <= x1; ++i) {
        const double px = i + 0.5;
        // Edge functions: each is `area` times the barycentric weight of the opposite vertex.
        const double wa = sign * ((c.x - b.x) * (py - b.y) - (c.y - b.y) * (px - b.x));
        const double wb = sign * ((a.x - c.x) * (py - c.y) - (a.y - c.y) * (px - c.x));
        const double wc = sign * ((b.x - a.x) * (py - a.y) - (b.y - a.y) * (px - a.x));
        if (wa < 0 || wb < 0 || wc < 0) continue;  // on an edge counts: shared edges leave no crack
        const double inverse_depth =
            (wa * a.inverse_depth + wb * b.inverse_depth + wc * c.inverse_depth) / (sign * area);
        const size_t k = static_cast<size_t>(j) * samples_x + i;
        if (inverse_depth > nearest[k]) {
          nearest[k] = inverse_depth;
          face_at[k] = static_cast<int32_t>(f);
        }
      }
    }
  }
  return face_at;
}

}  // namespace

Image Rasteriser::render(const Pose& pose, double focal, int width, int height, int supersample) const {
  if (width < 1 || height < 1 || supersample < 1)
    throw HostError("cannot render a " + std::to_string(width) + "x" + std::to_string(height) + " view with " +
                    std::to_string(supersample) + "x" + std::to_string(supersample) + " samples a pixel");
  const int s = supersample;
  const int samples_x = width * s;
  const Vec3 position = {pose[0][3], pose[1][3], pose[2][3]};
  Vec3 axes[3];  // the camera's x, y, z in world coordinates: the pose's rotation columns
  for (int c = 0; c < 3; ++c) axes[c] = {pose[0][c], pose[1][c], pose[2][c]};
  const std::vector<int32_t> face_at = nearest_faces(
      mesh_.triangles, project(mesh_.vertices, position, axes, focal, width, height, s), samples_x, height * s);

  Image image;
  image.width = width;
  image.height = height;
  image.rgba.assign(static_cast<size_t>(width) * height * 4, 0);
  for (int v = 0; v < height; ++v) {
    for (int u = 0; u < width; ++u) {
      double sum[3] = {0, 0, 0};
      int covered = 0;
      for (int j = v * s; j < (v + 1) * s; ++j) {
        for (int i = u * s; i < (u + 1) * s; ++i) {
          const int32_t f = face_at[static_cast<size_t>(j) * samples_x + i];
          if (f < 0) continue;
          ++covered;
          // The side of the face that the camera sees.
          Vec3 n = normals_[f];
          if (dot(n, minus(position, centroids_[f])) < 0) n = scaled(n, -1.0);
          double light = kAmbient;
          for (const Light& l : kLights) light += l.intensity * std::max(0.0, dot(n, l.direction));
          for (int k = 0; k < 3; ++k) sum[k] += albedos_[f][k] * light;
        }
      }
      if (covered == 0) continue;
      uint8_t* out = image.rgba.data() + 4 * (static_cast<size_t>(v) * width + u);
      for (int k = 0; k < 3; ++k) out[k] = to_byte(sum[k] / covered);
      out[3] = to_byte(static_cast<double>(covered) / (s * s));
    }
  }
  return image;
}

std::string settings_problem(const RenderSettings& s) {
  const auto in = [](auto value, auto low, auto high) { return value >= low && value <= high; };
  if (!in(s.size, 1, 4096)) return "size must be 1 to 4096 pixels, got " + std::to_string(s.size);
  if (!in(s.supersample, 1, 16)) return "supersample must be 1 to 16, got " + std::to_string(s.supersample);
  if (s.size * s.supersample > 8192)
    return "size x supersample must be at most 8192 samples a side (memory), got " + std::to_string(s.size) + " x " +
           std::to_string(s.supersample);
  const std::pair<const char*, int> counts[] = {{"train", s.train}, {"val", s.val}, {"test", s.test}};
  for (const auto& [name, count] : counts)
    if (!in(count, 1, 100000))
      return std::string(name) + " must be 1 to 100000 views (the dataset reader wants every split), got " +
             std::to_string(count);
  if (!(std::isfinite(s.radius) && s.radius > 1.0 && s.radius <= 1e6))
    return "radius must be more than 1 (the mesh fills the unit sphere) and at most 1e6, got " +
           std::to_string(s.radius);
  if (!(s.camera_angle_x > 0 && s.camera_angle_x < kPi))
    return "camera_angle_x must be in (0, pi) radians, got " + std::to_string(s.camera_angle_x);
  if (!in(s.test_elevation_degrees, -90.0, 90.0))
    return "test elevation must be -90 to 90 degrees, got " + std::to_string(s.test_elevation_degrees);
  if (s.up_axis != 'x' && s.up_axis != 'y' && s.up_axis != 'z')
    return std::string("up axis must be x, y or z, got '") + s.up_axis + "'";
  if (s.threads < 0) return "threads must be 0 (one per core) or more, got " + std::to_string(s.threads);
  return "";
}

void prepare_output_folder(const fs::path& out, bool force) {
  std::error_code ec;
  if (fs::exists(out, ec) && !fs::is_directory(out, ec))
    throw HostError(out.string() + ": exists and is not a folder (expected an empty or new output folder)");
  if (fs::is_directory(out, ec) && !fs::is_empty(out, ec)) {
    if (!force) throw HostError(out.string() + ": is not empty (--force replaces the render in it)");
    // Only what a render writes: other files in the folder are the user's.
    for (const char* name : {"transforms_test.json", "transforms_val.json", "transforms_train.json", "scene.json",
                             "train", "val", "test"}) {
      fs::remove_all(out / name, ec);
      if (ec) throw HostError((out / name).string() + ": cannot remove the old render's file: " + ec.message());
    }
  }
  fs::create_directories(out, ec);
  if (ec) throw HostError(out.string() + ": cannot create the output folder: " + ec.message());
}

namespace {

// JSON numbers: the shortest text that reads back as the same double.
std::string number(double x) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, x + 0.0);  // + 0.0: no "-0"
  return std::string(buffer, result.ptr);
}

std::string vec3_json(const Vec3& v) { return "[" + number(v[0]) + ", " + number(v[1]) + ", " + number(v[2]) + "]"; }

// A transforms_<split>.json as Blender's exporter lays it out (file_path without extension).
std::string transforms_json(const std::string& split, const std::vector<Pose>& poses, double camera_angle_x) {
  std::string out = "{\n    \"camera_angle_x\": " + number(camera_angle_x) + ",\n    \"frames\": [";
  for (size_t i = 0; i < poses.size(); ++i) {
    out += std::string(i ? "," : "") +
           "\n        {\n            \"file_path\": " + json_quote("./" + split + "/r_" + std::to_string(i)) +
           ",\n            \"rotation\": 0.0,\n            \"transform_matrix\": [";
    for (int r = 0; r < 4; ++r) {
      out += std::string(r ? "," : "") + "\n                [";
      for (int c = 0; c < 4; ++c) out += (c ? ", " : "") + number(poses[i][r][c]);
      out += "]";
    }
    out += "\n            ]\n        }";
  }
  return out + "\n    ]\n}\n";
}

std::string scene_json(const MeshSource& source, const RenderSettings& s, const RenderSummary& summary) {
  std::string out = "{\n";
  out += "  \"generator\": \"genlab data render-views\",\n";
  out += "  \"source\": " + json_quote(source.name) + ",\n";
  out += "  \"source_sha256\": " + json_quote(source.sha256) + ",\n";
  out += "  \"triangles\": " + std::to_string(summary.triangles) + ",\n";
  out += "  \"normalisation\": {\"centre\": " + vec3_json(summary.normalisation.centre) +
         ", \"scale\": " + number(summary.normalisation.scale) +
         ", \"note\": \"vertex p, turned upright, drawn at (p - centre) * scale\"},\n";
  out += "  \"settings\": {\"size\": " + std::to_string(s.size) + ", \"train\": " + std::to_string(s.train) +
         ", \"val\": " + std::to_string(s.val) + ", \"test\": " + std::to_string(s.test) +
         ", \"hemisphere\": " + (s.hemisphere ? "true" : "false") + ", \"radius\": " + number(s.radius) +
         ", \"camera_angle_x\": " + number(s.camera_angle_x) + ", \"seed\": " + std::to_string(s.seed) +
         ", \"supersample\": " + std::to_string(s.supersample) +
         ", \"test_elevation_degrees\": " + number(s.test_elevation_degrees) + ", \"mesh_up_axis\": \"" + s.up_axis +
         "\", \"world_up\": [0, 0, 1]},\n";
  // Every camera is `radius` from the origin and the mesh inside the unit sphere.
  out += "  \"near\": " + number(s.radius - 1.0) + ",\n";
  out += "  \"far\": " + number(s.radius + 1.0) + ",\n";
  out += "  \"background\": \"transparent\"\n}\n";
  return out;
}

void append_bytes(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<size_t>(size));
}

}  // namespace

RenderSummary render_views(Mesh mesh, const MeshSource& source, const RenderSettings& settings, const fs::path& out) {
  if (const std::string problem = settings_problem(settings); !problem.empty()) throw HostError(problem);
  const auto start = std::chrono::steady_clock::now();
  RenderSummary summary;
  summary.triangles = mesh.triangles.size();
  turn_up_axis_to_z(mesh, settings.up_axis);
  summary.normalisation = normalise_to_unit_sphere(mesh);
  const Rasteriser rasteriser(std::move(mesh));

  // Train and val from one stream, train first: --val does not change the training views.
  const std::vector<Pose> random = random_poses(static_cast<size_t>(settings.train + settings.val), settings.radius,
                                                settings.hemisphere, settings.seed);
  struct Split {
    std::string name;
    std::vector<Pose> poses;
  };
  const std::vector<Split> splits = {{"train", {random.begin(), random.begin() + settings.train}},
                                     {"val", {random.begin() + settings.train, random.end()}},
                                     {"test", turntable_poses(static_cast<size_t>(settings.test), settings.radius,
                                                              settings.test_elevation_degrees * kPi / 180.0)}};
  std::vector<std::pair<size_t, size_t>> views;  // (split, frame)
  for (size_t sp = 0; sp < splits.size(); ++sp) {
    std::error_code ec;
    fs::create_directories(out / splits[sp].name, ec);
    if (ec) throw HostError((out / splits[sp].name).string() + ": cannot create the folder: " + ec.message());
    for (size_t i = 0; i < splits[sp].poses.size(); ++i) views.emplace_back(sp, i);
  }

  const double focal = focal_from_angle(settings.camera_angle_x, settings.size);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  const auto work = [&] {
    while (!failed) {
      const size_t k = next++;
      if (k >= views.size()) return;
      const auto [sp, i] = views[k];
      const fs::path file = out / splits[sp].name / ("r_" + std::to_string(i) + ".png");
      try {
        const Image image =
            rasteriser.render(splits[sp].poses[i], focal, settings.size, settings.size, settings.supersample);
        std::string png;
        if (!stbi_write_png_to_func(append_bytes, &png, image.width, image.height, 4, image.rgba.data(),
                                    image.width * 4))
          throw HostError(file.string() + ": cannot encode the PNG");
        // Atomic, not flushed: a power cut loses the render, but the JSONs written last
        // (durably) only ever point at whole images.
        write_file_atomic(file, png, Durability::AtomicOnly);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        failed = true;
      }
    }
  };
  const size_t cores = std::max(1u, std::thread::hardware_concurrency());
  const size_t thread_count =
      std::min(views.size(), settings.threads > 0 ? static_cast<size_t>(settings.threads) : cores);
  std::vector<std::thread> threads;
  for (size_t t = 1; t < thread_count; ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);

  summary.views = views.size();
  write_file_atomic(out / "scene.json", scene_json(source, settings, summary));
  for (const Split& split : splits)  // test last: its file means the render is whole
    write_file_atomic(out / ("transforms_" + split.name + ".json"),
                      transforms_json(split.name, split.poses, settings.camera_angle_x));
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace genlab::data
