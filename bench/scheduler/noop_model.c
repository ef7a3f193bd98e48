/*
 * bench-noop — a model plugin in plain C that does nothing, for measuring what the
 * scheduler and its worker processes cost per run (bench/scheduler.sh). Not a model:
 * train_step returns a zero loss, generate returns zeros, the state is one counter.
 */
#include <stdint.h>

#include "genlab/genlab.h"
#include "genlab/genlab_util.h"

static int64_t steps_taken;

static const char* const modalities[] = {"points"};
static const genlab_plugin_description description = {
    GENLAB_PLUGIN_DESCRIPTION_STRUCT_SIZE,
    GENLAB_PLUGIN_KIND_MODEL,
    "bench-noop",
    "1.0.0",
    "bench",
    "does nothing: the scheduler's overhead benchmark",
    modalities,
    1,
    GENLAB_CAPABILITY_TRAIN | GENLAB_CAPABILITY_GENERATE | GENLAB_CAPABILITY_STATE,
    NULL,
    0,
    NULL,
    0};

static genlab_error* describe(genlab_describe_args* args) {
  args->description = &description;
  return NULL;
}
static genlab_error* create(genlab_model_create_args* args) {
  args->model = (genlab_model*)&steps_taken;
  return NULL;
}
static void destroy(genlab_model* model) { (void)model; }
static genlab_error* train_step(genlab_model_train_step_args* args) {
  static const char* name = "loss";
  if (genlab_util_tensor_map_find(args->batch, "x") < 0)
    return genlab_util_error_new(GENLAB_ERROR_INVALID_ARGUMENT, "expected a batch with a tensor named 'x'");
  ++steps_taken;
  args->losses = genlab_util_scalar_list_new(1, &name);
  return args->losses ? NULL : genlab_util_error_new(GENLAB_ERROR_OUT_OF_MEMORY, "out of memory");
}
static genlab_error* generate(genlab_model_generate_args* args) {
  if (args->count < 0) return genlab_util_error_new(GENLAB_ERROR_INVALID_ARGUMENT, "negative count");
  const int64_t shape[2] = {args->count, 2};
  genlab_tensor_map* map = genlab_util_tensor_map_new(1);
  if (map == NULL) return genlab_util_error_new(GENLAB_ERROR_OUT_OF_MEMORY, "out of memory");
  genlab_util_tensor_map_set(map, 0, "samples", genlab_util_cpu_tensor_new(genlab_util_dtype_float32(), 2, shape));
  args->outputs = map;
  return NULL;
}
static genlab_error* export_state(genlab_model_export_state_args* args) {
  const int64_t one = 1;
  DLManagedTensor* t = genlab_util_cpu_tensor_new(genlab_util_dtype_int64(), 1, &one);
  *(int64_t*)t->dl_tensor.data = steps_taken;
  genlab_tensor_map* map = genlab_util_tensor_map_new(1);
  genlab_util_tensor_map_set(map, 0, "steps", t);
  args->state = map;
  return NULL;
}
static genlab_error* import_state(genlab_model_import_state_args* args) {
  const long i = genlab_util_tensor_map_find(args->state, "steps");
  if (i < 0) return genlab_util_error_new(GENLAB_ERROR_NOT_FOUND, "expected a tensor named 'steps'");
  steps_taken = *(const int64_t*)args->state->tensors[i]->dl_tensor.data;
  return NULL;
}

static const genlab_model_api model_api = {
    GENLAB_MODEL_API_STRUCT_SIZE, create, destroy, train_step, generate, NULL, export_state, import_state};
static const genlab_plugin_api plugin_api = {GENLAB_PLUGIN_API_STRUCT_SIZE,
                                             GENLAB_ABI_VERSION_MAJOR,
                                             GENLAB_ABI_VERSION_MINOR,
                                             GENLAB_PLUGIN_KIND_MODEL,
                                             describe,
                                             &model_api,
                                             NULL,
                                             NULL,
                                             NULL};

GENLAB_EXPORT const genlab_plugin_api* genlab_plugin_entry(uint32_t major, uint32_t minor) {
  (void)minor;
  return major == GENLAB_ABI_VERSION_MAJOR ? &plugin_api : NULL;
}
