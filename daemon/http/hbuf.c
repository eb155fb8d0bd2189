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

/* Writes u in decimal at the end of out[0..24); returns the first digit. */
static char *utoa_end(uint64_t u, char *end)
{
    do {
        *--end = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    return end;
}

void hbuf_int(hbuf *b, int64_t v)
{
    char tmp[24], *end = tmp + sizeof tmp;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char *p = utoa_end(u, end);
    if (v < 0)
        *--p = '-';
    hbuf_put(b, p, (size_t)(end - p));
}

static const double pow10_tab[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* round(a * 10^sh) for sh in [-3, 22]. */
static double scaled(double a, int sh)
{
    return (double)(int64_t)((sh >= 0 ? a * pow10_tab[sh] : a / pow10_tab[-sh]) + 0.5);
}

int hbuf_fmt_num(char *out, double v)
{
    double a = fabs(v);
    if (!(a >= 1e-5 && a < 1e15))
        return a == 0 ? (out[0] = '0', 1) : snprintf(out, 40, "%.12g", v);
    int e2;
    frexp(a, &e2);                                      /* a in [2^(e2-1), 2^e2) */
    int e = (int)floor((e2 - 1) * 0.30102999566398120); /* <= floor(log10(a)) */
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
    char dig[24], *end = dig + sizeof dig;
    char *d = utoa_end((uint64_t)m, end); /* 12 digits */
    int nd = (int)(end - d);
    while (nd > 1 && d[nd - 1] == '0' && nd > e + 1)
        nd--; /* drop trailing fractional zeros */
    int o = 0;
    if (v < 0)
        out[o++] = '-';
    if (e >= 0) {
        for (int i = 0; i <= e; i++)
            out[o++] = i < nd ? d[i] : '0';
        if (nd > e + 1) {
            out[o++] = '.';
            for (int i = e + 1; i < nd; i++)
                out[o++] = d[i];
        }
    } else {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -e - 1; i++)
            out[o++] = '0';
        for (int i = 0; i < nd; i++)
            out[o++] = d[i];
    }
    out[o] = '\0';
    return o;
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
