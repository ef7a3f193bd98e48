// The NeRF's rendering path on the LibTorch side: the camera model of genlab/rendering/rays.hpp,
// named ops dispatched by the host to backend plugins (genlab_host_api::run_op), the
// volume-rendering composite op against its pure-autograd reference (values and gradients),
// and depth along rays through a known sphere.
#include "catch.hpp"

#include <ATen/ATen.h>
#include <cmath>
#include <string>

#include "genlab/core/host_services.hpp"
#include "genlab/sdk/plugin.hpp"
#include "genlab/rendering/composite.hpp"
#include "genlab/rendering/rays.hpp"
#include "genlab/rendering/sampling.hpp"
#include "torch_catch.hpp"

using genlab::test::Contains;

namespace {

namespace sdk = genlab::sdk;

// A host table like the worker's: the default op dispatcher over the built-in plugins.
struct TestHost {
  genlab::HostServices services{genlab::HostSettings{"test-nerf", 0, 1, nullptr, {}, nullptr}};
  sdk::Host host() const { return sdk::Host(services.api()); }
};

at::Tensor tensor3(double x, double y, double z) { return at::tensor({x, y, z}, at::kFloat); }

// The largest absolute difference, relative to the reference's scale.
double relative_error(const at::Tensor& got, const at::Tensor& want) {
  return (got - want).abs().max().item<double>() / std::max(1e-6, want.abs().max().item<double>());
}

}  // namespace

TEST_CASE("view rays follow the camera model on known poses", "[nerf]") {
  // Identity pose: the camera at the origin looking down -z, y up.
  const double focal = 2.0;
  auto rays = genlab::plugins::view_rays(at::eye(4), focal, 3, 3);
  REQUIRE(rays.origins.sizes() == at::IntArrayRef({9, 3}));
  CHECK(rays.origins.abs().max().item<double>() == 0.0);
  // Pixel (column 1, row 1) is the centre of a 3x3 view: straight ahead.
  CHECK(relative_error(rays.directions[4], tensor3(0, 0, -1)) < 1e-6);
  // Pixel (column 0, row 0), the top left: centre (0.5, 0.5) is 1 pixel left and 1 up.
  const at::Tensor top_left = tensor3(-1, 1, -focal);
  CHECK(relative_error(rays.directions[0], top_left / top_left.norm()) < 1e-6);
  // Row-major order: pixel (column 2, row 0) is the third ray, to the right.
  CHECK(rays.directions[2][0].item<double>() > 0);
  CHECK(rays.directions[2][1].item<double>() > 0);

  // A camera at (4, 0, 0) turned to look at the origin: its -z axis is the world's -x.
  // Camera axes in world coordinates: x -> (0, 1, 0), y -> (0, 0, 1), z -> (1, 0, 0).
  at::Tensor pose = at::zeros({4, 4});
  pose.index_put_({0, 2}, 1.0);
  pose.index_put_({1, 0}, 1.0);
  pose.index_put_({2, 1}, 1.0);
  pose.index_put_({0, 3}, 4.0);
  pose.index_put_({3, 3}, 1.0);
  rays = genlab::plugins::view_rays(pose, 50.0, 5, 5);
  CHECK(relative_error(rays.origins[7], tensor3(4, 0, 0)) < 1e-6);
  CHECK(relative_error(rays.directions[12], tensor3(-1, 0, 0)) < 1e-6);  // the centre pixel
  // The pixel right of centre looks along +y (camera x), the one above along +z (camera y).
  CHECK(rays.directions[13][1].item<double>() > 0);
  CHECK(rays.directions[7][2].item<double>() > 0);
  // Every direction is a unit vector.
  CHECK((rays.directions.norm(2, -1) - 1).abs().max().item<double>() < 1e-6);
  CHECK(genlab::plugins::focal_from_angle(2 * std::atan(0.5), 100) == Approx(100.0));
}

TEST_CASE("the host dispatches named ops to the backend serving the inputs' device", "[nerf][ops]") {
  TestHost t;
  REQUIRE(t.host().can_run_ops());
  sdk::Tensors in;
  in.add("x", at::ones({4}));
  in.add("y", at::full({4}, 2.0f));
  const sdk::Tensors out = sdk::run_op(t.host(), "axpy", in);  // example-cpu-ops serves it
  CHECK(at::equal(out.at("out"), at::full({4}, 3.0f)));

  try {
    sdk::run_op(t.host(), "no-such-op", in);
    FAIL("an op no backend serves ran");
  } catch (const sdk::Error& e) {
    CHECK(e.code() == GENLAB_ERROR_UNSUPPORTED_DEVICE);
    CHECK_THAT(e.what(),
               Contains("no-such-op") && Contains("cpu") && Contains("cpu-reference") && Contains("example-cpu-ops"));
  }
  // A backend's own error keeps its code and message.
  sdk::Tensors missing;
  missing.add("sigmas", at::ones({2, 3}));
  try {
    sdk::run_op(t.host(), "volume_composite", missing);
    FAIL("the composite ran without its inputs");
  } catch (const sdk::Error& e) {
    CHECK(e.code() == GENLAB_ERROR_INVALID_ARGUMENT);
    CHECK_THAT(e.what(), Contains("rgbs"));
  }
}

TEST_CASE("the composite op matches the autograd composite in values and gradients", "[nerf][composite]") {
  TestHost t;
  at::manual_seed(3);
  const int64_t rays = 257, samples = 48;
  const auto options = at::TensorOptions().dtype(at::kFloat);
  const at::Tensor ts = genlab::nerf::stratified_samples(rays, samples, 2.0, 6.0, true, options);
  const at::Tensor deltas = genlab::nerf::deltas_from_ts(ts, 6.0);
  // Densities from empty space to opaque, a few exactly zero (ReLU fields give those).
  const at::Tensor sigma_init = at::relu(at::randn({rays, samples}) * 4 - 1);
  const at::Tensor rgb_init = at::rand({rays, samples, 3});
  const at::Tensor grad_color = at::randn({rays, 3}), grad_depth = at::randn({rays}), grad_opacity = at::randn({rays});

  auto run = [&](bool through_backend) {
    at::Tensor sigmas = sigma_init.clone().requires_grad_(true), rgbs = rgb_init.clone().requires_grad_(true);
    const auto c = through_backend ? genlab::nerf::composite_op(t.host(), sigmas, rgbs, deltas, ts)
                                   : genlab::nerf::composite_autograd(sigmas, rgbs, deltas, ts);
    const at::Tensor loss =
        (c.color * grad_color).sum() + (c.depth * grad_depth).sum() + (c.opacity * grad_opacity).sum();
    loss.backward();
    return std::vector<at::Tensor>{c.color.detach(),   c.depth.detach(), c.opacity.detach(),
                                   c.weights.detach(), sigmas.grad(),    rgbs.grad()};
  };
  const auto op = run(true), reference = run(false);
  const char* names[] = {"color", "depth", "opacity", "weights", "grad sigmas", "grad rgbs"};
  for (size_t i = 0; i < op.size(); ++i) {
    INFO(names[i]);
    REQUIRE(op[i].sizes() == reference[i].sizes());
    CHECK(relative_error(op[i], reference[i]) < 1e-4);
  }
  // The check can fail: a composite that forgets the transmittance is far off.
  const at::Tensor no_transmittance = ((1 - at::exp(-sigma_init * deltas)).unsqueeze(-1) * rgb_init).sum(1);
  CHECK(relative_error(no_transmittance, reference[0]) > 0.1);
}

TEST_CASE("a ray through a unit sphere stops at its surface", "[nerf][composite]") {
  TestHost t;
  // Rays from z = 4 down -z at heights 0 (through the centre), 0.6 and 1.2 (a miss).
  const at::Tensor origins = at::tensor({0.0, 0.0, 4.0, 0.6, 0.0, 4.0, 1.2, 0.0, 4.0}, at::kFloat).view({3, 3});
  const at::Tensor directions = tensor3(0, 0, -1).view({1, 3}).expand({3, 3});
  const int64_t samples = 512;
  const at::Tensor ts = genlab::nerf::stratified_samples(3, samples, 2.0, 6.0, false, at::kFloat);
  const at::Tensor points = origins.unsqueeze(1) + ts.unsqueeze(-1) * directions.unsqueeze(1);
  const at::Tensor sigmas = (points.norm(2, -1) < 1.0).to(at::kFloat) * 1e3;
  const at::Tensor rgbs = at::full({3, samples, 3}, 0.25f);
  const auto c = genlab::nerf::composite_op(t.host(), sigmas, rgbs, genlab::nerf::deltas_from_ts(ts, 6.0), ts);
  const double bin = 4.0 / samples;
  CHECK(c.depth[0].item<double>() == Approx(3.0).margin(bin));
  CHECK(c.depth[1].item<double>() == Approx(4.0 - std::sqrt(1.0 - 0.36)).margin(bin));
  CHECK(c.opacity[0].item<double>() == Approx(1.0).margin(1e-4));
  CHECK(c.opacity[2].item<double>() == Approx(0.0).margin(1e-6));
  CHECK(c.color[0][1].item<double>() == Approx(0.25).margin(1e-4));

  // The same through the camera model: the centre pixel of a camera at z = 4.
  at::Tensor pose = at::eye(4);
  pose.index_put_({2, 3}, 4.0);
  const auto rays = genlab::plugins::view_rays(pose, 10.0, 3, 3);
  const at::Tensor centre = rays.origins[4] + ts[0].unsqueeze(-1) * rays.directions[4];
  const at::Tensor centre_sigmas = (centre.norm(2, -1) < 1.0).to(at::kFloat).unsqueeze(0) * 1e3;
  const auto via_camera =
      genlab::nerf::composite_op(t.host(), centre_sigmas, rgbs.slice(0, 0, 1),
                                 genlab::nerf::deltas_from_ts(ts.slice(0, 0, 1), 6.0), ts.slice(0, 0, 1));
  CHECK(via_camera.depth[0].item<double>() == Approx(3.0).margin(bin));
}

TEST_CASE("the composite op on CUDA tensors", "[nerf][composite][cuda]") {
  if (!at::hasCUDA()) {
    GENLAB_SKIP(
        "this LibTorch has no CUDA device or was built without CUDA (Debian's is CPU-only); the CUDA "
        "backend's own check is tests/cuda");
  }
  TestHost t;
  const auto cuda = at::TensorOptions().dtype(at::kFloat).device(at::kCUDA);
  const at::Tensor ts = genlab::nerf::stratified_samples(64, 32, 2.0, 6.0, true, cuda);
  const at::Tensor sigmas = at::relu(at::randn({64, 32}, cuda) * 3), rgbs = at::rand({64, 32, 3}, cuda);
  const at::Tensor deltas = genlab::nerf::deltas_from_ts(ts, 6.0);
  const auto op = genlab::nerf::composite_op(t.host(), sigmas, rgbs, deltas, ts);
  const auto reference = genlab::nerf::composite_autograd(sigmas, rgbs, deltas, ts);
  CHECK(op.color.device().is_cuda());
  CHECK(relative_error(op.color.cpu(), reference.color.cpu()) < 1e-4);
  CHECK(relative_error(op.depth.cpu(), reference.depth.cpu()) < 1e-4);
}
