/*
 * genlab.h — the genlab plugin C ABI, version 1.6.
 *
 * This header (with genlab/abi/, its four per-kind parts, which it includes) is the whole
 * contract between the genlab host and a plugin. It is C (C99
 * and C++ compatible); no C++ type, exception, STL container or LibTorch type crosses it.
 * Tensors cross as DLPack `DLManagedTensor` (dlpack/dlpack.h), so a plugin built with
 * another compiler, another libstdc++, another LibTorch or no LibTorch at all loads.
 *
 * Reading order: conventions, versioning, errors, tensor maps, scalar lists, host services,
 * description, then one file per plugin kind (genlab/abi/model.h, dataset.h, metric.h,
 * backend.h) in the order of their tables, and last the plugin table and its one exported entry symbol.
 *
 * ------------------------------------------------------------------------------------------
 * Versioning rules
 *
 *   GENLAB_ABI_VERSION_MAJOR changes when anything is removed, reordered, retyped or given
 *   new meaning. A host refuses a plugin whose major differs from its own.
 *
 *   GENLAB_ABI_VERSION_MINOR changes when something is appended: a field at the end of a
 *   struct, a function at the end of a table, a new enum value. A host loads plugins of any
 *   minor of its major: older ones (it treats the missing tail as absent) and newer ones (it
 *   ignores what it does not know).
 *
 *   Every struct that crosses starts with `size_t struct_size`, set by whoever fills the
 *   struct to GENLAB_<NAME>_STRUCT_SIZE of the header it was built with. Each side reads a
 *   field only if the other side's `struct_size` covers it (GENLAB_STRUCT_HAS); it never
 *   requires the sizes to be equal. Fields that a side cannot see read as zero / NULL.
 *
 *   History: 1.0 the first; 1.1 appends genlab_dataset_info.vocabulary; 1.2 adds the
 *   capabilities GENLAB_CAPABILITY_READS_FEATURES and GENLAB_CAPABILITY_GENERATE_NEEDS_INPUTS;
 *   1.3 appends genlab_host_api.run_op (named ops served by backend plugins) and defines the
 *   `rays` modality's two kinds of batch (see genlab_dataset_info); 1.4 appends
 *   genlab_host_api.rank, world_size and rendezvous and genlab_model_train_step_args.stop
 *   and stop_agreed, and adds GENLAB_CAPABILITY_DATA_PARALLEL (one run trained by several
 *   processes, see genlab_host_api.world_size); 1.5 appends
 *   genlab_plugin_description.generate_params (the options generate reads, which the host
 *   checks), genlab_model_score_args.convention (what a model's scores measure, so that
 *   unlike likelihoods are never ranked together), genlab_host_api.precision and
 *   GENLAB_CAPABILITY_MIXED_PRECISION (bf16 / fp16 compute); 1.6 appends
 *   genlab_model_export_state_args.trainable_parameters (a model's size, stated by the
 *   model rather than guessed by the host from its optimiser's tensor names).
 *
 * Conventions
 *
 *   - Every fallible call returns `genlab_error*`: NULL means success; otherwise the caller
 *     owns the error and frees it with genlab_error_destroy().
 *   - Every call takes one argument struct; fields are marked [in] or [out]. [out] fields
 *     are written only on success.
 *   - Every object a call hands out carries its own `destroy` function, so it is freed by
 *     the allocator (and the C runtime) that made it. Every destroy accepts NULL.
 *   - Strings are UTF-8, NUL-terminated. A `const char*` [in] is borrowed for the call.
 *   - Nothing here is thread-safe unless it says so: the host calls one object from one
 *     thread at a time (it may be a different thread from call to call).
 */
#ifndef GENLAB_GENLAB_H_
#define GENLAB_GENLAB_H_

#include <stddef.h>
#include <stdint.h>

#include <dlpack/dlpack.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ========================================================================================
 * Versioning and struct sizes
 * ====================================================================================== */

#define GENLAB_ABI_VERSION_MAJOR 1
#define GENLAB_ABI_VERSION_MINOR 6

/* The size of `type` up to and including `last_field`: what a struct_size must be at least
 * for its reader to see `last_field`. Each struct below has a GENLAB_<NAME>_STRUCT_SIZE
 * macro built with it from its current last field. */
#define GENLAB_STRUCT_SIZE(type, last_field) (offsetof(type, last_field) + sizeof(((type*)0)->last_field))

/* Whether a struct whose struct_size is `size` contains `field`. */
#define GENLAB_STRUCT_HAS(type, size, field) ((size) >= GENLAB_STRUCT_SIZE(type, field))

/* Symbol visibility: build plugins with -fvisibility=hidden; only the entry is exported. */
#if defined(_WIN32)
#define GENLAB_EXPORT __declspec(dllexport)
#else
#define GENLAB_EXPORT __attribute__((visibility("default")))
#endif

/* ========================================================================================
 * Errors
 *
 * An error is an object with a code and a message. NULL means success. Whoever receives a
 * non-NULL error owns it and frees it with genlab_error_destroy(), which calls the
 * `destroy` that its creator put in it.
 * ====================================================================================== */

typedef enum genlab_error_code {
  GENLAB_ERROR_UNKNOWN = 1,             /* none of the below */
  GENLAB_ERROR_INVALID_ARGUMENT = 2,    /* a config value, tensor, shape or dtype is wrong */
  GENLAB_ERROR_NOT_FOUND = 3,           /* a named thing (key, split, op, file) is missing */
  GENLAB_ERROR_UNIMPLEMENTED = 4,       /* the call or option is not offered */
  GENLAB_ERROR_FAILED_PRECONDITION = 5, /* called in the wrong state (e.g. before create) */
  GENLAB_ERROR_CANCELLED = 6,           /* the host asked to stop */
  GENLAB_ERROR_OUT_OF_MEMORY = 7,
  GENLAB_ERROR_UNSUPPORTED_DEVICE = 8, /* the tensors' or config's device is not served */
  GENLAB_ERROR_INTERNAL = 9,           /* a bug or an unexpected exception in the callee */
  GENLAB_ERROR_IO = 10                 /* reading or writing a file failed */
} genlab_error_code;

typedef struct genlab_error genlab_error;
struct genlab_error {
  size_t struct_size;
  genlab_error_code code;
  /* The message: what was expected and what came, naming the field, file or tensor.
   * Owned by the error; lives until it is destroyed. Never NULL. */
  const char* message;
  /* Frees the error and its message. Set by the creator; never NULL. */
  void (*destroy)(genlab_error* self);
};
#define GENLAB_ERROR_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_error, destroy)

/* Frees an error through its own destroy. Accepts NULL. */
static inline void genlab_error_destroy(genlab_error* error) {
  if (error != NULL && error->destroy != NULL) error->destroy(error);
}

/* ========================================================================================
 * Tensor maps
 *
 * An ordered list of named DLPack tensors: a batch, a model's outputs, a checkpoint's
 * state. Tensors carry their device (CPU, CUDA, ROCm, ...) and are never copied to cross.
 *
 * Ownership:
 *   - A map passed [in] is borrowed for the duration of the call. The callee must not call
 *     its destroy nor any tensor's deleter, and must not keep pointers into it after
 *     returning (copy what it keeps). Such a map may have `destroy` NULL.
 *   - A map returned [out] is owned by the receiver, who frees it with
 *     genlab_tensor_map_destroy(); that calls the deleter of every tensor still in the map.
 *     A receiver may take a tensor out by copying its pointer and setting
 *     `tensors[i]` to NULL; it then owns that tensor and calls its deleter exactly once.
 * ====================================================================================== */

typedef struct genlab_tensor_map genlab_tensor_map;
struct genlab_tensor_map {
  size_t struct_size;
  size_t count;
  /* `count` names, unique within the map. Owned by the map. */
  const char* const* names;
  /* `count` tensors, parallel to `names`. Owned by the map; slots may be set to NULL by a
   * receiver that takes the tensor (see above). */
  DLManagedTensor** tensors;
  /* Frees the map, calling the deleter of every non-NULL tensor. NULL for borrowed maps. */
  void (*destroy)(genlab_tensor_map* self);
};
#define GENLAB_TENSOR_MAP_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_tensor_map, destroy)

/* Frees an owned map through its own destroy. Accepts NULL. */
static inline void genlab_tensor_map_destroy(genlab_tensor_map* map) {
  if (map != NULL && map->destroy != NULL) map->destroy(map);
}

/* ========================================================================================
 * Scalar lists
 *
 * Named numbers: a training step's losses, a metric's results. Owned by the receiver,
 * freed with genlab_scalar_list_destroy().
 * ====================================================================================== */

typedef enum genlab_direction {
  GENLAB_DIRECTION_NONE = 0,  /* informational: neither higher nor lower is better */
  GENLAB_DIRECTION_LOWER = 1, /* lower is better (a loss, FID, NLL) */
  GENLAB_DIRECTION_HIGHER = 2 /* higher is better (PSNR, precision, accuracy) */
} genlab_direction;

typedef struct genlab_scalar_list genlab_scalar_list;
struct genlab_scalar_list {
  size_t struct_size;
  size_t count;
  const char* const* names;                  /* `count` names. Owned by the list. */
  const double* values;                      /* `count` values; NaN is allowed and means "not a number". */
  const int32_t* directions;                 /* `count` genlab_direction values. */
  void (*destroy)(genlab_scalar_list* self); /* frees the list; never NULL */
};
#define GENLAB_SCALAR_LIST_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_scalar_list, destroy)

/* Frees a list through its own destroy. Accepts NULL. */
static inline void genlab_scalar_list_destroy(genlab_scalar_list* list) {
  if (list != NULL && list->destroy != NULL) list->destroy(list);
}

/* ========================================================================================
 * Host services
 *
 * The host gives every object it creates a pointer to this table. The table and its
 * `context` outlive every object created with it. All functions are thread-safe.
 * ====================================================================================== */

typedef enum genlab_log_level {
  GENLAB_LOG_TRACE = 0,
  GENLAB_LOG_DEBUG = 1,
  GENLAB_LOG_INFO = 2,
  GENLAB_LOG_WARN = 3,
  GENLAB_LOG_ERROR = 4
} genlab_log_level;

/* What a config lookup found. */
typedef enum genlab_config_status {
  GENLAB_CONFIG_FOUND = 0,
  GENLAB_CONFIG_MISSING = 1,   /* no such key: use the default */
  GENLAB_CONFIG_WRONG_TYPE = 2 /* the key exists with another type: report an error */
} genlab_config_status;

/* A read-only tree of configuration values (a manifest section) owned by the host. Keys are
 * dotted paths ("encoder.channels"). A config handle given in an argument struct is valid
 * for that call only: read what you need during it. */
typedef struct genlab_config genlab_config;

typedef struct genlab_host_api genlab_host_api;
struct genlab_host_api {
  size_t struct_size;
  uint32_t abi_major; /* the ABI version the host was built with */
  uint32_t abi_minor;
  void* context; /* the host's; passed back as the first argument of every call */

  /* Writes one line to the host's log, attributed to the calling plugin. */
  void (*log)(void* context, genlab_log_level level, const char* message);

  /* Reports progress of a long call (a fraction in [0, 1], or negative if unknown) with an
   * optional message (may be NULL). */
  void (*report_progress)(void* context, double fraction, const char* message);

  /* Nonzero once the host has asked the current work to stop (Ctrl-C, a time budget). A
   * long call should poll it and return GENLAB_ERROR_CANCELLED. */
  int32_t (*is_cancelled)(void* context);

  /* Config lookups. `out` is written only when the result is GENLAB_CONFIG_FOUND. An
   * integer value is also found by config_get_double. A string lives as long as `config`. */
  genlab_config_status (*config_get_int64)(void* context, const genlab_config* config, const char* key, int64_t* out);
  genlab_config_status (*config_get_double)(void* context, const genlab_config* config, const char* key, double* out);
  genlab_config_status (*config_get_bool)(void* context, const genlab_config* config, const char* key, int32_t* out);
  genlab_config_status (*config_get_string)(void* context, const genlab_config* config, const char* key,
                                            const char** out);

  /* The seed of the current run. A plugin seeds every RNG it owns from it, so that a run on
   * the CPU repeats bit for bit. */
  uint64_t seed;

  /* The number of CPU threads the current run may use (>= 1). A plugin sizes its thread
   * pools (LibTorch intra-op, OpenBLAS) to it. */
  int32_t num_threads;

  /* Since 1.3. Runs the named op (e.g. "volume_composite") on the backend plugin that
   * serves the device of `inputs`' tensors, which must all be on one device. The host
   * chooses among the backends it found (a vendor's before the CPU reference). `inputs` is
   * borrowed for the call; on success `*outputs` is an owned map on the same device that the
   * caller frees with genlab_tensor_map_destroy(). No backend serving the op on that device
   * gives GENLAB_ERROR_UNSUPPORTED_DEVICE naming the backends there are. A plugin built
   * against 1.3 that may meet an older host checks GENLAB_STRUCT_HAS(run_op) first. */
  genlab_error* (*run_op)(void* context, const char* op, const genlab_tensor_map* inputs, genlab_tensor_map** outputs);

  /* Since 1.4. Data-parallel training: one run trained by `world_size` processes, each on its
   * shard of every batch (rank r gets the r-th contiguous 1/world_size of the global batch).
   * A model given world_size > 1 must average its gradients over the processes before each
   * optimiser step (the C++ SDK's genlab/sdk/distributed.hpp does, and its Adam calls it),
   * make the same collective calls in the same order in every process, and agree on
   * stopping (genlab_model_train_step_args.stop). Only a model that declares
   * GENLAB_CAPABILITY_DATA_PARALLEL is given world_size > 1. rank is in [0, world_size);
   * world_size is 1 and rank 0 for a single process, and for every object but the model
   * of a training node. */
  int32_t rank;
  int32_t world_size;
  /* The path of a file that the run's processes share, where they meet (e.g. LibTorch
   * c10d's FileStore); fresh for every launch. Owned by the host, lives as long as the table.
   * NULL when world_size is 1. */
  const char* rendezvous;
  /* Since 1.5. The precision of the run's compute (a genlab_precision). Only a model that
   * declares GENLAB_CAPABILITY_MIXED_PRECISION is given anything but GENLAB_PRECISION_FP32;
   * its outputs (samples, scores, losses) are float32 whatever it computes in. */
  int32_t precision;
};
#define GENLAB_HOST_API_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_host_api, precision)

/* The floating-point precision of a run's compute (experiment.precision). */
typedef enum genlab_precision {
  GENLAB_PRECISION_FP32 = 0, /* float32 throughout */
  GENLAB_PRECISION_BF16 = 1, /* bfloat16 autocast: fp32's range, 8 bits of mantissa */
  GENLAB_PRECISION_FP16 = 2  /* float16 autocast with a loss scale (CUDA) */
} genlab_precision;

/* ========================================================================================
 * Description
 *
 * What a plugin is, answered without running anything: no allocation of models, no file
 * read, no device touched. The description and everything it points to is static: it lives
 * as long as the library is loaded.
 * ====================================================================================== */

typedef enum genlab_plugin_kind {
  GENLAB_PLUGIN_KIND_MODEL = 1,
  GENLAB_PLUGIN_KIND_DATASET = 2,
  GENLAB_PLUGIN_KIND_METRIC = 3,
  GENLAB_PLUGIN_KIND_BACKEND = 4
} genlab_plugin_kind;

/* Capability bits of a model or metric. */
#define GENLAB_CAPABILITY_TRAIN UINT64_C(1)            /* model: train_step works */
#define GENLAB_CAPABILITY_GENERATE UINT64_C(2)         /* model: generate works */
#define GENLAB_CAPABILITY_SCORE UINT64_C(4)            /* model: score (a likelihood) works */
#define GENLAB_CAPABILITY_STATE UINT64_C(8)            /* model: export/import state work */
#define GENLAB_CAPABILITY_NEEDS_SCORES UINT64_C(16)    /* metric: needs a model's scores */
#define GENLAB_CAPABILITY_NEEDS_REAL UINT64_C(32)      /* metric: needs real data */
#define GENLAB_CAPABILITY_NEEDS_GENERATED UINT64_C(64) /* metric: needs generated outputs */
/* metric: reads "features" [N, D] and "logits" [N, K] that the host appends to the real and
 * generated maps of image data from a feature network (a classifier it trains per dataset). */
#define GENLAB_CAPABILITY_READS_FEATURES UINT64_C(128)
/* model: generate maps given inputs to outputs (a classifier, an encoder) and needs them;
 * there is nothing to sample without. */
#define GENLAB_CAPABILITY_GENERATE_NEEDS_INPUTS UINT64_C(256)
/* model: trains over several processes when genlab_host_api.world_size > 1 (it averages its
 * gradients and agrees on stopping, see there). Since 1.4. */
#define GENLAB_CAPABILITY_DATA_PARALLEL UINT64_C(512)
/* model: computes correctly under mixed precision (genlab_host_api.precision): its forward
 * passes run in bf16 or fp16 where that is safe (autocast), its weights and optimiser state
 * stay fp32, and with fp16 it scales its loss against underflow. Since 1.5. */
#define GENLAB_CAPABILITY_MIXED_PRECISION UINT64_C(1024)

/* The type of a configuration parameter. */
typedef enum genlab_param_type {
  GENLAB_PARAM_INT = 1,
  GENLAB_PARAM_DOUBLE = 2,
  GENLAB_PARAM_BOOL = 3,
  GENLAB_PARAM_STRING = 4
} genlab_param_type;

/* One configuration parameter a plugin reads: the manifest key, its type, its default as
 * TOML text (NULL when required) and one line of documentation. */
typedef struct genlab_param_spec {
  size_t struct_size;
  const char* name;
  genlab_param_type type;
  const char* default_value;
  const char* doc;
} genlab_param_spec;
#define GENLAB_PARAM_SPEC_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_param_spec, doc)

typedef struct genlab_plugin_description {
  size_t struct_size;
  genlab_plugin_kind kind;
  const char* name;    /* unique plugin name, [a-z0-9_-]+ ("vae", "idx-images") */
  const char* version; /* the plugin's own version, semver ("1.2.0") */
  const char* family;  /* model family ("vae", "gan", ...) or a kind-specific group */
  const char* summary; /* one line for `genlab plugins list` */
  /* Modalities the plugin consumes or produces: "image", "tokens", "rays", "points". */
  const char* const* modalities;
  size_t modality_count;
  uint64_t capabilities; /* GENLAB_CAPABILITY_* bits */
  /* Device types the plugin can run on (DLDeviceType values, kDLCPU first). */
  const int32_t* device_types;
  size_t device_type_count;
  /* The configuration parameters the plugin reads (may be empty). The host rejects
   * unknown keys in a manifest section when this list is non-empty. */
  const genlab_param_spec* params;
  size_t param_count;
  /* Since 1.5. Models: the options `generate` reads (a sampler's steps, a temperature),
   * declared like `params`. A host that sees this field refuses any other option (from a
   * manifest's [evaluation.generate] or `genlab sample --option`) before calling generate;
   * an empty list means generate takes none. */
  const genlab_param_spec* generate_params;
  size_t generate_param_count;
} genlab_plugin_description;
#define GENLAB_PLUGIN_DESCRIPTION_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_plugin_description, generate_param_count)

typedef struct genlab_describe_args {
  size_t struct_size;
  const genlab_plugin_description* description; /* [out] static, never freed */
} genlab_describe_args;
#define GENLAB_DESCRIBE_ARGS_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_describe_args, description)

/* The four kinds of plugin, each its own file of this header. */
#include "genlab/abi/model.h"   /* IWYU pragma: export */
#include "genlab/abi/dataset.h" /* IWYU pragma: export */
#include "genlab/abi/metric.h"  /* IWYU pragma: export */
#include "genlab/abi/backend.h" /* IWYU pragma: export */

/* ========================================================================================
 * The plugin table and its entry symbol
 *
 * A plugin library exports exactly one symbol, GENLAB_PLUGIN_ENTRY_SYMBOL, of type
 * genlab_plugin_entry_fn. The host calls it once after loading with its own ABI version;
 * it returns a static table (never freed), or NULL to refuse that host. It must not fail
 * otherwise, allocate, or touch a device.
 *
 * The table's kind says which one of the four kind tables is set; the others are NULL.
 * ====================================================================================== */

typedef struct genlab_plugin_api {
  size_t struct_size;
  uint32_t abi_major; /* GENLAB_ABI_VERSION_MAJOR of the header the plugin was built with */
  uint32_t abi_minor; /* GENLAB_ABI_VERSION_MINOR of that header */
  genlab_plugin_kind kind;
  /* Required. Says what the plugin is; runs nothing. */
  genlab_error* (*describe)(genlab_describe_args* args);
  const genlab_model_api* model;     /* set when kind is MODEL */
  const genlab_dataset_api* dataset; /* set when kind is DATASET */
  const genlab_metric_api* metric;   /* set when kind is METRIC */
  const genlab_backend_api* backend; /* set when kind is BACKEND */
} genlab_plugin_api;
#define GENLAB_PLUGIN_API_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_plugin_api, backend)

typedef const genlab_plugin_api* (*genlab_plugin_entry_fn)(uint32_t host_abi_major, uint32_t host_abi_minor);

#define GENLAB_PLUGIN_ENTRY_SYMBOL "genlab_plugin_entry"

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* GENLAB_GENLAB_H_ */
