/*
 * route: turns a raw request path and method into a route and its captured
 * run and group names. Pure: no I/O, no allocation beyond the caller's struct.
 *
 * Design: the server disables libmicrohttpd's own unescaping, so the path
 * arrives exactly as sent. It is split on '/' first and each segment is then
 * percent-decoded, so a run named "a/b" is addressed as "a%2Fb" and matched
 * exactly. Decoded names must be non-empty, at most ROUTE_NAME_MAX bytes and
 * free of NUL bytes. The table of routes here is also what the test that
 * compares served routes with docs/openapi.json reads (route_table()).
 */
#ifndef HTGA_HTTP_ROUTE_H
#define HTGA_HTTP_ROUTE_H

#include <stddef.h>

#define ROUTE_NAME_MAX 255

enum route_id {
    ROUTE_NONE = 0, /* no such path: 404 */
    ROUTE_HEALTH,
    ROUTE_HEALTH_LIVE,
    ROUTE_HEALTH_READY,
    ROUTE_RUNS,
    ROUTE_RUN,
    ROUTE_RUN_LATEST,
    ROUTE_RUN_POLICY,
    ROUTE_SERIES,
    ROUTE_HILL,
    ROUTE_STATS,
    ROUTE_METRICS,
    ROUTE_STATIC, /* anything not under /api/ or /metrics: files from web/ */
};

enum route_method { M_GET = 1, M_HEAD = 2, M_PUT = 4, M_OTHER = 8 };

/* Result of route_match(). */
struct route_match {
    enum route_id id;
    int status;                   /* 0 when matched; else 400, 404 or 405 */
    const char *error;            /* static text when status != 0 */
    unsigned allowed;             /* methods the path accepts (for Allow) */
    char run[ROUTE_NAME_MAX + 1]; /* decoded {run}, when the route has one */
    char group[ROUTE_NAME_MAX + 1];
};

/* One row of the route table: an OpenAPI-style template and its methods. */
struct route_desc {
    enum route_id id;
    const char *template; /* e.g. "/api/v1/runs/{run}/latest" */
    unsigned methods;     /* M_GET | M_PUT ... (HEAD is implied by GET) */
};

/* Percent-decodes src[0..n) into dst (capacity cap, NUL-terminated). With
 * plus_is_space, '+' becomes ' ' (query strings). Returns the decoded length,
 * or -1 for a malformed escape, an embedded NUL, or output longer than cap-1. */
long route_pct_decode(const char *src, size_t n, char *dst, size_t cap, int plus_is_space);

/* Maps a method name ("GET", ...) to enum route_method. */
enum route_method route_method_of(const char *method);

/* Matches a raw (still escaped) path, without query string, for a method.
 * Fills *m; m->status tells whether it matched (0) or which error applies. */
void route_match(const char *path, enum route_method method, struct route_match *m);

/* The route table; *n receives its length. Static storage. */
const struct route_desc *route_table(size_t *n);

#endif
