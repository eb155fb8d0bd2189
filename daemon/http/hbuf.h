/*
 * hbuf: a growable byte buffer for building HTTP response bodies.
 *
 * Design: responses are built in memory and handed to libmicrohttpd with
 * MHD_RESPMEM_MUST_FREE, so the buffer's storage becomes the response's.
 * An allocation failure sets a sticky flag instead of failing each call, so
 * builders write straight-line code and check hbuf_failed() once at the end.
 */
#ifndef HTGA_HTTP_HBUF_H
#define HTGA_HTTP_HBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hbuf {
    char *data; /* NUL-terminated while not failed */
    size_t len; /* bytes used, without the terminator */
    size_t cap; /* bytes allocated */
    int failed; /* set once an allocation failed; later writes are no-ops */
} hbuf;

/* Appends n bytes. On allocation failure sets b->failed. */
void hbuf_put(hbuf *b, const char *s, size_t n);

/* Appends a NUL-terminated string. */
void hbuf_puts(hbuf *b, const char *s);

/* Appends printf-formatted text. */
void hbuf_printf(hbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Returns room for n more bytes at the end of b (b->data + b->len, n + 1
 * bytes with the terminator's), for a builder that writes there directly and
 * then keeps what it wrote with hbuf_commit; NULL when an allocation failed
 * (now or before). The room stays valid until the next call on b. */
char *hbuf_room(hbuf *b, size_t n);

/* Keeps the first n bytes written at hbuf_room(b, m), n <= m. */
void hbuf_commit(hbuf *b, size_t n);

/* Appends v in decimal. */
void hbuf_int(hbuf *b, int64_t v);

/* Formats v in decimal into out (>= 48 bytes: the bytes past the number are
 * scratch), NUL-terminated. Returns the length (at most 20). */
int hbuf_fmt_int(char *out, int64_t v);

/* Formats a finite v with 12 significant digits into out (>= 48 bytes: the
 * bytes past the number are scratch), like "%.12g" (within one unit of the
 * 12th digit) but without printf's cost: plain notation for 1e-5 <= |v| <
 * 1e15 (trailing zeros dropped), printf otherwise; 0 and -0 are "0".
 * NUL-terminated; returns the length (at most 24). The output is part of the
 * API: it stays byte-identical across versions. */
int hbuf_fmt_num(char *out, double v);

/* Appends a JSON number for v, or null when v is NaN or infinite (JSON has
 * neither); 12 significant digits (hbuf_fmt_num). */
void hbuf_json_num(hbuf *b, double v);

/* Appends s as a JSON string literal, quotes included, escaping control
 * characters, quotes and backslashes. */
void hbuf_json_str(hbuf *b, const char *s);

/* Returns nonzero when an allocation failed since the buffer was made. */
int hbuf_failed(const hbuf *b);

/* Hands the storage to the caller (to free()), leaving b empty. Returns NULL
 * when the buffer failed; then the storage is freed. */
char *hbuf_take(hbuf *b, size_t *len);

/* Frees the storage; the buffer may be reused. Accepts an empty buffer. */
void hbuf_free(hbuf *b);

#endif
