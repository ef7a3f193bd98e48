// The loader: version negotiation, struct sizes, and one clear error per broken plugin,
// each case built on purpose (tests/plugins/faulty.c), with the host going on after each.
#include <catch2/catch.hpp>

#include "genlab/core/error.hpp"
#include "genlab/core/instances.hpp"
#include "genlab/core/loader.hpp"
#include "genlab/core/plugin_manifest.hpp"
#include "genlab/genlab_util.h"
#include "support.hpp"

using namespace genlab;
using genlab::test::TempDir;
using genlab::test::test_plugin;
using Catch::Matchers::Contains;

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
  CHECK_THAT(refusal("faulty-major"), Contains("libgenlab_faulty-major.so") && Contains("built for ABI 2.") &&
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
  CHECK_THAT(refusal("faulty-describe-error"),
             Contains("describe failed [internal]: describe cannot answer today"));
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
