// nerf-synthetic — posed views in the NeRF-synthetic (Blender) layout of Mildenhall et al.:
// a folder with transforms_train.json, transforms_test.json and optionally
// transforms_val.json, each listing RGBA PNG views and their camera-to-world poses.
// The split "train" serves the rays of the training views, one example per pixel (view-major,
// then row-major pixels); "train-views", "val" and "test" serve whole views, one example per
// view, to render and compare (genlab.h, the rays modality). Every view is decoded, composited
// onto the background and downscaled at create(). A batch of training rays is computed on
// demand from the pixels' views' poses and focals, with the same camera model as the NeRF model
// (genlab/rendering/rays.hpp): precomputing every ray would hold 6 floats a pixel beside the
// image's 3 (1.5 GB for 100 views of 800x800).
#include <filesystem>
#include <sstream>

#include <genlab/rendering/rays.hpp>
#include <genlab/formats/files.hpp>
#include "../common/image_file.hpp"
#include <genlab/formats/nerf_transforms.hpp>

namespace {

namespace fs = std::filesystem;
using genlab::sdk::Error;

// The views of one split. Images are stored [N, H, W, 3] so that the training colours, one
// RGB triple per ray in the same order as the rays, are a view of them rather than a copy.
struct Views {
  std::string name;   // the split
  at::Tensor images;  // [N, H, W, 3] float32 in [0, 1], composited onto the background
  at::Tensor poses;   // [N, 4, 4] float32, camera-to-world
  at::Tensor focals;  // [N] float32, pixels after downscale
  double focal = 0;   // the same, in double for the rays
};

// A split whose transforms file is parsed and whose images exist, not yet decoded.
struct ParsedSplit {
  std::string split, json;
  genlab::data::formats::NerfTransforms transforms;
  std::vector<fs::path> files;
};

// The size of the scene's views, set by the first one decoded (frame 0 of the train split).
struct ViewSize {
  int width = 0, height = 0;  // as decoded, before downscale
  std::string first;          // "frame 0 of <json>", for messages
};

// The most a transforms_<split>.json may hold: 8 MiB, some 10,000 frames as Blender writes
// them (about 850 bytes a frame). The parsed JSON takes ~120 bytes a value: 8 MiB of "0,0,..."
// peaks at 0.5 GB (measured), which is why the cap is not larger.
constexpr uint64_t kMaxTransformsBytes = uint64_t{8} << 20;

struct Options {
  std::string root = "$GENLAB_DATA/nerf/bunny";
  std::string background = "white";
  int64_t downscale = 1;
  int64_t train_views = 0;
  int64_t max_views = 0;
};

const auto kNerfSyntheticParams =
    genlab::sdk::Params<Options>()
        .add("root", &Options::root,
             "the folder holding transforms_train.json, transforms_test.json (and transforms_val.json)")
        .add("background", &Options::background,
             "\"white\" or \"black\": what the alpha is composited onto (rgb*a + bg*(1-a))")
        .one_of({"white", "black"})
        .add("downscale", &Options::downscale,
             "box-average the views by this factor (it must divide both sides); focal scales with it")
        .positive()
        .add("train_views", &Options::train_views, "use the first N training views (few-views experiments); 0 for all")
        .non_negative()
        .add("max_views", &Options::max_views, "keep at most the first N views of val and test; 0 for all")
        .non_negative();

// Every split's transforms, read and trimmed to the views asked for (val is optional).
std::vector<ParsedSplit> parse_splits(const fs::path& root, const Options& options) {
  std::error_code ec;
  std::vector<ParsedSplit> pending;
  for (const char* split : {"train", "val", "test"}) {
    const fs::path json = root / ("transforms_" + std::string(split) + ".json");
    if (std::string(split) == "val" && !fs::exists(json, ec)) continue;  // the one optional split
    GENLAB_CHECK(fs::is_regular_file(json, ec), GENLAB_ERROR_NOT_FOUND,
                 json.string() +
                     ": not found (the NeRF-synthetic layout needs transforms_train.json and "
                     "transforms_test.json; transforms_val.json is optional)");
    ParsedSplit p{split, json.string(), {}, {}};
    p.transforms = genlab::data::reading(p.json, [&] {
      return genlab::data::formats::parse_nerf_transforms(
          genlab::data::read_maybe_gzipped(p.json, kMaxTransformsBytes,
                                           "the cap on a transforms file (" +
                                               genlab::data::format_bytes(kMaxTransformsBytes) +
                                               ", some 10,000 frames as Blender writes them)"),
          p.json);
    });
    auto& frames = p.transforms.frames;
    const int64_t available = static_cast<int64_t>(frames.size());
    if (p.split == "train") {
      GENLAB_CHECK(options.train_views <= available, GENLAB_ERROR_INVALID_ARGUMENT,
                   "train_views is " + std::to_string(options.train_views) + ", but " + p.json + " has " +
                       std::to_string(available) + " frames");
      if (options.train_views > 0) frames.resize(static_cast<size_t>(options.train_views));
    } else if (options.max_views > 0 && options.max_views < available) {
      frames.resize(static_cast<size_t>(options.max_views));
    }
    p.files = genlab::data::formats::nerf_image_files(p.transforms, p.json);
    pending.push_back(std::move(p));
  }
  return pending;
}

class NerfSynthetic final : public genlab::sdk::Dataset {
 public:
  static genlab::sdk::Info info() {
    genlab::sdk::Info i;
    i.name = "nerf-synthetic";
    i.version = "1.0.0";
    i.family = "rays";
    i.summary = "NeRF-synthetic (Blender) posed views: train serves rays, train-views/val/test whole views";
    i.modalities = {"rays"};
    i.params = kNerfSyntheticParams.describe();
    return i;
  }

  explicit NerfSynthetic(const genlab::sdk::Context& c) : Dataset(c) {
    Options options = kNerfSyntheticParams.read(c.config);
    if (!c.config.has("root")) options.root = genlab::data::data_path(options.root);
    const fs::path root = options.root;
    std::error_code ec;
    GENLAB_CHECK(fs::is_directory(root, ec), GENLAB_ERROR_NOT_FOUND,
                 root.string() +
                     ": not a folder (expected the NeRF-synthetic layout: transforms_train.json, "
                     "transforms_test.json; scripts/fetch-data.sh nerf-bunny renders one)");

    // Parse every split first, so that a broken JSON fails before minutes of decoding.
    const std::vector<ParsedSplit> pending = parse_splits(root, options);
    ViewSize size;
    decode_splits(pending, options, size);
    keep_train_cameras();
    describe();
    log_summary(root, options, size);
  }

  // Decodes every view of every split (reporting progress, stopping when cancelled); "train"
  // is served twice: as rays, and as whole views ("train-views").
  void decode_splits(const std::vector<ParsedSplit>& pending, const Options& options, ViewSize& size) {
    size_t total = 0, done = 0;
    for (const auto& p : pending) total += p.files.size();
    for (const auto& p : pending) {
      Views views{p.split, {}, {}, {}, 0};
      const int64_t n = static_cast<int64_t>(p.files.size());
      std::vector<float> poses;
      for (int64_t i = 0; i < n; ++i) {
        GENLAB_CHECK(!host().cancelled(), GENLAB_ERROR_CANCELLED, "cancelled while decoding the views of " + p.json);
        const at::Tensor view = decode_view(p, i, options, size);
        if (i == 0)
          views.images = genlab::data::reading(p.json, [&] {
            return at::empty({n, view.size(0), view.size(1), 3}, at::kFloat);
          });
        views.images[i].copy_(view);
        for (double x : p.transforms.frames[static_cast<size_t>(i)].c2w) poses.push_back(static_cast<float>(x));
        host().progress(static_cast<double>(++done) / static_cast<double>(total), "decoding views");
      }
      views.poses = at::tensor(poses).reshape({n, 4, 4});
      const int64_t width = views.images.size(2);
      views.focal = genlab::plugins::focal_from_angle(p.transforms.camera_angle_x, width);
      views.focals = at::full({n}, views.focal, at::kFloat);
      if (p.split == "train") {
        splits_.push_back(views);  // "train": the same views, served as rays
        views.name = "train-views";
      }
      splits_.push_back(std::move(views));
    }
  }

  void log_summary(const fs::path& root, const Options& options, const ViewSize& size) {
    const Views& train = splits_[0];
    std::ostringstream summary;
    summary << root.string() << ": " << train.images.size(0) << " training view"
            << (train.images.size(0) == 1 ? "" : "s");
    for (const auto& s : splits_)
      if (s.name != "train" && s.name != "train-views") summary << ", " << s.images.size(0) << " " << s.name;
    summary << "; " << size.width << "x" << size.height;
    if (options.downscale > 1) summary << " downscaled to " << train.images.size(2) << "x" << train.images.size(1);
    summary << ", focal " << train.focal << " px; " << train_rays_ << " training rays";
    host().info(summary.str());
  }

  const genlab_dataset_info& data_info() const override { return info_; }

  genlab::sdk::Tensors get_batch(const std::string& split, const std::vector<int64_t>& indices, uint64_t) override {
    const Views* views = nullptr;
    std::string names;
    for (const auto& s : splits_) {
      if (s.name == split) views = &s;
      names += (names.empty() ? "" : ", ") + s.name;
    }
    GENLAB_CHECK(views != nullptr, GENLAB_ERROR_NOT_FOUND, "no split '" + split + "' (expected one of " + names + ")");
    const bool rays = split == "train";
    const int64_t n = rays ? train_rays_ : views->images.size(0);
    for (int64_t i : indices)
      GENLAB_CHECK(i >= 0 && i < n, GENLAB_ERROR_INVALID_ARGUMENT,
                   "index " + std::to_string(i) + " out of range [0, " + std::to_string(n) + ") of split '" + split +
                       "' (" + (rays ? "rays" : "views") + ")");
    const at::Tensor index = at::tensor(indices, at::kLong);
    genlab::sdk::Tensors out;
    if (rays) {
      // Ray i is pixel i % (H*W) of view i / (H*W), row-major: the order of the colours.
      const int64_t height = views->images.size(1), width = views->images.size(2);
      const at::Tensor view = index.div(height * width, "floor"), pixel = index.remainder(height * width);
      const at::Tensor camera = genlab::plugins::camera_directions(pixel.remainder(width), pixel.div(width, "floor"),
                                                                   views->focals.index_select(0, view), height, width);
      out.add("origins", train_translations_.index_select(0, view));
      out.add("directions", genlab::plugins::world_directions(camera, train_rotations_.index_select(0, view)));
      out.add("colors", views->images.view({-1, 3}).index_select(0, index));
    } else {
      out.add("image", views->images.index_select(0, index).permute({0, 3, 1, 2}).contiguous());
      out.add("pose", views->poses.index_select(0, index));
      out.add("focal", views->focals.index_select(0, index));
    }
    return out;
  }

 private:
  // Frame `i` of a split as [H, W, 3] floats: decoded as RGBA (stb gives images without alpha
  // an opaque one), composited onto the background, then box-averaged by the downscale.
  static at::Tensor decode_view(const ParsedSplit& split, int64_t i, const Options& options, ViewSize& size) {
    const std::string file = split.files[static_cast<size_t>(i)].string();
    const auto image = genlab::data::reading(file, [&] { return genlab::data::read_image_file(file, 4); });
    const std::string frame = "frame " + std::to_string(i) + " of " + split.json;
    if (size.width == 0) {
      size = ViewSize{image.width, image.height, frame};
      GENLAB_CHECK(image.width % options.downscale == 0 && image.height % options.downscale == 0,
                   GENLAB_ERROR_INVALID_ARGUMENT,
                   "downscale " + std::to_string(options.downscale) + " does not divide the " +
                       std::to_string(image.width) + "x" + std::to_string(image.height) + " views of " + split.json +
                       " (it must divide both sides, so that the camera's centre stays the image centre)");
    }
    GENLAB_CHECK(
        image.width == size.width && image.height == size.height, GENLAB_ERROR_INVALID_ARGUMENT,
        split.json + ": frame " + std::to_string(i) + " (" +
            genlab::data::formats::nerf_detail::quoted(split.transforms.frames[static_cast<size_t>(i)].file_path) +
            "): the image is " + std::to_string(image.width) + "x" + std::to_string(image.height) + ", but " +
            size.first + " is " + std::to_string(size.width) + "x" + std::to_string(size.height) +
            " (all views of a scene share one size)");
    const int64_t pixels = static_cast<int64_t>(image.width) * image.height;
    at::Tensor view = at::empty({image.height, image.width, 3}, at::kFloat);
    float* out = view.data_ptr<float>();
    const uint8_t* in = image.pixels.data();
    const float background = options.background == "white" ? 1.0f : 0.0f;
    for (int64_t p = 0; p < pixels; ++p) {
      const float alpha = static_cast<float>(in[4 * p + 3]) / 255.0f;
      for (int64_t ch = 0; ch < 3; ++ch)
        out[3 * p + ch] = static_cast<float>(in[4 * p + ch]) / 255.0f * alpha + background * (1.0f - alpha);
    }
    const int64_t f = options.downscale;
    if (f > 1) view = view.view({image.height / f, f, image.width / f, f, 3}).mean({1, 3});
    return view;
  }

  // The training views' cameras split out of their poses, ready to gather per ray.
  void keep_train_cameras() {
    const Views& train = splits_[0];
    const at::Tensor top = train.poses.slice(1, 0, 3);  // [N, 3, 4]
    train_rotations_ = top.slice(2, 0, 3).contiguous();
    train_translations_ = top.select(2, 3).contiguous();
    train_rays_ = train.images.size(0) * train.images.size(1) * train.images.size(2);
  }

  // Fills the info: the ray elements first, then the view elements; sizes per split.
  void describe() {
    for (const auto& s : splits_) {
      names_.push_back(s.name.c_str());
      sizes_.push_back(s.name == "train" ? train_rays_ : s.images.size(0));
    }
    image_shape_ = {3, splits_[0].images.size(1), splits_[0].images.size(2)};
    const auto f32 = genlab_util_dtype_float32();
    const char* ray_names[3] = {"origins", "directions", "colors"};
    for (int e = 0; e < 3; ++e)
      elements_[e] = genlab_element_spec{GENLAB_ELEMENT_SPEC_STRUCT_SIZE, ray_names[e], f32, 1, &three_};
    elements_[3] = genlab_element_spec{GENLAB_ELEMENT_SPEC_STRUCT_SIZE, "image", f32, 3, image_shape_.data()};
    elements_[4] = genlab_element_spec{GENLAB_ELEMENT_SPEC_STRUCT_SIZE, "pose", f32, 2, pose_shape_};
    elements_[5] = genlab_element_spec{GENLAB_ELEMENT_SPEC_STRUCT_SIZE, "focal", f32, 0, nullptr};
    info_.struct_size = GENLAB_DATASET_INFO_STRUCT_SIZE;
    info_.modality = "rays";
    info_.split_count = splits_.size();
    info_.split_names = names_.data();
    info_.split_sizes = sizes_.data();
    info_.element_count = 6;
    info_.elements = elements_;
    info_.num_classes = 0;
    info_.vocab_size = 0;
    info_.value_range = "[0, 1]";
    info_.vocabulary = nullptr;
  }

  std::vector<Views> splits_;      // train (rays), train-views, [val], test
  at::Tensor train_rotations_;     // [N, 3, 3] of the training views' poses, camera to world
  at::Tensor train_translations_;  // [N, 3], the cameras' centres: every ray's origin
  int64_t train_rays_ = 0;         // N * H * W, one per pixel
  std::vector<const char*> names_;
  std::vector<int64_t> sizes_;
  std::vector<int64_t> image_shape_;
  const int64_t three_ = 3;
  const int64_t pose_shape_[2] = {4, 4};
  genlab_element_spec elements_[6]{};
  genlab_dataset_info info_{};
};

}  // namespace

GENLAB_PLUGIN(NerfSynthetic)
