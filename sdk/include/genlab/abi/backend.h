/* genlab/abi/backend.h — the backend part of genlab's plugin ABI. Part of genlab/genlab.h,
 * which includes it: include genlab/genlab.h, not this file. */
#ifndef GENLAB_ABI_BACKEND_H_
#define GENLAB_ABI_BACKEND_H_

#ifndef GENLAB_GENLAB_H_
#error "include genlab/genlab.h, not genlab/abi/backend.h"
#endif

/* ========================================================================================
 * Backend
 *
 * A vendor's device support: the devices it serves and named ops it implements for them.
 * The host picks a backend by the device of an op's input tensors; a CPU reference backend
 * always exists for every op that models use.
 * ====================================================================================== */

typedef struct genlab_backend genlab_backend; /* opaque, the plugin's */

typedef struct genlab_backend_create_args {
  size_t struct_size;
  const genlab_host_api* host; /* [in] outlives the backend */
  const genlab_config* config; /* [in] valid for the call; may be NULL */
  genlab_backend* backend;     /* [out] owned by the host; freed with destroy */
} genlab_backend_create_args;
#define GENLAB_BACKEND_CREATE_ARGS_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_backend_create_args, backend)

typedef struct genlab_backend_info_args {
  size_t struct_size;
  genlab_backend* backend; /* [in] */
  /* [out] the device types served right now (a CUDA backend with no GPU serves none) and
   * the names of the ops implemented; both live as long as the backend. */
  const int32_t* device_types;
  size_t device_type_count;
  const char* const* op_names;
  size_t op_count;
} genlab_backend_info_args;
#define GENLAB_BACKEND_INFO_ARGS_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_backend_info_args, op_count)

typedef struct genlab_backend_run_op_args {
  size_t struct_size;
  genlab_backend* backend;         /* [in] */
  const char* op;                  /* [in] one of the info's op names */
  const genlab_tensor_map* inputs; /* [in] borrowed; all on one device the backend serves */
  const genlab_config* options;    /* [in] may be NULL; valid for the call */
  genlab_tensor_map* outputs;      /* [out] on the inputs' device; host-owned */
} genlab_backend_run_op_args;
#define GENLAB_BACKEND_RUN_OP_ARGS_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_backend_run_op_args, outputs)

typedef struct genlab_backend_api {
  size_t struct_size;
  genlab_error* (*create)(genlab_backend_create_args* args); /* Required. */
  void (*destroy)(genlab_backend* backend);                  /* Required. Accepts NULL. */
  genlab_error* (*info)(genlab_backend_info_args* args);     /* Required. */
  genlab_error* (*run_op)(genlab_backend_run_op_args* args); /* Required. */
} genlab_backend_api;
#define GENLAB_BACKEND_API_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_backend_api, run_op)

#endif /* GENLAB_ABI_BACKEND_H_ */
