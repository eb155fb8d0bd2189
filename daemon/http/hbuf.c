/*
 * hbuf: growable byte buffer (see hbuf.h). Doubling growth; a failed
 * allocation is sticky so callers check once.
 */
#include "hbuf.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hbuf_reserve(hbuf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) {
        if (cap > ((size_t)-1) / 2)
            goto fail;
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p)
        goto fail;
    b->data = p;
    b->cap = cap;
    return 0;
fail:
    b->failed = 1;
    return -1;
}

char *hbuf_room(hbuf *b, size_t n)
{
    return hbuf_reserve(b, n) == 0 ? b->data + b->len : NULL;
}

void hbuf_commit(hbuf *b, size_t n)
{
    b->len += n;
    b->data[b->len] = '\0';
}

void hbuf_put(hbuf *b, const char *s, size_t n)
{
    if (hbuf_reserve(b, n) != 0)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void hbuf_puts(hbuf *b, const char *s)
{
    hbuf_put(b, s, strlen(s));
}

void hbuf_printf(hbuf *b, const char *fmt, ...)
{
    char small[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        hbuf_put(b, small, (size_t)n);
        return;
    }
    if (hbuf_reserve(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* "00" "01" ... "99": two digits per table lookup. */
static const char digit_pairs[201] = "00010203040506070809"
                                     "10111213141516171819"
                                     "20212223242526272829"
                                     "30313233343536373839"
                                     "40414243444546474849"
                                     "50515253545556575859"
                                     "60616263646566676869"
                                     "70717273747576777879"
                                     "80818283848586878889"
                                     "90919293949596979899";

/* Writes u in decimal ending just before end (20 bytes at most); returns
 * the first digit. */
static char *utoa_end(uint64_t u, char *end)
{
    while (u >= 100) {
        unsigned r = (unsigned)(u % 100);
        u /= 100;
        end -= 2;
        memcpy(end, digit_pairs + 2 * r, 2);
    }
    if (u >= 10) {
        end -= 2;
        memcpy(end, digit_pairs + 2 * u, 2);
    } else {
        *--end = (char)('0' + u);
    }
    return end;
}

/* Writes x < 10^6 as exactly 6 digits at o: x / 10^4 in 32.32 fixed point,
 * then two digits at a time from the fraction, multiplies instead of
 * divisions. Exact for every x < 10^6 (the constant's excess stays under
 * 10^-4 of a unit; tests/http/hbuf_test.c checks them all). */
static void put6(char *o, uint32_t x)
{
    uint64_t t = (uint64_t)x * 429497u; /* ceil(2^32 / 10^4) */
    memcpy(o, digit_pairs + 2 * (t >> 32), 2);
    t = (t & 0xffffffffu) * 100;
    memcpy(o + 2, digit_pairs + 2 * (t >> 32), 2);
    t = (t & 0xffffffffu) * 100;
    memcpy(o + 4, digit_pairs + 2 * (t >> 32), 2);
}

int hbuf_fmt_int(char *out, int64_t v)
{
    char tmp[48], *end = tmp + 24;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char *p = utoa_end(u, end);
    if (v < 0)
        *--p = '-';
    memcpy(out, p, 24); /* fixed size, p >= tmp + 4: the bytes past the number are scratch */
    out[end - p] = '\0';
    return (int)(end - p);
}

void hbuf_int(hbuf *b, int64_t v)
{
    char *p = hbuf_room(b, 48);
    if (p)
        hbuf_commit(b, (size_t)hbuf_fmt_int(p, v));
}

static const double pow10_tab[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* round(a * 10^sh) for sh in [-3, 22]. */
static double scaled(double a, int sh)
{
    return (double)(int64_t)((sh >= 0 ? a * pow10_tab[sh] : a / pow10_tab[-sh]) + 0.5);
}

/* The output is a contract (responses compare equal across versions), so the
 * arithmetic that picks the 12 digits is the first version's, step for step:
 * frexp's exponent read from the bits (a is normal here), floor((e2 - 1) *
 * log10 2) as the exact integer product 78913 / 2^18 over this range (the
 * tests compare every exponent with the first version), then scaled(). What
 * changed is the writing: digit pairs and fixed-size copies instead of a
 * digit at a time. */
int hbuf_fmt_num(char *out, double v)
{
    double a = fabs(v);
    if (!(a >= 1e-5 && a < 1e15))
        return a == 0 ? (out[0] = '0', out[1] = '\0', 1) : snprintf(out, 40, "%.12g", v);
    uint64_t bits;
    memcpy(&bits, &a, sizeof bits);
    int e2 = (int)(bits >> 52) - 1022; /* a in [2^(e2-1), 2^e2), e2 in [-16, 50] */
    /* floor((e2 - 1) * log10 2), shifted to stay non-negative */
    int e = (int)((((int64_t)(e2 - 1) * 78913) + ((int64_t)1 << 40)) >> 18) - (1 << 22);
    if (e + 1 >= 0 && e + 1 <= 22 && a >= pow10_tab[e + 1])
        e++;
    int sh = 11 - e; /* 12 significant digits: m = a * 10^sh */
    double m = scaled(a, sh);
    if (m >= 1e12) { /* e was one too small (a < 1), or rounding carried */
        e++;
        sh--;
        m = scaled(a, sh);
    } else if (m < 1e11) {
        e--;
        sh++;
        m = scaled(a, sh);
    }
    /* digits end at dig + 20; the bytes after are padding that the fixed-size
     * copies below may read */
    char dig[48], *d;
    uint64_t u = (uint64_t)(int64_t)m;            /* m < 2^53: no unsigned conversion */
    if (u >= 100000000000 && u < 1000000000000) { /* 12 digits: two independent halves */
        uint64_t hi = u / 1000000;
        d = dig + 8;
        put6(d, (uint32_t)hi);
        put6(d + 6, (uint32_t)(u - hi * 1000000));
    } else {
        d = utoa_end(u, dig + 20);
    }
    int nd = (int)(dig + 20 - d);
    while (nd > 4 && nd > e + 4 && memcmp(d + nd - 4, "0000", 4) == 0)
        nd -= 4; /* drop trailing fractional zeros, four at a time first */
    while (nd > 1 && d[nd - 1] == '0' && nd > e + 1)
        nd--;
    char *o = out;
    if (v < 0)
        *o++ = '-';
    if (e >= 0 && nd > e) { /* e <= 14: the integer digits, then the fraction */
        memcpy(o, d, 16);
        o += e + 1;
        if (nd > e + 1) {
            *o = '.';
            memcpy(o + 1, d + e + 1, 16);
            o += nd - e;
        }
    } else if (e >= 0) { /* fewer digits than the integer part: zeros follow */
        memcpy(o, d, 16);
        memset(o + nd, '0', (size_t)(e + 1 - nd));
        o += e + 1;
    } else { /* e < 0 (-5 here): "0.", -e-1 zeros, the digits */
        memcpy(o, "0.0000", 6);
        if (e < -5)
            memset(o + 2, '0', (size_t)(-e - 1));
        o += 1 - e;
        memcpy(o, d, 16);
        o += nd;
    }
    *o = '\0';
    return (int)(o - out);
}

void hbuf_json_num(hbuf *b, double v)
{
    if (!isfinite(v)) {
        hbuf_put(b, "null", 4);
        return;
    }
    char tmp[48];
    int n = hbuf_fmt_num(tmp, v);
    hbuf_put(b, tmp, (size_t)n);
}

void hbuf_json_str(hbuf *b, const char *s)
{
    hbuf_put(b, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        hbuf_put(b, run, (size_t)(s - run));
        if (c == '"')
            hbuf_put(b, "\\\"", 2);
        else if (c == '\\')
            hbuf_put(b, "\\\\", 2);
        else if (c == '\n')
            hbuf_put(b, "\\n", 2);
        else
            hbuf_printf(b, "\\u%04x", c);
        run = s + 1;
    }
    hbuf_put(b, run, (size_t)(s - run));
    hbuf_put(b, "\"", 1);
}

int hbuf_failed(const hbuf *b)
{
    return b->failed;
}

char *hbuf_take(hbuf *b, size_t *len)
{
    if (b->failed) {
        hbuf_free(b);
        return NULL;
    }
    if (hbuf_reserve(b, 0) != 0) {
        hbuf_free(b);
        return NULL;
    }
    char *p = b->data;
    *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void hbuf_free(hbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}
