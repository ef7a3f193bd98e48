// A plugin whose entry throws a C++ exception across the C boundary: the host must catch
// it and report the file, not terminate.
#include <stdexcept>

#include "genlab/genlab.h"

extern "C" GENLAB_EXPORT const genlab_plugin_api* genlab_plugin_entry(uint32_t, uint32_t) {
  throw std::runtime_error("the entry exploded on purpose");
}
