#include "genlab/render_views/mesh.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <string_view>

#include "genlab/util/error.hpp"
#include "genlab/util/files.hpp"
#include "genlab/util/sha256.hpp"

namespace genlab::data {
namespace {

// The whitespace-separated tokens of one line (a `#` comment cut off), with its number.
struct Line {
  size_t number = 0;
  std::vector<std::string_view> tokens;
};

// Splits `text` into its non-empty lines (after comments are cut), LF or CRLF.
std::vector<Line> tokenised_lines(const std::string& text) {
  std::vector<Line> lines;
  size_t number = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    ++number;
    std::string_view line(text.data() + start, end - start);
    if (const size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    Line out{number, {}};
    size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      const size_t token_start = i;
      while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      if (i > token_start) out.tokens.push_back(line.substr(token_start, i - token_start));
    }
    if (!out.tokens.empty()) lines.push_back(std::move(out));
    if (end == text.size()) break;
    start = end + 1;
  }
  return lines;
}

// A token as messages show it: quoted, and cut short so a binary file cannot make a message
// megabytes long.
std::string quoted(std::string_view token) {
  std::string shown(token.substr(0, 40));
  if (token.size() > 40) shown += "...";
  return "'" + shown + "'";
}

[[noreturn]] void fail(const std::string& what, size_t line, const std::string& message) {
  throw HostError(what + ":" + std::to_string(line) + ": " + message);
}

bool parse_double(std::string_view token, double& out) {
  if (!token.empty() && token[0] == '+') token.remove_prefix(1);  // from_chars takes no '+'
  const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), out);
  return ec == std::errc() && end == token.data() + token.size() && std::isfinite(out);
}

bool parse_integer(std::string_view token, int64_t& out) {
  if (!token.empty() && token[0] == '+') token.remove_prefix(1);
  const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), out);
  return ec == std::errc() && end == token.data() + token.size();
}

// Reads x y z from tokens[first..first+2] of a vertex line.
Vec3 read_position(const Line& line, size_t first, const std::string& what, const std::string& vertex) {
  static const char* const kAxes[] = {"x", "y", "z"};
  if (line.tokens.size() < first + 3)
    fail(what, line.number,
         "expected x y z for " + vertex + ", found " + std::to_string(line.tokens.size() - first) + " value(s)");
  Vec3 p{};
  for (size_t axis = 0; axis < 3; ++axis)
    if (!parse_double(line.tokens[first + axis], p[axis]))
      fail(what, line.number,
           "expected a finite number for " + vertex + "'s " + kAxes[axis] + ", found " +
               quoted(line.tokens[first + axis]));
  return p;
}

// Adds polygon `corners` as a fan of triangles (corner 0, i, i + 1), each with `colour`.
void add_polygon(Mesh& mesh, const std::vector<uint32_t>& corners, const std::array<float, 3>& colour) {
  for (size_t i = 1; i + 1 < corners.size(); ++i) {
    mesh.triangles.push_back({corners[0], corners[i], corners[i + 1]});
    mesh.face_colours.push_back(colour);
  }
}

// Drops face_colours when no face has one, so a plain mesh carries none.
void drop_unused_colours(Mesh& mesh) {
  if (std::none_of(mesh.face_colours.begin(), mesh.face_colours.end(), has_colour)) mesh.face_colours.clear();
}

// The colour values after an OFF face's indices: none, a colormap index (ignored), or RGB(A)
// as 0-255 integers or 0-1 floats (Geomview's rule: integers mean 0-255).
std::array<float, 3> read_off_colour(const Line& line, size_t first, const std::string& what, const std::string& face) {
  const size_t count = line.tokens.size() - first;
  if (count == 0 || count == 1) return kNoColour;
  if (count != 3 && count != 4)
    fail(what, line.number,
         "expected 0, 1 (a colormap index), 3 or 4 colour values after " + face + "'s vertex indices, found " +
             std::to_string(count) + " (is the vertex count at its start right?)");
  bool integers = true;
  for (size_t i = first; i < line.tokens.size(); ++i)
    integers = integers && line.tokens[i].find_first_of(".eE") == std::string_view::npos;
  const double top = integers ? 255.0 : 1.0;
  std::array<float, 3> colour{};
  for (size_t c = 0; c < count; ++c) {
    double value = 0;
    if (!parse_double(line.tokens[first + c], value) || value < 0 || value > top)
      fail(what, line.number,
           "expected " + face + "'s colour values in [0, " + (integers ? "255" : "1") + "], found " +
               quoted(line.tokens[first + c]));
    if (c < 3) colour[c] = static_cast<float>(value / top);
  }
  return colour;
}

void check_not_empty(const Mesh& mesh, const std::string& what, const std::string& expected) {
  if (mesh.triangles.empty()) throw HostError(what + ": an empty mesh (" + expected + ")");
}

// The OFF header keyword: [ST][C][N]OFF, 3-D and ASCII.
void check_off_keyword(const Line& header, const std::string& what) {
  const std::string_view keyword = header.tokens[0];
  // [ST][C][N][4][n]OFF: the prefixes say what follows x y z on a vertex line.
  const bool is_off = keyword.size() >= 3 && keyword.substr(keyword.size() - 3) == "OFF";
  if (!is_off) fail(what, header.number, "expected the OFF header keyword, found " + quoted(keyword));
  const std::string_view prefix = keyword.substr(0, keyword.size() - 3);
  if (prefix.find_first_of("4n") != std::string_view::npos)
    fail(what, header.number, quoted(keyword) + " is not 3-D OFF (expected OFF, COFF, NOFF, STOFF...)");
  if (prefix.find_first_not_of("STCN") != std::string_view::npos)
    fail(what, header.number, "unknown OFF variant " + quoted(keyword));
  if (header.tokens.size() > 1 && header.tokens[1] == "BINARY")
    fail(what, header.number, "binary OFF is not supported (expected ASCII)");
}

struct OffCounts {
  int64_t vertices = 0, faces = 0, edges = 0;
  size_t line = 0;
};

// 'vertices faces edges', on the header's line or the next; `next` moves past them.
OffCounts read_off_counts(const std::vector<Line>& lines, size_t& next, const std::string& what) {
  const Line& header = lines[next - 1];
  Line counts{header.number, {header.tokens.begin() + 1, header.tokens.end()}};
  if (counts.tokens.empty()) {
    if (next == lines.size()) throw HostError(what + ": ends after the header (expected 'vertices faces edges')");
    counts = lines[next++];
  }
  if (counts.tokens.size() < 2 || counts.tokens.size() > 3)
    fail(what, counts.number,
         "expected the counts 'vertices faces edges', found " + std::to_string(counts.tokens.size()) + " value(s)");
  OffCounts out;
  out.line = counts.number;
  const char* const names[] = {"vertex", "face", "edge"};
  int64_t* const targets[] = {&out.vertices, &out.faces, &out.edges};
  for (size_t i = 0; i < counts.tokens.size(); ++i)
    if (!parse_integer(counts.tokens[i], *targets[i]) || *targets[i] < 0)
      fail(what, counts.number,
           std::string("expected a non-negative integer ") + names[i] + " count, found " + quoted(counts.tokens[i]));
  if (out.vertices > std::numeric_limits<uint32_t>::max())
    fail(what, counts.number, "too many vertices (" + std::to_string(out.vertices) + ") for 32-bit indices");
  if (out.vertices == 0 || out.faces == 0)
    fail(what, counts.number,
         "an empty mesh (" + std::to_string(out.vertices) + " vertices, " + std::to_string(out.faces) +
             " faces); expected at least one face");
  return out;
}

// One face line: its vertex count, that many indices below `vertex_count`, then an optional
// colour; added to `mesh` as a fan of triangles.
void read_off_face(const Line& line, int64_t f, int64_t vertex_count, Mesh& mesh, std::vector<uint32_t>& corners,
                   const std::string& what) {
  const std::string face = "face " + std::to_string(f);
  int64_t n = 0;
  if (!parse_integer(line.tokens[0], n))
    fail(what, line.number, "expected " + face + "'s vertex count, found " + quoted(line.tokens[0]));
  if (n < 3) fail(what, line.number, face + " has " + std::to_string(n) + " vertices, expected at least 3");
  if (line.tokens.size() < static_cast<size_t>(n) + 1)
    fail(what, line.number,
         face + " declares " + std::to_string(n) + " vertices but lists " + std::to_string(line.tokens.size() - 1));
  corners.clear();
  for (int64_t c = 0; c < n; ++c) {
    const std::string_view token = line.tokens[static_cast<size_t>(c) + 1];
    int64_t index = 0;
    if (!parse_integer(token, index))
      fail(what, line.number, "expected an integer vertex index in " + face + ", found " + quoted(token));
    if (index < 0 || index >= vertex_count)
      fail(what, line.number,
           face + "'s vertex index " + std::to_string(index) + " is out of range (expected 0.." +
               std::to_string(vertex_count - 1) + ")");
    corners.push_back(static_cast<uint32_t>(index));
  }
  add_polygon(mesh, corners, read_off_colour(line, static_cast<size_t>(n) + 1, what, face));
}

}  // namespace

Mesh parse_off(const std::string& text, const std::string& what) {
  const std::vector<Line> lines = tokenised_lines(text);
  if (lines.empty()) throw HostError(what + ": an empty file (expected an OFF header)");
  check_off_keyword(lines[0], what);
  size_t next = 1;
  const OffCounts counts = read_off_counts(lines, next, what);
  const size_t available = lines.size() - next;
  if (static_cast<uint64_t>(counts.vertices) + static_cast<uint64_t>(counts.faces) > available)
    throw HostError(what + ": declares " + std::to_string(counts.vertices) + " vertices and " +
                    std::to_string(counts.faces) + " faces (line " + std::to_string(counts.line) + ") but has only " +
                    std::to_string(available) + " line(s) after the counts");
  Mesh mesh;
  mesh.vertices.reserve(static_cast<size_t>(counts.vertices));
  for (int64_t i = 0; i < counts.vertices; ++i)
    mesh.vertices.push_back(read_position(lines[next++], 0, what, "vertex " + std::to_string(i)));
  mesh.triangles.reserve(static_cast<size_t>(counts.faces));
  std::vector<uint32_t> corners;
  for (int64_t f = 0; f < counts.faces; ++f) read_off_face(lines[next++], f, counts.vertices, mesh, corners, what);
  if (next < lines.size())
    fail(what, lines[next].number,
         "unexpected content after the " + std::to_string(counts.faces) + " declared faces, starting " +
             quoted(lines[next].tokens[0]) + " (is the face count right?)");
  drop_unused_colours(mesh);
  return mesh;
}

Mesh parse_obj(const std::string& text, const std::string& what) {
  Mesh mesh;
  std::vector<uint32_t> corners;
  for (const Line& line : tokenised_lines(text)) {
    const std::string_view keyword = line.tokens[0];
    if (keyword == "v") {
      // x y z, then an optional w or r g b (some exporters), ignored.
      mesh.vertices.push_back(read_position(line, 1, what, "vertex " + std::to_string(mesh.vertices.size() + 1)));
      if (mesh.vertices.size() > std::numeric_limits<uint32_t>::max())
        fail(what, line.number, "too many vertices for 32-bit indices");
    } else if (keyword == "f") {
      if (line.tokens.size() < 4)
        fail(what, line.number, "a face needs at least 3 vertices, found " + std::to_string(line.tokens.size() - 1));
      corners.clear();
      const auto defined = static_cast<int64_t>(mesh.vertices.size());
      for (size_t c = 1; c < line.tokens.size(); ++c) {
        // a, a/b, a//c or a/b/c: the vertex index is before the first '/'.
        const std::string_view token = line.tokens[c];
        const std::string_view vertex = token.substr(0, token.find('/'));
        int64_t index = 0;
        if (!parse_integer(vertex, index) || index == 0)
          fail(what, line.number,
               "expected a vertex index (1-based, or negative from the last vertex) in face corner " + quoted(token));
        const int64_t resolved = index > 0 ? index - 1 : defined + index;
        if (resolved < 0 || resolved >= defined)
          fail(what, line.number,
               "vertex index " + std::to_string(index) + " refers to no vertex (" + std::to_string(defined) +
                   " defined so far)");
        corners.push_back(static_cast<uint32_t>(resolved));
      }
      add_polygon(mesh, corners, kNoColour);
    }
    // vn, vt, vp, g, o, s, l, p, usemtl, mtllib...: not geometry this renderer draws.
  }
  check_not_empty(mesh, what, "expected 'v' and 'f' lines");
  drop_unused_colours(mesh);
  return mesh;
}

Mesh read_mesh(const std::filesystem::path& file) {
  std::string extension = file.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (extension != ".off" && extension != ".obj")
    throw HostError(file.string() + ": unknown mesh format '" + extension + "' (expected .off or .obj)");
  const std::string text = read_file(file);
  return extension == ".off" ? parse_off(text, file.string()) : parse_obj(text, file.string());
}

namespace {

void add_box(Mesh& mesh, const Vec3& centre, const Vec3& half, const std::array<float, 3>& colour) {
  const auto base = static_cast<uint32_t>(mesh.vertices.size());
  for (int corner = 0; corner < 8; ++corner)  // bit k of `corner`: + or - along axis k
    mesh.vertices.push_back({centre[0] + ((corner & 1) ? half[0] : -half[0]),
                             centre[1] + ((corner & 2) ? half[1] : -half[1]),
                             centre[2] + ((corner & 4) ? half[2] : -half[2])});
  // Each face as a quad of corner numbers, wound counter-clockwise seen from outside.
  static const uint32_t kQuads[6][4] = {{0, 4, 6, 2}, {1, 3, 7, 5}, {0, 1, 5, 4},
                                        {2, 6, 7, 3}, {0, 2, 3, 1}, {4, 5, 7, 6}};
  for (const auto& q : kQuads) add_polygon(mesh, {base + q[0], base + q[1], base + q[2], base + q[3]}, colour);
}

// An icosahedron subdivided once (80 faces) on a sphere; its faces take kNoColour so that
// they are coloured by position, as a file's mesh would be.
void add_icosphere(Mesh& mesh, const Vec3& centre, double radius) {
  const double t = (1.0 + std::sqrt(5.0)) / 2.0;
  std::vector<Vec3> points = {{-1, t, 0},  {1, t, 0},  {-1, -t, 0}, {1, -t, 0}, {0, -1, t},  {0, 1, t},
                              {0, -1, -t}, {0, 1, -t}, {t, 0, -1},  {t, 0, 1},  {-t, 0, -1}, {-t, 0, 1}};
  const std::vector<std::array<uint32_t, 3>> faces = {{0, 11, 5}, {0, 5, 1},  {0, 1, 7},   {0, 7, 10}, {0, 10, 11},
                                                      {1, 5, 9},  {5, 11, 4}, {11, 10, 2}, {10, 7, 6}, {7, 1, 8},
                                                      {3, 9, 4},  {3, 4, 2},  {3, 2, 6},   {3, 6, 8},  {3, 8, 9},
                                                      {4, 9, 5},  {2, 4, 11}, {6, 2, 10},  {8, 6, 7},  {9, 8, 1}};
  std::vector<std::array<uint32_t, 3>> split;
  for (const auto& f : faces) {
    uint32_t mid[3];
    for (int e = 0; e < 3; ++e) {
      const Vec3& a = points[f[e]];
      const Vec3& b = points[f[(e + 1) % 3]];
      points.push_back({(a[0] + b[0]) / 2, (a[1] + b[1]) / 2, (a[2] + b[2]) / 2});
      mid[e] = static_cast<uint32_t>(points.size() - 1);  // edges shared by two faces are duplicated: harmless here
    }
    split.push_back({f[0], mid[0], mid[2]});
    split.push_back({f[1], mid[1], mid[0]});
    split.push_back({f[2], mid[2], mid[1]});
    split.push_back({mid[0], mid[1], mid[2]});
  }
  const auto base = static_cast<uint32_t>(mesh.vertices.size());
  for (const Vec3& p : points) {
    const double norm = std::sqrt(p[0] * p[0] + p[1] * p[1] + p[2] * p[2]);
    mesh.vertices.push_back(
        {centre[0] + radius * p[0] / norm, centre[1] + radius * p[1] / norm, centre[2] + radius * p[2] / norm});
  }
  for (const auto& f : split) {
    mesh.triangles.push_back({base + f[0], base + f[1], base + f[2]});
    mesh.face_colours.push_back(kNoColour);
  }
}

}  // namespace

std::vector<std::string> procedural_scene_names() { return {"blocks"}; }

Mesh procedural_scene(const std::string& name) {
  if (name != "blocks") throw HostError("unknown procedural scene '" + name + "' (expected blocks)");
  Mesh mesh;
  // Laid out so that the bounding box is centred on the sphere's centre: normalised, the
  // sphere sits at the origin, so every view's centre ray meets something.
  add_icosphere(mesh, {0.0, 0.0, 0.0}, 0.55);
  add_box(mesh, {1.0, 0.0, -0.3}, {0.3, 0.3, 0.3}, {0.85f, 0.2f, 0.15f});      // x up to 1.3
  add_box(mesh, {-1.0, 0.4, 0.0}, {0.3, 0.2, 0.6}, {0.2f, 0.7f, 0.25f});       // x down to -1.3, z +-0.6
  add_box(mesh, {0.1, -0.95, -0.45}, {0.45, 0.2, 0.15}, {0.2f, 0.35f, 0.9f});  // y down to -1.15
  add_box(mesh, {-0.2, 0.97, 0.42}, {0.18, 0.18, 0.18}, {0.95f, 0.8f, 0.1f});  // y up to 1.15
  return mesh;
}

void turn_up_axis_to_z(Mesh& mesh, char up_axis) {
  if (up_axis == 'z') return;
  if (up_axis != 'x' && up_axis != 'y')
    throw HostError(std::string("unknown up axis '") + up_axis + "' (expected x, y or z)");
  for (Vec3& p : mesh.vertices)
    p = up_axis == 'y' ? Vec3{p[0], -p[2], p[1]}   // +90 degrees about x
                       : Vec3{-p[2], p[1], p[0]};  // -90 degrees about y
}

Normalisation normalise_to_unit_sphere(Mesh& mesh) {
  // Only vertices that a triangle uses count: a stray vertex must not shrink the render.
  std::vector<bool> used(mesh.vertices.size(), false);
  for (const auto& t : mesh.triangles)
    for (uint32_t i : t) used.at(i) = true;
  Vec3 low{}, high{};
  bool any = false;
  for (size_t i = 0; i < mesh.vertices.size(); ++i) {
    if (!used[i]) continue;
    for (int k = 0; k < 3; ++k) {
      low[k] = any ? std::min(low[k], mesh.vertices[i][k]) : mesh.vertices[i][k];
      high[k] = any ? std::max(high[k], mesh.vertices[i][k]) : mesh.vertices[i][k];
    }
    any = true;
  }
  if (!any) throw HostError("cannot normalise an empty mesh (no triangles)");
  Normalisation n;
  for (int k = 0; k < 3; ++k) n.centre[k] = (low[k] + high[k]) / 2;
  double farthest = 0;
  for (size_t i = 0; i < mesh.vertices.size(); ++i) {
    if (!used[i]) continue;
    const Vec3& p = mesh.vertices[i];
    const double dx = p[0] - n.centre[0], dy = p[1] - n.centre[1], dz = p[2] - n.centre[2];
    farthest = std::max(farthest, std::sqrt(dx * dx + dy * dy + dz * dz));
  }
  if (!(farthest > 1e-12)) throw HostError("cannot normalise a mesh whose vertices all coincide");
  n.scale = 1.0 / farthest;
  for (Vec3& p : mesh.vertices)
    for (int k = 0; k < 3; ++k) p[k] = (p[k] - n.centre[k]) * n.scale;
  return n;
}

std::string mesh_sha256(const Mesh& mesh) {
  Sha256 hash;
  hash.update(mesh.vertices.data(), mesh.vertices.size() * sizeof(Vec3));
  hash.update(mesh.triangles.data(), mesh.triangles.size() * sizeof(mesh.triangles[0]));
  hash.update(mesh.face_colours.data(), mesh.face_colours.size() * sizeof(mesh.face_colours[0]));
  return hash.hex();
}

}  // namespace genlab::data
