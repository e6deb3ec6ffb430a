#ifndef CENGRAMFUZZ_H
#define CENGRAMFUZZ_H
#include <stddef.h>
#include <stdint.h>

// libFuzzer's entry point when the program has its own main (SwiftPM names an executable's main itself):
// https://llvm.org/docs/LibFuzzer.html#using-libfuzzer-as-a-library
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
