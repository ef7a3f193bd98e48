/* genlab/abi/dataset.h — the dataset part of genlab's plugin ABI. Part of genlab/genlab.h,
 * which includes it: include genlab/genlab.h, not this file. */
#ifndef GENLAB_ABI_DATASET_H_
#define GENLAB_ABI_DATASET_H_

#ifndef GENLAB_GENLAB_H_
#error "include genlab/genlab.h, not genlab/abi/dataset.h"
#endif

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
  const char* modality; /* "image", "tokens", "rays", "points" */
  size_t split_count;
  const char* const* split_names; /* "train", "test", ... */
  const int64_t* split_sizes;     /* examples per split */
  size_t element_count;
  const genlab_element_spec* elements;
  int64_t num_classes;     /* 0 when unlabelled */
  int64_t vocab_size;      /* tokens: the vocabulary size; else 0 */
  const char* value_range; /* e.g. "[0, 1]" for images; may be NULL */
  /* Since 1.1. tokens: the symbols of the vocabulary as one UTF-8 string, token i being its
   * i-th code point (vocab_size code points); NULL when tokens are bytes (vocab_size 256)
   * or have no text form. A model keeps it to encode prompts and decode what it writes. */
  const char* vocabulary;
} genlab_dataset_info;
#define GENLAB_DATASET_INFO_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_dataset_info, vocabulary)

typedef struct genlab_dataset_create_args {
  size_t struct_size;
  const genlab_host_api* host; /* [in] outlives the dataset */
  const genlab_config* config; /* [in] valid for the call */
  genlab_dataset* dataset;     /* [out] owned by the host; freed with destroy */
} genlab_dataset_create_args;
#define GENLAB_DATASET_CREATE_ARGS_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_dataset_create_args, dataset)

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
#define GENLAB_DATASET_GET_BATCH_ARGS_STRUCT_SIZE GENLAB_STRUCT_SIZE(genlab_dataset_get_batch_args, batch)

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

#endif /* GENLAB_ABI_DATASET_H_ */
