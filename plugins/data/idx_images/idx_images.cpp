// idx-images — images and labels in the IDX format of MNIST and Fashion-MNIST (LeCun et
// al.), gzipped or not, and any IDX a user brings. An IDX file is a 4-byte magic (two zero
// bytes, the type 0x08 for unsigned bytes, the number of dimensions), the dimensions as
// big-endian int32, then the data. Images: 3 dims (N, H, W); labels: 1 dim (N).
#include <genlab/formats/files.hpp>
#include <genlab/formats/idx.hpp>
#include "../common/image_dataset.hpp"

namespace {

using genlab::data::Split;
using genlab::data::formats::idx_dims;

// An IDX file of `ndim` dims, gzipped or not, read no further than its header says it needs:
// the header first, then the data it promises (at most the cap on a data file, 1 GiB), so
// that neither a header nor a gzip stream can make it allocate more. Bytes after the data are
// left unread.
std::string read_idx(const std::string& path, int ndim) {
  genlab::data::MaybeGzipped file(path);
  std::string bytes;
  const size_t header = genlab::data::formats::idx_header_bytes(ndim);
  file.read(bytes, header);
  const uint64_t count = genlab::data::formats::idx_data_bytes(genlab::data::formats::idx_header(bytes, path, ndim));
  GENLAB_CHECK(count <= genlab::data::kMaxDataFileBytes - header, GENLAB_ERROR_INVALID_ARGUMENT,
               path + ": the header promises " +
                   (count == UINT64_MAX ? std::string("more than 2^64") : std::to_string(count)) +
                   " bytes of data, more than the " + genlab::data::format_bytes(genlab::data::kMaxDataFileBytes) +
                   " cap on a data file (refused before reading them)");
  file.read(bytes, count);
  idx_dims(bytes, path, ndim);  // the data is all there
  (void)file.more();            // one byte more: zlib reaches the end of an exact-size gzip stream and checks its CRC
  return bytes;
}

// The first existing of `name` and `name`.gz in `folder`.
std::string find_file(const std::string& folder, const std::string& name) {
  for (const std::string& candidate : {folder + "/" + name, folder + "/" + name + ".gz"}) {
    FILE* f = std::fopen(candidate.c_str(), "rb");
    if (f) {
      std::fclose(f);
      return candidate;
    }
  }
  throw genlab::sdk::Error(GENLAB_ERROR_IO, folder + "/" + name +
                                                "[.gz]: no such file (scripts/fetch-data.sh fetches "
                                                "MNIST and Fashion-MNIST into ./data)");
}

Split read_split(const std::string& name, const std::string& images_path, const std::string& labels_path) {
  const std::string image_bytes = genlab::data::reading(images_path, [&] { return read_idx(images_path, 3); });
  const std::string label_bytes = genlab::data::reading(labels_path, [&] { return read_idx(labels_path, 1); });
  const auto dims = idx_dims(image_bytes, images_path, 3);
  const auto label_dims = idx_dims(label_bytes, labels_path, 1);
  GENLAB_CHECK(label_dims[0] == dims[0], GENLAB_ERROR_INVALID_ARGUMENT,
               labels_path + ": " + std::to_string(label_dims[0]) + " labels for the " + std::to_string(dims[0]) +
                   " images of " + images_path);
  Split s;
  s.name = name;
  const auto* pixels = reinterpret_cast<const uint8_t*>(image_bytes.data() + 16);
  s.images = genlab::data::reading(images_path, [&] {
    return at::from_blob(const_cast<uint8_t*>(pixels), {dims[0], 1, dims[1], dims[2]}, at::kByte)
        .to(at::kFloat)
        .div_(255.0f);  // [N, 1, H, W] in [0, 1]
  });
  const auto* labels = reinterpret_cast<const uint8_t*>(label_bytes.data() + 8);
  s.labels = genlab::data::reading(
      labels_path, [&] { return at::from_blob(const_cast<uint8_t*>(labels), {dims[0]}, at::kByte).to(at::kLong); });
  return s;
}

struct IdxImagesOptions {
  std::string path = "$GENLAB_DATA/mnist";
  std::string train_images = "train-images-idx3-ubyte";
  std::string train_labels = "train-labels-idx1-ubyte";
  std::string test_images = "t10k-images-idx3-ubyte";
  std::string test_labels = "t10k-labels-idx1-ubyte";
  genlab::data::Selection selection;
};

const auto kIdxImagesParams =
    genlab::data::with_selection(genlab::sdk::Params<IdxImagesOptions>()
                                     .add("path", &IdxImagesOptions::path, "folder of the IDX files")
                                     .add("train_images", &IdxImagesOptions::train_images, "file name (.gz found too)")
                                     .add("train_labels", &IdxImagesOptions::train_labels, "file name (.gz found too)")
                                     .add("test_images", &IdxImagesOptions::test_images, "file name (.gz found too)")
                                     .add("test_labels", &IdxImagesOptions::test_labels, "file name (.gz found too)"),
                                 &IdxImagesOptions::selection);

class IdxImages final : public genlab::data::ImageDataset {
 public:
  static genlab::sdk::Info info() {
    genlab::sdk::Info i;
    i.name = "idx-images";
    i.version = "1.0.0";
    i.family = "image";
    i.summary = "IDX images and labels (MNIST, Fashion-MNIST), gzipped or not; float [N,1,H,W] in [0,1]";
    i.modalities = {"image"};
    i.params = kIdxImagesParams.describe();
    return i;
  }

  explicit IdxImages(const genlab::sdk::Context& c) : ImageDataset(c) {
    IdxImagesOptions o = kIdxImagesParams.read(c.config);
    if (!c.config.has("path")) o.path = genlab::data::data_path(o.path);
    std::vector<Split> splits;
    splits.push_back(read_split("train", find_file(o.path, o.train_images), find_file(o.path, o.train_labels)));
    splits.push_back(read_split("test", find_file(o.path, o.test_images), find_file(o.path, o.test_labels)));
    describe(std::move(splits), o.selection);
  }
};

}  // namespace

GENLAB_PLUGIN(IdxImages)
