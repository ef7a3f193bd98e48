// Fuzz target: the UTF-8 decoder of the text dataset's character tokeniser. Valid input
// must round-trip through the encoder; invalid input must be refused at a byte offset
// inside it.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <genlab/formats/utf8.hpp>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace utf8 = genlab::plugins::utf8;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  std::vector<uint32_t> code_points;
  size_t bad = 0;
  if (utf8::decode(bytes, code_points, bad)) {
    std::string again;
    for (uint32_t c : code_points) utf8::append(again, c);
    if (again != bytes) std::abort();
    for (uint32_t c : code_points) (void)utf8::describe(c);
  } else if (bad >= size) {
    std::abort();
  }
  return 0;
}
