/*
 * genlab.h — the genlab plugin C ABI, version 1.6.
 *
 * This header is the whole contract between the genlab host and a plugin. It is C (C99
 * and C++ compatible); no C++ type, exception, STL container or LibTorch type crosses it.
 * Tensors cross as DLPack `DLManagedTensor` (dlpack/dlpack.h), so a plugin built with
 * another compiler, another libstdc++, another LibTorch or no LibTorch at all loads.
 *
 * Reading order: conventions, versioning, errors, tensor maps, scalar lists, host services,
 * description, then one banner per plugin kind (model, dataset, metric, backend) in the
 * order of their tables, and last the plugin table and its one exported entry symbol.
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
#define GENLAB_STRUCT_SIZE(type, last_field) \
  (offsetof(type, last_field) + sizeof(((type*)0)->last_field))

/* Whether a struct whose struct_size is `size` contains `field`. */
#define GENLAB_STRUCT_HAS(type, size, field) \
  ((size) >= GENLAB_STRUCT_SIZE(type, field))

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
  GENLAB_ERROR_UNKNOWN = 1,          /* none of the below */
  GENLAB_ERROR_INVALID_ARGUMENT = 2, /* a config value, tensor, shape or dtype is wrong */
  GENLAB_ERROR_NOT_FOUND = 3,        /* a named thing (key, split, op, file) is missing */
  GENLAB_ERROR_UNIMPLEMENTED = 4,    /* the call or option is not offered */
  GENLAB_ERROR_FAILED_PRECONDITION = 5, /* called in the wrong state (e.g. before create) */
  GENLAB_ERROR_CANCELLED = 6,        /* the host asked to stop */
  GENLAB_ERROR_OUT_OF_MEMORY = 7,
  GENLAB_ERROR_UNSUPPORTED_DEVICE = 8, /* the tensors' or config's device is not served */
  GENLAB_ERROR_INTERNAL = 9,         /* a bug or an unexpected exception in the callee */
  GENLAB_ERROR_IO = 10               /* reading or writing a file failed */
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
  GENLAB_DIRECTION_NONE = 0,   /* informational: neither higher nor lower is better */
  GENLAB_DIRECTION_LOWER = 1,  /* lower is better (a loss, FID, NLL) */
  GENLAB_DIRECTION_HIGHER = 2  /* higher is better (PSNR, precision, accuracy) */
} genlab_direction;

typedef struct genlab_scalar_list genlab_scalar_list;
struct genlab_scalar_list {
  size_t struct_size;
  size_t count;
  const char* const* names;   /* `count` names. Owned by the list. */
  const double* values;       /* `count` values; NaN is allowed and means "not a number". */
  const int32_t* directions;  /* `count` genlab_direction values. */
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
  GENLAB_CONFIG_MISSING = 1,    /* no such key: use the default */
  GENLAB_CONFIG_WRONG_TYPE = 2  /* the key exists with another type: report an error */
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
  void* context;      /* the host's; passed back as the first argument of every call */

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
  genlab_config_status (*config_get_int64)(void* context, const genlab_config* config,
                                           const char* key, int64_t* out);
  genlab_config_status (*config_get_double)(void* context, const genlab_config* config,
                                            const char* key, double* out);
  genlab_config_status (*config_get_bool)(void* context, const genlab_config* config,
                                          const char* key, int32_t* out);
  genlab_config_status (*config_get_string)(void* context, const genlab_config* config,
                                            const char* key, const char** out);

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
  genlab_error* (*run_op)(void* context, const char* op, const genlab_tensor_map* inputs,
                          genlab_tensor_map** outputs);

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
#define GENLAB_CAPABILITY_TRAIN UINT64_C(1)         /* model: train_step works */
#define GENLAB_CAPABILITY_GENERATE UINT64_C(2)      /* model: generate works */
#define GENLAB_CAPABILITY_SCORE UINT64_C(4)         /* model: score (a likelihood) works */
#define GENLAB_CAPABILITY_STATE UINT64_C(8)         /* model: export/import state work */
#define GENLAB_CAPABILITY_NEEDS_SCORES UINT64_C(16) /* metric: needs a model's scores */
#define GENLAB_CAPABILITY_NEEDS_REAL UINT64_C(32)   /* metric: needs real data */
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
  const char* name;     /* unique plugin name, [a-z0-9_-]+ ("vae", "idx-images") */
  const char* version;  /* the plugin's own version, semver ("1.2.0") */
  const char* family;   /* model family ("vae", "gan", ...) or a kind-specific group */
  const char* summary;  /* one line for `genlab plugins list` */
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
#define GENLAB_PLUGIN_DESCRIPTION_STRUCT_SIZE \
  GENLAB_STRUCT_SIZE(genlab_plugin_description, generate_param_count)

typedef struct genlab_describe_args {
  size_t struct_size;
  const genlab_plugin_description* description; /* [out] static, never freed */
} genlab_describe_args;
#define GENLAB_DESCRIBE_ARGS_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_describe_args, description)

/* ========================================================================================
 * Model
 *
 * A generative model: created from its config on a device, trained step by step by the
 * host, asked to generate, optionally to score, and to export and import its state.
 * ====================================================================================== */

typedef struct genlab_model genlab_model; /* opaque, the plugin's */

typedef struct genlab_model_create_args {
  size_t struct_size;
  const genlab_host_api* host;  /* [in] outlives the model */
  const genlab_config* config;  /* [in] the model's manifest section; valid for the call */
  DLDevice device;              /* [in] where the model lives */
  /* [in] what the data looks like, from the dataset's info (see genlab_dataset_info);
   * borrowed for the call; may be NULL when no dataset is attached (e.g. sampling). */
  const struct genlab_dataset_info* data_info;
  genlab_model* model;          /* [out] owned by the host; freed with destroy */
} genlab_model_create_args;
#define GENLAB_MODEL_CREATE_ARGS_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_model_create_args, model)

typedef struct genlab_model_train_step_args {
  size_t struct_size;
  genlab_model* model;            /* [in] */
  const genlab_tensor_map* batch; /* [in] borrowed */
  int64_t step;                   /* [in] 0-based index of this step in the run */
  /* [out] named losses of this step (e.g. "loss", "recon", "kl"); the first is the one the
   * host watches for NaN and shows. Owned by the host. With world_size > 1, the mean over
   * the processes (each process's are of its shard), so that every process sees the same. */
  genlab_scalar_list* losses;
  /* Since 1.4. [in] whether this process wants to stop after this step: 0 no, 1 its budget
   * is spent (a time limit), 2 it was asked to stop (a signal). The processes of a run must
   * stop after the same step, or one would wait forever in a collective the others never
   * join: so the host asks, and stops only when told. */
  int32_t stop;
  /* Since 1.4. [out] the largest `stop` of all the run's processes, which every process then
   * acts on. The host sets it to `stop` before the call, so a single process may ignore it. */
  int32_t stop_agreed;
} genlab_model_train_step_args;
#define GENLAB_MODEL_TRAIN_STEP_ARGS_STRUCT_SIZE \
  GENLAB_STRUCT_SIZE(genlab_model_train_step_args, stop_agreed)

typedef struct genlab_model_generate_args {
  size_t struct_size;
  genlab_model* model;             /* [in] */
  int64_t count;                   /* [in] how many samples */
  const genlab_config* options;    /* [in] sampler options (may be NULL); valid for the call */
  const genlab_tensor_map* inputs; /* [in] conditioning (prompts, poses); may be NULL */
  genlab_tensor_map* outputs;      /* [out] named outputs ("samples", ...); host-owned */
} genlab_model_generate_args;
#define GENLAB_MODEL_GENERATE_ARGS_STRUCT_SIZE \
  GENLAB_STRUCT_SIZE(genlab_model_generate_args, outputs)

typedef struct genlab_model_score_args {
  size_t struct_size;
  genlab_model* model;            /* [in] */
  const genlab_tensor_map* batch; /* [in] borrowed */
  /* [out] per-example scores, e.g. "nll" [N] in nats (a bound says so in its name, such as
   * "neg_elbo"); host-owned. */
  genlab_tensor_map* scores;
  /* Since 1.5. [out] what the scores measure, so that the host never ranks unlike numbers
   * together: a short static string naming the data's convention and the density, e.g.
   * "bernoulli" (binary pixels, or [0, 1] values taken as Bernoulli means), "discrete-8bit"
   * (a discretised likelihood of 256 levels), "dequantized" (a density of uniformly
   * dequantised 8-bit values), "continuous" (a density of the values as given), "tokens"
   * (categorical over a vocabulary). NULL (the host's default): not stated; the host then
   * ranks the scores only against the same plugin's. Must stay valid while the model lives. */
  const char* convention;
} genlab_model_score_args;
#define GENLAB_MODEL_SCORE_ARGS_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_model_score_args, convention)

typedef struct genlab_model_export_state_args {
  size_t struct_size;
  genlab_model* model;      /* [in] */
  genlab_tensor_map* state; /* [out] every tensor needed to resume (weights, optimiser,
                               step counters as 0-d tensors); host-owned */
  /* Since 1.6. [out] how many scalar values training updates (the sum of the trainable
   * tensors' element counts): the run's `cost.parameters`. The host sets -1 before the call;
   * a model that leaves it so states nothing, and its runs have no cost.parameters. */
  int64_t trainable_parameters;
} genlab_model_export_state_args;
#define GENLAB_MODEL_EXPORT_STATE_ARGS_STRUCT_SIZE \
  GENLAB_STRUCT_SIZE(genlab_model_export_state_args, trainable_parameters)

typedef struct genlab_model_import_state_args {
  size_t struct_size;
  genlab_model* model;            /* [in] */
  const genlab_tensor_map* state; /* [in] borrowed; a map made by export_state */
} genlab_model_import_state_args;
#define GENLAB_MODEL_IMPORT_STATE_ARGS_STRUCT_SIZE \
  GENLAB_STRUCT_SIZE(genlab_model_import_state_args, state)

typedef struct genlab_model_api {
  size_t struct_size;
  /* Required. Builds the model from its config. */
  genlab_error* (*create)(genlab_model_create_args* args);
  /* Required. Frees the model. Accepts NULL. */
  void (*destroy)(genlab_model* model);
  /* Required. One optimisation step on one batch. */
  genlab_error* (*train_step)(genlab_model_train_step_args* args);
  /* Required. Draws samples (or renders views, continues prompts). */
  genlab_error* (*generate)(genlab_model_generate_args* args);
  /* Optional (NULL if not offered; then GENLAB_CAPABILITY_SCORE is unset). */
  genlab_error* (*score)(genlab_model_score_args* args);
  /* Required. Export and import of the full training state. */
  genlab_error* (*export_state)(genlab_model_export_state_args* args);
  genlab_error* (*import_state)(genlab_model_import_state_args* args);
} genlab_model_api;
#define GENLAB_MODEL_API_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_model_api, import_state)

/* ========================================================================================
 * Dataset
 *
 * Opens data from its config, says what it holds, and returns batches for given indices.
 * The host owns shuffling (from the run's seed), so a batch is a pure function of the
 * split, the indices and the seed.
 * ====================================================================================== */

typedef struct genlab_dataset genlab_dataset; /* opaque, the plugin's */

/* One named element of every example: its dtype and its shape without the batch
 * dimension (e.g. "image" float32 [1, 28, 28], "label" int64 []). */
typedef struct genlab_element_spec {
  size_t struct_size;
  const char* name;
  DLDataType dtype;
  int32_t ndim;
  const int64_t* shape; /* `ndim` sizes */
} genlab_element_spec;
#define GENLAB_ELEMENT_SPEC_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_element_spec, shape)

/* The `rays` modality (posed views, for radiance fields) has two kinds of batch: the split
 * "train" serves rays, one example per pixel ("origins" [3], "directions" [3] of unit
 * length, "colors" [3]), and every other split serves whole views, one example per view
 * ("image" [3, H, W], "pose" [4, 4] camera-to-world in OpenGL's convention, "focal" [] in
 * pixels). The info lists the elements of both; a batch holds those of its kind. */
typedef struct genlab_dataset_info {
  size_t struct_size;
  const char* modality;            /* "image", "tokens", "rays", "points" */
  size_t split_count;
  const char* const* split_names;  /* "train", "test", ... */
  const int64_t* split_sizes;      /* examples per split */
  size_t element_count;
  const genlab_element_spec* elements;
  int64_t num_classes;             /* 0 when unlabelled */
  int64_t vocab_size;              /* tokens: the vocabulary size; else 0 */
  const char* value_range;         /* e.g. "[0, 1]" for images; may be NULL */
  /* Since 1.1. tokens: the symbols of the vocabulary as one UTF-8 string, token i being its
   * i-th code point (vocab_size code points); NULL when tokens are bytes (vocab_size 256)
   * or have no text form. A model keeps it to encode prompts and decode what it writes. */
  const char* vocabulary;
} genlab_dataset_info;
#define GENLAB_DATASET_INFO_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_dataset_info, vocabulary)

typedef struct genlab_dataset_create_args {
  size_t struct_size;
  const genlab_host_api* host;   /* [in] outlives the dataset */
  const genlab_config* config;   /* [in] valid for the call */
  genlab_dataset* dataset;       /* [out] owned by the host; freed with destroy */
} genlab_dataset_create_args;
#define GENLAB_DATASET_CREATE_ARGS_STRUCT_SIZE \
  GENLAB_STRUCT_SIZE(genlab_dataset_create_args, dataset)

typedef struct genlab_dataset_info_args {
  size_t struct_size;
  genlab_dataset* dataset;         /* [in] */
  const genlab_dataset_info* info; /* [out] lives as long as the dataset */
} genlab_dataset_info_args;
#define GENLAB_DATASET_INFO_ARGS_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_dataset_info_args, info)

typedef struct genlab_dataset_get_batch_args {
  size_t struct_size;
  genlab_dataset* dataset;  /* [in] */
  const char* split;        /* [in] one of the info's split names */
  const int64_t* indices;   /* [in] `count` indices into the split */
  size_t count;             /* [in] */
  uint64_t seed;            /* [in] for any randomness in the batch (augmentation, windows) */
  genlab_tensor_map* batch; /* [out] one tensor per element, batch dimension first;
                               host-owned */
} genlab_dataset_get_batch_args;
#define GENLAB_DATASET_GET_BATCH_ARGS_STRUCT_SIZE \
  GENLAB_STRUCT_SIZE(genlab_dataset_get_batch_args, batch)

typedef struct genlab_dataset_api {
  size_t struct_size;
  /* Required. Opens the data (reads headers; may load it). */
  genlab_error* (*create)(genlab_dataset_create_args* args);
  /* Required. Accepts NULL. */
  void (*destroy)(genlab_dataset* dataset);
  /* Required. What the data holds. */
  genlab_error* (*info)(genlab_dataset_info_args* args);
  /* Required. May be called from a background thread (one at a time per dataset). */
  genlab_error* (*get_batch)(genlab_dataset_get_batch_args* args);
} genlab_dataset_api;
#define GENLAB_DATASET_API_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_dataset_api, get_batch)

/* ========================================================================================
 * Metric
 *
 * Accumulates batches of real data, generated outputs and model scores, then computes
 * named scalars, each with its direction.
 * ====================================================================================== */

typedef struct genlab_metric genlab_metric; /* opaque, the plugin's */

typedef struct genlab_metric_create_args {
  size_t struct_size;
  const genlab_host_api* host;  /* [in] outlives the metric */
  const genlab_config* config;  /* [in] valid for the call */
  genlab_metric* metric;        /* [out] owned by the host; freed with destroy */
} genlab_metric_create_args;
#define GENLAB_METRIC_CREATE_ARGS_STRUCT_SIZE \
  GENLAB_STRUCT_SIZE(genlab_metric_create_args, metric)

typedef struct genlab_metric_update_args {
  size_t struct_size;
  genlab_metric* metric;               /* [in] */
  const genlab_tensor_map* real;       /* [in] borrowed; a dataset batch, or NULL */
  const genlab_tensor_map* generated;  /* [in] borrowed; a model's outputs, or NULL */
  const genlab_tensor_map* scores;     /* [in] borrowed; a model's scores, or NULL */
} genlab_metric_update_args;
#define GENLAB_METRIC_UPDATE_ARGS_STRUCT_SIZE \
  GENLAB_STRUCT_SIZE(genlab_metric_update_args, scores)

typedef struct genlab_metric_compute_args {
  size_t struct_size;
  genlab_metric* metric;        /* [in] */
  genlab_scalar_list* results;  /* [out] host-owned */
} genlab_metric_compute_args;
#define GENLAB_METRIC_COMPUTE_ARGS_STRUCT_SIZE \
  GENLAB_STRUCT_SIZE(genlab_metric_compute_args, results)

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
  const genlab_host_api* host;  /* [in] outlives the backend */
  const genlab_config* config;  /* [in] valid for the call; may be NULL */
  genlab_backend* backend;      /* [out] owned by the host; freed with destroy */
} genlab_backend_create_args;
#define GENLAB_BACKEND_CREATE_ARGS_STRUCT_SIZE \
  GENLAB_STRUCT_SIZE(genlab_backend_create_args, backend)

typedef struct genlab_backend_info_args {
  size_t struct_size;
  genlab_backend* backend;      /* [in] */
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
#define GENLAB_BACKEND_RUN_OP_ARGS_STRUCT_SIZE \
  GENLAB_STRUCT_SIZE(genlab_backend_run_op_args, outputs)

typedef struct genlab_backend_api {
  size_t struct_size;
  genlab_error* (*create)(genlab_backend_create_args* args);   /* Required. */
  void (*destroy)(genlab_backend* backend);                    /* Required. Accepts NULL. */
  genlab_error* (*info)(genlab_backend_info_args* args);       /* Required. */
  genlab_error* (*run_op)(genlab_backend_run_op_args* args);   /* Required. */
} genlab_backend_api;
#define GENLAB_BACKEND_API_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_backend_api, run_op)

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

typedef const genlab_plugin_api* (*genlab_plugin_entry_fn)(uint32_t host_abi_major,
                                                           uint32_t host_abi_minor);

#define GENLAB_PLUGIN_ENTRY_SYMBOL "genlab_plugin_entry"

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* GENLAB_GENLAB_H_ */
