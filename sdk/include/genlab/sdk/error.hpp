// genlab/sdk/error.hpp — the exception a plugin throws for a specific error code, and
// GENLAB_CHECK. No LibTorch: code that parses files (and its fuzz targets) includes only this.
#pragma once

#include <stdexcept>
#include <string>

#include "genlab/genlab.h"

namespace genlab::sdk {

// The one exception type a plugin throws to return a specific error code. Any other
// exception becomes GENLAB_ERROR_INTERNAL (c10::Error: its message without the backtrace).
class Error : public std::runtime_error {
 public:
  Error(genlab_error_code code, const std::string& message) : std::runtime_error(message), code_(code) {}
  genlab_error_code code() const noexcept { return code_; }

 private:
  genlab_error_code code_;
};

}  // namespace genlab::sdk

// Throws genlab::sdk::Error(code, message) unless `condition` holds. A macro so that the
// message (often built with string concatenation) is only built when the check fails: checks
// sit on every call's path.
#define GENLAB_CHECK(condition, code, message)                       \
  do {                                                               \
    if (!(condition)) throw ::genlab::sdk::Error((code), (message)); \
  } while (0)
