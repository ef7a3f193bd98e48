// Triangle meshes for `genlab data render-views`: read from ASCII OFF or Wavefront OBJ
// (polygons fan-triangulated), or made in code (procedural scenes that tests render without
// any package). Torch-free, like the rest of the host.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace genlab::data {

using Vec3 = std::array<double, 3>;

struct Mesh {
  std::vector<Vec3> vertices;
  std::vector<std::array<uint32_t, 3>> triangles;  // indices into vertices
  // Empty, or one RGB in [0, 1] per triangle; a triangle whose file gave it no colour holds
  // kNoColour there and is coloured by its position when rendered.
  std::vector<std::array<float, 3>> face_colours;
};

constexpr std::array<float, 3> kNoColour = {-1.0f, -1.0f, -1.0f};

inline bool has_colour(const std::array<float, 3>& colour) { return colour[0] >= 0; }

// Parses ASCII OFF text (`what` names it in errors): "OFF" (or COFF/NOFF/CNOFF/STOFF... whose
// vertex lines carry extra values, ignored), the vertex/face/edge counts, the vertices, then
// faces "n i0 ... i(n-1) [r g b [a]]" (colours as 0-255 integers or 0-1 floats, kept). `#`
// starts a comment. Throws HostError "<what>:<line>: <what was expected>".
Mesh parse_off(const std::string& text, const std::string& what);

// Parses Wavefront OBJ text: `v x y z` and `f` with a, a/b, a//c or a/b/c corners, 1-based or
// negative (relative to the vertices so far); other statements (vn, vt, g, usemtl...) are
// ignored. Throws HostError "<what>:<line>: <what was expected>".
Mesh parse_obj(const std::string& text, const std::string& what);

// Reads `file` as OFF or OBJ by its extension (.off, .obj; any case).
Mesh read_mesh(const std::filesystem::path& file);

// A scene made in code: "blocks" (four coloured boxes around an icosphere, 128 triangles,
// the sphere at the centre of the bounding box so that every view looks at something).
Mesh procedural_scene(const std::string& name);
std::vector<std::string> procedural_scene_names();

// Rotates the mesh so that its `up_axis` ('x', 'y' or 'z') becomes +z, the world's up in the
// Blender layout (a rotation, never a mirror). Stanford meshes such as the bunny are y-up.
void turn_up_axis_to_z(Mesh& mesh, char up_axis);

// Where a mesh was moved to fit the unit sphere: a vertex p went to (p - centre) * scale.
struct Normalisation {
  Vec3 centre{};
  double scale = 1;
};

// Moves the mesh so that its bounding box is centred at the origin and its farthest vertex
// is at distance 1. Throws HostError if the mesh is empty or all its vertices coincide.
Normalisation normalise_to_unit_sphere(Mesh& mesh);

// SHA-256 of the vertex and index arrays (for scenes that have no file to hash).
std::string mesh_sha256(const Mesh& mesh);

}  // namespace genlab::data
