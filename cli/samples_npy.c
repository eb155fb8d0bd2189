/*
 * samples_npy.c - the .npy decoder of samples_io.h: NumPy's format 1.0-3.0
 * header (a Python dict literal, parsed by a small cursor, never eval'd),
 * 1-d or n-d float32/float64 little- or big-endian data, C or Fortran order.
 * Pure: it trusts nothing in the buffer (see samples_io.c's design note).
 */
#include "samples_io.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "samples_io_internal.h"

#define NPY_MAGIC     "\x93NUMPY"
#define NPY_MAGIC_LEN 6

/* ------------------------------------------------------------------------ */
/* .npy header: the Python dict literal numpy writes                        */
/* ------------------------------------------------------------------------ */

typedef struct npy_cursor {
    const char *p;
    const char *end;
} npy_cursor;

typedef struct npy_header {
    char descr[32];
    int fortran;
    size_t count; /* product of the shape */
    int have_descr, have_fortran, have_shape;
} npy_header;

static void npy_skip_ws(npy_cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int npy_accept(npy_cursor *c, char ch)
{
    npy_skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted string without escapes into out (at most outlen-1 bytes). */
static int npy_string(npy_cursor *c, char *out, size_t outlen)
{
    char quote;
    size_t i = 0;

    npy_skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return -1;
    quote = *c->p++;
    while (c->p < c->end && *c->p != quote) {
        if (*c->p == '\\' || (unsigned char)*c->p < 0x20 || i + 1 >= outlen)
            return -1;
        out[i++] = *c->p++;
    }
    if (c->p >= c->end)
        return -1;
    c->p++;
    out[i] = '\0';
    return 0;
}

static int npy_word(npy_cursor *c, const char *word)
{
    size_t len = strlen(word);

    npy_skip_ws(c);
    if ((size_t)(c->end - c->p) < len || memcmp(c->p, word, len) != 0)
        return 0;
    c->p += len;
    return 1;
}

/* A non-negative decimal integer (Python 2 headers may end it with 'L'). */
static int npy_size(npy_cursor *c, size_t *out)
{
    size_t v = 0;
    const char *start;

    npy_skip_ws(c);
    start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        size_t d = (size_t)(*c->p - '0');
        if (v > (SIZE_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        c->p++;
    }
    if (c->p == start)
        return -1;
    if (c->p < c->end && *c->p == 'L')
        c->p++;
    *out = v;
    return 0;
}

static int npy_shape(npy_cursor *c, npy_header *h, sio_error *err)
{
    size_t count = 1, dim;

    if (!npy_accept(c, '('))
        return sio__error(err, SIO_EFORMAT, 0, 0, "npy: header 'shape' is not a tuple");
    while (!npy_accept(c, ')')) {
        if (npy_size(c, &dim) != 0)
            return sio__error(err, SIO_EFORMAT, 0, 0,
                              "npy: header 'shape' holds something other than sizes");
        if (dim != 0 && count > SIZE_MAX / dim)
            return sio__error(err, SIO_EFORMAT, 0, 0, "npy: header 'shape' overflows");
        count *= dim;
        if (!npy_accept(c, ',')) {
            if (!npy_accept(c, ')'))
                return sio__error(err, SIO_EFORMAT, 0, 0, "npy: header 'shape' is malformed");
            break;
        }
    }
    h->count = count;
    return SIO_OK;
}

static int npy_value(npy_cursor *c, const char *key, npy_header *h, sio_error *err)
{
    int *seen = NULL;

    if (strcmp(key, "descr") == 0) {
        seen = &h->have_descr;
        npy_skip_ws(c);
        if (c->p < c->end && *c->p == '[')
            return sio__error(err, SIO_EFORMAT, 0, 0,
                              "npy: structured dtype not supported (float32 or float64 expected)");
        if (npy_string(c, h->descr, sizeof h->descr) != 0)
            return sio__error(err, SIO_EFORMAT, 0, 0, "npy: header 'descr' is not a dtype string");
    } else if (strcmp(key, "fortran_order") == 0) {
        seen = &h->have_fortran;
        if (npy_word(c, "True"))
            h->fortran = 1;
        else if (npy_word(c, "False"))
            h->fortran = 0;
        else
            return sio__error(err, SIO_EFORMAT, 0, 0,
                              "npy: header 'fortran_order' is not True or False");
    } else if (strcmp(key, "shape") == 0) {
        int rc;
        seen = &h->have_shape;
        if ((rc = npy_shape(c, h, err)) != SIO_OK)
            return rc;
    } else {
        return sio__error(err, SIO_EFORMAT, 0, 0, "npy: unexpected key '%s' in header", key);
    }
    if (*seen)
        return sio__error(err, SIO_EFORMAT, 0, 0, "npy: key '%s' appears twice in header", key);
    *seen = 1;
    return SIO_OK;
}

static int npy_parse_header(const char *text, size_t len, npy_header *h, sio_error *err)
{
    npy_cursor c = {text, text + len};
    char key[32];
    int rc;

    memset(h, 0, sizeof *h);
    if (!npy_accept(&c, '{'))
        return sio__error(err, SIO_EFORMAT, 0, 0, "npy: header is not a dict");
    while (!npy_accept(&c, '}')) {
        if (npy_string(&c, key, sizeof key) != 0 || !npy_accept(&c, ':'))
            return sio__error(err, SIO_EFORMAT, 0, 0, "npy: header dict is malformed");
        if ((rc = npy_value(&c, key, h, err)) != SIO_OK)
            return rc;
        if (!npy_accept(&c, ',')) {
            if (!npy_accept(&c, '}'))
                return sio__error(err, SIO_EFORMAT, 0, 0, "npy: header dict is malformed");
            break;
        }
    }
    npy_skip_ws(&c);
    if (c.p != c.end)
        return sio__error(err, SIO_EFORMAT, 0, 0, "npy: unexpected bytes after the header dict");
    if (!h->have_descr || !h->have_fortran || !h->have_shape)
        return sio__error(err, SIO_EFORMAT, 0, 0, "npy: header lacks '%s'",
                          !h->have_descr     ? "descr"
                          : !h->have_fortran ? "fortran_order"
                                             : "shape");
    return SIO_OK;
}

/* The item size of a supported descr, or 0 with err filled. */
static size_t npy_itemsize(const char *descr, sio_error *err)
{
    if (strcmp(descr, "<f4") == 0)
        return 4;
    if (strcmp(descr, "<f8") == 0)
        return 8;
    if (strcmp(descr, ">f4") == 0 || strcmp(descr, ">f8") == 0)
        sio__error(err, SIO_EFORMAT, 0, 0,
                   "npy: big-endian dtype '%s' not supported (use '<f4' or '<f8')", descr);
    else
        sio__error(err, SIO_EFORMAT, 0, 0, "npy: dtype '%s' is not float32 or float64", descr);
    return 0;
}

/* Reads the preamble and header dictionary of the .npy bytes b[0..len):
 * *hoff, *hlen: where the dictionary is; *h and *itemsize from it. */
static int npy_layout(const unsigned char *b, size_t len, size_t *hoff, size_t *hlen, npy_header *h,
                      size_t *itemsize, sio_error *err)
{
    int rc;

    if (len == 0)
        return sio__error(err, SIO_EFORMAT, 0, 0,
                          "npy: empty file (0 bytes), not a NumPy .npy file");
    if (len < NPY_MAGIC_LEN && memcmp(b, NPY_MAGIC, len) == 0)
        return sio__error(err, SIO_EFORMAT, 0, 0,
                          "npy: truncated magic, the file ends after %zu bytes", len);
    if (len < NPY_MAGIC_LEN || memcmp(b, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return sio__error(err, SIO_EFORMAT, 0, 0, "npy: bad magic, not a NumPy .npy file");
    if (len < 10)
        return sio__error(err, SIO_EFORMAT, 0, 0, "npy: truncated header");
    if (b[6] == 1) {
        *hlen = (size_t)b[8] | (size_t)b[9] << 8;
        *hoff = 10;
    } else if (b[6] == 2 || b[6] == 3) {
        if (len < 12)
            return sio__error(err, SIO_EFORMAT, 0, 0, "npy: truncated header");
        *hlen = htga_ld_le32(b + 8);
        *hoff = 12;
    } else {
        return sio__error(err, SIO_EFORMAT, 0, 0, "npy: unsupported format version %u.%u",
                          (unsigned)b[6], (unsigned)b[7]);
    }
    if (*hlen > len - *hoff)
        return sio__error(err, SIO_EFORMAT, 0, 0,
                          "npy: truncated header (%zu bytes announced, %zu present)", *hlen,
                          len - *hoff);
    if ((rc = npy_parse_header((const char *)b + *hoff, *hlen, h, err)) != SIO_OK)
        return rc;
    if ((*itemsize = npy_itemsize(h->descr, err)) == 0)
        return SIO_EFORMAT;
    return SIO_OK;
}

#define NPY_HEADER_READ_MAX ((size_t)1 << 20)

/* Whether a reader of a .npy stream holding b[0..len) so far can stop: the
 * bytes are already not a .npy file, or they hold more than the header
 * describes (the decoder then reports either), so an endless stream
 * (/dev/zero) is not read until memory runs out. */
int sio__npy_read_enough(const unsigned char *b, size_t len)
{
    size_t hoff = 0, hlen = 0, itemsize = 0, need = 12;
    npy_header h;
    sio_error ignored;

    if (len >= NPY_MAGIC_LEN && memcmp(b, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return 1;
    if (len >= 10 && b[6] == 1)
        need = 10 + ((size_t)b[8] | (size_t)b[9] << 8);
    else if (len >= 12)
        need = 12 + htga_ld_le32(b + 8);
    if (need > NPY_HEADER_READ_MAX)
        return 1; /* the decoder refuses it; no header is this long */
    if (len < need)
        return 0;
    if (npy_layout(b, len, &hoff, &hlen, &h, &itemsize, &ignored) != SIO_OK)
        return 1;
    return h.count > SIZE_MAX / itemsize || len - hoff - hlen > h.count * itemsize;
}

int sio_decode_npy(const void *buf, size_t len, float **values, size_t *n, sio_error *err)
{
    const unsigned char *b = buf;
    size_t hlen = 0, hoff = 0, data_len, itemsize = 0;
    npy_header h;
    float *out;
    int rc;

    if ((rc = npy_layout(b, len, &hoff, &hlen, &h, &itemsize, err)) != SIO_OK)
        return rc;
    if (h.fortran)
        return sio__error(err, SIO_EFORMAT, 0, 0,
                          "npy: fortran_order arrays not supported (save a C-order array)");
    data_len = len - hoff - hlen;
    if (h.count > SIZE_MAX / itemsize || h.count * itemsize > data_len)
        return sio__error(err, SIO_EFORMAT, 0, 0,
                          "npy: truncated data: shape holds %zu values, file has bytes for %zu",
                          h.count, data_len / itemsize);
    if (h.count * itemsize < data_len)
        return sio__error(err, SIO_EFORMAT, 0, 0,
                          "npy: %zu unexpected bytes after the %zu values the header describes",
                          data_len - h.count * itemsize, h.count);
    out = sio__alloc_floats(h.count);
    if (out == NULL)
        return sio__error(err, SIO_ENOMEM, 0, 0, "out of memory for %zu values", h.count);
    if (itemsize == 4)
        sio__copy_le_f32(out, b + hoff + hlen, h.count);
    else
        sio__copy_le_f64(out, b + hoff + hlen, h.count);
    *values = out;
    *n = h.count;
    return SIO_OK;
}
