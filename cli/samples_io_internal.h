/*
 * samples_io_internal.h - what the decoders of samples_io (samples_io.c,
 * samples_npy.c, samples_text.c) share; not part of samples_io.h's API.
 */
#ifndef HTGA_SAMPLES_IO_INTERNAL_H
#define HTGA_SAMPLES_IO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "mix.h" /* htga_ld_le32, htga_ld_le64 */
#include "samples_io.h"

/* Fills *err (when not NULL) and returns code. */
int sio__error(sio_error *err, int code, size_t line, size_t column, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/*
 * Parses text[0..len) as exactly one number of the text grammar into *value
 * (double, correctly rounded: the same value as strtod). Returns SIO_OK, or
 * SIO_EFORMAT (value untouched) when the bytes are not one number. The text
 * decoder's number parser, exposed for its tests.
 */
int sio_parse_number(const char *text, size_t len, double *value);

/* Converts count little-endian float32 (float64) values at src into dst. */
void sio__copy_le_f32(float *dst, const unsigned char *src, size_t count);
void sio__copy_le_f64(float *dst, const unsigned char *src, size_t count);

/* malloc for count floats, at least one byte so that NULL always means failure. */
float *sio__alloc_floats(size_t count);

/* Whether a reader of a .npy stream holding b[0..len) can stop reading
 * (samples_npy.c): it is not .npy, or holds more than its header says. */
int sio__npy_read_enough(const unsigned char *b, size_t len);

#endif
