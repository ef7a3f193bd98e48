// image-folder — a folder of PNG (or JPEG, BMP, TGA) images, read with stb_image. Either
// flat (every image label 0) or one sub-folder per class (labels by sorted folder name,
// as torchvision's ImageFolder). All images must share one size; the last test_fraction of
// each class (in file-name order) forms the test split.
#include <algorithm>
#include <filesystem>
#include <map>
#include <genlab/formats/files.hpp>
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

struct ImageFolderOptions {
  std::string path = "$GENLAB_DATA/images";
  int64_t channels = 0;
  double test_fraction = 0.1;
  genlab::data::Selection selection;
};

const auto kImageFolderParams = genlab::data::with_selection(
    genlab::sdk::Params<ImageFolderOptions>()
        .add("path", &ImageFolderOptions::path, "the folder")
        .add("channels", &ImageFolderOptions::channels, "1 (gray) or 3 (RGB); 0 takes the first image's")
        .check([](const ImageFolderOptions& o) { return o.channels == 0 || o.channels == 1 || o.channels == 3; },
               "0, 1 or 3")
        .add("test_fraction", &ImageFolderOptions::test_fraction,
             "share of each class, last by file name, for the test split")
        .between(0, 1, genlab::sdk::Params<ImageFolderOptions>::Ends::upper_open),
    &ImageFolderOptions::selection);

class ImageFolder final : public genlab::data::ImageDataset {
 public:
  static genlab::sdk::Info info() {
    genlab::sdk::Info i;
    i.name = "image-folder";
    i.version = "1.0.0";
    i.family = "image";
    i.summary = "a folder of PNG images, one sub-folder per class or flat; float [N,C,H,W] in [0,1]";
    i.modalities = {"image"};
    i.params = kImageFolderParams.describe();
    return i;
  }

  explicit ImageFolder(const genlab::sdk::Context& c) : ImageDataset(c) {
    ImageFolderOptions o = kImageFolderParams.read(c.config);
    if (!c.config.has("path")) o.path = genlab::data::data_path(o.path);
    const fs::path root = o.path;
    int channels = static_cast<int>(o.channels);
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
    GENLAB_CHECK(!classes.empty(), GENLAB_ERROR_NOT_FOUND,
                 root.string() + ": no images (.png, .jpg, .bmp, .tga) found");
    GENLAB_CHECK(!(classes.count("") && classes.size() > 1), GENLAB_ERROR_INVALID_ARGUMENT,
                 root.string() + ": images both at the top and in class folders; use one layout");
    int width = 0, height = 0;
    std::vector<float> train_pixels, test_pixels;
    std::vector<int64_t> train_labels, test_labels;
    int64_t label = 0;
    for (auto& [name, files] : classes) {
      std::sort(files.begin(), files.end());
      const size_t n_test = static_cast<size_t>(o.test_fraction * static_cast<double>(files.size()));
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
    describe(std::move(splits), o.selection);
  }
};

}  // namespace

GENLAB_PLUGIN(ImageFolder)
