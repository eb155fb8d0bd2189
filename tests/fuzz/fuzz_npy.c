/*
 * fuzz_npy.c - libFuzzer target for the .npy decoder (cli/samples_io.c).
 *
 * Any byte string must decode to values or to an error with text, never
 * crash, read out of bounds or leak. The replay test in tests/cli/meson.build
 * runs this target over tests/fuzz/corpus/npy/ on every `meson test`.
 */
#include "samples_io.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(void)
{
    fprintf(stderr, "%s: decoder contract broken on this input\n", __FILE__);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    float *values = NULL;
    size_t n = 0;
    sio_error err;

    if (sio_decode_npy(data, size, &values, &n, &err) == SIO_OK) {
        if (n > size / sizeof(float))
            fail(); /* more values than the bytes can hold */
        free(values);
    } else if (values != NULL || err.text[0] == '\0' || strchr(err.text, '\n')) {
        fail(); /* an error must leave no output and explain itself on one line */
    }
    return 0;
}
