/*
 * samples_io.h - readers of saved gradient samples for the htga command line.
 *
 * DESIGN: a sample file becomes one malloc'd float array. Three formats:
 *
 *   .npy   NumPy array file, versions 1.0, 2.0 and 3.0; dtype '<f4' or '<f8'
 *          (little-endian float32/float64), C order, any shape (flattened in
 *          C order; a 0-d array is one value). float64 values are rounded to
 *          float (values beyond the float range become +-Inf).
 *   .f32   raw little-endian float32, no header; the size must be a multiple
 *          of 4.
 *   text   anything else (and "-", standard input): decimal numbers separated
 *          by white space and/or commas (a comma must follow a number, so
 *          "1,,2" and a leading comma are errors; a trailing comma is not).
 *          Numbers are [+-]digits[.digits][e[+-]digits] (".5" and "5." too)
 *          or nan, inf, infinity in any case with an optional sign. A UTF-8
 *          byte order mark at the start is skipped. Anything else is an error
 *          naming its line and column (1-based, columns count bytes).
 *
 * The format is decided by the file name's extension (case-insensitive),
 * never by sniffing content. The decoders (sio_decode_*) are pure functions
 * over a memory buffer: no I/O, so each has a fuzz target. sio_read_file()
 * reads the file into memory and calls the decoder.
 *
 * Errors are data: every call fills a caller-supplied sio_error with one line
 * of text (and a line/column for text input) and returns a nonzero code.
 */
#ifndef HTGA_CLI_SAMPLES_IO_H
#define HTGA_CLI_SAMPLES_IO_H

#include <stddef.h>

#define SIO_OK      0
#define SIO_EIO     1 /* the file could not be opened or read */
#define SIO_EFORMAT 2 /* the content is not a valid file of its format */
#define SIO_ENOMEM  3 /* out of memory */

typedef enum sio_format {
    SIO_FORMAT_AUTO = 0, /* decide by extension (sio_format_from_path) */
    SIO_FORMAT_TEXT,
    SIO_FORMAT_NPY,
    SIO_FORMAT_F32,
} sio_format;

typedef struct sio_error {
    size_t line;    /* 1-based line of the error in text input, 0 otherwise */
    size_t column;  /* 1-based byte column in text input, 0 otherwise */
    char text[200]; /* one line, no trailing newline, no file name */
} sio_error;

/*
 * The format a path is read as: ".npy" -> SIO_FORMAT_NPY, ".f32" ->
 * SIO_FORMAT_F32 (extensions compared case-insensitively), anything else,
 * including "-" for standard input, -> SIO_FORMAT_TEXT.
 */
sio_format sio_format_from_path(const char *path);

/*
 * Decodes a whole .npy file held in buf[0..len). On SIO_OK, *values receives
 * a malloc'd array of *n floats owned by the caller (free() it; it may be
 * NULL when *n == 0). On error *values and *n are untouched and err says
 * why: bad magic, unsupported version, a header that is not the dict numpy
 * writes, a dtype other than '<f4'/'<f8', fortran_order True, or a data
 * section whose size disagrees with the shape.
 */
int sio_decode_npy(const void *buf, size_t len, float **values, size_t *n, sio_error *err);

/*
 * Decodes raw little-endian float32 data (a .f32 file) in buf[0..len).
 * Ownership and errors as sio_decode_npy(); len must be a multiple of 4.
 */
int sio_decode_f32(const void *buf, size_t len, float **values, size_t *n, sio_error *err);

/*
 * Decodes text numbers (see the grammar at the top of this file) in
 * buf[0..len); buf need not be NUL-terminated and a NUL byte is an error.
 * Ownership and errors as sio_decode_npy(); err->line and err->column locate
 * the first offending byte.
 */
int sio_decode_text(const char *buf, size_t len, float **values, size_t *n, sio_error *err);

/*
 * Reads a whole sample file into a malloc'd float array owned by the caller.
 * path "-" reads text from standard input. fmt SIO_FORMAT_AUTO picks the
 * format by extension. The file (or standard input) is read to its end into
 * one buffer, sized from fstat for a regular file; it is not memory-mapped,
 * so a file truncated meanwhile reads short instead of raising SIGBUS.
 * Returns SIO_OK, SIO_EIO (err names the system error), SIO_EFORMAT or
 * SIO_ENOMEM; on error *values and *n are untouched.
 */
int sio_read_file(const char *path, sio_format fmt, float **values, size_t *n, sio_error *err);

/*
 * Formats an error for a user as one line, "PATH:LINE:COLUMN: TEXT" when the
 * error has a position and "PATH: TEXT" otherwise ("<stdin>" for "-"), into
 * buf (NUL-terminated, truncated to len). Returns buf.
 */
char *sio_error_string(const sio_error *err, const char *path, char *buf, size_t len);

#endif /* HTGA_CLI_SAMPLES_IO_H */
