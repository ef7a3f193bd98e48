/*
 * genlab_util.h — small C helpers for building the objects of genlab.h with malloc.
 *
 * Header-only (static functions), C99 and C++. A plain-C plugin uses them to return errors,
 * tensor maps and scalar lists; the host uses the same ones for what it hands to plugins.
 * Every object made here frees itself with free() through its own destroy, so it may cross
 * to a side with another C runtime.
 */
#ifndef GENLAB_GENLAB_UTIL_H_
#define GENLAB_GENLAB_UTIL_H_

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "genlab/genlab.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------- errors */

static inline void genlab_util_error_destroy(genlab_error* error) {
  if (error == NULL) return;
  free((void*)error->message);
  free(error);
}

/* A new error with a printf-formatted message. Returns NULL only if out of memory. */
static inline genlab_error* genlab_util_error_vnew(genlab_error_code code, const char* format, va_list args) {
  genlab_error* error = (genlab_error*)calloc(1, sizeof(genlab_error));
  if (error == NULL) return NULL;
  va_list copy;
  va_copy(copy, args);
  int length = vsnprintf(NULL, 0, format, copy);
  va_end(copy);
  char* message = (char*)malloc(length > 0 ? (size_t)length + 1 : 1);
  if (message == NULL) {
    free(error);
    return NULL;
  }
  if (length > 0) {
    vsnprintf(message, (size_t)length + 1, format, args);
  } else {
    message[0] = '\0';
  }
  error->struct_size = GENLAB_ERROR_STRUCT_SIZE;
  error->code = code;
  error->message = message;
  error->destroy = genlab_util_error_destroy;
  return error;
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static inline genlab_error*
genlab_util_error_new(genlab_error_code code, const char* format, ...) {
  va_list args;
  va_start(args, format);
  genlab_error* error = genlab_util_error_vnew(code, format, args);
  va_end(args);
  return error;
}

/* ---------------------------------------------------------------------- tensor maps */

/* The storage of a map made here: the public struct first, then owned arrays. */
typedef struct genlab_util_tensor_map {
  genlab_tensor_map map;
  char** owned_names;
} genlab_util_tensor_map;

static inline void genlab_util_tensor_map_destroy(genlab_tensor_map* map) {
  if (map == NULL) return;
  genlab_util_tensor_map* self = (genlab_util_tensor_map*)map;
  for (size_t i = 0; i < map->count; ++i) {
    DLManagedTensor* tensor = map->tensors[i];
    if (tensor != NULL && tensor->deleter != NULL) tensor->deleter(tensor);
    free(self->owned_names[i]);
  }
  free(self->owned_names);
  free(map->tensors);
  free(self);
}

/* A new owned map with `count` empty slots; fill them with genlab_util_tensor_map_set. */
static inline genlab_tensor_map* genlab_util_tensor_map_new(size_t count) {
  genlab_util_tensor_map* self = (genlab_util_tensor_map*)calloc(1, sizeof(genlab_util_tensor_map));
  if (self == NULL) return NULL;
  self->owned_names = (char**)calloc(count ? count : 1, sizeof(char*));
  self->map.tensors = (DLManagedTensor**)calloc(count ? count : 1, sizeof(DLManagedTensor*));
  if (self->owned_names == NULL || self->map.tensors == NULL) {
    free(self->owned_names);
    free(self->map.tensors);
    free(self);
    return NULL;
  }
  self->map.struct_size = GENLAB_TENSOR_MAP_STRUCT_SIZE;
  self->map.count = count;
  self->map.names = (const char* const*)self->owned_names;
  self->map.destroy = genlab_util_tensor_map_destroy;
  return &self->map;
}

/* Puts `tensor` (ownership passes to the map) under a copy of `name` in slot `index` of a
 * map made by genlab_util_tensor_map_new. Returns 0 on success, -1 if out of memory (then
 * the tensor is deleted). */
static inline int genlab_util_tensor_map_set(genlab_tensor_map* map, size_t index, const char* name,
                                             DLManagedTensor* tensor) {
  genlab_util_tensor_map* self = (genlab_util_tensor_map*)map;
  size_t length = strlen(name);
  char* copy = (char*)malloc(length + 1);
  if (copy == NULL) {
    if (tensor != NULL && tensor->deleter != NULL) tensor->deleter(tensor);
    return -1;
  }
  memcpy(copy, name, length + 1);
  free(self->owned_names[index]);
  self->owned_names[index] = copy;
  map->tensors[index] = tensor;
  return 0;
}

/* The index of `name` in `map`, or -1. */
static inline long genlab_util_tensor_map_find(const genlab_tensor_map* map, const char* name) {
  if (map == NULL) return -1;
  for (size_t i = 0; i < map->count; ++i) {
    if (map->names[i] != NULL && strcmp(map->names[i], name) == 0) return (long)i;
  }
  return -1;
}

/* ------------------------------------------------------------------ CPU DLPack tensors */

typedef struct genlab_util_cpu_tensor {
  DLManagedTensor managed;
  int64_t shape[8];
} genlab_util_cpu_tensor;

static inline void genlab_util_cpu_tensor_delete(DLManagedTensor* managed) {
  if (managed == NULL) return;
  free(managed->dl_tensor.data);
  free(managed);
}

/* The number of elements of a DLPack tensor. */
static inline int64_t genlab_util_numel(const DLTensor* tensor) {
  int64_t n = 1;
  for (int32_t i = 0; i < tensor->ndim; ++i) n *= tensor->shape[i];
  return n;
}

/* A new compact CPU tensor of `ndim` (<= 8) dims, zero-filled, freed by its deleter. */
static inline DLManagedTensor* genlab_util_cpu_tensor_new(DLDataType dtype, int32_t ndim, const int64_t* shape) {
  if (ndim < 0 || ndim > 8) return NULL;
  genlab_util_cpu_tensor* self = (genlab_util_cpu_tensor*)calloc(1, sizeof(genlab_util_cpu_tensor));
  if (self == NULL) return NULL;
  int64_t count = 1;
  for (int32_t i = 0; i < ndim; ++i) {
    self->shape[i] = shape[i];
    count *= shape[i];
  }
  size_t bytes = (size_t)count * ((dtype.bits * dtype.lanes + 7) / 8);
  void* data = calloc(bytes ? bytes : 1, 1);
  if (data == NULL) {
    free(self);
    return NULL;
  }
  DLTensor* t = &self->managed.dl_tensor;
  t->data = data;
  t->device.device_type = kDLCPU;
  t->device.device_id = 0;
  t->ndim = ndim;
  t->dtype = dtype;
  t->shape = self->shape;
  t->strides = NULL; /* compact, row-major */
  t->byte_offset = 0;
  self->managed.manager_ctx = NULL;
  self->managed.deleter = genlab_util_cpu_tensor_delete;
  return &self->managed;
}

static inline DLDataType genlab_util_dtype_float32(void) {
  DLDataType t;
  t.code = kDLFloat;
  t.bits = 32;
  t.lanes = 1;
  return t;
}

static inline DLDataType genlab_util_dtype_int64(void) {
  DLDataType t;
  t.code = kDLInt;
  t.bits = 64;
  t.lanes = 1;
  return t;
}

/* Whether a tensor is a compact row-major CPU tensor of the given dtype. */
static inline int genlab_util_is_cpu_compact(const DLTensor* t, DLDataType dtype) {
  if (t->device.device_type != kDLCPU) return 0;
  if (t->dtype.code != dtype.code || t->dtype.bits != dtype.bits || t->dtype.lanes != 1) return 0;
  if (t->strides == NULL) return 1;
  int64_t expected = 1;
  for (int32_t i = t->ndim - 1; i >= 0; --i) {
    if (t->shape[i] != 1 && t->strides[i] != expected) return 0;
    expected *= t->shape[i];
  }
  return 1;
}

/* --------------------------------------------------------------------- scalar lists */

/* One allocation holds the struct, the three arrays and the names (scalar lists are made on
 * every training step). */
static inline void genlab_util_scalar_list_destroy(genlab_scalar_list* list) { free(list); }

/* A new list of `count` scalars with names copied from `names`; values and directions are
 * set with genlab_util_scalar_list_set_value. Returns NULL if out of memory. */
static inline genlab_scalar_list* genlab_util_scalar_list_new(size_t count, const char* const* names) {
  size_t text = 0;
  for (size_t i = 0; i < count; ++i) text += strlen(names[i]) + 1;
  const size_t header = sizeof(genlab_scalar_list);
  const size_t values_at = (header + 7) & ~(size_t)7;
  const size_t names_at = values_at + count * sizeof(double);
  const size_t directions_at = names_at + count * sizeof(char*);
  const size_t text_at = directions_at + count * sizeof(int32_t);
  char* block = (char*)malloc(text_at + text);
  if (block == NULL) return NULL;
  genlab_scalar_list* list = (genlab_scalar_list*)block;
  double* values = (double*)(block + values_at);
  const char** name_ptrs = (const char**)(block + names_at);
  int32_t* directions = (int32_t*)(block + directions_at);
  char* cursor = block + text_at;
  for (size_t i = 0; i < count; ++i) {
    const size_t length = strlen(names[i]) + 1;
    memcpy(cursor, names[i], length);
    name_ptrs[i] = cursor;
    cursor += length;
    values[i] = 0.0;
    directions[i] = GENLAB_DIRECTION_NONE;
  }
  list->struct_size = GENLAB_SCALAR_LIST_STRUCT_SIZE;
  list->count = count;
  list->names = name_ptrs;
  list->values = values;
  list->directions = directions;
  list->destroy = genlab_util_scalar_list_destroy;
  return list;
}

/* Sets the value and direction of slot `index` of a list made by genlab_util_scalar_list_new. */
static inline void genlab_util_scalar_list_set_value(genlab_scalar_list* list, size_t index, double value,
                                                     genlab_direction direction) {
  ((double*)list->values)[index] = value;
  ((int32_t*)list->directions)[index] = (int32_t)direction;
}

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* GENLAB_GENLAB_UTIL_H_ */
