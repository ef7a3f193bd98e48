// text — any UTF-8 text file (or a folder of them, read in name order) as windows of
// tokens for language models.
//
// Tokens: "char", one per Unicode code point, the vocabulary being the sorted code points
// of the training split (or of all the text, with vocabulary_from = "all"), handed to the
// model in genlab_dataset_info.vocabulary; or "byte", the 256 byte values, no vocabulary.
// Splits: "train", the first 1 - val_fraction of the text, whose examples are the windows
// of block_size + 1 tokens starting at every position (so the host's shuffled indices are
// nanoGPT's random windows); "val", the rest, cut into non-overlapping windows (so the
// first N examples of it cover distinct text). `subset` keeps the first N characters (or
// bytes) of the training text, for data-size experiments.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

#include <genlab/formats/utf8.hpp>
#include <genlab/formats/files.hpp>

namespace {

namespace fs = std::filesystem;
namespace utf8 = genlab::plugins::utf8;

// The most text a dataset reads, all its files together, decompressed: 1 GiB (the cap on a
// data file). Reading stops there.
constexpr uint64_t kMaxTextBytes = genlab::data::kMaxDataFileBytes;

// What is wrong at byte `at` of `bytes`, where utf8::decode stopped: "byte 0xC3 starts a
// 2-byte sequence, but byte offset 101 holds 0x28, not a continuation byte".
std::string utf8_problem(const std::string& bytes, size_t at) {
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  char text[160];
  const unsigned first = b[at];
  const size_t length = first < 0x80             ? 1
                        : (first & 0xE0) == 0xC0 ? 2
                        : (first & 0xF0) == 0xE0 ? 3
                        : (first & 0xF8) == 0xF0 ? 4
                                                 : 0;
  if ((first & 0xC0) == 0x80) {
    std::snprintf(text, sizeof text, "byte 0x%02X is a continuation byte that no lead byte starts", first);
  } else if (length == 0) {
    std::snprintf(text, sizeof text, "byte 0x%02X is never in UTF-8 text", first);
  } else if (at + length > bytes.size()) {
    std::snprintf(text, sizeof text, "the file ends inside the %zu-byte sequence that byte 0x%02X starts", length,
                  first);
  } else {
    for (size_t k = 1; k < length; ++k)
      if ((b[at + k] & 0xC0) != 0x80) {
        std::snprintf(
            text, sizeof text,
            "byte 0x%02X starts a %zu-byte sequence, but byte offset %zu holds 0x%02X, not a continuation byte", first,
            length, at + k, unsigned(b[at + k]));
        return text;
      }
    std::string hex;
    for (size_t k = 0; k < length; ++k) {
      char h[8];
      std::snprintf(h, sizeof h, "%s%02X", k ? " " : "", unsigned(b[at + k]));
      hex += h;
    }
    std::snprintf(text, sizeof text, "bytes %s are an overlong form, a surrogate or past U+10FFFF", hex.c_str());
  }
  return text;
}

// Appends the code points of the UTF-8 `bytes` of `file` to `out`; an error names the file,
// the byte offset of the first malformed sequence and what is wrong there.
void decode_utf8(const std::string& bytes, const std::string& file, std::vector<uint32_t>& out) {
  size_t bad = 0;
  // Grow geometrically: utf8::decode reserves exactly what it needs, once per file.
  if (out.capacity() < out.size() + bytes.size()) out.reserve(std::max(2 * out.capacity(), out.size() + bytes.size()));
  if (utf8::decode(bytes, out, bad)) return;
  const bool binary = bytes.find('\0') != std::string::npos;
  throw genlab::sdk::Error(GENLAB_ERROR_INVALID_ARGUMENT,
                           file + ": not UTF-8 text at byte offset " + std::to_string(bad) + ": " +
                               utf8_problem(bytes, bad) + (binary ? " (it holds NUL bytes: a binary file?)" : "") +
                               "; expected UTF-8 text, or use tokenizer = \"byte\" for any bytes");
}

// The symbols of the file at `path`, or of a folder's files (recursively, in name order) one
// after another: bytes, or code points with tokenizer "char" (each file decoded on its own, so
// that an error names the file). At most kMaxTextBytes are read, all files together.
std::vector<uint32_t> read_symbols(const std::string& path, bool bytes_as_symbols) {
  std::error_code error;
  std::vector<std::string> files;
  if (!fs::is_directory(path, error)) {
    files.push_back(path);
  } else {
    for (fs::recursive_directory_iterator it(path, error), end; !error && it != end; it.increment(error)) {
      std::error_code kind;
      if (it->is_regular_file(kind)) files.push_back(it->path().string());
    }
    GENLAB_CHECK(!error, GENLAB_ERROR_IO, path + ": cannot list: " + error.message());
    std::sort(files.begin(), files.end());
  }
  std::vector<uint32_t> symbols;
  uint64_t read_so_far = 0;
  for (const auto& file : files) {
    genlab::data::reading(file, [&] {
      const std::string bytes = genlab::data::read_maybe_gzipped(
          file, kMaxTextBytes - read_so_far,
          std::string("the cap on a text dataset's files together (") + genlab::data::format_bytes(kMaxTextBytes) +
              (read_so_far ? ", of which " + std::to_string(read_so_far) + " bytes were read before this file)" : ")"));
      read_so_far += bytes.size();
      if (bytes_as_symbols)
        symbols.insert(symbols.end(), reinterpret_cast<const unsigned char*>(bytes.data()),
                       reinterpret_cast<const unsigned char*>(bytes.data()) + bytes.size());
      else decode_utf8(bytes, file, symbols);
    });
  }
  return symbols;
}

struct TextOptions {
  std::string path = "$GENLAB_DATA/moby-dick/moby-dick.txt";
  std::string tokenizer = "char";
  int64_t block_size = 64;
  double val_fraction = 0.1;
  int64_t subset = 0;
  std::string vocabulary_from = "train";
};

const auto kTextParams =
    genlab::sdk::Params<TextOptions>()
        .add("path", &TextOptions::path, "a UTF-8 text file or a folder of them")
        .add("tokenizer", &TextOptions::tokenizer, "\"char\" (code points, vocabulary from the text) or \"byte\" (256)")
        .one_of({"char", "byte"})
        .add("block_size", &TextOptions::block_size, "tokens a model sees; each example is block_size + 1 tokens")
        .positive()
        .add("val_fraction", &TextOptions::val_fraction, "share of the text, at the end, that forms the val split")
        .between(0, 1, genlab::sdk::Params<TextOptions>::Ends::open)
        .add("subset", &TextOptions::subset, "keep the first N characters (bytes) of the training text; 0: all")
        .non_negative()
        .add("vocabulary_from", &TextOptions::vocabulary_from,
             "char: build the vocabulary from \"train\" or \"all\" the text")
        .one_of({"train", "all"});

class Text final : public genlab::sdk::Dataset {
 public:
  static genlab::sdk::Info info() {
    genlab::sdk::Info i;
    i.name = "text";
    i.version = "1.0.0";
    i.family = "text";
    i.summary = "UTF-8 text as windows of block_size + 1 int64 tokens, by character or byte";
    i.modalities = {"tokens"};
    i.params = kTextParams.describe();
    return i;
  }

  explicit Text(const genlab::sdk::Context& c) : Dataset(c) {
    TextOptions o = kTextParams.read(c.config);
    if (!c.config.has("path")) o.path = genlab::data::data_path(o.path);
    block_size_ = o.block_size;
    genlab::data::reading(o.path, [&] { load(o.path, o.tokenizer, o.val_fraction, o.subset, o.vocabulary_from); });
  }

  const genlab_dataset_info& data_info() const override { return info_; }

  genlab::sdk::Tensors get_batch(const std::string& split, const std::vector<int64_t>& indices, uint64_t) override {
    GENLAB_CHECK(split == "train" || split == "val", GENLAB_ERROR_NOT_FOUND,
                 "no split '" + split + "' (expected train or val)");
    const bool train = split == "train";
    const std::vector<int64_t>& tokens = train ? train_ : val_;
    const int64_t size = sizes_[train ? 0 : 1], width = block_size_ + 1;
    at::Tensor out = at::empty({static_cast<int64_t>(indices.size()), width}, at::kLong);
    int64_t* row = out.data_ptr<int64_t>();
    for (int64_t i : indices) {
      GENLAB_CHECK(
          i >= 0 && i < size, GENLAB_ERROR_INVALID_ARGUMENT,
          "index " + std::to_string(i) + " out of range [0, " + std::to_string(size) + ") of split '" + split + "'");
      const int64_t start = train ? i : i * block_size_;
      std::copy(tokens.begin() + start, tokens.begin() + start + width, row);
      row += width;
    }
    genlab::sdk::Tensors batch;
    batch.add("tokens", out);
    return batch;
  }

 private:
  // Reads the text and fills the splits and the description (the options checked).
  void load(const std::string& path, const std::string& tokenizer, double val_fraction, int64_t subset,
            const std::string& vocabulary_from) {
    const std::vector<uint32_t> symbols = read_symbols(path, tokenizer == "byte");
    const int64_t n = static_cast<int64_t>(symbols.size());
    const int64_t n_val = static_cast<int64_t>(val_fraction * static_cast<double>(n));
    int64_t n_train = n - n_val;
    if (subset > 0) n_train = std::min(n_train, subset);
    GENLAB_CHECK(n_train > block_size_ && n_val > block_size_, GENLAB_ERROR_INVALID_ARGUMENT,
                 path + ": " + std::to_string(n) + " " + (tokenizer == "byte" ? "bytes" : "characters") +
                     " give train " + std::to_string(n_train) + " and val " + std::to_string(n_val) +
                     ", each must be longer than block_size (" + std::to_string(block_size_) + ")");

    std::map<uint32_t, int64_t> index;  // symbol -> token
    if (tokenizer == "byte") {
      for (uint32_t b = 0; b < 256; ++b) index[b] = b;
    } else {
      const auto train_end = symbols.begin() + (vocabulary_from == "all" ? n : n - n_val);
      for (auto it = symbols.begin(); it != train_end; ++it) index.emplace(*it, 0);
      int64_t next = 0;
      for (auto& [symbol, token] : index) {
        token = next++;
        utf8::append(vocabulary_, symbol);
      }
    }
    auto encode = [&](int64_t from, int64_t count, std::vector<int64_t>& out) {
      out.resize(static_cast<size_t>(count));
      for (int64_t i = 0; i < count; ++i) {
        const auto found = index.find(symbols[from + i]);
        GENLAB_CHECK(found != index.end(), GENLAB_ERROR_INVALID_ARGUMENT,
                     path + ": character " + utf8::describe(symbols[from + i]) + " (character " +
                         std::to_string(from + i) +
                         ") of the val split is not in the training split's vocabulary; "
                         "set vocabulary_from = \"all\"");
        out[i] = found->second;
      }
    };
    encode(0, n_train, train_);
    encode(n - n_val, n_val, val_);

    sizes_ = {n_train - block_size_, (n_val - 1) / block_size_};
    shape_ = {block_size_ + 1};
    element_ =
        genlab_element_spec{GENLAB_ELEMENT_SPEC_STRUCT_SIZE, "tokens", genlab_util_dtype_int64(), 1, shape_.data()};
    info_.struct_size = GENLAB_DATASET_INFO_STRUCT_SIZE;
    info_.modality = "tokens";
    info_.split_count = 2;
    info_.split_names = split_names_;
    info_.split_sizes = sizes_.data();
    info_.element_count = 1;
    info_.elements = &element_;
    info_.num_classes = 0;
    info_.vocab_size = static_cast<int64_t>(index.size());
    info_.value_range = nullptr;
    info_.vocabulary = tokenizer == "char" ? vocabulary_.c_str() : nullptr;
  }

  int64_t block_size_ = 0;  // the option block_size
  std::vector<int64_t> train_, val_;
  std::string vocabulary_;
  std::vector<int64_t> sizes_, shape_;
  const char* split_names_[2] = {"train", "val"};
  genlab_element_spec element_{};
  genlab_dataset_info info_{};
};

}  // namespace

GENLAB_PLUGIN(Text)
