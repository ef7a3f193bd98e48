// The camera model of the NeRF-synthetic (Blender) layout, shared by the nerf-synthetic
// dataset (rays of its training views) and the NeRF model (rays of the views it renders),
// so the two can never disagree on a pixel.
//
// A pose is camera-to-world [4, 4] in OpenGL's convention: the camera looks down its -z
// axis, x to the right, y up. A pixel (column u, row v) of a width x height view is hit
// through its centre: direction (u + 0.5 - width/2, -(v + 0.5 - height/2), -focal) in the
// camera frame, rotated into the world and normalised, so a ray's t is a distance in world
// units. (Mildenhall et al.'s code used pixel corners; centres are unbiased under downscale.)
#pragma once

#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>

namespace genlab::plugins {

// The focal length in pixels of a view `width` pixels wide whose horizontal field of view
// is `camera_angle_x` radians (the layout's camera_angle_x).
inline double focal_from_angle(double camera_angle_x, int64_t width) {
  return 0.5 * static_cast<double>(width) / std::tan(0.5 * camera_angle_x);
}

struct Rays {
  at::Tensor origins;     // [height * width, 3], row-major pixel order
  at::Tensor directions;  // [height * width, 3], unit length
};

// The camera-frame directions, not normalised, through the centres of the pixels
// (columns[i], rows[i]) of height x width views of focal length focals[i] (pixels): [B, 3]
// float32 on the columns' device. columns and rows are [B] (any integer or float dtype);
// focals is [B], or [1] for one focal for all. No division: x and y are half-integers, exact
// in float32 for views under 2^23 pixels a side, and z is the float32 focal itself.
inline at::Tensor camera_directions(const at::Tensor& columns, const at::Tensor& rows, const at::Tensor& focals,
                                    int64_t height, int64_t width) {
  const auto options = at::TensorOptions().dtype(at::kFloat).device(columns.device());
  const at::Tensor x = columns.to(options) + (0.5 - 0.5 * static_cast<double>(width));
  const at::Tensor y = -(rows.to(options) + (0.5 - 0.5 * static_cast<double>(height)));
  const at::Tensor z = -focals.to(options).expand_as(x);
  return at::stack({x, y, z}, -1);
}

// Camera-frame directions [B, 3] turned into the world by camera-to-world rotations, [3, 3]
// for one camera or [B, 3, 3] for one per direction, and normalised. Written as elementwise
// products and sums rather than a matmul, so that a ray's bits depend only on its pixel and
// pose: not on the batch it is computed in, nor on the GEMM kernel chosen for that size.
inline at::Tensor world_directions(const at::Tensor& camera, const at::Tensor& rotations) {
  const at::Tensor r = rotations.to(camera.options());
  const at::Tensor x = camera.select(1, 0).unsqueeze(1), y = camera.select(1, 1).unsqueeze(1);
  const at::Tensor z = camera.select(1, 2).unsqueeze(1);
  const at::Tensor world = r.select(-1, 0) * x + r.select(-1, 1) * y + r.select(-1, 2) * z;  // [B, 3]
  const at::Tensor wx = world.select(1, 0), wy = world.select(1, 1), wz = world.select(1, 2);
  const at::Tensor length = (wx * wx + wy * wy + wz * wz).sqrt_().unsqueeze(1);
  return world / length;
}

// The rays of every pixel of one view. `pose` is [4, 4] (any float dtype and device); the
// rays come back as float32 on the pose's device.
inline Rays view_rays(const at::Tensor& pose, double focal, int64_t height, int64_t width) {
  const auto options = at::TensorOptions().dtype(at::kFloat).device(pose.device());
  const at::Tensor c2w = pose.to(options);
  const at::Tensor columns = at::arange(width, options).repeat({height});
  const at::Tensor rows = at::arange(height, options).repeat_interleave(width);
  const at::Tensor camera = camera_directions(columns, rows, at::full({1}, focal, options), height, width);
  const at::Tensor directions = world_directions(camera, c2w.slice(0, 0, 3).slice(1, 0, 3));
  const at::Tensor origins = c2w.slice(0, 0, 3).select(1, 3).view({1, 3}).expand({height * width, 3}).contiguous();
  return {origins, directions};
}

}  // namespace genlab::plugins
