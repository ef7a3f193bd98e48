// Include last in a test that sees LibTorch. c10's logging (glog in Debian's build) defines
// CHECK(condition) as a fatal log that passes silently when true, and the precompiled header
// includes it after Catch: without this, CHECK would count nothing and fail only by aborting.
#pragma once

#include "catch.hpp"

#undef CHECK
#define CHECK(...) INTERNAL_CATCH_TEST("CHECK", Catch::ResultDisposition::ContinueOnFailure, __VA_ARGS__)
