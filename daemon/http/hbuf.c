/*
 * hbuf: growable byte buffer (see hbuf.h). Doubling growth; a failed
 * allocation is sticky so callers check once.
 */
#include "hbuf.h"

#include <math.h>
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

void hbuf_json_num(hbuf *b, double v)
{
    if (!isfinite(v)) {
        hbuf_put(b, "null", 4);
        return;
    }
    char tmp[40];
    int n = snprintf(tmp, sizeof tmp, "%.12g", v);
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
