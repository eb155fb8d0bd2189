/*
 * samples_io.c - decoders of .npy, .f32 and text sample files.
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

#define NPY_MAGIC      "\x93NUMPY"
#define NPY_MAGIC_LEN  6
#define TEXT_TOKEN_MAX 512

static int set_error(sio_error *err, int code, size_t line, size_t column, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int set_error(sio_error *err, int code, size_t line, size_t column, const char *fmt, ...)
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

const char *sio_format_name(sio_format fmt)
{
    switch (fmt) {
    case SIO_FORMAT_TEXT:
        return "text";
    case SIO_FORMAT_NPY:
        return "npy";
    case SIO_FORMAT_F32:
        return "f32";
    case SIO_FORMAT_AUTO:
        break;
    }
    return "auto";
}

static uint32_t load_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t load_le64(const unsigned char *p)
{
    return (uint64_t)load_le32(p) | (uint64_t)load_le32(p + 4) << 32;
}

/* Converts count little-endian float32 values at src into dst. */
static void copy_le_f32(float *dst, const unsigned char *src, size_t count)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (count > 0)
        memcpy(dst, src, count * sizeof(float));
#else
    for (size_t i = 0; i < count; i++) {
        uint32_t bits = load_le32(src + 4 * i);
        memcpy(&dst[i], &bits, sizeof bits);
    }
#endif
}

/* Converts count little-endian float64 values at src into floats at dst. */
static void copy_le_f64(float *dst, const unsigned char *src, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        uint64_t bits = load_le64(src + 8 * i);
        double d;
        memcpy(&d, &bits, sizeof d);
        dst[i] = (float)d;
    }
}

/* malloc for count floats, at least one byte so that NULL always means failure. */
static float *alloc_floats(size_t count)
{
    if (count > SIZE_MAX / sizeof(float))
        return NULL;
    return malloc(count ? count * sizeof(float) : 1);
}

int sio_decode_f32(const void *buf, size_t len, float **values, size_t *n, sio_error *err)
{
    float *out;

    if (len % 4 != 0)
        return set_error(err, SIO_EFORMAT, 0, 0,
                         "f32: size %zu bytes is not a multiple of 4 (raw float32 expected)", len);
    out = alloc_floats(len / 4);
    if (out == NULL)
        return set_error(err, SIO_ENOMEM, 0, 0, "out of memory for %zu values", len / 4);
    copy_le_f32(out, buf, len / 4);
    *values = out;
    *n = len / 4;
    return SIO_OK;
}

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
        return set_error(err, SIO_EFORMAT, 0, 0, "npy: header 'shape' is not a tuple");
    while (!npy_accept(c, ')')) {
        if (npy_size(c, &dim) != 0)
            return set_error(err, SIO_EFORMAT, 0, 0,
                             "npy: header 'shape' holds something other than sizes");
        if (dim != 0 && count > SIZE_MAX / dim)
            return set_error(err, SIO_EFORMAT, 0, 0, "npy: header 'shape' overflows");
        count *= dim;
        if (!npy_accept(c, ',')) {
            if (!npy_accept(c, ')'))
                return set_error(err, SIO_EFORMAT, 0, 0, "npy: header 'shape' is malformed");
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
            return set_error(err, SIO_EFORMAT, 0, 0,
                             "npy: structured dtype not supported (float32 or float64 expected)");
        if (npy_string(c, h->descr, sizeof h->descr) != 0)
            return set_error(err, SIO_EFORMAT, 0, 0, "npy: header 'descr' is not a dtype string");
    } else if (strcmp(key, "fortran_order") == 0) {
        seen = &h->have_fortran;
        if (npy_word(c, "True"))
            h->fortran = 1;
        else if (npy_word(c, "False"))
            h->fortran = 0;
        else
            return set_error(err, SIO_EFORMAT, 0, 0,
                             "npy: header 'fortran_order' is not True or False");
    } else if (strcmp(key, "shape") == 0) {
        int rc;
        seen = &h->have_shape;
        if ((rc = npy_shape(c, h, err)) != SIO_OK)
            return rc;
    } else {
        return set_error(err, SIO_EFORMAT, 0, 0, "npy: unexpected key '%s' in header", key);
    }
    if (*seen)
        return set_error(err, SIO_EFORMAT, 0, 0, "npy: key '%s' appears twice in header", key);
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
        return set_error(err, SIO_EFORMAT, 0, 0, "npy: header is not a dict");
    while (!npy_accept(&c, '}')) {
        if (npy_string(&c, key, sizeof key) != 0 || !npy_accept(&c, ':'))
            return set_error(err, SIO_EFORMAT, 0, 0, "npy: header dict is malformed");
        if ((rc = npy_value(&c, key, h, err)) != SIO_OK)
            return rc;
        if (!npy_accept(&c, ',')) {
            if (!npy_accept(&c, '}'))
                return set_error(err, SIO_EFORMAT, 0, 0, "npy: header dict is malformed");
            break;
        }
    }
    npy_skip_ws(&c);
    if (c.p != c.end)
        return set_error(err, SIO_EFORMAT, 0, 0, "npy: unexpected bytes after the header dict");
    if (!h->have_descr || !h->have_fortran || !h->have_shape)
        return set_error(err, SIO_EFORMAT, 0, 0, "npy: header lacks '%s'",
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
        set_error(err, SIO_EFORMAT, 0, 0,
                  "npy: big-endian dtype '%s' not supported (use '<f4' or '<f8')", descr);
    else
        set_error(err, SIO_EFORMAT, 0, 0, "npy: dtype '%s' is not float32 or float64", descr);
    return 0;
}

/* Reads the preamble and header dictionary of the .npy bytes b[0..len):
 * *hoff, *hlen: where the dictionary is; *h and *itemsize from it. */
static int npy_layout(const unsigned char *b, size_t len, size_t *hoff, size_t *hlen, npy_header *h,
                      size_t *itemsize, sio_error *err)
{
    int rc;

    if (len == 0)
        return set_error(err, SIO_EFORMAT, 0, 0,
                         "npy: empty file (0 bytes), not a NumPy .npy file");
    if (len < NPY_MAGIC_LEN && memcmp(b, NPY_MAGIC, len) == 0)
        return set_error(err, SIO_EFORMAT, 0, 0,
                         "npy: truncated magic, the file ends after %zu bytes", len);
    if (len < NPY_MAGIC_LEN || memcmp(b, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return set_error(err, SIO_EFORMAT, 0, 0, "npy: bad magic, not a NumPy .npy file");
    if (len < 10)
        return set_error(err, SIO_EFORMAT, 0, 0, "npy: truncated header");
    if (b[6] == 1) {
        *hlen = (size_t)b[8] | (size_t)b[9] << 8;
        *hoff = 10;
    } else if (b[6] == 2 || b[6] == 3) {
        if (len < 12)
            return set_error(err, SIO_EFORMAT, 0, 0, "npy: truncated header");
        *hlen = load_le32(b + 8);
        *hoff = 12;
    } else {
        return set_error(err, SIO_EFORMAT, 0, 0, "npy: unsupported format version %u.%u",
                         (unsigned)b[6], (unsigned)b[7]);
    }
    if (*hlen > len - *hoff)
        return set_error(err, SIO_EFORMAT, 0, 0,
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
static int npy_read_enough(const unsigned char *b, size_t len)
{
    size_t hoff = 0, hlen = 0, itemsize = 0, need = 12;
    npy_header h;
    sio_error ignored;

    if (len >= NPY_MAGIC_LEN && memcmp(b, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return 1;
    if (len >= 10 && b[6] == 1)
        need = 10 + ((size_t)b[8] | (size_t)b[9] << 8);
    else if (len >= 12)
        need = 12 + load_le32(b + 8);
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
        return set_error(err, SIO_EFORMAT, 0, 0,
                         "npy: fortran_order arrays not supported (save a C-order array)");
    data_len = len - hoff - hlen;
    if (h.count > SIZE_MAX / itemsize || h.count * itemsize > data_len)
        return set_error(err, SIO_EFORMAT, 0, 0,
                         "npy: truncated data: shape holds %zu values, file has bytes for %zu",
                         h.count, data_len / itemsize);
    if (h.count * itemsize < data_len)
        return set_error(err, SIO_EFORMAT, 0, 0,
                         "npy: %zu unexpected bytes after the %zu values the header describes",
                         data_len - h.count * itemsize, h.count);
    out = alloc_floats(h.count);
    if (out == NULL)
        return set_error(err, SIO_ENOMEM, 0, 0, "out of memory for %zu values", h.count);
    if (itemsize == 4)
        copy_le_f32(out, b + hoff + hlen, h.count);
    else
        copy_le_f64(out, b + hoff + hlen, h.count);
    *values = out;
    *n = h.count;
    return SIO_OK;
}

/* ------------------------------------------------------------------------ */
/* text                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct text_pos {
    const char *buf, *end, *p;
    const char *line_start;
    size_t line;
} text_pos;

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

static int is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* Length of a case-insensitive word match at p, or 0. */
static size_t match_word(const char *p, const char *end, const char *word)
{
    size_t len = strlen(word);

    if ((size_t)(end - p) < len || strncasecmp(p, word, len) != 0)
        return 0;
    return len;
}

/*
 * Length of the number token at p per the grammar in samples_io.h, or 0 when
 * no number starts at p. An exponent marker without digits ("1e+") is left
 * out of the token, so the caller reports it as a stray byte.
 */
static size_t scan_number(const char *p, const char *end)
{
    const char *q = p;
    size_t digits = 0, w;

    if (q < end && (*q == '+' || *q == '-'))
        q++;
    if (q < end && (*q == 'i' || *q == 'I' || *q == 'n' || *q == 'N')) {
        if ((w = match_word(q, end, "infinity")) != 0 || (w = match_word(q, end, "inf")) != 0 ||
            (w = match_word(q, end, "nan")) != 0)
            return (size_t)(q + w - p);
        return 0;
    }
    while (q < end && is_digit(*q)) {
        q++;
        digits++;
    }
    if (q < end && *q == '.') {
        q++;
        while (q < end && is_digit(*q)) {
            q++;
            digits++;
        }
    }
    if (digits == 0)
        return 0;
    if (q < end && (*q == 'e' || *q == 'E')) {
        const char *e = q + 1;
        if (e < end && (*e == '+' || *e == '-'))
            e++;
        if (e >= end || !is_digit(*e))
            return (size_t)(q - p); /* the 'e' then fails as a stray byte */
        while (e < end && is_digit(*e))
            e++;
        q = e;
    }
    return (size_t)(q - p);
}

static int text_fail(text_pos *t, const char *at, const char *what, sio_error *err)
{
    unsigned char ch = (unsigned char)*at;
    size_t col = (size_t)(at - t->line_start) + 1;

    if (ch >= 0x21 && ch < 0x7f)
        return set_error(err, SIO_EFORMAT, t->line, col, "%s, found '%c'", what, ch);
    return set_error(err, SIO_EFORMAT, t->line, col, "%s, found byte 0x%02x", what, ch);
}

/*
 * Clinger's fast path: a decimal with at most 19 significant digits whose
 * mantissa m fits in 53 bits and whose power of ten e satisfies |e| <= 22 is
 * m * 10^e or m / 10^-e with both operands exact, so one IEEE operation
 * rounds it correctly, exactly as strtod would. Returns 0 when the token
 * (already validated by scan_number, not nan/inf) needs the slow path.
 */
static int fast_decimal(const char *p, size_t len, double *out)
{
    static const double pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const char *end = p + len;
    uint64_t m = 0;
    int neg = 0, digits = 0, seen = 0, e = 0, eneg = 0, ev = 0;
    double v;

    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    for (; p < end && is_digit(*p); p++) {
        seen = 1;
        if (m == 0 && *p == '0')
            continue;
        if (++digits > 19)
            return 0;
        m = m * 10 + (uint64_t)(*p - '0');
    }
    if (p < end && *p == '.') {
        for (p++; p < end && is_digit(*p); p++) {
            seen = 1;
            e--;
            if (m == 0 && *p == '0')
                continue;
            if (++digits > 19)
                return 0;
            m = m * 10 + (uint64_t)(*p - '0');
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        for (; p < end; p++) {
            if (ev > 1000)
                return 0;
            ev = ev * 10 + (*p - '0');
        }
    }
    if (!seen || p != end)
        return 0; /* nan, inf: strtod knows them */
    e += eneg ? -ev : ev;
    if (m == 0) {
        *out = neg ? -0.0 : 0.0;
        return 1;
    }
    if (m > (UINT64_C(1) << 53) || e < -22 || e > 22)
        return 0;
    v = (double)m;
    v = e < 0 ? v / pow10[-e] : v * pow10[e];
    *out = neg ? -v : v;
    return 1;
}

/* The value of a token scan_number accepted; token is scratch for strtod. */
static double parse_number(const char *p, size_t len, char *token)
{
    double v;

    if (fast_decimal(p, len, &v))
        return v;
    memcpy(token, p, len);
    token[len] = '\0';
    return strtod(token, NULL);
}

static int push_value(float **arr, size_t *count, size_t *cap, double v)
{
    if (*count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 1024;
        float *grown;
        if (ncap > SIZE_MAX / sizeof(float))
            return -1;
        grown = realloc(*arr, ncap * sizeof(float));
        if (grown == NULL)
            return -1;
        *arr = grown;
        *cap = ncap;
    }
    (*arr)[(*count)++] = (float)v;
    return 0;
}

int sio_decode_text(const char *buf, size_t len, float **values, size_t *n, sio_error *err)
{
    text_pos t = {buf, buf + len, buf, buf, 1};
    float *arr = NULL;
    size_t count = 0, cap = 0;
    int after_number = 0; /* a comma is allowed only right after a number */
    char token[TEXT_TOKEN_MAX + 1];
    int rc;

    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        t.p = t.line_start = buf + 3;
    while (t.p < t.end) {
        char ch = *t.p;
        size_t tl;

        if (ch == '\n') {
            t.p++;
            t.line++;
            t.line_start = t.p;
            continue;
        }
        if (is_space(ch)) {
            t.p++;
            continue;
        }
        if (ch == ',') {
            if (!after_number) {
                rc = text_fail(&t, t.p, "expected a number before ','", err);
                goto out_free;
            }
            after_number = 0;
            t.p++;
            continue;
        }
        tl = scan_number(t.p, t.end);
        if (tl == 0) {
            rc = text_fail(&t, t.p, "expected a number", err);
            goto out_free;
        }
        if (t.p + tl < t.end && !is_space(t.p[tl]) && t.p[tl] != ',') {
            rc = text_fail(&t, t.p + tl, "expected white space or ',' after a number", err);
            goto out_free;
        }
        if (tl > TEXT_TOKEN_MAX) {
            rc = set_error(err, SIO_EFORMAT, t.line, (size_t)(t.p - t.line_start) + 1,
                           "number longer than %d characters", TEXT_TOKEN_MAX);
            goto out_free;
        }
        if (push_value(&arr, &count, &cap, parse_number(t.p, tl, token)) != 0) {
            rc = set_error(err, SIO_ENOMEM, 0, 0, "out of memory after %zu values", count);
            goto out_free;
        }
        after_number = 1;
        t.p += tl;
    }
    if (arr == NULL && (arr = alloc_floats(0)) == NULL)
        return set_error(err, SIO_ENOMEM, 0, 0, "out of memory");
    if (cap - count > cap / 4) { /* give back the doubling slack of a large array */
        float *fit = realloc(arr, count ? count * sizeof(float) : 1);
        if (fit != NULL)
            arr = fit;
    }
    *values = arr;
    *n = count;
    return SIO_OK;

out_free:
    free(arr);
    return rc;
}

int sio_parse_number(const char *text, size_t len, double *value)
{
    char token[TEXT_TOKEN_MAX + 1];

    if (len == 0 || len > TEXT_TOKEN_MAX || scan_number(text, text + len) != len)
        return SIO_EFORMAT;
    *value = parse_number(text, len, token);
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
        return set_error(err, SIO_ENOMEM, 0, 0, "out of memory");
    for (;;) {
        if (len == cap) {
            if (cap > SIZE_MAX / 2 || (grown = realloc(buf, cap * 2)) == NULL) {
                free(buf);
                return set_error(err, SIO_ENOMEM, 0, 0, "out of memory after %zu bytes", len);
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
            return set_error(err, SIO_EIO, 0, 0, "read: %s", strerror(errno));
        }
        len += (size_t)got;
        if (fmt == SIO_FORMAT_NPY   ? npy_read_enough((const unsigned char *)buf, len)
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
        return set_error(err, SIO_EIO, 0, 0, "stat: %s", strerror(errno));
    if (S_ISDIR(st.st_mode))
        return set_error(err, SIO_EIO, 0, 0, "is a directory");
    if (S_ISREG(st.st_mode) && st.st_size > 0) {
        if ((uintmax_t)st.st_size >= SIZE_MAX)
            return set_error(err, SIO_ENOMEM, 0, 0, "file too large");
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
        return set_error(err, SIO_EIO, 0, 0, "cannot open: %s", strerror(errno));
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
