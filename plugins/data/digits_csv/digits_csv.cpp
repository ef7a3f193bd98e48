// digits-csv — the 8x8 handwritten digits of UCI (as shipped with scikit-learn): one row
// per image, 64 pixel values 0..16 then the label, comma-separated, gzipped or not.
// 1,797 images: tiny, for tests and quick experiments. The last test_fraction of the rows
// form the test split.
#include <genlab/formats/digits_csv.hpp>
#include "../common/image_dataset.hpp"

namespace {

using genlab::data::Split;

// The most a digits CSV may hold (decompressed): a row is 130 to 195 bytes, so 64 MiB is some
// 400,000 rows, hundreds of times the 1,797 of UCI's set; reading stops there.
constexpr uint64_t kMaxCsvBytes = uint64_t{64} << 20;

struct DigitsCsvOptions {
  std::string path = "$GENLAB_DATA/digits/digits.csv.gz";
  double test_fraction = 0.2;
  genlab::data::Selection selection;
};

const auto kDigitsCsvParams =
    genlab::data::with_selection(genlab::sdk::Params<DigitsCsvOptions>()
                                     .add("path", &DigitsCsvOptions::path, "the CSV file (.gz or plain)")
                                     .add("test_fraction", &DigitsCsvOptions::test_fraction,
                                          "share of the rows, at the end, that form the test split")
                                     .between(0, 1, genlab::sdk::Params<DigitsCsvOptions>::Ends::open),
                                 &DigitsCsvOptions::selection);

class DigitsCsv final : public genlab::data::ImageDataset {
 public:
  static genlab::sdk::Info info() {
    genlab::sdk::Info i;
    i.name = "digits-csv";
    i.version = "1.0.0";
    i.family = "image";
    i.summary = "8x8 digits CSV (64 pixels 0..16 + label per row); float [N,1,8,8] in [0,1]";
    i.modalities = {"image"};
    i.params = kDigitsCsvParams.describe();
    return i;
  }

  explicit DigitsCsv(const genlab::sdk::Context& c) : ImageDataset(c) {
    DigitsCsvOptions o = kDigitsCsvParams.read(c.config);
    if (!c.config.has("path")) o.path = genlab::data::data_path(o.path);
    const std::string& path = o.path;
    std::vector<Split> splits = genlab::data::reading(path, [&] {
      const std::string text = genlab::data::read_maybe_gzipped(
          path, kMaxCsvBytes,
          "the cap on a digits CSV (" + genlab::data::format_bytes(kMaxCsvBytes) + ", some 400,000 rows)");
      auto [pixels, labels] = genlab::data::formats::parse_digits_csv(text, path);
      const int64_t n = static_cast<int64_t>(labels.size());
      GENLAB_CHECK(n >= 2, GENLAB_ERROR_INVALID_ARGUMENT,
                   path + ": expected rows of digits, found " + std::to_string(n));
      const at::Tensor images = at::tensor(pixels).reshape({n, 1, 8, 8});
      const at::Tensor all_labels = at::tensor(labels, at::kLong);
      const int64_t n_test = std::max<int64_t>(1, static_cast<int64_t>(o.test_fraction * n));
      return std::vector<Split>{
          {"train", images.narrow(0, 0, n - n_test).clone(), all_labels.narrow(0, 0, n - n_test).clone()},
          {"test", images.narrow(0, n - n_test, n_test).clone(), all_labels.narrow(0, n - n_test, n_test).clone()}};
    });
    describe(std::move(splits), o.selection);
  }
};

}  // namespace

GENLAB_PLUGIN(DigitsCsv)
