// The input of a model: which element of the dataset it is and its shape per example
// ([C, H, W] for an image, [D] for a point), read once from the dataset's description, and
// the check every step makes on the batch it gets.
#pragma once

#include <string>
#include <vector>

#include <genlab/sdk/plugin.hpp>

namespace genlab::sdk {

class ExampleInput {
 public:
  // The dataset's first element: an image [C, H, W], or with `points_too` also a point [D].
  explicit ExampleInput(const genlab::sdk::Context& c, bool points_too = false) {
    const bool present = c.data_info != nullptr && c.data_info->element_count > 0;
    const size_t rank = present ? c.data_info->elements[0].ndim : 0;
    GENLAB_CHECK(rank == 3 || (points_too && rank == 1), GENLAB_ERROR_INVALID_ARGUMENT,
                 std::string("expected image data [C, H, W]") + (points_too ? " or points [D]" : "") +
                     " (the first element of the dataset)");
    const genlab_element_spec& e = c.data_info->elements[0];
    name_ = e.name;
    shape_.assign(e.shape, e.shape + rank);
  }

  const std::string& name() const { return name_; }
  const std::vector<int64_t>& shape() const { return shape_; }  // C, H, W or D
  bool is_image() const { return shape_.size() == 3; }

  // The batch's examples [B, ...shape] as float on `device`; an error naming the shapes if not.
  at::Tensor take(const genlab::sdk::Tensors& batch, const at::Device& device) const {
    const at::Tensor& x = batch.at(name_);
    GENLAB_CHECK(x.dim() == static_cast<int64_t>(shape_.size()) + 1 && x.sizes().slice(1) == at::IntArrayRef(shape_),
                 GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected '" + name_ + "' of shape [B, " + c10::str(at::IntArrayRef(shape_)).substr(1) + ", got " +
                     c10::str(x.sizes()));
    return x.to(device, at::kFloat);
  }

 private:
  std::string name_;
  std::vector<int64_t> shape_;
};

}  // namespace genlab::sdk
