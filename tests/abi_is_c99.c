/* Compiled as strict C99 with -Wpedantic -Werror (tests/CMakeLists.txt): the ABI is C. */
#include "genlab/genlab.h"
#include "genlab/genlab_util.h"

/* Uses a few things so the inline helpers are instantiated and checked too. */
size_t abi_is_c99_sizes(void) {
  genlab_error* error = genlab_util_error_new(GENLAB_ERROR_INTERNAL, "%d", 1);
  genlab_error_destroy(error);
  return GENLAB_PLUGIN_API_STRUCT_SIZE + GENLAB_MODEL_API_STRUCT_SIZE + GENLAB_HOST_API_STRUCT_SIZE;
}
