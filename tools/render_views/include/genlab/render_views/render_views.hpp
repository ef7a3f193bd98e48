// Posed views of a mesh in the NeRF-synthetic (Blender) layout, rendered on the CPU without
// LibTorch: transforms_{train,val,test}.json and RGBA PNGs, so the NeRF dataset plugin reads
// a rendered mesh as it reads the public scenes (lego, ...).
//
// Cameras follow rendering/include/genlab/rendering/rays.hpp exactly: camera-to-world poses in OpenGL's
// convention (the camera looks down its -z axis, x right, y up), pixel (column u, row v) seen
// through its centre, direction (u + 0.5 - W/2, -(v + 0.5 - H/2), -focal) in the camera frame,
// focal = 0.5 W / tan(0.5 camera_angle_x). The world's up is +z, as in the Blender scenes.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "genlab/render_views/mesh.hpp"

namespace genlab::data {

// Camera-to-world, row-major: rows 0-2 hold the camera's x, y, z axes as columns 0-2 and its
// position as column 3; row 3 is [0, 0, 0, 1].
using Pose = std::array<std::array<double, 4>, 4>;

// The pose of a camera at `position` looking at the origin with world +z up. Straight above
// or below the origin (where "up" is the viewing axis) the camera's x axis is world +x.
Pose look_at_origin(const Vec3& position);

// `count` cameras at distance `radius` in directions uniform on the sphere (or on its upper
// half, z >= 0), drawn from `seed` with a generator whose output is the same everywhere.
std::vector<Pose> random_poses(size_t count, double radius, bool hemisphere, uint64_t seed);

// `count` cameras at distance `radius` and elevation `elevation` (radians) at azimuths
// 2 pi k / count: in order, a turntable.
std::vector<Pose> turntable_poses(size_t count, double radius, double elevation);

// The focal length in pixels of a view `width` pixels wide (rays.hpp's focal_from_angle).
double focal_from_angle(double camera_angle_x, int width);

// Rows top to bottom, 4 bytes a pixel, straight (not premultiplied) alpha.
struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgba;
  const uint8_t* pixel(int u, int v) const { return rgba.data() + 4 * (static_cast<size_t>(v) * width + u); }
};

// A z-buffer rasteriser of one mesh, in the mesh's own coordinates (nothing is moved). Faces
// are flat-shaded from both sides: Lambert under three directional lights fixed in the world
// plus ambient, so a surface looks the same from every view. A face's albedo is its colour
// from the file, or else a smooth colour of its centroid's position (x, y, z to red, green,
// blue over [-1, 1]), so that mirror-image parts of a symmetric mesh still look different.
// Each pixel is the mean of supersample x supersample samples on a regular grid; alpha is the
// covered fraction, the background transparent. Triangles reaching within 1e-6 of the camera
// plane or behind it are not drawn (render_views keeps every camera outside the mesh).
class Rasteriser {
 public:
  explicit Rasteriser(Mesh mesh);
  Image render(const Pose& pose, double focal, int width, int height, int supersample) const;

 private:
  Mesh mesh_;
  std::vector<Vec3> normals_;  // unit, per triangle (zero for a degenerate one)
  std::vector<Vec3> centroids_;
  std::vector<std::array<float, 3>> albedos_;  // per triangle, in [0, 1]
};

struct RenderSettings {
  int size = 100;  // views are size x size pixels
  int train = 100;
  int val = 10;
  int test = 20;
  bool hemisphere = false;                     // train and val cameras above the equator (z >= 0) only
  double radius = 4.0;                         // camera distance from the origin; the mesh fits the unit sphere
  double camera_angle_x = 0.6911112070083618;  // the Blender scenes' field of view
  uint64_t seed = 0;
  int supersample = 3;
  double test_elevation_degrees = 30;
  char up_axis = 'z';  // the mesh's up, turned to the world's +z
  int threads = 0;     // 0: one per core
};

// What is wrong with `settings` (naming the setting and its allowed range), or "".
std::string settings_problem(const RenderSettings& settings);

// Where the mesh came from, recorded in scene.json for lineage.
struct MeshSource {
  std::string name;    // the file as given, or "procedural:<scene>"
  std::string sha256;  // of the file, or of a procedural mesh's arrays (mesh_sha256)
};

struct RenderSummary {
  size_t views = 0;
  size_t triangles = 0;
  Normalisation normalisation;
  double seconds = 0;
};

// The output folder's files that render_views writes (folders train/ val/ test/ and the
// JSONs): `force` removes them first; without it a non-empty folder is refused.
void prepare_output_folder(const std::filesystem::path& out, bool force);

// Turns `mesh` upright (settings.up_axis), normalises it to the unit sphere and writes every view into `out` (which
// prepare_output_folder made ready): the PNGs first, then scene.json (source, settings,
// normalisation, near/far), then transforms_train, _val and _test.json, each atomically, so
// a transforms_test.json means a whole render. Throws HostError on bad settings or I/O.
RenderSummary render_views(Mesh mesh, const MeshSource& source, const RenderSettings& settings,
                           const std::filesystem::path& out);

}  // namespace genlab::data
