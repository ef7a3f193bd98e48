/* genlab/abi/metric.h — the metric part of genlab's plugin ABI. Part of genlab/genlab.h,
 * which includes it: include genlab/genlab.h, not this file. */
#ifndef GENLAB_ABI_METRIC_H_
#define GENLAB_ABI_METRIC_H_

#ifndef GENLAB_GENLAB_H_
#error "include genlab/genlab.h, not genlab/abi/metric.h"
#endif

/* ========================================================================================
 * Metric
 *
 * Accumulates batches of real data, generated outputs and model scores, then computes
 * named scalars, each with its direction.
 * ====================================================================================== */

typedef struct genlab_metric genlab_metric; /* opaque, the plugin's */

typedef struct genlab_metric_create_args {
  size_t struct_size;
  const genlab_host_api* host; /* [in] outlives the metric */
  const genlab_config* config; /* [in] valid for the call */
  genlab_metric* metric;       /* [out] owned by the host; freed with destroy */
} genlab_metric_create_args;
#define GENLAB_METRIC_CREATE_ARGS_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_metric_create_args, metric)

typedef struct genlab_metric_update_args {
  size_t struct_size;
  genlab_metric* metric;              /* [in] */
  const genlab_tensor_map* real;      /* [in] borrowed; a dataset batch, or NULL */
  const genlab_tensor_map* generated; /* [in] borrowed; a model's outputs, or NULL */
  const genlab_tensor_map* scores;    /* [in] borrowed; a model's scores, or NULL */
} genlab_metric_update_args;
#define GENLAB_METRIC_UPDATE_ARGS_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_metric_update_args, scores)

typedef struct genlab_metric_compute_args {
  size_t struct_size;
  genlab_metric* metric;       /* [in] */
  genlab_scalar_list* results; /* [out] host-owned */
} genlab_metric_compute_args;
#define GENLAB_METRIC_COMPUTE_ARGS_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_metric_compute_args, results)

typedef struct genlab_metric_api {
  size_t struct_size;
  genlab_error* (*create)(genlab_metric_create_args* args); /* Required. */
  void (*destroy)(genlab_metric* metric);                   /* Required. Accepts NULL. */
  /* Required. Adds one batch; any of the three maps may be NULL. */
  genlab_error* (*update)(genlab_metric_update_args* args);
  /* Required. Computes from everything added since creation or the last reset. */
  genlab_error* (*compute)(genlab_metric_compute_args* args);
  /* Required. Forgets everything added. */
  genlab_error* (*reset)(genlab_metric* metric);
} genlab_metric_api;
#define GENLAB_METRIC_API_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_metric_api, reset)

#endif /* GENLAB_ABI_METRIC_H_ */
