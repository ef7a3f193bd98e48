// The LibTorch SDK layer: DLPack in and out without copies, deleters called exactly once,
// every exception turned into an error object, config access, and a model class driven
// through its generated C table exactly as the host drives it.
#include "catch.hpp"

#include <genlab/sdk/ema.hpp>
#include <genlab/sdk/plugin.hpp>

#include "genlab/core/host_services.hpp"
#include "torch_catch.hpp"

using namespace genlab::sdk;
using genlab::test::Contains;

namespace {

// A model that records what it saw, to check zero-copy from inside the plugin.
class ProbeModel final : public Model {
 public:
  static Info info() {
    Info i;
    i.name = "probe";
    i.family = "test";
    i.capabilities = GENLAB_CAPABILITY_TRAIN | GENLAB_CAPABILITY_GENERATE;
    return i;
  }
  explicit ProbeModel(const Context& context) : Model(context) {
    scale_ = context.config.get("scale", 1.0);
    GENLAB_CHECK(scale_ > 0, GENLAB_ERROR_INVALID_ARGUMENT, "expected scale > 0, got " + std::to_string(scale_));
  }
  Scalars train_step(const Tensors& batch, int64_t) override {
    seen_ = batch.at("x").data_ptr();
    return {{"loss", batch.at("x").sum().item<double>() * scale_, GENLAB_DIRECTION_LOWER}};
  }
  Tensors generate(int64_t count, const Config&, const Tensors&) override {
    if (count == 13) throw std::runtime_error("unlucky count");
    if (count == 14) throw std::bad_alloc();
    if (count == 15) throw 42;
    if (count == 16) TORCH_CHECK(false, "a LibTorch check failed");
    Tensors out;
    last_ = at::arange(count, at::kFloat);
    out.add("samples", last_);
    return out;
  }
  Tensors export_state() override { return {}; }
  void import_state(const Tensors&) override {}

  static inline void* seen_ = nullptr;
  static inline at::Tensor last_;

 private:
  double scale_ = 1;
};

struct Plugin {
  const genlab_plugin_api* api = genlab::sdk::detail::plugin_api<ProbeModel>(GENLAB_ABI_VERSION_MAJOR, 0);
  genlab::HostServices host{genlab::HostSettings{"probe", 7, 1, nullptr, {}}};
  toml::table config;
  genlab_model* model = nullptr;

  genlab_error* create() {
    genlab::ConfigHandle handle(config);
    genlab_model_create_args args{};
    args.struct_size = GENLAB_MODEL_CREATE_ARGS_STRUCT_SIZE;
    args.host = host.api();
    args.config = handle.get();
    args.device = DLDevice{kDLCPU, 0};
    genlab_error* e = api->model->create(&args);
    model = args.model;
    return e;
  }
  ~Plugin() { api->model->destroy(model); }
};

std::string message_and_free(genlab_error* e, genlab_error_code* code = nullptr) {
  REQUIRE(e != nullptr);
  std::string m = e->message;
  if (code) *code = e->code;
  genlab_error_destroy(e);
  return m;
}

}  // namespace

TEST_CASE("a borrowed DLPack tensor becomes an at::Tensor on the same memory", "[sdk][dlpack]") {
  const int64_t shape[2] = {2, 3};
  DLManagedTensor* managed = genlab_util_cpu_tensor_new(genlab_util_dtype_float32(), 2, shape);
  at::Tensor view = borrow(managed->dl_tensor);
  CHECK(view.data_ptr() == managed->dl_tensor.data);
  CHECK(view.sizes() == at::IntArrayRef({2, 3}));
  view.fill_(5);  // writes land in the plugin's memory: no copy was made
  CHECK(static_cast<float*>(managed->dl_tensor.data)[5] == 5.0f);
  managed->deleter(managed);
}

TEST_CASE("a strided borrowed tensor keeps its strides and byte offset", "[sdk][dlpack]") {
  at::Tensor base = at::arange(12, at::kFloat).reshape({3, 4});
  at::Tensor column = base.select(1, 1);  // [3], stride 4, offset 1
  DLManagedTensor* managed = at::toDLPack(column);
  at::Tensor view = borrow(managed->dl_tensor);
  CHECK(view.data_ptr() == column.data_ptr());
  CHECK(at::equal(view, column));
  managed->deleter(managed);
}

TEST_CASE("released tensors cross without a copy, and each deleter runs exactly once", "[sdk][dlpack]") {
  static int freed = 0;
  freed = 0;
  float* data = new float[4]{1, 2, 3, 4};
  at::Tensor t = at::from_blob(data, {4}, [](void* p) {
    ++freed;
    delete[] static_cast<float*>(p);
  });
  Tensors tensors;
  tensors.add("x", t);
  genlab_tensor_map* map = release(tensors);
  REQUIRE(map->count == 1);
  CHECK(map->tensors[0]->dl_tensor.data == data);  // pointer identity: no copy
  CHECK(std::string(map->names[0]) == "x");
  t = at::Tensor();
  tensors = Tensors();
  CHECK(freed == 0);  // the map still holds the storage
  genlab_tensor_map_destroy(map);
  CHECK(freed == 1);
}

TEST_CASE("a batch reaches the model's train_step with no copy, through the C table", "[sdk][dlpack]") {
  Plugin p;
  REQUIRE(p.create() == nullptr);
  const int64_t shape[1] = {4};
  DLManagedTensor* x = genlab_util_cpu_tensor_new(genlab_util_dtype_float32(), 1, shape);
  std::fill_n(static_cast<float*>(x->dl_tensor.data), 4, 1.5f);
  const char* names[] = {"x"};
  genlab_tensor_map batch{GENLAB_TENSOR_MAP_STRUCT_SIZE, 1, names, &x, nullptr};
  genlab_model_train_step_args args{};
  args.struct_size = GENLAB_MODEL_TRAIN_STEP_ARGS_STRUCT_SIZE;
  args.model = p.model;
  args.batch = &batch;
  REQUIRE(p.api->model->train_step(&args) == nullptr);
  CHECK(ProbeModel::seen_ == x->dl_tensor.data);
  REQUIRE(args.losses->count == 1);
  CHECK(std::string(args.losses->names[0]) == "loss");
  CHECK(args.losses->values[0] == 6.0);
  CHECK(args.losses->directions[0] == GENLAB_DIRECTION_LOWER);
  genlab_scalar_list_destroy(args.losses);
  x->deleter(x);
}

TEST_CASE("generated outputs leave the plugin with no copy", "[sdk][dlpack]") {
  Plugin p;
  REQUIRE(p.create() == nullptr);
  genlab_model_generate_args args{};
  args.struct_size = GENLAB_MODEL_GENERATE_ARGS_STRUCT_SIZE;
  args.model = p.model;
  args.count = 5;
  REQUIRE(p.api->model->generate(&args) == nullptr);
  CHECK(args.outputs->tensors[0]->dl_tensor.data == ProbeModel::last_.data_ptr());
  genlab_tensor_map_destroy(args.outputs);
}

TEST_CASE("every exception is caught at the boundary and becomes an error object", "[sdk][errors]") {
  Plugin p;
  REQUIRE(p.create() == nullptr);
  auto generate = [&](int64_t count) {
    genlab_model_generate_args args{};
    args.struct_size = GENLAB_MODEL_GENERATE_ARGS_STRUCT_SIZE;
    args.model = p.model;
    args.count = count;
    return p.api->model->generate(&args);
  };
  genlab_error_code code{};
  SECTION("a std::exception is internal, with its message") {
    CHECK(message_and_free(generate(13), &code) == "unlucky count");
    CHECK(code == GENLAB_ERROR_INTERNAL);
  }
  SECTION("std::bad_alloc is out of memory") {
    message_and_free(generate(14), &code);
    CHECK(code == GENLAB_ERROR_OUT_OF_MEMORY);
  }
  SECTION("a thrown non-exception is unknown") {
    message_and_free(generate(15), &code);
    CHECK(code == GENLAB_ERROR_UNKNOWN);
  }
  SECTION("a c10::Error keeps its message and drops its backtrace") {
    const std::string m = message_and_free(generate(16), &code);
    CHECK_THAT(m, Contains("a LibTorch check failed"));
    CHECK(m.find("frame #") == std::string::npos);
  }
  SECTION("score, not offered, is absent from the table") { CHECK(p.api->model->score == nullptr); }
}

TEST_CASE("a model's config is read through the host, with types checked", "[sdk][config]") {
  SECTION("a valid value is used") {
    Plugin p;
    p.config.insert("scale", 2.0);
    CHECK(p.create() == nullptr);
  }
  SECTION("a value of another type is an invalid-argument error naming the key") {
    Plugin p;
    p.config.insert("scale", "big");
    genlab_error_code code{};
    CHECK_THAT(message_and_free(p.create(), &code), Contains("'scale'"));
    CHECK(code == GENLAB_ERROR_INVALID_ARGUMENT);
  }
  SECTION("a value that fails the model's own check says what was expected") {
    Plugin p;
    p.config.insert("scale", -3);
    CHECK(message_and_free(p.create()) == "expected scale > 0, got -3.000000");
  }
}

TEST_CASE("the generated description is static and complete", "[sdk]") {
  const genlab_plugin_api* api = genlab::sdk::detail::plugin_api<ProbeModel>(GENLAB_ABI_VERSION_MAJOR, 0);
  CHECK(genlab::sdk::detail::plugin_api<ProbeModel>(GENLAB_ABI_VERSION_MAJOR + 1, 0) == nullptr);
  genlab_describe_args a{}, b{};
  a.struct_size = b.struct_size = GENLAB_DESCRIBE_ARGS_STRUCT_SIZE;
  REQUIRE(api->describe(&a) == nullptr);
  REQUIRE(api->describe(&b) == nullptr);
  CHECK(a.description == b.description);
  CHECK(std::string(a.description->name) == "probe");
  CHECK(a.description->struct_size == GENLAB_PLUGIN_DESCRIPTION_STRUCT_SIZE);
  CHECK(a.description->device_type_count == 1);
}

namespace {

// Draws from LibTorch's global generator, as dropout or sampling would.
class NoisyModel final : public Model {
 public:
  static Info info() {
    Info i;
    i.name = "noisy";
    return i;
  }
  explicit NoisyModel(const Context& context) : Model(context) {}
  Scalars train_step(const Tensors&, int64_t) override { return {}; }
  Tensors generate(int64_t count, const Config&, const Tensors&) override {
    Tensors out;
    out.add("samples", at::randn({count}));
    return out;
  }
  Tensors export_state() override { return {}; }
  void import_state(const Tensors& state) override {
    GENLAB_CHECK(state.empty(), GENLAB_ERROR_INVALID_ARGUMENT, "the SDK must not pass its RNG state on");
  }
};

}  // namespace

TEST_CASE("the SDK saves and restores LibTorch's RNG with a model's state", "[sdk][state]") {
  const genlab_plugin_api* api = genlab::sdk::detail::plugin_api<NoisyModel>(GENLAB_ABI_VERSION_MAJOR, 0);
  genlab::HostServices host{genlab::HostSettings{"noisy", 3, 1, nullptr, {}}};
  genlab_model_create_args create{};
  create.struct_size = GENLAB_MODEL_CREATE_ARGS_STRUCT_SIZE;
  create.host = host.api();
  create.device = DLDevice{kDLCPU, 0};
  REQUIRE(api->model->create(&create) == nullptr);
  auto draw = [&] {
    genlab_model_generate_args g{};
    g.struct_size = GENLAB_MODEL_GENERATE_ARGS_STRUCT_SIZE;
    g.model = create.model;
    g.count = 4;
    REQUIRE(api->model->generate(&g) == nullptr);
    const float* x = static_cast<const float*>(g.outputs->tensors[0]->dl_tensor.data);
    std::vector<float> v(x, x + 4);
    genlab_tensor_map_destroy(g.outputs);
    return v;
  };
  genlab_model_export_state_args exported{};
  exported.struct_size = GENLAB_MODEL_EXPORT_STATE_ARGS_STRUCT_SIZE;
  exported.model = create.model;
  REQUIRE(api->model->export_state(&exported) == nullptr);
  REQUIRE(exported.state->count == 1);
  CHECK(std::string(exported.state->names[0]) == "genlab.rng.cpu");
  const auto first = draw();
  CHECK(draw() != first);  // the generator moved on
  genlab_model_import_state_args imported{};
  imported.struct_size = GENLAB_MODEL_IMPORT_STATE_ARGS_STRUCT_SIZE;
  imported.model = create.model;
  imported.state = exported.state;
  REQUIRE(api->model->import_state(&imported) == nullptr);
  CHECK(draw() == first);  // restored: the same numbers again
  genlab_tensor_map_destroy(exported.state);
  api->model->destroy(create.model);
}

#include <genlab/sdk/adam.hpp>

TEST_CASE("under fp16 Adam scales the loss, unscales before the update, and skips an overflowed step",
          "[sdk][precision]") {
  genlab::HostSettings fp16_settings;
  fp16_settings.precision = GENLAB_PRECISION_FP16;
  genlab::HostServices fp16(fp16_settings);
  const Host host(fp16.api());
  auto make = [] {
    return std::vector<std::pair<std::string, at::Tensor>>{
        {"w", at::tensor({1.0, -2.0, 0.5}, at::kDouble).requires_grad_()}};
  };
  auto plain_params = make(), scaled_params = make();
  genlab::sdk::Adam plain(plain_params, {}), scaled(scaled_params, {});
  const at::Tensor x = at::tensor({0.3, 0.1, -0.2}, at::kDouble);
  for (int step = 0; step < 3; ++step) {
    plain.zero_grad();
    plain.backward((plain_params[0].second * x).sum());
    plain.step();
    genlab::sdk::detail::CurrentHostScope current(host);  // as during a train_step of an fp16 run
    scaled.zero_grad();
    scaled.backward((scaled_params[0].second * x).sum());
    CHECK(scaled_params[0].second.grad().abs().max().item<double>() > 1000);  // the scaled gradient
    scaled.step();
  }
  // The same updates as without scaling, up to rounding.
  CHECK(at::allclose(plain_params[0].second, scaled_params[0].second, 1e-12, 1e-12));
  CHECK(scaled.steps() == 3);
  CHECK(scaled.loss_scale() == 65536.0);
  // An overflow: the update is skipped, the scale halved.
  genlab::sdk::detail::CurrentHostScope current(host);
  const at::Tensor before = scaled_params[0].second.detach().clone();
  scaled.zero_grad();
  scaled.backward((scaled_params[0].second * x).sum() * std::numeric_limits<double>::infinity());
  scaled.step();
  CHECK(scaled.steps() == 3);
  CHECK(scaled.loss_scale() == 32768.0);
  CHECK(at::equal(before, scaled_params[0].second.detach()));
  // The scale travels in the exported state.
  Tensors state;
  scaled.export_to(state);
  CHECK(state.at("adam.loss_scale").item<double>() == 32768.0);
}

TEST_CASE("the SDK's EMA starts at the weights, warms up, follows them and round-trips through the state",
          "[sdk][ema]") {
  at::Tensor trained = at::full({3}, 1.0), average = at::zeros({3});
  genlab::sdk::Ema ema({{"w", average, trained}}, 0.9);
  CHECK(average.equal(trained));
  trained.fill_(2.0);
  ema.update(1);  // warm-up: d = min(0.9, 2 / 11)
  const double d = 2.0 / 11.0;
  CHECK(average[0].item<double>() == Approx(d * 1.0 + (1 - d) * 2.0));
  for (int n = 2; n < 300; ++n) ema.update(n);
  CHECK(average[0].item<double>() == Approx(2.0).margin(1e-5));

  Tensors state;
  ema.export_to(state);
  REQUIRE(state.contains("ema.w"));
  at::Tensor restored = at::zeros({3});
  genlab::sdk::Ema again({{"w", restored, trained}}, 0.9);
  restored.fill_(-1.0);
  again.import_from(state);
  CHECK(restored.equal(average));
  Tensors wrong;
  wrong.add("ema.w", at::zeros({4}));
  CHECK_THROWS_WITH(again.import_from(wrong), Contains("state tensor 'ema.w' has shape [4], expected [3]"));
  CHECK_THROWS_WITH(genlab::sdk::Ema({}, 1.0), Contains("expected 0 <= EMA decay < 1"));
}
