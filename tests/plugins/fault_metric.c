/*
 * A metric plugin that breaks the ABI's promise about its results on purpose, for the tests
 * of the host's checks after compute (core/src/plugin_host/instances.cpp). Config: fault = "none" |
 * "inf" (a value +infinity) | "neg_inf" | "nan" (a value NaN: allowed) | "empty_name" |
 * "duplicate_name"; its default is the environment variable GENLAB_FAULT_METRIC_FAULT, or
 * "none", so that `genlab plugins check` (which creates with the default config) meets the
 * fault. Otherwise it returns "rows" (real rows seen) and "ratio" (generated over real).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "genlab/genlab.h"
#include "genlab/genlab_util.h"

#ifndef PLUGIN_NAME
#define PLUGIN_NAME "fault-metric"
#endif

#if defined(CONSTRUCTOR_PROBE)
/* constructor-probe: code that runs when the library is loaded, before any genlab call,
 * as a C++ static initializer would: it appends a line to the file named by
 * $GENLAB_CONSTRUCTOR_PROBE, so a test sees which commands load the plugin. */
#include <stdio.h>
__attribute__((constructor)) static void constructor_probe(void) {
  const char* path = getenv("GENLAB_CONSTRUCTOR_PROBE");
  if (path == NULL || path[0] == '\0') return;
  FILE* f = fopen(path, "a");
  if (f == NULL) return;
  fputs("loaded\n", f);
  fclose(f);
}
#endif

typedef struct fault_metric {
  char fault[32];
  double real_rows;
  double generated_rows;
} fault_metric;

static const char* modalities[1] = {"points"};
static const int32_t device_types[1] = {kDLCPU};
static const genlab_param_spec params[1] = {
    {GENLAB_PARAM_SPEC_STRUCT_SIZE, "fault", GENLAB_PARAM_STRING, "\"none\"",
     "which breach to commit (default: $GENLAB_FAULT_METRIC_FAULT, else none)"}};
static const genlab_plugin_description description = {
    .struct_size = GENLAB_PLUGIN_DESCRIPTION_STRUCT_SIZE,
    .kind = GENLAB_PLUGIN_KIND_METRIC,
    .name = PLUGIN_NAME,
    .version = "1.0.0",
    .family = "test",
    .summary = "breaks the contract of compute on purpose (contract tests)",
    .modalities = modalities,
    .modality_count = 1,
    .capabilities = GENLAB_CAPABILITY_NEEDS_REAL | GENLAB_CAPABILITY_NEEDS_GENERATED,
    .device_types = device_types,
    .device_type_count = 1,
    .params = params,
    .param_count = 1,
};

static genlab_error* describe(genlab_describe_args* args) {
  args->description = &description;
  return NULL;
}

static genlab_error* create(genlab_metric_create_args* args) {
  const char* fault = getenv("GENLAB_FAULT_METRIC_FAULT");
  if (fault == NULL || fault[0] == '\0') fault = "none";
  const genlab_host_api* host = args->host;
  if (args->config != NULL) {
    const char* given = NULL;
    const genlab_config_status status = host->config_get_string(host->context, args->config, "fault", &given);
    if (status == GENLAB_CONFIG_WRONG_TYPE)
      return genlab_util_error_new(GENLAB_ERROR_INVALID_ARGUMENT, "expected 'fault' to be a string");
    if (status == GENLAB_CONFIG_FOUND) fault = given;
  }
  static const char* const known[] = {"none", "inf", "neg_inf", "nan", "empty_name", "duplicate_name"};
  int found = 0;
  for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); ++i) found |= strcmp(fault, known[i]) == 0;
  if (!found) return genlab_util_error_new(GENLAB_ERROR_INVALID_ARGUMENT, "unknown fault '%s'", fault);
  fault_metric* self = (fault_metric*)calloc(1, sizeof(fault_metric));
  if (self == NULL) return genlab_util_error_new(GENLAB_ERROR_OUT_OF_MEMORY, "out of memory");
  strncpy(self->fault, fault, sizeof(self->fault) - 1);
  args->metric = (genlab_metric*)self;
  return NULL;
}

static void destroy(genlab_metric* metric) { free(metric); }

static double rows_of(const genlab_tensor_map* map) {
  if (map == NULL || map->count == 0 || map->tensors[0] == NULL || map->tensors[0]->dl_tensor.ndim < 1) return 0;
  return (double)map->tensors[0]->dl_tensor.shape[0];
}

static genlab_error* update(genlab_metric_update_args* args) {
  if (args->real == NULL && args->generated == NULL)
    return genlab_util_error_new(GENLAB_ERROR_INVALID_ARGUMENT, "expected real or generated data");
  fault_metric* self = (fault_metric*)args->metric;
  self->real_rows += rows_of(args->real);
  self->generated_rows += rows_of(args->generated);
  return NULL;
}

static genlab_error* compute(genlab_metric_compute_args* args) {
  const fault_metric* self = (const fault_metric*)args->metric;
  const char* names[2] = {"rows", "ratio"};
  double values[2] = {self->real_rows, self->real_rows > 0 ? self->generated_rows / self->real_rows : NAN};
  if (strcmp(self->fault, "inf") == 0) values[1] = INFINITY;
  if (strcmp(self->fault, "neg_inf") == 0) values[1] = -INFINITY;
  if (strcmp(self->fault, "nan") == 0) values[1] = NAN;
  if (strcmp(self->fault, "empty_name") == 0) names[1] = "";
  if (strcmp(self->fault, "duplicate_name") == 0) names[1] = "rows";
  genlab_scalar_list* list = genlab_util_scalar_list_new(2, names);
  if (list == NULL) return genlab_util_error_new(GENLAB_ERROR_OUT_OF_MEMORY, "out of memory");
  genlab_util_scalar_list_set_value(list, 0, values[0], GENLAB_DIRECTION_NONE);
  genlab_util_scalar_list_set_value(list, 1, values[1], GENLAB_DIRECTION_NONE);
  args->results = list;
  return NULL;
}

static genlab_error* reset(genlab_metric* metric) {
  fault_metric* self = (fault_metric*)metric;
  self->real_rows = 0;
  self->generated_rows = 0;
  return NULL;
}

static const genlab_metric_api metric_api = {GENLAB_METRIC_API_STRUCT_SIZE, create, destroy, update, compute, reset};
static const genlab_plugin_api plugin_api = {
    .struct_size = GENLAB_PLUGIN_API_STRUCT_SIZE,
    .abi_major = GENLAB_ABI_VERSION_MAJOR,
    .abi_minor = GENLAB_ABI_VERSION_MINOR,
    .kind = GENLAB_PLUGIN_KIND_METRIC,
    .describe = describe,
    .metric = &metric_api,
};

GENLAB_EXPORT const genlab_plugin_api* genlab_plugin_entry(uint32_t host_major, uint32_t host_minor) {
  (void)host_major;
  (void)host_minor;
  return &plugin_api;
}
