/*
 * httpc: the tests' HTTP/1.1 client and database fixture.
 *
 * Design: one request per connection ("Connection: close"), read to EOF,
 * so no chunked or keep-alive parsing is needed; bodies of our server come
 * with Content-Length or end at close. Blocking sockets on 127.0.0.1 with a
 * 10 s receive timeout, so a hung server fails the test instead of hanging.
 * The fixture builds a temporary database by applying the daemon's
 * migrations (schema/NNN_*.sql, in order) and inserts rows directly.
 */
#ifndef HTGA_TESTS_HTTPC_H
#define HTGA_TESTS_HTTPC_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

struct hresp {
    int status;    /* 0 when the request failed at the socket level */
    char *headers; /* raw header block, NUL-terminated */
    char *body;    /* NUL-terminated */
    size_t body_len;
};

/* Sends `method path` with optional extra header lines (each ending in
 * "\r\n") and body to 127.0.0.1:port. Fills *r; free with hresp_free(). */
void httpc(uint16_t port, const char *method, const char *path, const char *extra_headers,
           const char *body, size_t body_len, struct hresp *r);

/* Sends raw bytes and reads the answer (for malformed requests). */
void httpc_raw(uint16_t port, const char *req, size_t len, struct hresp *r);

/* Value of header name in r (case-insensitive) copied into buf, or NULL. */
const char *hresp_header(const struct hresp *r, const char *name, char *buf, size_t cap);

void hresp_free(struct hresp *r);

/* Creates a fresh database at path with every migration applied. Returns
 * an open read-write handle or NULL. */
sqlite3 *fixture_db(const char *path);

/* Inserts run/group when missing and returns the group id (-1 on error). */
int64_t fixture_group(sqlite3 *db, const char *run, const char *group, double created_at);

/* Inserts block rows [b0, b1) of group gid with step = block * 10 (first)
 * and block * 10 + 9 (last), alpha = alpha_of(block), kurtosis = block,
 * lambda = 1, created_at = t. alpha_of NULL = 2.0. In one transaction. */
int fixture_blocks(sqlite3 *db, int64_t gid, int64_t b0, int64_t b1, double (*alpha_of)(int64_t),
                   double t);

/* Recomputes series_rollup from the blocks with the statements of
 * schema/003_series_rollup.sql (what htgad's writer maintains as it
 * stores blocks). Call after inserting blocks. Returns 0 or -1. */
int fixture_rollup(sqlite3 *db);

/* Checks a series answer j (json_t *) for fields alpha, kurtosis and
 * alpha_lo against the buckets computed directly from the rows of group gid
 * with step_last in [from, to] (raw, or bucket = block / bucket_blocks):
 * block, step, count, step_first, means, min and max. Returns 0, or -1
 * with what differs in err. */
int series_check(const void *j, sqlite3 *db, int64_t gid, int64_t from, int64_t to, char *err,
                 size_t errlen);

/* Inserts a latest_top row for gid with the m values y (descending). */
int fixture_top(sqlite3 *db, int64_t gid, int64_t block, const double *y, size_t m);

/* Makes a fresh temporary directory (mkdtemp) into buf. Returns buf. */
char *fixture_tmpdir(char *buf, size_t cap);

#endif
