// The loader: version negotiation, struct sizes, and one clear error per broken plugin,
// each case built on purpose (tests/plugins/faulty.c), with the host going on after each.
#include "catch.hpp"

#include <cstdlib>

#include "genlab/util/error.hpp"
#include "genlab/core/instances.hpp"
#include "genlab/core/loader.hpp"
#include "genlab/core/plugin_manifest.hpp"
#include "genlab/genlab_util.h"
#include "manifest_builder.hpp"
#include "support.hpp"

using namespace genlab;
using genlab::test::builtin_plugin;
using genlab::test::Contains;
using genlab::test::library_of;
using genlab::test::ManifestBuilder;
using genlab::test::run_genlab;
using genlab::test::TempDir;
using genlab::test::test_plugin;

namespace {

std::shared_ptr<const Plugin> load_folder(const std::string& name) {
  return load_plugin(read_plugin_manifest(test_plugin(name)));
}

// Loads a broken plugin and returns the message of the HostError it must raise.
std::string refusal(const std::string& name) {
  try {
    load_folder(name);
  } catch (const HostError& e) {
    return e.what();
  }
  FAIL("plugin '" << name << "' loaded, but it should have been refused");
  return {};
}

HostSettings settings() {
  HostSettings s;
  s.plugin_name = "test";
  return s;
}

// Loads the named dataset plugin, creates it and reads batch [0, 1, 2]: "it works".
std::vector<float> first_batch(const std::string& name) {
  DatasetInstance data(load_folder(name), settings(), toml::table{});
  TensorMapPtr batch = data.get_batch("train", {0, 1, 2}, 0);
  REQUIRE(batch->count == 1);
  const float* x = static_cast<const float*>(batch->tensors[0]->dl_tensor.data);
  return std::vector<float>(x, x + 3);
}

}  // namespace

TEST_CASE("ABI negotiation accepts any minor of the host's major and refuses another major", "[loader]") {
  CHECK(negotiate_abi(1, 0, 1, 0).empty());
  CHECK(negotiate_abi(1, 3, 1, 0).empty());  // older minor plugin
  CHECK(negotiate_abi(1, 0, 1, 9).empty());  // newer minor plugin
  const std::string refused = negotiate_abi(1, 2, 2, 0);
  CHECK_THAT(refused, Contains("2.0") && Contains("1.2"));
}

TEST_CASE("a correct purpose-built plugin loads and serves batches", "[loader]") {
  auto plugin = load_folder("faulty-none");
  CHECK(plugin->name() == "faulty-none");
  CHECK(plugin->kind() == GENLAB_PLUGIN_KIND_DATASET);
  CHECK(plugin->description().device_types == std::vector<int32_t>{kDLCPU});
  CHECK(first_batch("faulty-none") == std::vector<float>{0, 1, 2});
}

TEST_CASE("a file that is not a shared library is refused, naming the file", "[loader][bad-plugin]") {
  TempDir dir;
  const auto fake = dir.write("libgenlab_fake.so", "this is not an ELF file\n");
  try {
    load_plugin_library(fake);
    FAIL("loaded a text file");
  } catch (const HostError& e) {
    CHECK_THAT(e.what(), Contains(fake.string()) && Contains("not a loadable shared library"));
  }
}

TEST_CASE("a library without the entry symbol is refused, naming the symbol", "[loader][bad-plugin]") {
  CHECK_THAT(refusal("faulty-no-entry"),
             Contains("libgenlab_faulty-no-entry.so") && Contains("no entry symbol 'genlab_plugin_entry'"));
}

TEST_CASE("a plugin whose ABI major differs is refused with both versions named", "[loader][bad-plugin]") {
  CHECK_THAT(refusal("faulty-major"),
             Contains("libgenlab_faulty-major.so") && Contains("built for ABI 2.") &&
                 Contains("this host speaks ABI 1." + std::to_string(GENLAB_ABI_VERSION_MINOR)));
}

TEST_CASE("a plugin of an older minor loads and works, and nothing past its struct_size is read",
          "[loader][versions]") {
  // Its description ends at `capabilities` and its dataset info at `elements`; the fields
  // after those hold garbage (99 device types at address 0x1, num_classes 999) that would
  // crash or show if the host read them.
  auto plugin = load_folder("faulty-older-minor");
  CHECK(plugin->description().device_types == std::vector<int32_t>{kDLCPU});
  CHECK(plugin->description().params.empty());
  DatasetInstance data(plugin, settings(), toml::table{});
  CHECK(data.info().num_classes == 0);
  CHECK(data.info().value_range == nullptr);
  CHECK(first_batch("faulty-older-minor") == std::vector<float>{0, 1, 2});
}

TEST_CASE("a plugin of a newer minor loads and works, its appended fields ignored", "[loader][versions]") {
  auto plugin = load_folder("faulty-newer-minor");
  CHECK(plugin->api().abi_minor == 7);
  CHECK(plugin->api().struct_size > GENLAB_PLUGIN_API_STRUCT_SIZE);
  CHECK(first_batch("faulty-newer-minor") == std::vector<float>{0, 1, 2});
}

TEST_CASE("a required function that is NULL is refused, naming the field", "[loader][bad-plugin]") {
  CHECK_THAT(refusal("faulty-null-function"),
             Contains("libgenlab_faulty-null-function.so") && Contains("genlab_dataset_api.get_batch is NULL"));
}

TEST_CASE("a struct_size too small is refused, naming the struct and both sizes", "[loader][bad-plugin]") {
  const std::string message = refusal("faulty-small-struct");
  CHECK_THAT(message, Contains("genlab_dataset_api.struct_size is " +
                               std::to_string(GENLAB_STRUCT_SIZE(genlab_dataset_api, info))) &&
                          Contains(std::to_string(GENLAB_DATASET_API_STRUCT_SIZE) + " bytes of ABI 1.0"));
}

TEST_CASE("a plugin.toml that disagrees with the library is refused, naming both", "[loader][bad-plugin]") {
  CHECK_THAT(refusal("faulty-toml-mismatch"),
             Contains("faulty-toml-mismatch/plugin.toml: name is 'faulty-toml-mismatch'") &&
                 Contains("says 'not-what-the-toml-says'"));
}

TEST_CASE("an entry that throws is reported, naming the file and the exception", "[loader][bad-plugin]") {
  CHECK_THAT(refusal("throwing-entry"),
             Contains("libgenlab_throwing-entry.so") && Contains("the entry exploded on purpose"));
}

TEST_CASE("an entry that refuses the host is reported", "[loader][bad-plugin]") {
  CHECK_THAT(refusal("faulty-refuse"), Contains("the plugin refused this host"));
}

TEST_CASE("a describe that returns an error is reported with its code and message", "[loader][bad-plugin]") {
  CHECK_THAT(refusal("faulty-describe-error"), Contains("describe failed [internal]: describe cannot answer today"));
}

TEST_CASE("an error returned by a plugin call names the plugin, the call, the code and the message",
          "[loader][errors]") {
  DatasetInstance data(load_folder("faulty-get-batch-error"), settings(), toml::table{});
  try {
    data.get_batch("train", {0, 1}, 0);
    FAIL("get_batch succeeded");
  } catch (const HostError& e) {
    CHECK_THAT(e.what(), Contains("plugin 'faulty-get-batch-error'") && Contains("get_batch failed [i/o]") &&
                             Contains("cannot read /data/shard-2: disk on fire"));
  }
}

TEST_CASE("after every broken plugin the host still loads and runs a good one", "[loader][bad-plugin]") {
  for (const char* bad : {"faulty-no-entry", "faulty-major", "faulty-null-function", "faulty-small-struct",
                          "faulty-toml-mismatch", "throwing-entry", "faulty-refuse", "faulty-describe-error"})
    CHECK_THROWS_AS(load_folder(bad), HostError);
  CHECK(first_batch("faulty-none") == std::vector<float>{0, 1, 2});
}

TEST_CASE("a library is loaded once and shared", "[loader]") {
  CHECK(load_folder("faulty-none").get() == load_folder("faulty-none").get());
}

// ------------------------------------------------- plugin.toml from the library (issues 21, 24)

namespace {

// A copy of a built plugin folder, its plugin.toml edited by `edit` (find -> replace).
struct EditedPlugin {
  TempDir dir;
  std::filesystem::path folder;
  EditedPlugin(const std::string& name, const std::string& find, const std::string& replace) {
    folder = dir.path() / name;
    std::filesystem::create_directories(folder);
    std::filesystem::copy_file(library_of(test_plugin(name)), library_of(folder));
    std::string text = genlab::test::read_text(test_plugin(name) / "plugin.toml");
    const size_t at = text.find(find);
    REQUIRE(at != std::string::npos);
    text.replace(at, find.size(), replace);
    dir.write(name + "/plugin.toml", text);
  }
};

}  // namespace

TEST_CASE("the built plugin.toml gives the library's whole description and agrees with it on every field",
          "[loader][plugin.toml]") {
  for (const auto& folder : {test_plugin("faulty-none"), test_plugin("fault-metric"), test_plugin("faulty-older-minor"),
                             builtin_plugin("example-toy2d"), builtin_plugin("example-cpu-ops")}) {
    INFO(folder.string());
    const PluginManifest manifest = read_plugin_manifest(folder);
    CHECK(manifest.complete());
    const auto library = load_plugin_library_unchecked(manifest.library);  // the library's own word
    std::vector<std::string> fields;
    for (const auto& f : compare_with_manifest(*library, manifest)) {
      INFO(f.field << ": '" << f.in_toml << "' vs '" << f.in_library << "'");
      CHECK(f.agrees);
      fields.push_back(f.field);
    }
    CHECK(fields == std::vector<std::string>{"name", "kind", "version", "abi_version", "family", "summary",
                                             "modalities", "capabilities", "devices", "params", "generate_params"});
  }
  const PluginManifest metric = read_plugin_manifest(test_plugin("fault-metric"));
  CHECK(metric.capabilities == (GENLAB_CAPABILITY_NEEDS_REAL | GENLAB_CAPABILITY_NEEDS_GENERATED));
  REQUIRE(metric.params.size() == 1);
  CHECK(metric.params[0].name == "fault");
  CHECK(metric.params[0].type == GENLAB_PARAM_STRING);
  CHECK(metric.params[0].default_value == std::optional<std::string>("\"none\""));
  // Built against 1.0's description (no generate_params): "not declared", as the library says.
  const PluginManifest older = read_plugin_manifest(test_plugin("faulty-older-minor"));
  CHECK(!older.gives("generate_params"));
  CHECK(!older.description().declares_generate_params);
}

TEST_CASE("a library loaded unchecked, then through its plugin.toml, carries that plugin.toml",
          "[loader][plugin.toml]") {
  const PluginManifest manifest = read_plugin_manifest(test_plugin("faulty-none"));
  const auto unchecked = load_plugin_library_unchecked(manifest.library);
  const auto checked = load_plugin(manifest);
  REQUIRE(checked->manifest().has_value());
  CHECK(checked->manifest()->manifest_path == manifest.manifest_path);
  CHECK(&checked->api() == &unchecked->api());  // one library, loaded once
}

TEST_CASE("plugin.toml text of a description reads back as the same description", "[plugin.toml]") {
  PluginDescription d;
  d.kind = GENLAB_PLUGIN_KIND_MODEL;
  d.name = "odd-one";
  d.version = "2.0.0-rc1";
  d.family = "a \"quoted\" family";
  d.summary = "cut; by CMake; once\tand a \\ backslash, a newline\nand é";
  d.modalities = {"image", "points"};
  d.capabilities = GENLAB_CAPABILITY_TRAIN | GENLAB_CAPABILITY_SCORE | (uint64_t(1) << 40);
  d.device_types = {kDLCPU, kDLCUDA, 99};
  d.params = {{"lr", GENLAB_PARAM_DOUBLE, std::string("1e-3"), "learning rate; Adam"},
              {"name", GENLAB_PARAM_STRING, std::string("\"a;b\""), ""},
              {"layers", GENLAB_PARAM_INT, std::nullopt, "required"}};
  d.generate_params = {{"steps", GENLAB_PARAM_INT, std::string("50"), "DDIM steps"}};
  d.declares_generate_params = true;
  const std::string text = plugin_toml_text(d, 1, 5, "libgenlab_odd-one.so");
  CHECK_THAT(text, Contains("capabilities = [\"train\", \"score\", \"bit_40\"]") &&
                       Contains("devices = [\"cpu\", \"cuda\", \"device_type_99\"]"));
  const PluginManifest m = parse_plugin_manifest(text, "/somewhere/odd-one");
  CHECK(m.complete());
  CHECK(m.library == "/somewhere/odd-one/libgenlab_odd-one.so");
  const PluginDescription back = m.description();
  CHECK(back.kind == d.kind);
  CHECK(back.name == d.name);
  CHECK(back.version == d.version);
  CHECK(back.family == d.family);
  CHECK(back.summary == d.summary);
  CHECK(back.modalities == d.modalities);
  CHECK(back.capabilities == d.capabilities);
  CHECK(back.device_types == d.device_types);
  CHECK(back.params == d.params);
  CHECK(back.generate_params == d.generate_params);
  CHECK(back.declares_generate_params);
  for (const auto& f : compare_with_manifest(d, 1, 5, m)) {
    INFO(f.field);
    CHECK(f.agrees);
  }
  // Not declared (an older plugin): no generate_params key, and it reads back so.
  d.declares_generate_params = false;
  d.generate_params.clear();
  const PluginManifest older = parse_plugin_manifest(plugin_toml_text(d, 1, 4, "libgenlab_odd-one.so"), "/x");
  CHECK(older.complete());
  CHECK(!older.description().declares_generate_params);
}

TEST_CASE("plugin.toml: the description keys are checked, naming the line and what was expected", "[plugin.toml]") {
  const std::string head =
      "name = \"p\"\nkind = \"model\"\nversion = \"1\"\nabi_version = \"1.5\"\nlibrary = \"libp.so\"\n";
  auto error = [&](const std::string& more) {
    try {
      parse_plugin_manifest(head + more, "/p");
    } catch (const HostError& e) {
      return std::string(e.what());
    }
    FAIL("no error for: " << more);
    return std::string();
  };
  CHECK_THAT(error("capabilities = [\"train\", \"fly\"]\n"), Contains("plugin.toml:6:") && Contains("got 'fly'"));
  CHECK_THAT(error("capabilities = [\"bit_64\"]\n"),
             Contains("capability names") && Contains("mixed_precision, or bit_N"));
  // Every capability of genlab.h has its name (mixed_precision, ABI 1.5, was written "bit_10").
  CHECK(parse_plugin_manifest(head + "capabilities = [\"mixed_precision\"]\n", "/p").capabilities ==
        GENLAB_CAPABILITY_MIXED_PRECISION);
  CHECK(genlab::capability_flag_names(GENLAB_CAPABILITY_MIXED_PRECISION) ==
        std::vector<std::string>{"mixed_precision"});
  CHECK_THAT(error("devices = [\"abacus\"]\n"), Contains("device names") && Contains("got 'abacus'"));
  CHECK_THAT(error("params = [{ name = \"x\", type = \"float\" }]\n"),
             Contains("plugin.toml:6:") && Contains("expected 'params.type' to be int, double, bool or string"));
  CHECK_THAT(error("params = [{ type = \"int\" }]\n"), Contains("missing required key 'params.name'"));
  CHECK_THAT(error("params = [{ name = \"x\", type = \"int\", colour = \"red\" }]\n"),
             Contains("unknown key 'params.colour'"));
  CHECK_THAT(error("generate_params = [\"steps\"]\n"), Contains("expected 'generate_params' to hold tables"));
  std::string many = "modalities = [";
  for (size_t i = 0; i <= max_plugin_toml_items; ++i) many += "\"m\", ";
  CHECK_THAT(error(many + "]\n"), Contains("at most " + std::to_string(max_plugin_toml_items)));
  CHECK_THAT(error("summary = \"" + std::string(max_plugin_toml_bytes, 'x') + "\"\n"),
             Contains("more than a plugin.toml may have"));
  // An older, shorter file is still read, and is not complete.
  const PluginManifest short_one = parse_plugin_manifest(head + "family = \"f\"\n", "/p");
  CHECK(!short_one.complete());
}

TEST_CASE("a plugin with a complete plugin.toml is not loaded until the host calls it", "[loader][plugin.toml]") {
  TempDir dir;
  const auto probe = dir.path() / "constructor-ran";
  REQUIRE(setenv("GENLAB_CONSTRUCTOR_PROBE", probe.c_str(), 1) == 0);
  auto plugin = load_plugin(read_plugin_manifest(test_plugin("constructor-probe")));
  CHECK(!plugin->is_loaded());
  CHECK(plugin->name() == "constructor-probe");
  CHECK(plugin->kind() == GENLAB_PLUGIN_KIND_METRIC);
  CHECK(plugin->has(GENLAB_CAPABILITY_NEEDS_REAL));
  CHECK(plugin->description().params.size() == 1);
  CHECK(load_plugin(read_plugin_manifest(test_plugin("constructor-probe"))).get() == plugin.get());
  CHECK(!std::filesystem::exists(probe));     // its code has not run
  CHECK(plugin->metric().create != nullptr);  // the first call loads it
  CHECK(plugin->is_loaded());
  CHECK(std::filesystem::exists(probe));
  unsetenv("GENLAB_CONSTRUCTOR_PROBE");
}

TEST_CASE("a complete plugin.toml that disagrees with its library on any field is refused at the first call",
          "[loader][plugin.toml]") {
  const std::vector<std::tuple<std::string, std::string, std::string>> edits = {
      {"family", "family = \"test\"", "family = \"tset\""},
      {"summary", "summary = \"purpose-built", "summary = \"a purpose-built"},
      {"modalities", "modalities = [\"points\"]", "modalities = [\"points\", \"image\"]"},
      {"capabilities", "capabilities = []", "capabilities = [\"score\"]"},
      {"devices", "devices = [\"cpu\"]", "devices = [\"cpu\", \"cuda\"]"},
      {"params", "params = []", "params = [{ name = \"seed\", type = \"int\", default = \"0\", doc = \"\" }]"},
      {"generate_params", "generate_params = []\n", ""},
      {"version", "version = \"1.0.0\"", "version = \"1.0.1\""},
  };
  for (const auto& [field, find, replace] : edits) {
    INFO(field);
    EditedPlugin edited("faulty-none", find, replace);
    const PluginManifest manifest = read_plugin_manifest(edited.folder);
    REQUIRE(manifest.complete());
    auto plugin = load_plugin(manifest);  // nothing loaded yet: the plugin.toml's word
    CHECK(!plugin->is_loaded());
    for (int attempt = 0; attempt < 2; ++attempt) {  // refused on this call and every later one
      try {
        plugin->dataset();
        FAIL("a library that disagrees with its plugin.toml on " << field << " was used");
      } catch (const HostError& e) {
        CHECK_THAT(e.what(), Contains(edited.folder.string() + "/plugin.toml: " + field + " is '") &&
                                 Contains("but the library " + library_of(edited.folder).string() + " says '") &&
                                 Contains("rebuild the plugin"));
      }
    }
    CHECK(!plugin->is_loaded());
  }
}

TEST_CASE("genlab validate and plugins list read plugin.toml only, run, info and check load the library",
          "[loader][cli]") {
  TempDir dir;
  const auto probe = dir.path() / "constructor-ran";
  const std::string env = "GENLAB_CONSTRUCTOR_PROBE='" + probe.string() + "'";
  const auto manifest = ManifestBuilder(dir, "probe")
                            .set("experiment.steps", 5)
                            .set("experiment.batch_size", 16)
                            .set("evaluation.samples", 32)
                            .dataset("ring", "example-toy2d")
                            .model("gmm", "example-gmm", toml::table{{"components", 2}})
                            .metric("probe", "constructor-probe")
                            .write("probe.toml");
  const auto validate = run_genlab("validate " + manifest.string(), env);
  INFO(validate.output);
  CHECK(validate.exit_code == 0);
  CHECK_THAT(validate.output, Contains("metric probe (constructor-probe)"));
  const auto list = run_genlab("plugins list --plugin-path " GENLAB_TEST_PLUGIN_DIR, env);
  CHECK_THAT(list.output, Contains("constructor-probe"));
  CHECK(!std::filesystem::exists(probe));  // neither ran the plugin's code

  const auto run = run_genlab("run --quiet " + manifest.string(), env);
  INFO(run.output);
  CHECK(run.exit_code == 0);
  CHECK(std::filesystem::exists(probe));
  std::filesystem::remove(probe);
  const auto info = run_genlab("plugins info constructor-probe --plugin-path " GENLAB_TEST_PLUGIN_DIR, env);
  CHECK(info.exit_code == 0);
  CHECK(std::filesystem::exists(probe));
}

TEST_CASE("genlab run refuses a plugin whose complete plugin.toml disagrees with its library, naming the field",
          "[loader][cli]") {
  EditedPlugin edited("fault-metric", "summary = \"breaks", "summary = \"quietly breaks");
  const std::string library = library_of(edited.folder).string();
  // By its path too (as a worker loads it): the plugin.toml beside the library is its manifest.
  CHECK_THROWS_WITH(load_plugin_library(library)->metric(), Contains("summary is 'quietly breaks"));
  CHECK(load_plugin_library_unchecked(library)->description().summary.rfind("breaks", 0) == 0);

  TempDir dir;
  toml::array plugin_paths;
  plugin_paths.push_back(edited.dir.path().string());
  const auto manifest = ManifestBuilder(dir, "edited")
                            .set("experiment.steps", 5)
                            .set("experiment.batch_size", 16)
                            .set("experiment.plugin_paths", std::move(plugin_paths))
                            .set("evaluation.samples", 32)
                            .dataset("ring", "example-toy2d")
                            .model("gmm", "example-gmm", toml::table{{"components", 2}})
                            .metric("m", "fault-metric")
                            .write("edited.toml");
  CHECK(run_genlab("validate " + manifest.string()).exit_code == 0);  // the plugin.toml alone is fine
  const auto run = run_genlab("run --quiet " + manifest.string());
  INFO(run.output);
  CHECK(run.exit_code == 1);
  CHECK_THAT(run.output, Contains("fault-metric/plugin.toml: summary is 'quietly breaks") && Contains("says 'breaks") &&
                             Contains("rebuild the plugin"));
}

TEST_CASE("every destroy helper accepts NULL", "[abi]") {
  genlab_error_destroy(nullptr);
  genlab_tensor_map_destroy(nullptr);
  genlab_scalar_list_destroy(nullptr);
  SUCCEED("no crash");
}

TEST_CASE("the C helpers build maps whose destroy calls every deleter exactly once", "[abi]") {
  static int deleted = 0;
  deleted = 0;
  genlab_tensor_map* map = genlab_util_tensor_map_new(2);
  for (size_t i = 0; i < 2; ++i) {
    const int64_t shape[1] = {3};
    DLManagedTensor* t = genlab_util_cpu_tensor_new(genlab_util_dtype_float32(), 1, shape);
    t->manager_ctx = reinterpret_cast<void*>(t->deleter);  // keep the real deleter
    t->deleter = [](DLManagedTensor* self) {
      ++deleted;
      reinterpret_cast<void (*)(DLManagedTensor*)>(self->manager_ctx)(self);
    };
    REQUIRE(genlab_util_tensor_map_set(map, i, i == 0 ? "a" : "b", t) == 0);
  }
  CHECK(genlab_util_tensor_map_find(map, "b") == 1);
  CHECK(genlab_util_tensor_map_find(map, "c") == -1);
  genlab_tensor_map_destroy(map);
  CHECK(deleted == 2);
}

TEST_CASE("errors made by the C helpers carry code and formatted message", "[abi]") {
  genlab_error* e = genlab_util_error_new(GENLAB_ERROR_INVALID_ARGUMENT, "expected latent > 0, got %d", -3);
  REQUIRE(e != nullptr);
  CHECK(e->struct_size == GENLAB_ERROR_STRUCT_SIZE);
  CHECK(e->code == GENLAB_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(e->message) == "expected latent > 0, got -3");
  genlab_error_destroy(e);
}
