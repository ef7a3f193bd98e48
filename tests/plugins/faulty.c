/*
 * A purpose-built dataset plugin, compiled once per fault (FAULT_* set by CMake), for the
 * tests of what the host does with broken or unusual plugins. Without a fault it is a
 * correct plugin: one split "train" of 4 examples, element "x" float32 [1] = index.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "genlab/genlab.h"
#include "genlab/genlab_util.h"

#ifndef PLUGIN_NAME
#define PLUGIN_NAME "faulty"
#endif
#ifndef MODALITY
#define MODALITY "points"
#endif
#ifndef DESCRIBED_NAME /* what describe() says; differs from plugin.toml in FAULT_TOML_MISMATCH */
#define DESCRIBED_NAME PLUGIN_NAME
#endif
#ifndef DESCRIBED_MODALITY /* describe()'s modality; differs from plugin.toml in FAULT_MODALITY_MISMATCH */
#define DESCRIBED_MODALITY MODALITY
#endif

/* ------------------------------------------------ the structs this plugin fills */

/* FAULT_NEWER_MINOR: the plugin was built against a future 1.7 header, whose structs have
 * fields appended. The host (1.0) must load it and ignore the tails. */
typedef struct {
  genlab_plugin_api base;
  void* appended_in_1_7;
} plugin_api_1_7;
typedef struct {
  genlab_plugin_description base;
  const char* appended_in_1_7;
} description_1_7;
typedef struct {
  genlab_dataset_info base;
  double appended_in_1_7;
} dataset_info_1_7;

static int64_t x_shape[1] = {1};
static const char* split_names[1] = {"train"};
static int64_t split_sizes[1] = {4};
static genlab_element_spec elements[1];
static dataset_info_1_7 info;
static const char* modalities[1] = {DESCRIBED_MODALITY};
static description_1_7 description;

static void fill_static(void) {
  elements[0].struct_size = GENLAB_ELEMENT_SPEC_STRUCT_SIZE;
  elements[0].name = "x";
  elements[0].dtype = genlab_util_dtype_float32();
  elements[0].ndim = 1;
  elements[0].shape = x_shape;

  info.base.struct_size = GENLAB_DATASET_INFO_STRUCT_SIZE;
  info.base.modality = MODALITY;
  info.base.split_count = 1;
  info.base.split_names = split_names;
  info.base.split_sizes = split_sizes;
  info.base.element_count = 1;
  info.base.elements = elements;
  info.base.num_classes = 0;
  info.base.vocab_size = 0;
  info.base.value_range = "[0, 3]";

  description.base.struct_size = GENLAB_PLUGIN_DESCRIPTION_STRUCT_SIZE;
  description.base.kind = GENLAB_PLUGIN_KIND_DATASET;
  description.base.name = DESCRIBED_NAME;
  description.base.version = "1.0.0";
  description.base.family = "test";
  description.base.summary = "purpose-built plugin for the loader tests"; /* as its plugin.toml says */
  description.base.modalities = modalities;
  description.base.modality_count = 1;
  description.base.capabilities = 0;
  description.base.device_types = NULL;
  description.base.device_type_count = 0;
  description.base.params = NULL;
  description.base.param_count = 0;
#if defined(FAULT_OLDER_MINOR)
  /* Built against an older minor that ended these structs earlier: the host must read no
   * further. The garbage past the end would crash or show up if it did. */
  description.base.struct_size = GENLAB_STRUCT_SIZE(genlab_plugin_description, capabilities);
  description.base.device_types = (const int32_t*)(uintptr_t)0x1;
  description.base.device_type_count = 99;
  description.base.params = (const genlab_param_spec*)(uintptr_t)0x1;
  description.base.param_count = 99;
  info.base.struct_size = GENLAB_STRUCT_SIZE(genlab_dataset_info, elements);
  info.base.num_classes = 999;
  info.base.value_range = (const char*)(uintptr_t)0x1;
#elif defined(FAULT_NEWER_MINOR)
  description.base.struct_size = sizeof(description_1_7);
  description.appended_in_1_7 = "ignored by a 1.0 host";
  info.base.struct_size = sizeof(dataset_info_1_7);
  info.appended_in_1_7 = 42.0;
#endif
}

/* --------------------------------------------------------------- entry points */

static genlab_error* describe(genlab_describe_args* args) {
#if defined(FAULT_DESCRIBE_ERROR)
  (void)args;
  return genlab_util_error_new(GENLAB_ERROR_INTERNAL, "describe cannot answer today");
#else
  args->description = &description.base;
  return NULL;
#endif
}

static int dataset_token;

static genlab_error* create(genlab_dataset_create_args* args) {
  args->dataset = (genlab_dataset*)&dataset_token;
  return NULL;
}

static void destroy(genlab_dataset* dataset) { (void)dataset; }

static genlab_error* info_fn(genlab_dataset_info_args* args) {
  args->info = &info.base;
  return NULL;
}

#if defined(FAULT_LEAKY_MAP)
/* A map destroy that forgets the tensors' deleters: the checker must notice. */
static void leaky_destroy(genlab_tensor_map* map) {
  for (size_t i = 0; i < map->count; ++i) map->tensors[i] = NULL;
  genlab_util_tensor_map_destroy(map);
}
#endif

static genlab_error* get_batch(genlab_dataset_get_batch_args* args) {
#if defined(FAULT_CRASH)
  if (args->count > 0) {
    volatile int* null_pointer = NULL;
    *null_pointer = 1; /* a segfault, as a buggy plugin would */
  }
#endif
#if defined(FAULT_GET_BATCH_ERROR)
  return genlab_util_error_new(GENLAB_ERROR_IO, "cannot read /data/shard-%zu: disk on fire", args->count);
#else
  if (strcmp(args->split, "train") != 0)
    return genlab_util_error_new(GENLAB_ERROR_NOT_FOUND, "no split '%s'", args->split);
  const int64_t shape[2] = {(int64_t)args->count, 1};
  DLManagedTensor* x = genlab_util_cpu_tensor_new(genlab_util_dtype_float32(), 2, shape);
  for (size_t i = 0; i < args->count; ++i) {
    if (args->indices[i] < 0 || args->indices[i] >= 4) {
      x->deleter(x);
      return genlab_util_error_new(GENLAB_ERROR_INVALID_ARGUMENT, "index %lld out of range",
                                   (long long)args->indices[i]);
    }
    ((float*)x->dl_tensor.data)[i] = (float)args->indices[i];
  }
#if defined(FAULT_OVERFLOW)
  /* One float past the end of the tensor's buffer: silent without ASan, caught with it. */
  ((volatile float*)x->dl_tensor.data)[args->count] = 42.0f;
#endif
  genlab_tensor_map* map = genlab_util_tensor_map_new(1);
  genlab_util_tensor_map_set(map, 0, "x", x);
#if defined(FAULT_LEAKY_MAP)
  map->destroy = leaky_destroy;
#endif
  args->batch = map;
  return NULL;
#endif
}

static genlab_dataset_api dataset_api = {GENLAB_DATASET_API_STRUCT_SIZE, create, destroy, info_fn, get_batch};
static plugin_api_1_7 plugin_api;

#if defined(FAULT_NO_ENTRY)
#define ENTRY_NAME not_the_genlab_entry
#else
#define ENTRY_NAME genlab_plugin_entry
#endif

GENLAB_EXPORT const genlab_plugin_api* ENTRY_NAME(uint32_t host_major, uint32_t host_minor) {
  (void)host_major;
  (void)host_minor;
  fill_static();
  plugin_api.base.struct_size = GENLAB_PLUGIN_API_STRUCT_SIZE;
  plugin_api.base.abi_major = GENLAB_ABI_VERSION_MAJOR;
  plugin_api.base.abi_minor = GENLAB_ABI_VERSION_MINOR;
  plugin_api.base.kind = GENLAB_PLUGIN_KIND_DATASET;
  plugin_api.base.describe = describe;
  plugin_api.base.dataset = &dataset_api;
#if defined(FAULT_MAJOR)
  plugin_api.base.abi_major = GENLAB_ABI_VERSION_MAJOR + 1;
#elif defined(FAULT_NEWER_MINOR)
  plugin_api.base.abi_minor = 7;
  plugin_api.base.struct_size = sizeof(plugin_api_1_7);
  plugin_api.appended_in_1_7 = (void*)&plugin_api;
#elif defined(FAULT_NULL_FUNCTION)
  dataset_api.get_batch = NULL;
#elif defined(FAULT_SMALL_STRUCT)
  dataset_api.struct_size = GENLAB_STRUCT_SIZE(genlab_dataset_api, info); /* get_batch cut off */
#elif defined(FAULT_REFUSE)
  return NULL;
#endif
  return &plugin_api.base;
}
