// `genlab data render-views`: OFF/OBJ parsing and its errors, the cameras (orthonormal,
// at the radius, looking at the origin), the rasteriser against the pixel convention of
// rendering/include/genlab/rendering/rays.hpp, and the NeRF-synthetic layout read back as a reader would.
#include "catch.hpp"
#include <stb_image.h>

#include <cmath>
#include <map>
#include <set>

#include "genlab/render_views/mesh.hpp"
#include "genlab/render_views/render_views.hpp"
#include "genlab/util/error.hpp"
#include "genlab/util/files.hpp"
#include "genlab/util/json.hpp"
#include "genlab/util/sha256.hpp"
#include "support.hpp"

namespace {

using namespace genlab;
using namespace genlab::data;
using genlab::test::Contains;
using genlab::test::run_genlab;
using genlab::test::TempDir;
using Triangle = std::array<uint32_t, 3>;

// The message of read_mesh(file) (a test failure if it reads).
std::string mesh_error(const std::filesystem::path& file) {
  try {
    read_mesh(file);
  } catch (const HostError& e) {
    return e.what();
  }
  FAIL("no error reading " + file.string());
  return {};
}

double column_dot(const Pose& p, int a, int b) { return p[0][a] * p[0][b] + p[1][a] * p[1][b] + p[2][a] * p[2][b]; }

double determinant(const Pose& p) {
  return p[0][0] * (p[1][1] * p[2][2] - p[1][2] * p[2][1]) - p[0][1] * (p[1][0] * p[2][2] - p[1][2] * p[2][0]) +
         p[0][2] * (p[1][0] * p[2][1] - p[1][1] * p[2][0]);
}

// A camera-to-world pose as a camera must be: a rotation (orthonormal, det +1), placed at
// `radius`, its -z axis pointing at the origin, and the last row [0, 0, 0, 1].
void check_pose(const Pose& p, double radius) {
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) CHECK(column_dot(p, a, b) == Approx(a == b ? 1.0 : 0.0).margin(1e-12));
  CHECK(determinant(p) == Approx(1.0).margin(1e-12));
  const double distance = std::sqrt(p[0][3] * p[0][3] + p[1][3] * p[1][3] + p[2][3] * p[2][3]);
  CHECK(distance == Approx(radius).epsilon(1e-12));
  for (int r = 0; r < 3; ++r) CHECK(-p[r][2] == Approx(-p[r][3] / distance).margin(1e-12));
  CHECK(p[3] == std::array<double, 4>{0, 0, 0, 1});
}

struct Png {
  int width = 0, height = 0;
  std::vector<uint8_t> rgba;
  uint8_t alpha(int u, int v) const { return rgba[4 * (static_cast<size_t>(v) * width + u) + 3]; }
};

Png read_png(const std::filesystem::path& file) {
  const std::string bytes = read_file(file);
  int w = 0, h = 0, channels = 0;
  unsigned char* pixels = stbi_load_from_memory(reinterpret_cast<const unsigned char*>(bytes.data()),
                                                static_cast<int>(bytes.size()), &w, &h, &channels, 4);
  REQUIRE(pixels != nullptr);
  CHECK(channels == 4);  // written as RGBA, not flattened
  Png png{w, h, std::vector<uint8_t>(pixels, pixels + static_cast<size_t>(w) * h * 4)};
  stbi_image_free(pixels);
  return png;
}

const Json& field(const Json& object, const std::string& key) {
  REQUIRE(object.contains(key));
  return object.at(key);
}

}  // namespace

TEST_CASE("OFF meshes parse: comments, counts on the header line, polygons fanned, face colours kept", "[render]") {
  TempDir dir;
  const Mesh mesh = read_mesh(dir.write("quad.off",
                                        "# a square and a triangle over it\n"
                                        "OFF\n"
                                        "5 2 0   # vertices faces edges\n"
                                        "\n"
                                        "0 0 0\n1 0 0\n1 1 0\n0 1 0\r\n"
                                        "+0.5 0.5 1e0\n"
                                        "4 0 1 2 3 255 0 0\n"
                                        "3 0 1 4\n"));
  REQUIRE(mesh.vertices.size() == 5);
  CHECK(mesh.vertices[4] == Vec3{0.5, 0.5, 1.0});
  CHECK(mesh.triangles == std::vector<Triangle>{{0, 1, 2}, {0, 2, 3}, {0, 1, 4}});
  REQUIRE(mesh.face_colours.size() == 3);
  CHECK(mesh.face_colours[0] == std::array<float, 3>{1, 0, 0});
  CHECK(mesh.face_colours[1] == std::array<float, 3>{1, 0, 0});
  CHECK_FALSE(has_colour(mesh.face_colours[2]));

  // Counts on the header line, float colours in [0, 1], upper-case extension.
  const Mesh small = read_mesh(dir.write("tri.OFF", "OFF 3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 2 1 0 0.0 0.5 1.0 1.0\n"));
  CHECK(small.triangles == std::vector<Triangle>{{2, 1, 0}});
  CHECK(small.face_colours == std::vector<std::array<float, 3>>{{0.0f, 0.5f, 1.0f}});

  // No colours anywhere: none carried.
  CHECK(read_mesh(dir.write("plain.off", "OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")).face_colours.empty());
}

TEST_CASE("OBJ meshes parse: a/b/c corners, negative indices, other statements ignored", "[render]") {
  TempDir dir;
  const Mesh mesh = read_mesh(dir.write("quad.obj",
                                        "# exported\nmtllib quad.mtl\no quad\n"
                                        "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0 1.0\n"
                                        "vn 0 0 1\nvt 0 0\nusemtl red\ns off\n"
                                        "f 1/1/1 2/1/1 3/1/1 4/1/1\n"
                                        "v 0 0 1\n"
                                        "f -5//1 -4//1 -1//1\n"
                                        "f 2/1 3 5\n"));
  REQUIRE(mesh.vertices.size() == 5);
  CHECK(mesh.triangles == std::vector<Triangle>{{0, 1, 2}, {0, 2, 3}, {0, 1, 4}, {1, 2, 4}});
  CHECK(mesh.face_colours.empty());
}

TEST_CASE("Meshes are stood upright and normalised into the unit sphere", "[render]") {
  Mesh mesh;
  mesh.vertices = {{0, 2, 0}, {1, 0, 0}, {0, 0, 1}, {5, 5, 5}};  // the last one unused
  mesh.triangles = {{0, 1, 2}};
  Mesh y_up = mesh;
  turn_up_axis_to_z(y_up, 'y');
  CHECK(y_up.vertices[0] == Vec3{0, 0, 2});   // +y to +z
  CHECK(y_up.vertices[2] == Vec3{0, -1, 0});  // a rotation about x: +z to -y
  Mesh x_up = mesh;
  turn_up_axis_to_z(x_up, 'x');
  CHECK(x_up.vertices[1] == Vec3{0, 0, 1});
  CHECK_THROWS_WITH(turn_up_axis_to_z(x_up, 'w'), Contains("expected x, y or z"));

  const Normalisation n = normalise_to_unit_sphere(mesh);
  CHECK(n.centre == Vec3{0.5, 1.0, 0.5});  // of the used vertices' bounding box
  double farthest = 0;
  for (size_t i = 0; i < 3; ++i)
    farthest = std::max(
        farthest, std::sqrt(mesh.vertices[i][0] * mesh.vertices[i][0] + mesh.vertices[i][1] * mesh.vertices[i][1] +
                            mesh.vertices[i][2] * mesh.vertices[i][2]));
  CHECK(farthest == Approx(1.0));
  Mesh point;
  point.vertices = {{1, 1, 1}, {1, 1, 1}, {1, 1, 1}};
  point.triangles = {{0, 1, 2}};
  CHECK_THROWS_WITH(normalise_to_unit_sphere(point), Contains("coincide"));
}

TEST_CASE("Mesh errors name the file and line and what was expected", "[render]") {
  TempDir dir;
  SECTION("OFF: a vertex index out of range") {
    const auto file = dir.write("bad.off", "OFF\n3 2 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n3 0 1 7\n");
    CHECK_THAT(mesh_error(file), Contains(file.string() + ":7:") &&
                                     Contains("face 1's vertex index 7 is out of range") && Contains("0..2"));
  }
  SECTION("OFF: fewer lines than the counts declare") {
    const auto file = dir.write("short.off", "OFF\n4 2 0\n0 0 0\n1 0 0\n0 1 0\n1 1 0\n3 0 1 2\n");
    CHECK_THAT(mesh_error(file), Contains(file.string()) && Contains("declares 4 vertices and 2 faces (line 2)") &&
                                     Contains("only 5 line(s)"));
  }
  SECTION("OFF: a face lists fewer indices than it declares") {
    const auto file = dir.write("face.off", "OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n4 0 1 2\n");
    CHECK_THAT(mesh_error(file), Contains(file.string() + ":6:") && Contains("face 0 declares 4 vertices but lists 3"));
  }
  SECTION("OFF: more faces than declared") {
    const auto file = dir.write("long.off", "OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n3 2 1 0\n");
    CHECK_THAT(mesh_error(file), Contains(file.string() + ":7:") && Contains("after the 1 declared faces"));
  }
  SECTION("OFF: a non-number") {
    const auto file = dir.write("nan.off", "OFF\n3 1 0\n0 0 0\n1 abc 0\n0 1 0\n3 0 1 2\n");
    CHECK_THAT(mesh_error(file), Contains(file.string() + ":4:") && Contains("vertex 1's y") && Contains("'abc'"));
  }
  SECTION("OFF: a bad header and an empty mesh") {
    const auto header = dir.write("header.off", "PLY\n3 1 0\n");
    CHECK_THAT(mesh_error(header), Contains(header.string() + ":1:") && Contains("expected the OFF header"));
    const auto empty = dir.write("empty.off", "OFF\n0 0 0\n");
    CHECK_THAT(mesh_error(empty), Contains(empty.string() + ":2:") && Contains("empty mesh"));
  }
  SECTION("OBJ: an index to no vertex, a non-number, an empty mesh") {
    const auto index = dir.write("index.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n");
    CHECK_THAT(mesh_error(index), Contains(index.string() + ":4:") && Contains("vertex index 9 refers to no vertex") &&
                                      Contains("3 defined so far"));
    const auto negative = dir.write("negative.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf -1 -2 -4\n");
    CHECK_THAT(mesh_error(negative), Contains(negative.string() + ":4:") && Contains("vertex index -4"));
    const auto number = dir.write("number.obj", "v 0 0 0\nv 1 x 0\n");
    CHECK_THAT(mesh_error(number), Contains(number.string() + ":2:") && Contains("vertex 2's y") && Contains("'x'"));
    const auto zero = dir.write("zero.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 0 1 2\n");
    CHECK_THAT(mesh_error(zero), Contains(zero.string() + ":4:") && Contains("'0'"));
    const auto empty = dir.write("empty.obj", "v 0 0 0\nv 1 0 0\n");
    CHECK_THAT(mesh_error(empty), Contains(empty.string()) && Contains("empty mesh"));
  }
  SECTION("an unknown format") {
    const auto file = dir.write("bunny.ply", "ply\n");
    CHECK_THAT(mesh_error(file), Contains(file.string()) && Contains("expected .off or .obj"));
  }
}

TEST_CASE("Camera poses: rotations at the radius looking at the origin, world +z up", "[render]") {
  for (const Pose& p : random_poses(200, 4.0, false, 7)) check_pose(p, 4.0);
  int below = 0;
  for (const Pose& p : random_poses(200, 4.0, false, 7)) below += p[2][3] < 0;
  CHECK(below > 50);  // the whole sphere, not half of it
  for (const Pose& p : random_poses(200, 2.5, true, 7)) {
    check_pose(p, 2.5);
    CHECK(p[2][3] >= 0);
    CHECK(p[2][1] >= 0);  // upright: the camera's y has no downward world component
  }
  const auto turntable = turntable_poses(8, 4.0, 30.0 * M_PI / 180.0);
  for (size_t k = 0; k < turntable.size(); ++k) {
    check_pose(turntable[k], 4.0);
    CHECK(turntable[k][2][3] == Approx(2.0));              // 4 sin 30 degrees
    CHECK(turntable[k][2][0] == Approx(0).margin(1e-12));  // level: x stays horizontal
    CHECK(std::atan2(turntable[k][1][3], turntable[k][0][3]) ==
          Approx(std::remainder(2 * M_PI * static_cast<double>(k) / 8.0, 2 * M_PI)).margin(1e-12));
  }
  // At the poles world up is the viewing axis: the pose must still be a rotation.
  check_pose(look_at_origin({0, 0, 4}), 4.0);
  check_pose(look_at_origin({0, 0, -4}), 4.0);
  check_pose(look_at_origin({1e-12, 0, 4}), 4.0);
  // Seeded: the same seed the same views, another seed others.
  CHECK(random_poses(5, 4.0, false, 3) == random_poses(5, 4.0, false, 3));
  CHECK(random_poses(5, 4.0, false, 3) != random_poses(5, 4.0, false, 4));
  CHECK_THROWS_AS(look_at_origin({0, 0, 0}), HostError);
}

TEST_CASE("The rasteriser covers the pixel a 3-D point projects to, by rays.hpp's convention", "[render]") {
  const int width = 40, height = 30;
  const double focal = focal_from_angle(0.6911112070083618, width);
  const Pose pose = look_at_origin({2.0, -3.0, 1.5});
  const int u = 27, v = 6;  // right of and above the centre: a flipped axis lands elsewhere
  // The world point seen through pixel (u + du, v + dv) (du, dv in pixels, v down) at `depth`.
  const auto world = [&](double du, double dv, double depth) {
    const double x = (u + 0.5 + du - 0.5 * width) / focal * depth;
    const double y = -(v + 0.5 + dv - 0.5 * height) / focal * depth;
    const double z = -depth;
    Vec3 p{};
    for (int r = 0; r < 3; ++r) p[r] = pose[r][0] * x + pose[r][1] * y + pose[r][2] * z + pose[r][3];
    return p;
  };
  // Near: a small blue triangle, du, dv >= -3 and du + dv <= 3. Far, listed after it so that
  // the z-test and not the order decides: a large red one behind the whole pixel.
  Mesh mesh;
  mesh.vertices = {world(-3, -3, 2.0),   world(6, -3, 2.0),   world(-3, 6, 2.0),
                   world(-12, -12, 3.0), world(14, -12, 3.0), world(0, 14, 3.0)};
  mesh.triangles = {{0, 1, 2}, {3, 4, 5}};
  mesh.face_colours = {{0.1f, 0.2f, 0.9f}, {0.9f, 0.1f, 0.1f}};

  const Image near_only = Rasteriser(Mesh{mesh.vertices, {mesh.triangles[0]}, {mesh.face_colours[0]}})
                              .render(pose, focal, width, height, 3);
  const auto alpha = [&](int du, int dv) { return near_only.pixel(u + du, v + dv)[3]; };
  CHECK(alpha(0, 0) == 255);
  CHECK(alpha(2, 0) == 255);
  CHECK(alpha(-2, -2) == 255);
  CHECK(alpha(2, 2) == 0);  // du + dv >= 3 all over it: outside (and a half-pixel shift would show)
  CHECK(alpha(4, 0) == 0);
  CHECK(alpha(-4, 0) == 0);
  CHECK(alpha(0, 4) == 0);
  CHECK(alpha(0, -4) == 0);
  CHECK(near_only.pixel(u, height - 1 - v)[3] == 0);  // the vertical mirror: y is up, rows go down
  CHECK(near_only.pixel(width - 1 - u, v)[3] == 0);
  // Partly covered along the slanted edge: alpha is a fraction.
  const int edge = alpha(3, 0);
  CHECK(edge > 0);
  CHECK(edge < 255);

  const Image both = Rasteriser(mesh).render(pose, focal, width, height, 3);
  const uint8_t* centre = both.pixel(u, v);
  CHECK(centre[3] == 255);
  CHECK(centre[2] > centre[0]);  // blue: the near triangle hides the red one
  const uint8_t* behind = both.pixel(u + 5, v);
  CHECK(behind[3] == 255);
  CHECK(behind[0] > behind[2]);  // only the red one there
  CHECK(both.pixel(0, 0)[3] == 0);
}

namespace {

// 4 train, 2 val and 3 test views of the blocks scene, 32x32, on the upper hemisphere.
RenderSettings small_blocks_settings() {
  RenderSettings settings;
  settings.size = 32;
  settings.train = 4;
  settings.val = 2;
  settings.test = 3;
  settings.supersample = 2;
  settings.hemisphere = true;
  settings.seed = 11;
  return settings;
}

RenderSummary render_small_blocks(const std::filesystem::path& out) {
  const Mesh mesh = procedural_scene("blocks");
  const MeshSource source{"procedural:blocks", mesh_sha256(mesh)};
  prepare_output_folder(out, false);
  return render_views(mesh, source, small_blocks_settings(), out);
}

}  // namespace

TEST_CASE("The blocks scene renders into the NeRF-synthetic layout that reads back", "[render]") {
  TempDir dir;
  const std::filesystem::path out = dir.path() / "blocks";
  const RenderSettings settings = small_blocks_settings();
  const RenderSummary summary = render_small_blocks(out);
  CHECK(summary.views == 9);
  CHECK(summary.triangles == procedural_scene("blocks").triangles.size());

  const auto random = random_poses(6, settings.radius, true, 11);
  const auto turntable = turntable_poses(3, settings.radius, 30.0 * M_PI / 180.0);
  const std::map<std::string, std::vector<Pose>> expected = {{"train", {random.begin(), random.begin() + 4}},
                                                             {"val", {random.begin() + 4, random.end()}},
                                                             {"test", turntable}};
  std::vector<Png> views;
  for (const auto& [split, poses] : expected) {
    const std::string file = (out / ("transforms_" + split + ".json")).string();
    const Json root = parse_json(read_file(file), file);
    CHECK(field(root, "camera_angle_x").get<double>() == settings.camera_angle_x);
    const Json& frames = field(root, "frames");
    REQUIRE(frames.size() == poses.size());
    for (size_t i = 0; i < poses.size(); ++i) {
      const Json& frame = frames[i];
      const std::string file_path = field(frame, "file_path").get<std::string>();
      CHECK(file_path == "./" + split + "/r_" + std::to_string(i));
      CHECK(field(frame, "rotation").get<double>() == 0.0);
      const Json& matrix = field(frame, "transform_matrix");
      REQUIRE(matrix.size() == 4);
      for (int r = 0; r < 4; ++r) {
        REQUIRE(matrix[r].size() == 4);
        for (int c = 0; c < 4; ++c) CHECK(matrix[r][c].get<double>() == poses[i][r][c]);  // exact: shortest round-trip
      }
      const Png png = read_png(out / (file_path + ".png"));
      REQUIRE(png.width == 32);
      REQUIRE(png.height == 32);
      INFO(file_path);
      CHECK(png.alpha(16, 16) == 255);  // the sphere holds the centre: every view looks at something
      CHECK(png.alpha(15, 15) == 255);
      CHECK(png.alpha(0, 0) == 0);  // the unit sphere cannot reach a corner from radius 4
      CHECK(png.alpha(31, 31) == 0);
      views.push_back(png);
    }
  }
  for (size_t a = 0; a < views.size(); ++a)
    for (size_t b = a + 1; b < views.size(); ++b) {
      size_t differing = 0;
      for (size_t k = 0; k < views[a].rgba.size(); k += 4)
        differing += views[a].rgba[k] != views[b].rgba[k] || views[a].rgba[k + 3] != views[b].rgba[k + 3];
      CHECK(differing > 20);
    }
  // Nothing but the layout: no temporaries left, no stray files.
  std::set<std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(out))
    files.insert(std::filesystem::relative(entry.path(), out).string());
  CHECK(files.size() == 3 + 9 + 4);  // the split folders, the PNGs, 3 transforms + scene.json
}

TEST_CASE("scene.json records the source and the depth range, a second render replaces only its own files",
          "[render]") {
  TempDir dir;
  const std::filesystem::path out = dir.path() / "blocks";
  render_small_blocks(out);
  const std::string scene_file = (out / "scene.json").string();
  const Json scene = parse_json(read_file(scene_file), scene_file);
  CHECK(field(scene, "source").get<std::string>() == "procedural:blocks");
  CHECK(field(scene, "source_sha256").get<std::string>() == mesh_sha256(procedural_scene("blocks")));
  CHECK(field(scene, "near").get<double>() == 3.0);
  CHECK(field(scene, "far").get<double>() == 5.0);
  CHECK(field(field(scene, "settings"), "hemisphere").get<bool>());

  // A second render is refused, or replaces the first one's files but not the user's.
  CHECK_THROWS_WITH(prepare_output_folder(out, false), Contains(out.string()) && Contains("not empty"));
  genlab::write_file_atomic(out / "notes.txt", "mine");
  prepare_output_folder(out, true);
  CHECK_FALSE(std::filesystem::exists(out / "train"));
  CHECK_FALSE(std::filesystem::exists(out / "transforms_test.json"));
  CHECK(std::filesystem::exists(out / "notes.txt"));
}

TEST_CASE("genlab data render-views from the command line", "[render]") {
  TempDir dir;
  const auto help = run_genlab("data --help");
  CHECK(help.exit_code == 0);
  CHECK_THAT(help.output, Contains("render-views"));
  CHECK_THAT(run_genlab("--help").output, Contains("data render-views"));
  CHECK_THAT(run_genlab("data render-views --help").output, Contains("--hemisphere") && Contains("--camera-angle-x"));

  const auto mesh =
      dir.write("tetra.obj", "v 1 1 1\nv -1 -1 1\nv -1 1 -1\nv 1 -1 -1\nf 1 2 3\nf 1 4 2\nf 1 3 4\nf 2 4 3\n");
  const std::string out = (dir.path() / "tetra").string();
  const std::string args = "data render-views '" + mesh.string() + "' --out '" + out +
                           "' --size 8 --train 2 --val 1 --test 2 --supersample 2";
  const auto first = run_genlab(args);
  INFO(first.output);
  REQUIRE(first.exit_code == 0);
  CHECK_THAT(first.output, Contains("2 train, 1 val, 2 test views") && Contains("near 3.000, far 5.000"));
  const std::string scene_file = out + "/scene.json";
  const Json scene = parse_json(read_file(scene_file), scene_file);
  CHECK(field(scene, "source_sha256").get<std::string>() == sha256_file(mesh));
  CHECK(field(scene, "triangles") == 4);

  const auto again = run_genlab(args);
  CHECK(again.exit_code == 1);
  CHECK_THAT(again.output, Contains("not empty") && Contains("--force"));
  CHECK(run_genlab(args + " --force").exit_code == 0);

  CHECK(run_genlab("data render-views --scene blocks --out '" + out + "2' --size 0").exit_code == 2);
  CHECK_THAT(run_genlab("data render-views '" + mesh.string() + "' --scene blocks --out x").output,
             Contains("not both"));
  CHECK(run_genlab("data render-views --out x").exit_code == 2);
  CHECK(run_genlab("data render").exit_code == 2);
  const auto missing =
      run_genlab("data render-views '" + (dir.path() / "none.off").string() + "' --out '" + out + "3'");
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.output, Contains("none.off"));
}
