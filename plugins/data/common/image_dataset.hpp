// The part every image dataset plugin shares: images held as one float tensor
// [N, C, H, W] in [0, 1] with int64 labels per split, the subset, class and rare-class
// selections that data-size and outlier experiments need, and get_batch as an index_select.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <genlab/sdk/plugin.hpp>

#include <genlab/formats/files.hpp>

namespace genlab::data {

// One split: images [N, C, H, W] float32 in [0, 1] and labels [N] int64.
struct Split {
  std::string name;
  at::Tensor images, labels;
};

// Subset, class and rare-class selections, from the manifest (the same keys for every image
// dataset: with_selection() declares them).
struct Selection {
  int64_t subset = 0;
  std::string subset_mode = "first";
  int64_t subset_seed = 0;
  std::string classes;
  int64_t rare_class = -1;
  double rare_share = 0.01;

  // The labels that `classes` lists ("0,1,7", spaces allowed; none: all are kept), or nullopt
  // when an item is not a label >= 0.
  std::optional<std::set<int64_t>> class_labels() const {
    std::set<int64_t> labels;
    std::istringstream list(classes);
    std::string item;
    while (std::getline(list, item, ',')) {
      if (item.find_first_not_of(" ") == std::string::npos) continue;
      // strtoll, not std::stoll: "3x" is refused rather than read as 3, and nothing throws
      // a text naming a C++ function.
      const size_t first = item.find_first_not_of(' '), last = item.find_last_not_of(' ');
      const std::string number = item.substr(first, last - first + 1);
      char* end = nullptr;
      errno = 0;
      const long long label = std::strtoll(number.c_str(), &end, 10);
      if (end == number.c_str() || *end != '\0' || errno == ERANGE || label < 0) return std::nullopt;
      labels.insert(static_cast<int64_t>(label));
    }
    return labels;
  }

  // Applies the class filter to a split, then to the train split the rare class and the
  // subset (which so picks from the thinned set).
  void apply(Split& split) const {
    const std::set<int64_t> kept_labels = class_labels().value();  // checked when read
    if (!kept_labels.empty()) {
      std::vector<int64_t> keep;
      const auto* labels = split.labels.data_ptr<int64_t>();
      for (int64_t i = 0; i < split.labels.size(0); ++i)
        if (kept_labels.count(labels[i])) keep.push_back(i);
      select(split, keep);
    }
    if (split.name == "train" && rare_class >= 0) thin_rare_class(split, !kept_labels.empty());
    if (split.name == "train" && subset > 0 && subset < split.images.size(0)) {
      std::vector<int64_t> keep(static_cast<size_t>(split.images.size(0)));
      for (size_t i = 0; i < keep.size(); ++i) keep[i] = static_cast<int64_t>(i);
      if (subset_mode == "random")
        std::shuffle(keep.begin(), keep.end(), std::mt19937_64(static_cast<uint64_t>(subset_seed)));
      keep.resize(static_cast<size_t>(subset));
      std::sort(keep.begin(), keep.end());
      select(split, keep);
    }
    GENLAB_CHECK(split.images.size(0) > 0, GENLAB_ERROR_INVALID_ARGUMENT,
                 "split '" + split.name + "' is empty after the class filter");
  }

 private:
  // Keeps the first k examples of rare_class, k chosen so that they form rare_share of the
  // train split: k / (k + others) = rare_share. `filtered`: the classes filter ran before.
  void thin_rare_class(Split& split, bool filtered) const {
    std::map<int64_t, int64_t> counts;
    const auto* labels = split.labels.data_ptr<int64_t>();
    const int64_t n = split.labels.size(0);
    for (int64_t i = 0; i < n; ++i) ++counts[labels[i]];
    GENLAB_CHECK(counts.count(rare_class), GENLAB_ERROR_INVALID_ARGUMENT,
                 "rare_class " + std::to_string(rare_class) + " is not a label of the train split (labels " +
                     label_list(counts) + (filtered ? ", after the classes filter)" : ")"));
    const int64_t others = n - counts[rare_class];
    GENLAB_CHECK(others > 0, GENLAB_ERROR_INVALID_ARGUMENT,
                 "rare_class " + std::to_string(rare_class) +
                     " is the only label of the train split: it can only be rare among other classes");
    const auto k = std::max<int64_t>(1, std::llround(rare_share * static_cast<double>(others) / (1 - rare_share)));
    if (counts[rare_class] <= k) return;
    std::vector<int64_t> keep;
    int64_t rare_kept = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (labels[i] == rare_class) {
        if (rare_kept == k) continue;
        ++rare_kept;
      }
      keep.push_back(i);
    }
    select(split, keep);
  }

  // The labels as "0..9" when they run without gaps, else as "3, 5, 8".
  static std::string label_list(const std::map<int64_t, int64_t>& counts) {
    if (counts.empty()) return "none";
    const int64_t first = counts.begin()->first, last = counts.rbegin()->first;
    if (last - first + 1 == static_cast<int64_t>(counts.size()))
      return std::to_string(first) + ".." + std::to_string(last);
    std::string list;
    for (const auto& [label, count] : counts) list += (list.empty() ? "" : ", ") + std::to_string(label);
    return list;
  }

  static void select(Split& split, const std::vector<int64_t>& keep) {
    const at::Tensor index = at::tensor(keep, at::kLong);
    split.images = split.images.index_select(0, index).contiguous();
    split.labels = split.labels.index_select(0, index).contiguous();
  }
};

// `params`, a dataset's own, followed by the selection's, read into its member `selection`.
template <class Options>
sdk::Params<Options> with_selection(sdk::Params<Options> params, Selection Options::*selection) {
  const auto member = [selection](auto field) {
    return [ selection, field ](Options & o) -> auto& { return (o.*selection).*field; };
  };
  const auto selected = [selection](const Options& o) -> const Selection& { return o.*selection; };
  params.add("subset", member(&Selection::subset), "training examples to keep, 0 for all (data-size experiments)")
      .non_negative()
      .add("subset_mode", member(&Selection::subset_mode), "\"first\" N, or a \"random\" sample of N by subset_seed")
      .one_of({"first", "random"})
      .add("subset_seed", member(&Selection::subset_seed), "seed of the random subset")
      .add("classes", member(&Selection::classes), "keep only these labels, e.g. \"0,1,7\"; empty for all")
      .check([selected](const Options& o) { return selected(o).class_labels().has_value(); },
             "as labels >= 0 like \"0,1,7\"")
      .add("rare_class", member(&Selection::rare_class),
           "a label made rare in the train split, -1 for none (rare-mode experiments)")
      .check([selected](const Options& o) { return selected(o).rare_class >= -1; }, "-1 (none) or a label >= 0")
      .add("rare_share", member(&Selection::rare_share),
           "the rare class's share of the train split: its first examples are kept")
      .between(0, 1, genlab::sdk::Params<Options>::Ends::open);
  return params;
}

// A dataset of image splits: describes itself and serves batches.
class ImageDataset : public genlab::sdk::Dataset {
 public:
  using Dataset::Dataset;

  const genlab_dataset_info& data_info() const override { return info_; }

  genlab::sdk::Tensors get_batch(const std::string& split, const std::vector<int64_t>& indices, uint64_t) override {
    const Split* s = nullptr;
    for (const auto& candidate : splits_)
      if (candidate.name == split) s = &candidate;
    GENLAB_CHECK(s != nullptr, GENLAB_ERROR_NOT_FOUND, "no split '" + split + "' (expected train or test)");
    const int64_t n = s->images.size(0);
    for (int64_t i : indices)
      GENLAB_CHECK(
          i >= 0 && i < n, GENLAB_ERROR_INVALID_ARGUMENT,
          "index " + std::to_string(i) + " out of range [0, " + std::to_string(n) + ") of split '" + split + "'");
    const at::Tensor index = at::tensor(indices, at::kLong);
    genlab::sdk::Tensors out;
    out.add("image", s->images.index_select(0, index));
    out.add("label", s->labels.index_select(0, index));
    return out;
  }

 protected:
  // Call once the splits are loaded: fills the description of the data.
  void describe(std::vector<Split> splits, const Selection& selection) {
    splits_ = std::move(splits);
    int64_t classes = 0;
    for (auto& s : splits_) {
      selection.apply(s);
      names_.push_back(s.name.c_str());
      sizes_.push_back(s.images.size(0));
      classes = std::max(classes, s.labels.max().item<int64_t>() + 1);
    }
    for (auto& s : splits_) names_[&s - splits_.data()] = s.name.c_str();
    shape_.assign(splits_[0].images.sizes().begin() + 1, splits_[0].images.sizes().end());
    elements_[0] = genlab_element_spec{GENLAB_ELEMENT_SPEC_STRUCT_SIZE, "image", genlab_util_dtype_float32(),
                                       static_cast<int32_t>(shape_.size()), shape_.data()};
    elements_[1] = genlab_element_spec{GENLAB_ELEMENT_SPEC_STRUCT_SIZE, "label", genlab_util_dtype_int64(), 0, nullptr};
    info_.struct_size = GENLAB_DATASET_INFO_STRUCT_SIZE;
    info_.modality = "image";
    info_.split_count = splits_.size();
    info_.split_names = names_.data();
    info_.split_sizes = sizes_.data();
    info_.element_count = 2;
    info_.elements = elements_;
    info_.num_classes = classes;
    info_.vocab_size = 0;
    info_.value_range = "[0, 1]";
  }

 private:
  std::vector<Split> splits_;
  std::vector<const char*> names_;
  std::vector<int64_t> sizes_;
  std::vector<int64_t> shape_;
  genlab_element_spec elements_[2]{};
  genlab_dataset_info info_{};
};

}  // namespace genlab::data
