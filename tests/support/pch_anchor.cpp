// Owns the precompiled header every test target reuses (tests/CMakeLists.txt).
#include <gtest/gtest.h>

TEST(PrecompiledHeader, Builds) { SUCCEED(); }
