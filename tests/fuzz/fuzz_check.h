#pragma once
// FUZZ_CHECK(condition): an invariant of a fuzz target. A broken one prints the line and the
// condition and calls __builtin_trap(), which libFuzzer reports as a crash with the input.

#include <cstdio>

#define FUZZ_CHECK(cond)                                                          \
  do {                                                                            \
    if (!(cond)) {                                                                \
      std::fprintf(stderr, "invariant broken at line %d: %s\n", __LINE__, #cond); \
      __builtin_trap();                                                           \
    }                                                                             \
  } while (false)
