// Declarations only (include/CEngramFuzz.h); libFuzzer provides the function when linked with -sanitize=fuzzer.
#include "CEngramFuzz.h"
