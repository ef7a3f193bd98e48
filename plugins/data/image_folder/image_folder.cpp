// image-folder — a folder of PNG (or JPEG, BMP, TGA) images, read with stb_image. Either
// flat (every image label 0) or one sub-folder per class (labels by sorted folder name,
// as torchvision's ImageFolder). All images must share one size; the last test_fraction of
// each class (in file-name order) forms the test split.
#include <algorithm>
#include <filesystem>
#include <map>
#include "../common/files.hpp"
#include "../common/image_file.hpp"
#include "../common/image_dataset.hpp"

namespace {

namespace fs = std::filesystem;
using genlab::data::Split;

bool is_image(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".tga";
}

class ImageFolder final : public genlab::data::ImageDataset {
 public:
  static genlab::sdk::Info info() {
    genlab::sdk::Info i;
    i.name = "image-folder";
    i.version = "1.0.0";
    i.family = "image";
    i.summary = "a folder of PNG images, one sub-folder per class or flat; float [N,C,H,W] in [0,1]";
    i.modalities = {"image"};
    i.params = {{"path", GENLAB_PARAM_STRING, "\"$GENLAB_DATA/images\"", "the folder"},
                {"channels", GENLAB_PARAM_INT, "0", "1 (gray) or 3 (RGB); 0 takes the first image's"},
                {"test_fraction", GENLAB_PARAM_DOUBLE, "0.1", "share of each class, last by file name, for the test split"}};
    for (auto& p : genlab::data::Selection::params()) i.params.push_back(p);
    return i;
  }

  explicit ImageFolder(const genlab::sdk::Context& c) : ImageDataset(c) {
    const fs::path root = c.config.get("path", (genlab::data::data_dir() + "/images").c_str());
    int channels = static_cast<int>(c.config.get("channels", int64_t{0}));
    const double test_fraction = c.config.get("test_fraction", 0.1);
    GENLAB_CHECK(channels == 0 || channels == 1 || channels == 3, GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected channels 0, 1 or 3, got " + std::to_string(channels));
    GENLAB_CHECK(test_fraction >= 0 && test_fraction < 1, GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected 0 <= test_fraction < 1, got " + std::to_string(test_fraction));
    std::error_code ec;
    GENLAB_CHECK(fs::is_directory(root, ec), GENLAB_ERROR_IO, root.string() + ": not a folder");
    // class -> its files, sorted; a flat folder is one class.
    std::map<std::string, std::vector<fs::path>> classes;
    for (const auto& e : fs::directory_iterator(root)) {
      if (e.is_directory()) {
        for (const auto& f : fs::directory_iterator(e.path()))
          if (f.is_regular_file() && is_image(f.path())) classes[e.path().filename().string()].push_back(f.path());
      } else if (e.is_regular_file() && is_image(e.path())) {
        classes[""].push_back(e.path());
      }
    }
    GENLAB_CHECK(!classes.empty(), GENLAB_ERROR_NOT_FOUND, root.string() + ": no images (.png, .jpg, .bmp, .tga) found");
    GENLAB_CHECK(!(classes.count("") && classes.size() > 1), GENLAB_ERROR_INVALID_ARGUMENT,
                 root.string() + ": images both at the top and in class folders; use one layout");
    int width = 0, height = 0;
    std::vector<float> train_pixels, test_pixels;
    std::vector<int64_t> train_labels, test_labels;
    int64_t label = 0;
    for (auto& [name, files] : classes) {
      std::sort(files.begin(), files.end());
      const size_t n_test = static_cast<size_t>(test_fraction * static_cast<double>(files.size()));
      for (size_t i = 0; i < files.size(); ++i) {
        const std::string file = files[i].string();
        const auto image = genlab::data::reading(file, [&] { return genlab::data::read_image_file(file, channels); });
        channels = image.channels;  // the first image decides when the manifest does not
        if (width == 0) width = image.width, height = image.height;
        GENLAB_CHECK(image.width == width && image.height == height, GENLAB_ERROR_INVALID_ARGUMENT,
                     files[i].string() + ": " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                         ", but the first image is " + std::to_string(width) + "x" + std::to_string(height));
        const bool test = i >= files.size() - n_test;
        auto& pixels = test ? test_pixels : train_pixels;
        genlab::data::reading(root.string(), [&] {
          for (int ch = 0; ch < channels; ++ch)  // HWC bytes -> CHW floats in [0, 1]
            for (int p = 0; p < width * height; ++p) pixels.push_back(image.pixels[p * channels + ch] / 255.0f);
        });
        (test ? test_labels : train_labels).push_back(label);
      }
      ++label;
    }
    auto split = [&](const char* name, std::vector<float>& pixels, std::vector<int64_t>& labels) {
      const int64_t n = static_cast<int64_t>(labels.size());
      return Split{name, at::tensor(pixels).reshape({n, channels, height, width}), at::tensor(labels, at::kLong)};
    };
    std::vector<Split> splits = genlab::data::reading(root.string(), [&] {
      std::vector<Split> out = {split("train", train_pixels, train_labels)};
      if (!test_labels.empty()) out.push_back(split("test", test_pixels, test_labels));
      return out;
    });
    describe(std::move(splits), genlab::data::Selection(c.config));
  }
};

}  // namespace

GENLAB_PLUGIN(ImageFolder)
