// The host's one exception type: a message that names the file, plugin, field or call and
// says what was expected. The CLI prints it and exits 1; a runner records it for the run.
#pragma once

#include <stdexcept>
#include <string>

namespace genlab {

class HostError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace genlab
