// Fuzz target: the 8x8 digits CSV reader of digits-csv.
#include <cstdint>
#include <cstdlib>
#include <string>

#include <genlab/formats/digits_csv.hpp>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto rows =
        genlab::data::formats::parse_digits_csv(std::string(reinterpret_cast<const char*>(data), size), "fuzz.csv");
    if (rows.pixels.size() != 64 * rows.labels.size()) std::abort();  // the plugin reshapes to [N, 1, 8, 8]
  } catch (const genlab::sdk::Error&) {
  }
  return 0;
}
