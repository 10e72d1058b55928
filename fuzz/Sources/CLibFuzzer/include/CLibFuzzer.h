#include <stddef.h>
#include <stdint.h>

/// libFuzzer's entry point for programs with a main of their own (as SwiftPM's executables
/// have): parses libFuzzer's flags from argv and fuzzes `callback`.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
