/* genlab/abi/model.h — the model part of genlab's plugin ABI. Part of genlab/genlab.h,
 * which includes it: include genlab/genlab.h, not this file. */
#ifndef GENLAB_ABI_MODEL_H_
#define GENLAB_ABI_MODEL_H_

#ifndef GENLAB_GENLAB_H_
#error "include genlab/genlab.h, not genlab/abi/model.h"
#endif

/* ========================================================================================
 * Model
 *
 * A generative model: created from its config on a device, trained step by step by the
 * host, asked to generate, optionally to score, and to export and import its state.
 * ====================================================================================== */

typedef struct genlab_model genlab_model; /* opaque, the plugin's */

typedef struct genlab_model_create_args {
  size_t struct_size;
  const genlab_host_api* host; /* [in] outlives the model */
  const genlab_config* config; /* [in] the model's manifest section; valid for the call */
  DLDevice device;             /* [in] where the model lives */
  /* [in] what the data looks like, from the dataset's info (see genlab_dataset_info);
   * borrowed for the call; may be NULL when no dataset is attached (e.g. sampling). */
  const struct genlab_dataset_info* data_info;
  genlab_model* model; /* [out] owned by the host; freed with destroy */
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
#define GENLAB_MODEL_TRAIN_STEP_ARGS_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_model_train_step_args, stop_agreed)

typedef struct genlab_model_generate_args {
  size_t struct_size;
  genlab_model* model;             /* [in] */
  int64_t count;                   /* [in] how many samples */
  const genlab_config* options;    /* [in] sampler options (may be NULL); valid for the call */
  const genlab_tensor_map* inputs; /* [in] conditioning (prompts, poses); may be NULL */
  genlab_tensor_map* outputs;      /* [out] named outputs ("samples", ...); host-owned */
} genlab_model_generate_args;
#define GENLAB_MODEL_GENERATE_ARGS_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_model_generate_args, outputs)

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
#define GENLAB_MODEL_IMPORT_STATE_ARGS_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_model_import_state_args, state)

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

#endif /* GENLAB_ABI_MODEL_H_ */
