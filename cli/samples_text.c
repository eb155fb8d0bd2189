/*
 * samples_text.c - the text decoder of samples_io.h: numbers separated by
 * white space or commas, '#' comments, nan/inf words; a fast path for plain
 * decimals, strtod for the rest. Pure: every error names its line and column.
 */
#include "samples_io.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "samples_io_internal.h"

#define TEXT_TOKEN_MAX 512

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
        return sio__error(err, SIO_EFORMAT, t->line, col, "%s, found '%c'", what, ch);
    return sio__error(err, SIO_EFORMAT, t->line, col, "%s, found byte 0x%02x", what, ch);
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
            rc = sio__error(err, SIO_EFORMAT, t.line, (size_t)(t.p - t.line_start) + 1,
                            "number longer than %d characters", TEXT_TOKEN_MAX);
            goto out_free;
        }
        if (push_value(&arr, &count, &cap, parse_number(t.p, tl, token)) != 0) {
            rc = sio__error(err, SIO_ENOMEM, 0, 0, "out of memory after %zu values", count);
            goto out_free;
        }
        after_number = 1;
        t.p += tl;
    }
    if (arr == NULL && (arr = sio__alloc_floats(0)) == NULL)
        return sio__error(err, SIO_ENOMEM, 0, 0, "out of memory");
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
