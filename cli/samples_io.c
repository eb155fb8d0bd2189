/*
 * samples_io.c - reading sample files: the .f32 decoder, the format by file
 * name, and sio_read_file(); the .npy and text decoders are samples_npy.c
 * and samples_text.c.
 *
 * DESIGN: the decoders are pure functions over a byte buffer that trust
 * nothing in it: every length is checked against the buffer before use and
 * every count product against overflow. They allocate exactly one output
 * array and free it again on error. sio_read_file() is the only part that
 * touches the file system: it reads the whole file into one buffer sized from
 * fstat (growing it if the file grew), the same way for pipes and standard
 * input. It does not map files: a file truncated by another process while
 * mapped would kill the program with SIGBUS, where read() just sees the
 * shorter file. Formats and grammar are documented in samples_io.h.
 */
#include "samples_io.h"
#include "samples_io_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

int sio__error(sio_error *err, int code, size_t line, size_t column, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return code;
    err->line = line;
    err->column = column;
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof err->text, fmt, ap);
    va_end(ap);
    return code;
}

sio_format sio_format_from_path(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');

    if (dot == NULL || (slash != NULL && dot < slash))
        return SIO_FORMAT_TEXT;
    if (strcasecmp(dot, ".npy") == 0)
        return SIO_FORMAT_NPY;
    if (strcasecmp(dot, ".f32") == 0)
        return SIO_FORMAT_F32;
    return SIO_FORMAT_TEXT;
}

/* Converts count little-endian float32 values at src into dst. */
void sio__copy_le_f32(float *dst, const unsigned char *src, size_t count)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (count > 0)
        memcpy(dst, src, count * sizeof(float));
#else
    for (size_t i = 0; i < count; i++) {
        uint32_t bits = htga_ld_le32(src + 4 * i);
        memcpy(&dst[i], &bits, sizeof bits);
    }
#endif
}

/* Converts count little-endian float64 values at src into floats at dst. */
void sio__copy_le_f64(float *dst, const unsigned char *src, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        uint64_t bits = htga_ld_le64(src + 8 * i);
        double d;
        memcpy(&d, &bits, sizeof d);
        dst[i] = (float)d;
    }
}

/* malloc for count floats, at least one byte so that NULL always means failure. */
float *sio__alloc_floats(size_t count)
{
    if (count > SIZE_MAX / sizeof(float))
        return NULL;
    return malloc(count ? count * sizeof(float) : 1);
}

int sio_decode_f32(const void *buf, size_t len, float **values, size_t *n, sio_error *err)
{
    float *out;

    if (len % 4 != 0)
        return sio__error(err, SIO_EFORMAT, 0, 0,
                          "f32: size %zu bytes is not a multiple of 4 (raw float32 expected)", len);
    out = sio__alloc_floats(len / 4);
    if (out == NULL)
        return sio__error(err, SIO_ENOMEM, 0, 0, "out of memory for %zu values", len / 4);
    sio__copy_le_f32(out, buf, len / 4);
    *values = out;
    *n = len / 4;
    return SIO_OK;
}

/* ------------------------------------------------------------------------ */
/* files                                                                    */
/* ------------------------------------------------------------------------ */

static int decode(sio_format fmt, const void *buf, size_t len, float **values, size_t *n,
                  sio_error *err)
{
    switch (fmt) {
    case SIO_FORMAT_NPY:
        return sio_decode_npy(buf, len, values, n, err);
    case SIO_FORMAT_F32:
        return sio_decode_f32(buf, len, values, n, err);
    default:
        return sio_decode_text(buf, len, values, n, err);
    }
}

/* Reads fd to its end into a malloc'd buffer; hint is the expected size.
 * Text: reading ends at the first chunk holding a NUL byte, which no text
 * file has, and the decoder reports it where it is; .npy: reading ends as
 * soon as the bytes cannot be a .npy file or hold more than its header
 * describes. So an endless stream (/dev/zero) is refused instead of read
 * until memory runs out (raw .f32 has no header: any length is valid). */
static int read_all(int fd, size_t hint, sio_format fmt, char **out, size_t *out_len,
                    sio_error *err)
{
    size_t len = 0, cap = hint < 65536 ? 65536 : hint + 1;
    char *buf = malloc(cap), *grown;
    ssize_t got;

    if (buf == NULL)
        return sio__error(err, SIO_ENOMEM, 0, 0, "out of memory");
    for (;;) {
        if (len == cap) {
            if (cap > SIZE_MAX / 2 || (grown = realloc(buf, cap * 2)) == NULL) {
                free(buf);
                return sio__error(err, SIO_ENOMEM, 0, 0, "out of memory after %zu bytes", len);
            }
            buf = grown;
            cap *= 2;
        }
        got = read(fd, buf + len, cap - len);
        if (got == 0)
            break;
        if (got < 0) {
            if (errno == EINTR)
                continue;
            free(buf);
            return sio__error(err, SIO_EIO, 0, 0, "read: %s", strerror(errno));
        }
        len += (size_t)got;
        if (fmt == SIO_FORMAT_NPY   ? sio__npy_read_enough((const unsigned char *)buf, len)
            : fmt == SIO_FORMAT_F32 ? 0
                                    : memchr(buf + len - (size_t)got, 0, (size_t)got) != NULL)
            break;
    }
    *out = buf;
    *out_len = len;
    return SIO_OK;
}

/* Decodes an open descriptor: read whole, in one read() for a regular file. */
static int read_fd(int fd, sio_format fmt, float **values, size_t *n, sio_error *err)
{
    struct stat st;
    char *buf = NULL;
    size_t len = 0, hint = 0;
    int rc;

    if (fstat(fd, &st) != 0)
        return sio__error(err, SIO_EIO, 0, 0, "stat: %s", strerror(errno));
    if (S_ISDIR(st.st_mode))
        return sio__error(err, SIO_EIO, 0, 0, "is a directory");
    if (S_ISREG(st.st_mode) && st.st_size > 0) {
        if ((uintmax_t)st.st_size >= SIZE_MAX)
            return sio__error(err, SIO_ENOMEM, 0, 0, "file too large");
        hint = (size_t)st.st_size;
    }
    if ((rc = read_all(fd, hint, fmt, &buf, &len, err)) != SIO_OK)
        return rc;
    rc = decode(fmt, buf, len, values, n, err);
    free(buf);
    return rc;
}

int sio_read_file(const char *path, sio_format fmt, float **values, size_t *n, sio_error *err)
{
    int fd, rc;

    if (fmt == SIO_FORMAT_AUTO)
        fmt = sio_format_from_path(path);
    if (strcmp(path, "-") == 0)
        return read_fd(STDIN_FILENO, fmt, values, n, err);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sio__error(err, SIO_EIO, 0, 0, "cannot open: %s", strerror(errno));
    rc = read_fd(fd, fmt, values, n, err);
    close(fd);
    return rc;
}

char *sio_error_string(const sio_error *err, const char *path, char *buf, size_t len)
{
    const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;

    if (len == 0)
        return buf;
    if (err->line > 0)
        snprintf(buf, len, "%s:%zu:%zu: %s", name, err->line, err->column, err->text);
    else
        snprintf(buf, len, "%s: %s", name, err->text);
    return buf;
}
