// Catch2 for the tests, whichever is installed: 2.13 (Debian 12) or 3.x (Debian 13). One
// spelling for both: genlab::test::Contains is a string's substring matcher (Catch2 3 named
// it ContainsSubstring and gave Contains to ranges), Approx is at global scope.
#pragma once

#include <string>

#if __has_include(<catch2/catch.hpp>)
#include <catch2/catch.hpp>
#define GENLAB_CATCH2_MAJOR 2
namespace genlab::test {
using Catch::Matchers::Contains;
}  // namespace genlab::test
#else
#include <catch2/catch_all.hpp>
#define GENLAB_CATCH2_MAJOR 3
using Catch::Approx;
namespace genlab::test {
inline Catch::Matchers::StringContainsMatcher Contains(const std::string& text) {
  return Catch::Matchers::ContainsSubstring(text);
}
}  // namespace genlab::test
#endif

// A test that cannot run here says why and returns: CTest reports it as skipped (the tests
// are discovered with SKIP_REGULAR_EXPRESSION "GENLAB_SKIPPED"), never as passed.
#define GENLAB_SKIP(reason)             \
  do {                                  \
    WARN("GENLAB_SKIPPED: " << reason); \
    return;                             \
  } while (false)
