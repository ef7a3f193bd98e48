// The nerf-synthetic dataset on a tiny scene written by the test: 6x6 RGBA views with known
// pixels and poses, so colours, rays and views are checked against values worked out by
// hand; and the broken transforms files a user meets, each named with its file and frame.
#include "catch.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "model_support.hpp"

namespace {

using namespace genlab;
using namespace genlab::test;
using genlab::test::Contains;
using Matrix = std::array<double, 16>;  // row-major camera-to-world

constexpr int kSide = 6;
// tan(camera_angle_x / 2) = 1/2, so the focal is one view width: 6 px, 3 px downscaled by 2.
const double kCameraAngleX = 2 * std::atan(0.5);

const Matrix kIdentity = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
// A quarter turn about +y (camera -z looks along world -x), centred at (1, 2, 3).
const Matrix kTurned = {0, 0, 1, 1, 0, 1, 0, 2, -1, 0, 0, 3, 0, 0, 0, 1};
const Matrix kBackedUp = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 4, 0, 0, 0, 1};

// The RGBA bytes of pixel (column u, row v) of the view drawn with `seed`: red and green
// ramps, blue by view, and alpha cycling opaque, transparent, 0.4 along the diagonals.
std::array<unsigned char, 4> pixel(int seed, int u, int v) {
  const unsigned char alpha[3] = {255, 0, 102};
  return {static_cast<unsigned char>(40 * u), static_cast<unsigned char>(40 * v),
          static_cast<unsigned char>(100 + 50 * seed), alpha[(u + v) % 3]};
}

// Channel `ch` of that pixel composited onto `background` (1 white, 0 black).
double composited(int seed, int u, int v, int ch, double background, bool has_alpha = true) {
  const auto p = pixel(seed, u, v);
  const double a = has_alpha ? p[3] / 255.0 : 1.0;
  return p[ch] / 255.0 * a + background * (1 - a);
}

void write_view(const fs::path& file, int seed, bool with_alpha) {
  const int channels = with_alpha ? 4 : 3;
  std::vector<unsigned char> bytes;
  for (int v = 0; v < kSide; ++v)
    for (int u = 0; u < kSide; ++u) {
      const auto p = pixel(seed, u, v);
      bytes.insert(bytes.end(), p.begin(), p.begin() + channels);
    }
  fs::create_directories(file.parent_path());
  REQUIRE(stbi_write_png(file.c_str(), kSide, kSide, channels, bytes.data(), kSide * channels));
}

std::string number(double x) {
  char text[32];
  std::snprintf(text, sizeof text, "%.17g", x);
  return text;
}

std::string matrix_json(const Matrix& m) {
  std::string out = "[";
  for (int r = 0; r < 4; ++r) {
    out += r ? ", [" : "[";
    for (int c = 0; c < 4; ++c) out += (c ? ", " : "") + number(m[r * 4 + c]);
    out += "]";
  }
  return out + "]";
}

struct Frame {
  std::string file_path;
  Matrix pose;
};

std::string transforms_json(const std::vector<Frame>& frames, double angle = kCameraAngleX) {
  std::string out = "{\n  \"camera_angle_x\": " + number(angle) + ",\n  \"frames\": [";
  for (size_t i = 0; i < frames.size(); ++i)
    out += std::string(i ? "," : "") + "\n    {\"file_path\": \"" + frames[i].file_path +
           "\", \"rotation\": 0.0126, \"transform_matrix\": " + matrix_json(frames[i].pose) + "}";
  return out + "\n  ]\n}\n";
}

// The scene: train r_0 (identity, seed 0) and r_1 (turned, seed 1); val r_0 and r_1 (backed
// up, seeds 2 and 3); test r_0 (backed up, seed 4) as an RGB PNG without alpha.
struct Scene {
  TempDir dir;
  Scene() {
    write_view(dir.path() / "train/r_0.png", 0, true);
    write_view(dir.path() / "train/r_1.png", 1, true);
    write_view(dir.path() / "val/r_0.png", 2, true);
    write_view(dir.path() / "val/r_1.png", 3, true);
    write_view(dir.path() / "test/r_0.png", 4, false);
    dir.write("transforms_train.json", transforms_json({{"./train/r_0", kIdentity}, {"./train/r_1", kTurned}}));
    dir.write("transforms_val.json", transforms_json({{"./val/r_0", kBackedUp}, {"./val/r_1.png", kBackedUp}}));
    dir.write("transforms_test.json", transforms_json({{"./test/r_0", kBackedUp}}));
  }
  toml::table config(toml::table extra = {}) const {
    extra.insert("root", dir.path().string());
    return extra;
  }
  std::string json(const std::string& split) const { return (dir.path() / ("transforms_" + split + ".json")).string(); }
};

// The values of the tensor called `name` in a map, which must be compact float32 of `shape`.
std::vector<float> element(const genlab_tensor_map& map, const std::string& name, const std::vector<int64_t>& shape) {
  const long index = find_tensor(map, name);
  REQUIRE(index >= 0);
  const DLTensor& t = map.tensors[index]->dl_tensor;
  REQUIRE(genlab_util_is_cpu_compact(&t, genlab_util_dtype_float32()));
  REQUIRE(std::vector<int64_t>(t.shape, t.shape + t.ndim) == shape);
  return floats(map, static_cast<size_t>(index));
}

std::vector<int64_t> all_indices(int64_t n) {
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = i;
  return out;
}

}  // namespace

TEST_CASE("nerf-synthetic: train serves one ray per pixel, the other splits whole views", "[nerf-data]") {
  Scene scene;
  DatasetInstance data(builtin("nerf-synthetic"), settings(), scene.config());
  const genlab_dataset_info& info = data.info();
  CHECK(std::string(info.modality) == "rays");
  REQUIRE(info.split_count == 4);
  CHECK(std::string(info.split_names[0]) == "train");
  CHECK(std::string(info.split_names[1]) == "train-views");
  CHECK(std::string(info.split_names[2]) == "val");
  CHECK(std::string(info.split_names[3]) == "test");
  CHECK(data.split_size("train") == 2 * kSide * kSide);
  CHECK(data.split_size("train-views") == 2);
  CHECK(data.split_size("val") == 2);
  CHECK(data.split_size("test") == 1);
  REQUIRE(info.element_count == 6);
  const std::vector<std::vector<int64_t>> shapes = {{3}, {3}, {3}, {3, kSide, kSide}, {4, 4}, {}};
  const char* names[6] = {"origins", "directions", "colors", "image", "pose", "focal"};
  for (size_t e = 0; e < 6; ++e) {
    CHECK(std::string(info.elements[e].name) == names[e]);
    CHECK(std::vector<int64_t>(info.elements[e].shape, info.elements[e].shape + info.elements[e].ndim) == shapes[e]);
  }
  CHECK(std::string(info.value_range) == "[0, 1]");
  CHECK(info.num_classes == 0);

  TensorMapPtr rays = data.get_batch("train", {15, 51}, 0);
  CHECK(rays->count == 3);
  TensorMapPtr views = data.get_batch("test", {0}, 0);
  CHECK(views->count == 3);
  CHECK(find_tensor(*views, "origins") < 0);
}

TEST_CASE("nerf-synthetic composites alpha onto the background, images without alpha are opaque", "[nerf-data]") {
  Scene scene;
  for (const double background : {1.0, 0.0}) {
    DatasetInstance data(builtin("nerf-synthetic"), settings(),
                         scene.config(toml::table{{"background", background == 1.0 ? "white" : "black"}}));
    const int64_t rays = data.split_size("train");
    const auto colors = element(*data.get_batch("train", all_indices(rays), 0), "colors", {rays, 3});
    for (int view = 0; view < 2; ++view)
      for (int v = 0; v < kSide; ++v)
        for (int u = 0; u < kSide; ++u)
          for (int ch = 0; ch < 3; ++ch)
            CHECK(colors[static_cast<size_t>(((view * kSide + v) * kSide + u) * 3 + ch)] ==
                  Approx(composited(view, u, v, ch, background)).margin(1e-6));
    // By hand: pixel (0, 0) of view 0 is opaque (0, 0, 100); (1, 0) is transparent, so the
    // background; (2, 0) is red 80 at alpha 0.4.
    CHECK(colors[2] == Approx(100 / 255.0));
    CHECK(colors[3] == Approx(background));
    CHECK(colors[6] == Approx(80 / 255.0 * 0.4 + background * 0.6));

    const auto test = element(*data.get_batch("test", {0}, 0), "image", {1, 3, kSide, kSide});
    for (int ch = 0; ch < 3; ++ch)
      for (int v = 0; v < kSide; ++v)
        for (int u = 0; u < kSide; ++u)
          CHECK(test[static_cast<size_t>((ch * kSide + v) * kSide + u)] ==
                Approx(pixel(4, u, v)[ch] / 255.0).margin(1e-6));
  }
}

TEST_CASE("nerf-synthetic's downscale box-averages the views and scales the focal", "[nerf-data]") {
  Scene scene;
  DatasetInstance data(builtin("nerf-synthetic"), settings(), scene.config(toml::table{{"downscale", 2}}));
  constexpr int side = kSide / 2;
  CHECK(data.split_size("train") == 2 * side * side);
  const auto spec = data.info().elements[3];
  CHECK(std::vector<int64_t>(spec.shape, spec.shape + 3) == std::vector<int64_t>{3, side, side});
  TensorMapPtr batch = data.get_batch("train-views", {1}, 0);
  const auto image = element(*batch, "image", {1, 3, side, side});
  for (int ch = 0; ch < 3; ++ch)
    for (int v = 0; v < side; ++v)
      for (int u = 0; u < side; ++u) {
        double sum = 0;
        for (int dv = 0; dv < 2; ++dv)
          for (int du = 0; du < 2; ++du) sum += composited(1, 2 * u + du, 2 * v + dv, ch, 1.0);
        CHECK(image[static_cast<size_t>((ch * side + v) * side + u)] == Approx(sum / 4).margin(1e-6));
      }
  CHECK(element(*batch, "focal", {1})[0] == Approx(3.0));
  // The 3x3 views have a centre pixel: on the identity pose its ray looks straight down -z.
  const auto directions = element(*data.get_batch("train", {4}, 0), "directions", {1, 3});
  CHECK(directions[0] == Approx(0).margin(1e-7));
  CHECK(directions[1] == Approx(0).margin(1e-7));
  CHECK(directions[2] == Approx(-1));
}

TEST_CASE("nerf-synthetic's rays of known pixels on known poses", "[nerf-data]") {
  Scene scene;
  DatasetInstance data(builtin("nerf-synthetic"), settings(), scene.config());
  // Pixel (column 3, row 2) through its centre: camera direction (0.5, 0.5, -6) at focal 6.
  // View 0 (identity) is ray 2*6+3 = 15; view 1 (turned: camera (x, y, z) -> world (z, y, -x))
  // is ray 36 + 15 = 51.
  TensorMapPtr batch = data.get_batch("train", {15, 51}, 0);
  const auto origins = element(*batch, "origins", {2, 3});
  const auto directions = element(*batch, "directions", {2, 3});
  const auto colors = element(*batch, "colors", {2, 3});
  const double norm = std::sqrt(0.25 + 0.25 + 36);
  const std::vector<double> expected_origins = {0, 0, 0, 1, 2, 3};
  const std::vector<double> expected_directions = {0.5 / norm, 0.5 / norm, -6 / norm,
                                                   -6 / norm,  0.5 / norm, -0.5 / norm};
  for (size_t i = 0; i < 6; ++i) {
    CHECK(origins[i] == Approx(expected_origins[i]).margin(1e-6));
    CHECK(directions[i] == Approx(expected_directions[i]).margin(1e-6));
  }
  for (int ch = 0; ch < 3; ++ch) {
    CHECK(colors[static_cast<size_t>(ch)] == Approx(composited(0, 3, 2, ch, 1.0)).margin(1e-6));
    CHECK(colors[static_cast<size_t>(3 + ch)] == Approx(composited(1, 3, 2, ch, 1.0)).margin(1e-6));
  }
  // Every direction is unit length, and the same indices give the same bytes.
  const int64_t rays = data.split_size("train");
  const auto all = element(*data.get_batch("train", all_indices(rays), 0), "directions", {rays, 3});
  for (int64_t r = 0; r < rays; ++r) {
    const float* d = &all[static_cast<size_t>(r * 3)];
    CHECK(d[0] * d[0] + d[1] * d[1] + d[2] * d[2] == Approx(1).margin(1e-6));
  }
  CHECK(element(*data.get_batch("train", {51, 15, 7}, 9), "directions", {3, 3}) ==
        element(*data.get_batch("train", {51, 15, 7}, 3), "directions", {3, 3}));
}

TEST_CASE("nerf-synthetic's on-demand rays of every pixel of a view are view_rays of its pose", "[nerf-data]") {
  // A rotation about no axis of the frame (z by 0.7 after x by -1.1), off the origin, so that
  // every entry of the pose reaches the rays.
  const double ca = std::cos(0.7), sa = std::sin(0.7), cb = std::cos(-1.1), sb = std::sin(-1.1);
  const Matrix oblique = {ca, -sa * cb, sa * sb, 0.3, sa, ca * cb, -ca * sb, -1.2, 0, sb, cb, 2.5, 0, 0, 0, 1};
  Scene scene;
  scene.dir.write("transforms_train.json", transforms_json({{"./train/r_0", kIdentity}, {"./train/r_1", oblique}}));
  for (const int downscale : {1, 2}) {
    CAPTURE(downscale);
    DatasetInstance data(builtin("nerf-synthetic"), settings(), scene.config(toml::table{{"downscale", downscale}}));
    const int side = kSide / downscale, pixels = side * side;
    const int64_t rays = data.split_size("train");
    REQUIRE(rays == 2 * pixels);
    TensorMapPtr views = data.get_batch("train-views", {0, 1}, 0);
    const auto poses = element(*views, "pose", {2, 4, 4});
    const auto focals = element(*views, "focal", {2});
    for (size_t i = 0; i < 16; ++i) CHECK(poses[16 + i] == Approx(oblique[i]).margin(1e-7));
    TensorMapPtr batch = data.get_batch("train", all_indices(rays), 0);
    const auto origins = element(*batch, "origins", {rays, 3});
    const auto directions = element(*batch, "directions", {rays, 3});
    // rays.hpp's camera model by hand, in double, on the view batch's float32 pose and focal.
    for (int view = 0; view < 2; ++view) {
      const float* pose = &poses[static_cast<size_t>(16 * view)];
      for (int v = 0; v < side; ++v)
        for (int u = 0; u < side; ++u) {
          CAPTURE(view, u, v);
          const double camera[3] = {u + 0.5 - side / 2.0, -(v + 0.5 - side / 2.0), -double(focals[view])};
          double world[3], length = 0;
          for (int j = 0; j < 3; ++j) {
            world[j] = pose[4 * j] * camera[0] + pose[4 * j + 1] * camera[1] + pose[4 * j + 2] * camera[2];
            length += world[j] * world[j];
          }
          const size_t ray = static_cast<size_t>(view * pixels + v * side + u);
          for (int j = 0; j < 3; ++j) {
            CHECK(origins[3 * ray + j] == pose[4 * j + 3]);
            CHECK(directions[3 * ray + j] == Approx(world[j] / std::sqrt(length)).margin(1e-6));
          }
        }
    }
    // A ray's bytes do not depend on the batch it comes in: alone, or backwards with the rest.
    std::vector<int64_t> backwards = all_indices(rays);
    std::reverse(backwards.begin(), backwards.end());
    const auto reversed = element(*data.get_batch("train", backwards, 0), "directions", {rays, 3});
    for (int64_t r = 0; r < rays; ++r) {
      CAPTURE(r);
      const auto alone = element(*data.get_batch("train", {r}, 0), "directions", {1, 3});
      const size_t at = static_cast<size_t>(3 * r), back = static_cast<size_t>(3 * (rays - 1 - r));
      CHECK(alone == std::vector<float>(directions.begin() + at, directions.begin() + at + 3));
      CHECK(std::vector<float>(reversed.begin() + back, reversed.begin() + back + 3) == alone);
    }
  }
}

TEST_CASE("nerf-synthetic's view batches hold image, pose and focal", "[nerf-data]") {
  Scene scene;
  DatasetInstance data(builtin("nerf-synthetic"), settings(), scene.config());
  TensorMapPtr batch = data.get_batch("val", {1, 0}, 0);
  const auto image = element(*batch, "image", {2, 3, kSide, kSide});
  // View 1 of val is seed 3: pixel (0, 0) is opaque (0, 0, 250), (1, 1) has alpha 0.4.
  CHECK(image[2 * kSide * kSide] == Approx(250 / 255.0));
  CHECK(image[kSide + 1] == Approx(40 / 255.0 * 0.4 + 0.6));
  const auto pose = element(*batch, "pose", {2, 4, 4});
  for (size_t i = 0; i < 16; ++i) {
    CHECK(pose[i] == Approx(kBackedUp[i]));
    CHECK(pose[16 + i] == Approx(kBackedUp[i]));
  }
  const auto focal = element(*batch, "focal", {2});
  CHECK(focal[0] == Approx(6.0));
  CHECK(focal[1] == Approx(6.0));
  const auto train_pose = element(*data.get_batch("train-views", {1}, 0), "pose", {1, 4, 4});
  for (size_t i = 0; i < 16; ++i) CHECK(train_pose[i] == Approx(kTurned[i]));
}

TEST_CASE("nerf-synthetic's train_views and max_views keep the first views, val is optional", "[nerf-data]") {
  Scene scene;
  {
    DatasetInstance data(builtin("nerf-synthetic"), settings(),
                         scene.config(toml::table{{"train_views", 1}, {"max_views", 1}}));
    CHECK(data.split_size("train") == kSide * kSide);
    CHECK(data.split_size("train-views") == 1);
    CHECK(data.split_size("val") == 1);
    CHECK(data.split_size("test") == 1);
    const auto origins = element(*data.get_batch("train", {kSide * kSide - 1}, 0), "origins", {1, 3});
    CHECK(origins == std::vector<float>{0, 0, 0});  // still view 0, the identity
  }
  fs::remove(scene.dir.path() / "transforms_val.json");
  DatasetInstance data(builtin("nerf-synthetic"), settings(), scene.config());
  CHECK(data.info().split_count == 3);
  CHECK_THROWS_WITH(data.split_size("val"), Contains("has no split 'val'"));
}

TEST_CASE("nerf-synthetic refuses broken transforms files, naming the file and the frame", "[nerf-data][bad-input]") {
  Scene scene;
  const auto error = [&] { return create_error("nerf-synthetic", scene.config()); };

  scene.dir.write("transforms_train.json",
                  "{\"camera_angle_x\": 0.9, \"frames\": [{\"file_path\": \"./train/r_0\", \"transform_matrix\": " +
                      matrix_json(kIdentity) + "}, {\"file_path\": \"./train/r_1\"}]}");
  CHECK_THAT(error(), Contains(scene.json("train") + ": frame 1 ('./train/r_1'): missing 'transform_matrix'"));

  Matrix flat = kTurned;
  flat[0] = flat[4] = flat[8] = 0;  // the camera's x axis is gone
  scene.dir.write("transforms_train.json", transforms_json({{"./train/r_0", kIdentity}, {"./train/r_1", flat}}));
  CHECK_THAT(error(),
             Contains(scene.json("train") + ": frame 1 ('./train/r_1'): transform_matrix is not invertible (det 0)"));

  Matrix projective = kIdentity;
  projective[14] = 0.5;
  scene.dir.write("transforms_train.json", transforms_json({{"./train/r_0", projective}}));
  CHECK_THAT(error(),
             Contains("frame 0 ('./train/r_0'): transform_matrix's last row is [0, 0, 0.5, 1], expected [0, 0, 0, 1]"));

  scene.dir.write("transforms_train.json", transforms_json({{"./train/r_0", kIdentity}, {"./train/r_7", kIdentity}}));
  CHECK_THAT(error(), Contains(scene.json("train") + ": frame 1: image './train/r_7.png' not found"));

  scene.dir.write("transforms_train.json", transforms_json({{"./train/r_0", kIdentity}}));
  scene.dir.write("transforms_test.json", "{\"frames\": [{\"file_path\": \"./test/r_0\", \"transform_matrix\": " +
                                              matrix_json(kIdentity) + "}]}");
  CHECK_THAT(error(), Contains(scene.json("test") + ": missing 'camera_angle_x'"));

  scene.dir.write("transforms_test.json", transforms_json({{"./test/r_0", kIdentity}}, 3.5));
  CHECK_THAT(error(), Contains(scene.json("test") + ": camera_angle_x is 3.5, expected radians in (0, pi)"));

  scene.dir.write("transforms_test.json", "{\"camera_angle_x\": 0.9, \"frames\": [}");
  CHECK_THAT(error(), Contains(scene.json("test") + ": byte"));

  fs::remove(scene.dir.path() / "transforms_test.json");
  CHECK_THAT(error(), Contains(scene.json("test") + ": not found"));
}

TEST_CASE("nerf-synthetic refuses bad options, views of another size and out-of-range indices",
          "[nerf-data][bad-input]") {
  Scene scene;
  CHECK_THAT(create_error("nerf-synthetic", scene.config(toml::table{{"train_views", 3}})),
             Contains("train_views is 3, but " + scene.json("train") + " has 2 frames"));
  CHECK_THAT(create_error("nerf-synthetic", scene.config(toml::table{{"downscale", 4}})),
             Contains("downscale 4 does not divide the 6x6 views"));
  CHECK_THAT(create_error("nerf-synthetic", scene.config(toml::table{{"downscale", 0}})),
             Contains("expected downscale > 0, got 0"));
  CHECK_THAT(create_error("nerf-synthetic", scene.config(toml::table{{"background", "grey"}})),
             Contains("expected background \"white\" or \"black\", got \"grey\""));
  CHECK_THAT(create_error("nerf-synthetic", toml::table{{"root", (scene.dir.path() / "nowhere").string()}}),
             Contains("nowhere: not a folder"));
  {
    DatasetInstance data(builtin("nerf-synthetic"), settings(), scene.config());
    CHECK_THROWS_WITH(data.get_batch("train", {0, 72}, 0),
                      Contains("index 72 out of range [0, 72) of split 'train' (rays)"));
    CHECK_THROWS_WITH(data.get_batch("test", {-1}, 0),
                      Contains("index -1 out of range [0, 1) of split 'test' (views)"));
    CHECK_THROWS_WITH(data.get_batch("views", {0}, 0), Contains("no split 'views'"));
  }
  std::vector<unsigned char> small(4 * 4 * 4, 255);
  REQUIRE(stbi_write_png((scene.dir.path() / "val/r_1.png").c_str(), 4, 4, 4, small.data(), 16));
  CHECK_THAT(create_error("nerf-synthetic", scene.config()),
             Contains(scene.json("val") + ": frame 1 ('./val/r_1.png'): the image is 4x4, but frame 0 of " +
                      scene.json("train") + " is 6x6"));
}
