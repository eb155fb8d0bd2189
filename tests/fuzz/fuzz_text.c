/*
 * fuzz_text.c - libFuzzer target for the text decoder (cli/samples_io.c).
 *
 * Any byte string must decode to values or to an error with a position
 * inside the input, never crash, read out of bounds or leak. The replay test
 * in tests/cli/meson.build runs it over tests/fuzz/corpus/text/.
 */
#include "samples_io.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

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
    int rc = sio_decode_text((const char *)data, size, &values, &n, &err);

    if (rc == SIO_OK) {
        if (n > size / 2 + 1)
            fail(); /* every value takes a byte and a separator */
        free(values);
    } else if (values != NULL || err.text[0] == '\0' ||
               (rc == SIO_EFORMAT &&
                (err.line == 0 || err.line > size + 1 || err.column == 0 || err.column > size))) {
        fail(); /* a format error must point inside the input */
    }
    return 0;
}
