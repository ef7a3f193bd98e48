// Fuzz target: the safetensors reader (checkpoints and samples). Any input must give a
// HostError or a valid map, never a crash, a leak or another exception.
#include <cstdint>
#include <string>

#include "genlab/util/error.hpp"
#include "genlab/core/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    genlab::decode_safetensors(std::string(reinterpret_cast<const char*>(data), size), "fuzz.safetensors");
  } catch (const genlab::HostError&) {
  }
  return 0;
}
