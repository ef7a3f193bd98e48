// nerf — a neural radiance field trained on posed views, rendering novel ones, as a genlab
// model plugin: the MLP of Mildenhall et al. (2020), "NeRF: Representing Scenes as Neural
// Radiance Fields for View Synthesis", or the multiresolution hash encoding of Müller et al.
// (2022), "Instant Neural Graphics Primitives".
//
// Legend: R rays, S samples per ray, P points (R S), B training rays per batch, N views,
// H/W view height/width, L hash levels, F features per level.
//
// A field maps a point x and a view direction d to a density sigma(x) and a colour c(x, d).
// A ray o + t d is rendered by sampling t between near and far and compositing
// (composite.hpp); the pixel is color + (1 - opacity) * background.
//
// encoding = "frequency" (the paper): x and d frequency-encoded (encoding.hpp), an MLP of
// `depth` ReLU layers of `width` with the input concatenated again after layer `skip`, a
// ReLU density head, a feature layer, d's encoding concatenated, one layer of width / 2 and a
// sigmoid RGB head. Hierarchical sampling (section 5.2): a coarse network at `samples`
// stratified distances, a second, fine network at those plus `fine_samples` drawn from the
// coarse weights; loss = MSE(coarse) + MSE(fine). Adam 5e-4, betas (0.9, 0.999), eps 1e-7
// (the paper's code).
//
// encoding = "hashgrid" (Instant-NGP): positions in [-bound, bound]^3 hash-encoded
// (encoding.hpp), an MLP with one hidden layer of `hash_width` to a log-density and 15
// geometry features, and a colour MLP (two hidden layers of `hash_width`) on those features
// and the view direction in spherical harmonics of degree < 4 (16 coefficients, as
// Instant-NGP). Density = exp(min(raw, 15)): exp lets the network output log-densities, so
// empty space (~1e-3) and surfaces (~1e3) are a few units apart (softplus would need outputs
// of ~1e3 for surfaces); the clamp keeps sigma delta finite. Points outside the cube have
// density 0 and are not evaluated at all. One network serves both passes: the coarse pass
// runs without gradients only to place the importance samples, and the fine pass at the
// union of both sample sets is the one trained (loss = MSE(fine)); with fine_samples = 0 the
// single pass is trained. (Instant-NGP replaces the coarse pass by an occupancy grid; a
// second hash grid would double the parameters for a pass that is never shown.) Adam 1e-2,
// betas (0.9, 0.99), eps 1e-15 (Instant-NGP).
//
// Both: the learning rate decays exponentially to lr * lr_final_factor over decay_steps,
// then stays there. The composite goes through the host's backend ops (composite =
// "backend") or LibTorch autograd ("autograd"). Rays pass through the networks
// `micro_batch` at a time (by default 32768 sample points' worth), in training (their
// gradients summed: the same step as the whole batch at once) and in rendering: that bounds
// memory, and on the CPU it is faster, since tensors of a few MB are reused from the
// allocator's heap while those of a whole batch (hundreds of MB) are mapped and zeroed
// afresh by the kernel every time.
#include <torch/torch.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <genlab/sdk/plugin.hpp>

#include <genlab/sdk/adam.hpp>
#include <genlab/rendering/composite.hpp>
#include <genlab/rendering/encoding.hpp>
#include <genlab/rendering/rays.hpp>
#include <genlab/rendering/sampling.hpp>

#include "fields.hpp"

namespace {

using genlab::sdk::Tensors;
namespace nf = genlab::nerf;

// Sample points per pass through the networks when micro_batch is 0: activations of a few
// MB (32768 x 128 floats is 16 MB), which the allocator keeps in its heap and reuses; and
// large enough that the matrix products stay efficient. (Measured on 1 thread, the MLP of
// depth 4 x 128 at 64 + 64 samples: 128 or 256 rays per pass train ~1.2x faster than 512
// and ~1.5x faster than a whole batch of 1024 in one pass.)
constexpr int64_t kPassPoints = 32768;

// Options: each field is a manifest key under [models.NAME], declared in kNerfParams.
struct NerfOptions {
  std::string encoding = "frequency";
  // frequency
  int64_t depth = 8, width = 256, skip = 4;
  int64_t freqs_xyz = 10, freqs_dir = 4;
  // hashgrid
  nf::HashGridOptions grid;  // grid.fused is set from hash_kernel after read()
  std::string hash_kernel = "fused";
  double bound = 1.5;
  int64_t hash_width = 64;
  // sampling and rendering
  int64_t samples = 64, fine_samples = 128;
  double near = 2.0, far = 6.0;
  std::string background = "white";
  std::string composite = "backend";
  int64_t chunk = 8192;
  int64_t micro_batch = 0;  // 0 becomes kPassPoints worth after read()
  // optimiser
  double lr = 0;  // 0 becomes the encoding's rate after read()
  double lr_final_factor = 0.1;
  int64_t decay_steps = 20000;
};

using NerfParams = genlab::sdk::Params<NerfOptions>;
const auto kNerfParams =
    NerfParams()
        .add("encoding", &NerfOptions::encoding, "\"frequency\" (the paper's MLP) or \"hashgrid\" (Instant-NGP)")
        .one_of({"frequency", "hashgrid"})
        .add("depth", &NerfOptions::depth, "frequency: MLP layers before the density head")
        .positive()
        .add("width", &NerfOptions::width, "frequency: MLP width (the view layer has width / 2)")
        .check([](const NerfOptions& o) { return o.width >= 2; }, ">= 2 (the view layer has width / 2)")
        .add("skip", &NerfOptions::skip,
             "frequency: the input is concatenated again after this layer (0-based); < 0: never")
        .add("freqs_xyz", &NerfOptions::freqs_xyz, "frequency: octaves of the position encoding")
        .non_negative()
        .add("freqs_dir", &NerfOptions::freqs_dir, "frequency: octaves of the direction encoding")
        .non_negative()
        .add(
            "levels", [](NerfOptions& o) -> int64_t& { return o.grid.levels; }, "hashgrid: resolution levels L")
        .positive()
        .add(
            "features", [](NerfOptions& o) -> int64_t& { return o.grid.features; }, "hashgrid: features per level F")
        .positive()
        .add(
            "log2_table", [](NerfOptions& o) -> int64_t& { return o.grid.log2_table; },
            "hashgrid: log2 of the table rows per level (4 to 24)")
        .between(4, 24)
        .add(
            "base_resolution", [](NerfOptions& o) -> int64_t& { return o.grid.base_resolution; },
            "hashgrid: resolution of the coarsest level")
        .positive()
        .add(
            "max_resolution", [](NerfOptions& o) -> int64_t& { return o.grid.max_resolution; },
            "hashgrid: resolution of the finest level")
        .positive()
        .add("bound", &NerfOptions::bound, "hashgrid: the scene is the cube [-bound, bound]^3; density 0 outside")
        .positive()
        .add("hash_width", &NerfOptions::hash_width, "hashgrid: width of the density and colour MLPs")
        .positive()
        .add(
            "hash_kernel", &NerfOptions::hash_kernel,
            "hashgrid: \"fused\" (one hand-written CPU pass per point; other devices use aten) or \"aten\" (batched ATen ops)")
        .one_of({"fused", "aten"})
        .add("samples", &NerfOptions::samples, "stratified samples per ray (the coarse pass)")
        .positive()
        .add("fine_samples", &NerfOptions::fine_samples,
             "importance samples per ray from the coarse weights; 0: one pass")
        .non_negative()
        .add("near", &NerfOptions::near, "distance of the first sample along a ray")
        .non_negative()
        .add("far", &NerfOptions::far, "distance of the last sample along a ray")
        .add("background", &NerfOptions::background, "\"white\" or \"black\"; must match the dataset's background")
        .one_of({"white", "black"})
        .add("composite", &NerfOptions::composite,
             "\"backend\" (the host's volume_composite op; autograd on a host without ops) or \"autograd\"")
        .one_of({"backend", "autograd"})
        .add("chunk", &NerfOptions::chunk, "rays generate renders between checks for cancellation and progress reports")
        .positive()
        .add("micro_batch", &NerfOptions::micro_batch,
             "rays per pass through the networks in training (gradients summed: the same step) and rendering; "
             "0: as many as make 32768 sample points (256 rays at 64 + 64 samples)")
        .non_negative()
        .add("lr", &NerfOptions::lr, "Adam step size; 0: by encoding, 5e-4 (frequency) or 1e-2 (hashgrid)")
        .non_negative()
        .add("lr_final_factor", &NerfOptions::lr_final_factor, "the learning rate decays exponentially to lr x this")
        .positive()
        .check([](const NerfOptions& o) { return o.lr_final_factor <= 1; }, "<= 1")
        .add("decay_steps", &NerfOptions::decay_steps, "steps of the decay; the rate stays at its end after")
        .positive()
        .require([](const NerfOptions& o) { return o.fine_samples == 0 || o.samples >= 3; },
                 "samples >= 3 with fine_samples > 0 (the importance samples come from the inner coarse bins)")
        .require([](const NerfOptions& o) { return o.far > o.near; },
                 [](const NerfOptions& o) {
                   return "expected near < far, got near " + genlab::sdk::detail::toml_text(o.near) + " and far " +
                          genlab::sdk::detail::toml_text(o.far);
                 });

// What generate() reads from its options, declared in kViewParams.
struct ViewOptions {
  int64_t height = 0, width = 0;  // > 0 where the inputs hold no 'image' (checked there)
};

const auto kViewParams =
    genlab::sdk::Params<ViewOptions>()
        .add("height", &ViewOptions::height, "view height in pixels when the inputs hold no 'image'")
        .add("width", &ViewOptions::width, "view width in pixels when the inputs hold no 'image'");

// One pass over a ray batch: its composite, and the pixel on the background.
struct Pass {
  nf::Composite composite;
  at::Tensor pixels;  // [R, 3]
  at::Tensor ts;      // [R, S], sorted
};

class Nerf final : public genlab::sdk::Model {
 public:
  static genlab::sdk::Info info() {
    genlab::sdk::Info i;
    i.name = "nerf";
    i.version = "1.0.0";
    i.family = "nerf";
    i.summary =
        "neural radiance field: the MLP of Mildenhall et al. 2020 or an Instant-NGP hash grid, views from poses";
    i.modalities = {"rays"};
    // Not GENERATE_NEEDS_INPUTS: that flag means "not a generative model". generate does
    // need poses; it says so when they are missing.
    i.capabilities = GENLAB_CAPABILITY_TRAIN | GENLAB_CAPABILITY_GENERATE | GENLAB_CAPABILITY_STATE;
    i.device_types = {kDLCPU, kDLCUDA};
    i.params = kNerfParams.describe();
    i.generate_params = kViewParams.describe();
    return i;
  }

  explicit Nerf(const genlab::sdk::Context& c) : Model(c) {
    if (c.data_info != nullptr && c.data_info->modality != nullptr) {
      const std::string modality = c.data_info->modality;
      GENLAB_CHECK(modality == "rays", GENLAB_ERROR_INVALID_ARGUMENT,
                   "a NeRF trains on rays of posed views (modality \"rays\", e.g. the nerf-synthetic dataset), got \"" +
                       modality + "\" data");
    }
    o_ = kNerfParams.read(c.config);
    o_.grid.fused = o_.hash_kernel == "fused";
    if (o_.micro_batch == 0) o_.micro_batch = std::max<int64_t>(1, kPassPoints / (o_.samples + o_.fine_samples));
    const bool hashgrid = o_.encoding == "hashgrid";
    if (o_.lr == 0) o_.lr = hashgrid ? 1e-2 : 5e-4;
    background_ = o_.background == "white" ? 1.0 : 0.0;
    use_backend_ = o_.composite == "backend";
    if (use_backend_ && !host().can_run_ops()) {
      host().warn(
          "composite = \"backend\", but this host runs no backend ops (ABI older than 1.3): compositing in LibTorch autograd");
      use_backend_ = false;
    }

    std::vector<std::pair<std::string, at::Tensor>> params;
    auto add = [&](const std::string& prefix, const std::shared_ptr<nf::Field>& field) {
      field->to(device());
      for (const auto& p : field->named_parameters()) params.emplace_back(prefix + "." + p.key(), p.value());
    };
    genlab::sdk::Adam::Options adam;
    adam.lr = o_.lr;
    if (hashgrid) {
      field_ = std::make_shared<nf::HashField>(nf::HashShape{o_.grid, o_.bound, o_.hash_width});
      add("field", field_);
      adam.beta2 = 0.99;
      adam.eps = 1e-15;
    } else {
      const nf::MlpShape mlp_shape{o_.depth, o_.width, o_.skip, o_.freqs_xyz, o_.freqs_dir};
      field_ = std::make_shared<nf::MlpField>(mlp_shape);
      add("coarse", field_);
      if (o_.fine_samples > 0) {
        fine_field_ = std::make_shared<nf::MlpField>(mlp_shape);
        add("fine", fine_field_);
      }
      adam.eps = 1e-7;
    }
    adam_ = std::make_unique<genlab::sdk::Adam>(std::move(params), adam);
  }

  genlab::sdk::Scalars train_step(const Tensors& batch, int64_t) override {
    const at::Tensor origins = ray_tensor(batch, "origins"), directions = ray_tensor(batch, "directions"),
                     colors = ray_tensor(batch, "colors");
    GENLAB_CHECK(
        origins.size(0) == directions.size(0) && origins.size(0) == colors.size(0), GENLAB_ERROR_INVALID_ARGUMENT,
        "expected 'origins', 'directions' and 'colors' with one row per ray, got " + std::to_string(origins.size(0)) +
            ", " + std::to_string(directions.size(0)) + " and " + std::to_string(colors.size(0)) + " rows");
    const double progress = std::min(1.0, static_cast<double>(adam_->steps()) / static_cast<double>(o_.decay_steps));
    adam_->set_lr(o_.lr * std::pow(o_.lr_final_factor, progress));

    // The batch in micro-batches, each backpropagated at its share of the batch's mean: the
    // gradients add up to the whole batch's. (Small tensors come back from the allocator's
    // heap; a whole batch's would be fresh pages, zeroed by the kernel, every step.)
    const int64_t rays = origins.size(0);
    double loss_value = 0, mse_value = 0;
    adam_->zero_grad();
    for (int64_t from = 0; from < rays; from += o_.micro_batch) {
      const int64_t n = std::min(o_.micro_batch, rays - from);
      const at::Tensor target = colors.narrow(0, from, n);
      const auto [coarse, fine] =
          render_rays(origins.narrow(0, from, n), directions.narrow(0, from, n), /*training=*/true);
      const at::Tensor coarse_mse = torch::mse_loss(coarse.pixels, target);
      at::Tensor loss, mse = coarse_mse;
      if (fine.pixels.defined()) {
        mse = torch::mse_loss(fine.pixels, target);
        loss = coarse.pixels.requires_grad() ? coarse_mse + mse : mse;  // a hashgrid's coarse pass is not trained
      } else {
        loss = coarse_mse;
      }
      const double share = static_cast<double>(n) / static_cast<double>(rays);
      (loss * share).backward();
      loss_value += share * loss.item<double>();
      mse_value += share * mse.item<double>();
    }
    adam_->step();
    return {{"loss", loss_value, GENLAB_DIRECTION_LOWER},
            {"mse", mse_value, GENLAB_DIRECTION_LOWER},
            {"psnr", -10.0 * std::log10(std::max(mse_value, 1e-10)), GENLAB_DIRECTION_HIGHER}};
  }

  // Renders the first `count` of the views given by inputs "pose" [N, 4, 4] (camera-to-world,
  // OpenGL's convention) and "focal" [N] (pixels), at the size of inputs "image"
  // [N, 3, H, W] (its values are not read) or of options height and width. Outputs "image"
  // [count, 3, H, W] in [0, 1] on the background, "depth" [count, 1, H, W] (expected
  // termination distance; 0 where nothing is hit) and "opacity" [count, 1, H, W].
  Tensors generate(int64_t count, const genlab::sdk::Config& options, const Tensors& inputs) override {
    GENLAB_CHECK(count > 0, GENLAB_ERROR_INVALID_ARGUMENT, "expected count > 0, got " + std::to_string(count));
    const at::Tensor* pose = inputs.find("pose");
    const at::Tensor* focal = inputs.find("focal");
    if (pose == nullptr || focal == nullptr) {
      const std::string missing = pose == nullptr && focal == nullptr ? "'pose' and 'focal'"
                                  : pose == nullptr                   ? "'pose'"
                                                                      : "'focal'";
      throw genlab::sdk::Error(
          GENLAB_ERROR_INVALID_ARGUMENT,
          "a NeRF renders views for given poses: generate needs the inputs 'pose' [N, 4, 4] and 'focal' [N], "
          "missing " +
              missing);
    }
    GENLAB_CHECK(pose->dim() == 3 && pose->size(1) == 4 && pose->size(2) == 4, GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected input 'pose' of shape [N, 4, 4], got " + c10::str(pose->sizes()));
    const int64_t views = pose->size(0);
    GENLAB_CHECK(focal->numel() == views, GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected input 'focal' with one value per pose (" + std::to_string(views) + "), got shape " +
                     c10::str(focal->sizes()));
    GENLAB_CHECK(
        count <= views, GENLAB_ERROR_INVALID_ARGUMENT,
        "asked for " + std::to_string(count) + " views, but the inputs hold " + std::to_string(views) + " poses");
    int64_t height = 0, width = 0;
    if (const at::Tensor* image = inputs.find("image")) {
      GENLAB_CHECK(image->dim() == 4 && image->size(0) == views, GENLAB_ERROR_INVALID_ARGUMENT,
                   "expected input 'image' of shape [N, 3, H, W] with N = " + std::to_string(views) + ", got " +
                       c10::str(image->sizes()));
      height = image->size(2);
      width = image->size(3);
    } else {
      const ViewOptions view = kViewParams.read(options);
      height = view.height;
      width = view.width;
      GENLAB_CHECK(height > 0 && width > 0, GENLAB_ERROR_INVALID_ARGUMENT,
                   "without an input 'image' the view size comes from the options height and width (> 0), got " +
                       std::to_string(height) + "x" + std::to_string(width));
    }

    torch::NoGradGuard no_grad;
    const at::Tensor poses = pose->to(device(), at::kFloat), focals = focal->reshape({views}).to(at::kCPU, at::kDouble);
    const auto float_options = at::TensorOptions().dtype(at::kFloat).device(device());
    at::Tensor image = at::empty({count, 3, height * width}, float_options);
    at::Tensor depth = at::empty({count, 1, height * width}, float_options), opacity = at::empty_like(depth);
    const int64_t pixels = height * width, chunks_per_view = (pixels + o_.chunk - 1) / o_.chunk;
    for (int64_t v = 0; v < count; ++v) {
      const auto rays = genlab::plugins::view_rays(poses[v], focals[v].item<double>(), height, width);
      for (int64_t from = 0; from < pixels; from += o_.chunk) {
        GENLAB_CHECK(!host().cancelled(), GENLAB_ERROR_CANCELLED,
                     "rendering cancelled at view " + std::to_string(v) + " of " + std::to_string(count) + ", ray " +
                         std::to_string(from) + " of " + std::to_string(pixels));
        const int64_t chunk_end = std::min(pixels, from + o_.chunk);
        for (int64_t first = from; first < chunk_end; first += o_.micro_batch) {
          const int64_t n = std::min(o_.micro_batch, chunk_end - first);
          const auto [coarse, fine] =
              render_rays(rays.origins.narrow(0, first, n), rays.directions.narrow(0, first, n), false);
          const Pass& shown = fine.pixels.defined() ? fine : coarse;
          image[v].narrow(1, first, n).copy_(shown.pixels.t());
          depth[v][0].narrow(0, first, n).copy_(shown.composite.depth);
          opacity[v][0].narrow(0, first, n).copy_(shown.composite.opacity);
        }
        host().progress(static_cast<double>(v * chunks_per_view + from / o_.chunk + 1) /
                        static_cast<double>(count * chunks_per_view));
      }
    }
    Tensors out;
    out.add("image", image.clamp_(0, 1).view({count, 3, height, width}).to(at::kCPU).contiguous());
    out.add("depth", depth.view({count, 1, height, width}).to(at::kCPU).contiguous());
    out.add("opacity", opacity.clamp_(0, 1).view({count, 1, height, width}).to(at::kCPU).contiguous());
    return out;
  }

  int64_t trainable_parameters() const override { return adam_->parameter_count(); }

  Tensors export_state() override {
    Tensors state;
    adam_->export_to(state);
    return state;
  }
  void import_state(const Tensors& state) override { adam_->import_from(state); }

 private:
  // A [B, 3] float tensor of a ray batch, on the model's device.
  at::Tensor ray_tensor(const Tensors& batch, const char* name) const {
    const at::Tensor* t = batch.find(name);
    GENLAB_CHECK(
        t != nullptr, GENLAB_ERROR_INVALID_ARGUMENT,
        std::string("a NeRF trains on ray batches ('origins', 'directions', 'colors' [B, 3]; the \"train\" split of "
                    "rays data): missing '") +
            name + "'");
    GENLAB_CHECK(t->dim() == 2 && t->size(1) == 3, GENLAB_ERROR_INVALID_ARGUMENT,
                 std::string("expected '") + name + "' of shape [B, 3], got " + c10::str(t->sizes()));
    return t->to(device(), at::kFloat);
  }

  nf::Composite composite(const at::Tensor& sigmas, const at::Tensor& rgbs, const at::Tensor& ts) {
    const at::Tensor deltas = nf::deltas_from_ts(ts, o_.far);
    if (use_backend_) {
      try {
        return nf::composite_op(host(), sigmas, rgbs, deltas, ts);
      } catch (const genlab::sdk::Error& e) {
        // No backend serves the op on this device (e.g. a GPU without a vendor backend):
        // say so once and composite in LibTorch from now on. Any other error is real.
        if (e.code() != GENLAB_ERROR_UNSUPPORTED_DEVICE) throw;
        host().warn(std::string("composite = \"backend\": ") + e.what() + "; compositing in LibTorch autograd");
        use_backend_ = false;
      }
    }
    return nf::composite_autograd(sigmas, rgbs, deltas, ts);
  }

  Pass pass(nf::Field& field, const at::Tensor& origins, const at::Tensor& directions, const at::Tensor& ts) {
    const at::Tensor points = origins.unsqueeze(1) + ts.unsqueeze(-1) * directions.unsqueeze(1);  // [R, S, 3]
    const nf::FieldOutput out = field.query(points, directions);
    nf::Composite c = composite(out.sigmas, out.rgbs, ts);
    at::Tensor pixels = c.color + (1 - c.opacity).unsqueeze(-1) * background_;
    return {std::move(c), std::move(pixels), ts};
  }

  // The coarse pass and, with fine_samples > 0, the fine one (else its pixels undefined).
  // Training perturbs the stratified samples and draws the importance samples at random;
  // rendering takes bin midpoints and evenly spaced quantiles, so a view renders the same twice.
  std::pair<Pass, Pass> render_rays(const at::Tensor& origins, const at::Tensor& directions, bool training) {
    const int64_t R = origins.size(0);
    const at::Tensor ts = nf::stratified_samples(R, o_.samples, o_.near, o_.far, training, origins.options());
    const bool shared_field = !fine_field_;  // a hashgrid serves both passes
    if (o_.fine_samples == 0) return {pass(*field_, origins, directions, ts), Pass{}};
    Pass coarse;
    {
      // A hashgrid's coarse pass only places the fine samples: no graph to keep.
      c10::optional<torch::NoGradGuard> no_grad;
      if (shared_field) no_grad.emplace();
      coarse = pass(*field_, origins, directions, ts);
    }
    // The paper's bins: between the midpoints of the coarse samples, weighted by the inner
    // samples' weights (the first and last sample have half-open bins).
    const at::Tensor mids = 0.5 * (ts.slice(1, 1) + ts.slice(1, 0, o_.samples - 1));  // [R, S - 1]
    const at::Tensor inner = coarse.composite.weights.slice(1, 1, o_.samples - 1);    // [R, S - 2]
    const at::Tensor extra = nf::sample_pdf(mids, inner, o_.fine_samples, /*deterministic=*/!training);
    const at::Tensor all = std::get<0>(at::cat({ts, extra}, 1).sort(1));
    nf::Field& fine_field = shared_field ? *field_ : *fine_field_;
    return {std::move(coarse), pass(fine_field, origins, directions, all)};
  }

  NerfOptions o_;
  double background_ = 1.0;
  bool use_backend_ = true;
  std::shared_ptr<nf::Field> field_;       // hashgrid: the field; frequency: the coarse network
  std::shared_ptr<nf::Field> fine_field_;  // frequency with fine_samples > 0
  std::unique_ptr<genlab::sdk::Adam> adam_;
};

}  // namespace

GENLAB_PLUGIN(Nerf)
