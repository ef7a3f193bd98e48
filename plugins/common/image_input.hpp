// The image input of an image model: which element of the dataset it is and its shape
// [C, H, W], read once from the dataset's description, and the check every step makes on
// the batch it gets.
#pragma once

#include <string>
#include <vector>

#include <genlab/sdk/plugin.hpp>

namespace genlab::plugins {

class ImageInput {
 public:
  // The dataset's first element, which must be an image [C, H, W].
  explicit ImageInput(const genlab::sdk::Context& c) {
    GENLAB_CHECK(c.data_info != nullptr && c.data_info->element_count > 0 && c.data_info->elements[0].ndim == 3,
                 GENLAB_ERROR_INVALID_ARGUMENT, "expected image data [C, H, W] (the first element of the dataset)");
    const genlab_element_spec& e = c.data_info->elements[0];
    name_ = e.name;
    shape_.assign(e.shape, e.shape + 3);
  }

  const std::string& name() const { return name_; }
  const std::vector<int64_t>& shape() const { return shape_; }  // C, H, W

  // The batch's images [B, C, H, W] as float on `device`; an error naming the shapes if not.
  at::Tensor take(const genlab::sdk::Tensors& batch, const at::Device& device) const {
    const at::Tensor& x = batch.at(name_);
    GENLAB_CHECK(x.dim() == 4 && x.size(1) == shape_[0] && x.size(2) == shape_[1] && x.size(3) == shape_[2],
                 GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected '" + name_ + "' of shape [B, " + std::to_string(shape_[0]) + ", " + std::to_string(shape_[1]) +
                     ", " + std::to_string(shape_[2]) + "], got " + c10::str(x.sizes()));
    return x.to(device, at::kFloat);
  }

 private:
  std::string name_;
  std::vector<int64_t> shape_;
};

}  // namespace genlab::plugins
