/*
 * example-toy2d — a 2-D Gaussian mixture on a ring, as a dataset plugin in plain C.
 *
 * It proves the ABI is C: no C++, no LibTorch, only genlab.h, genlab_util.h and libc.
 * Example i of a split is a pure function of (seed, split, i), so no data is stored and
 * any batch is deterministic. Component k sits at angle 2*pi*k/K on a circle of `radius`.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "genlab/genlab.h"
#include "genlab/genlab_util.h"

/* ----------------------------------------------------------------------- state */

typedef struct toy2d {
  const genlab_host_api* host;
  int64_t components; /* K */
  double radius, noise;
  uint64_t seed;
  int64_t sizes[2]; /* train, test */
  /* What info() returns; lives as long as the dataset. */
  int64_t point_shape[1];
  genlab_element_spec elements[2];
  const char* split_names[2];
  genlab_dataset_info info;
} toy2d;

static uint64_t splitmix64(uint64_t* state) {
  uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

static double uniform01(uint64_t* state) { /* in (0, 1) */
  return ((double)(splitmix64(state) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/* One example: its component and its point. */
static void sample(const toy2d* self, int split, int64_t index, float* point, int64_t* label) {
  uint64_t state = self->seed * UINT64_C(1000003) + (uint64_t)split * UINT64_C(0x100000000) + (uint64_t)index;
  splitmix64(&state);
  const int64_t k = (int64_t)(splitmix64(&state) % (uint64_t)self->components);
  /* Box-Muller: two independent standard normals. */
  const double u1 = uniform01(&state), u2 = uniform01(&state);
  const double r = sqrt(-2.0 * log(u1));
  const double angle = 2.0 * M_PI * (double)k / (double)self->components;
  point[0] = (float)(self->radius * cos(angle) + self->noise * r * cos(2.0 * M_PI * u2));
  point[1] = (float)(self->radius * sin(angle) + self->noise * r * sin(2.0 * M_PI * u2));
  *label = k;
}

/* ------------------------------------------------------------- config helpers */

/* Reads an integer key; returns an error naming the key if it has another type. */
static genlab_error* read_int(const genlab_host_api* host, const genlab_config* config, const char* key,
                              int64_t* value) {
  if (host->config_get_int64(host->context, config, key, value) == GENLAB_CONFIG_WRONG_TYPE)
    return genlab_util_error_new(GENLAB_ERROR_INVALID_ARGUMENT, "expected an integer for '%s'", key);
  return NULL;
}

static genlab_error* read_double(const genlab_host_api* host, const genlab_config* config, const char* key,
                                 double* value) {
  if (host->config_get_double(host->context, config, key, value) == GENLAB_CONFIG_WRONG_TYPE)
    return genlab_util_error_new(GENLAB_ERROR_INVALID_ARGUMENT, "expected a number for '%s'", key);
  return NULL;
}

#define RETURN_IF_ERROR(expr)          \
  do {                                 \
    genlab_error* error_ = (expr);     \
    if (error_ != NULL) return error_; \
  } while (0)

/* ------------------------------------------------------------ entry points */

static const genlab_param_spec params[] = {
    {GENLAB_PARAM_SPEC_STRUCT_SIZE, "components", GENLAB_PARAM_INT, "8", "number of mixture components K"},
    {GENLAB_PARAM_SPEC_STRUCT_SIZE, "radius", GENLAB_PARAM_DOUBLE, "2.0", "radius of the ring of means"},
    {GENLAB_PARAM_SPEC_STRUCT_SIZE, "noise", GENLAB_PARAM_DOUBLE, "0.1", "standard deviation of each component"},
    {GENLAB_PARAM_SPEC_STRUCT_SIZE, "train_size", GENLAB_PARAM_INT, "4096", "examples in the train split"},
    {GENLAB_PARAM_SPEC_STRUCT_SIZE, "test_size", GENLAB_PARAM_INT, "1024", "examples in the test split"},
    {GENLAB_PARAM_SPEC_STRUCT_SIZE, "seed", GENLAB_PARAM_INT, "0", "seed of the data (not of the run)"},
};
static const char* const modalities[] = {"points"};
static const int32_t device_types[] = {kDLCPU};

static const genlab_plugin_description description = {
    GENLAB_PLUGIN_DESCRIPTION_STRUCT_SIZE,
    GENLAB_PLUGIN_KIND_DATASET,
    "example-toy2d",
    "1.0.0",
    "toy",
    "2-D Gaussian mixture on a ring (written in plain C)",
    modalities,
    1,
    0,
    device_types,
    1,
    params,
    sizeof(params) / sizeof(params[0]),
    NULL, /* generate_params: a dataset has none */
    0,
};

/* Required. */
static genlab_error* describe(genlab_describe_args* args) {
  args->description = &description;
  return NULL;
}

/* Required. Reads the config; allocates nothing large (examples are computed on demand). */
static genlab_error* create(genlab_dataset_create_args* args) {
  const genlab_host_api* host = args->host;
  int64_t components = 8, train = 4096, test = 1024, seed = 0;
  double radius = 2.0, noise = 0.1;
  RETURN_IF_ERROR(read_int(host, args->config, "components", &components));
  RETURN_IF_ERROR(read_int(host, args->config, "train_size", &train));
  RETURN_IF_ERROR(read_int(host, args->config, "test_size", &test));
  RETURN_IF_ERROR(read_int(host, args->config, "seed", &seed));
  RETURN_IF_ERROR(read_double(host, args->config, "radius", &radius));
  RETURN_IF_ERROR(read_double(host, args->config, "noise", &noise));
  if (components < 1)
    return genlab_util_error_new(GENLAB_ERROR_INVALID_ARGUMENT, "expected components >= 1, got %lld",
                                 (long long)components);
  if (train < 1 || test < 1)
    return genlab_util_error_new(GENLAB_ERROR_INVALID_ARGUMENT,
                                 "expected train_size and test_size >= 1, got %lld and %lld", (long long)train,
                                 (long long)test);
  if (!(noise >= 0.0))
    return genlab_util_error_new(GENLAB_ERROR_INVALID_ARGUMENT, "expected noise >= 0, got %g", noise);

  toy2d* self = (toy2d*)calloc(1, sizeof(toy2d));
  if (self == NULL) return genlab_util_error_new(GENLAB_ERROR_OUT_OF_MEMORY, "out of memory");
  self->host = host;
  self->components = components;
  self->radius = radius;
  self->noise = noise;
  self->seed = (uint64_t)seed;
  self->sizes[0] = train;
  self->sizes[1] = test;
  self->point_shape[0] = 2;
  self->elements[0] =
      (genlab_element_spec){GENLAB_ELEMENT_SPEC_STRUCT_SIZE, "x", genlab_util_dtype_float32(), 1, self->point_shape};
  self->elements[1] =
      (genlab_element_spec){GENLAB_ELEMENT_SPEC_STRUCT_SIZE, "label", genlab_util_dtype_int64(), 0, NULL};
  self->split_names[0] = "train";
  self->split_names[1] = "test";
  self->info.struct_size = GENLAB_DATASET_INFO_STRUCT_SIZE;
  self->info.modality = "points";
  self->info.split_count = 2;
  self->info.split_names = self->split_names;
  self->info.split_sizes = self->sizes;
  self->info.element_count = 2;
  self->info.elements = self->elements;
  self->info.num_classes = components;
  self->info.vocab_size = 0;
  self->info.value_range = "about [-radius - 4 noise, radius + 4 noise]";
  args->dataset = (genlab_dataset*)self;
  return NULL;
}

/* Required. Accepts NULL. */
static void destroy(genlab_dataset* dataset) { free(dataset); }

/* Required. */
static genlab_error* info(genlab_dataset_info_args* args) {
  if (args->dataset == NULL) return genlab_util_error_new(GENLAB_ERROR_INVALID_ARGUMENT, "null dataset");
  args->info = &((toy2d*)args->dataset)->info;
  return NULL;
}

/* Required. "x" float32 [N, 2] and "label" int64 [N]. */
static genlab_error* get_batch(genlab_dataset_get_batch_args* args) {
  const toy2d* self = (const toy2d*)args->dataset;
  if (self == NULL || args->split == NULL)
    return genlab_util_error_new(GENLAB_ERROR_INVALID_ARGUMENT, "null dataset or split");
  int split = strcmp(args->split, "train") == 0 ? 0 : strcmp(args->split, "test") == 0 ? 1 : -1;
  if (split < 0)
    return genlab_util_error_new(GENLAB_ERROR_NOT_FOUND, "no split '%s' (expected train or test)", args->split);
  for (size_t i = 0; i < args->count; ++i)
    if (args->indices[i] < 0 || args->indices[i] >= self->sizes[split])
      return genlab_util_error_new(GENLAB_ERROR_INVALID_ARGUMENT, "index %lld out of range [0, %lld) of split '%s'",
                                   (long long)args->indices[i], (long long)self->sizes[split], args->split);

  const int64_t n = (int64_t)args->count;
  const int64_t point_shape[2] = {n, 2};
  DLManagedTensor* points = genlab_util_cpu_tensor_new(genlab_util_dtype_float32(), 2, point_shape);
  DLManagedTensor* labels = genlab_util_cpu_tensor_new(genlab_util_dtype_int64(), 1, &n);
  genlab_tensor_map* map = genlab_util_tensor_map_new(2);
  if (points == NULL || labels == NULL || map == NULL) {
    if (points) points->deleter(points);
    if (labels) labels->deleter(labels);
    genlab_tensor_map_destroy(map);
    return genlab_util_error_new(GENLAB_ERROR_OUT_OF_MEMORY, "out of memory for a batch of %lld", (long long)n);
  }
  float* xy = (float*)points->dl_tensor.data;
  int64_t* label = (int64_t*)labels->dl_tensor.data;
  for (int64_t i = 0; i < n; ++i) sample(self, split, args->indices[i], xy + 2 * i, label + i);
  if (genlab_util_tensor_map_set(map, 0, "x", points) != 0 ||
      genlab_util_tensor_map_set(map, 1, "label", labels) != 0) {
    genlab_tensor_map_destroy(map);
    return genlab_util_error_new(GENLAB_ERROR_OUT_OF_MEMORY, "out of memory");
  }
  args->batch = map;
  return NULL;
}

static const genlab_dataset_api dataset_api = {GENLAB_DATASET_API_STRUCT_SIZE, create, destroy, info, get_batch};

static const genlab_plugin_api plugin_api = {
    GENLAB_PLUGIN_API_STRUCT_SIZE,
    GENLAB_ABI_VERSION_MAJOR,
    GENLAB_ABI_VERSION_MINOR,
    GENLAB_PLUGIN_KIND_DATASET,
    describe,
    NULL,
    &dataset_api,
    NULL,
    NULL,
};

GENLAB_EXPORT const genlab_plugin_api* genlab_plugin_entry(uint32_t host_major, uint32_t host_minor) {
  (void)host_minor;
  return host_major == GENLAB_ABI_VERSION_MAJOR ? &plugin_api : NULL;
}
