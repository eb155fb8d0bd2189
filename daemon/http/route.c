/*
 * route: path splitting, percent-decoding and the route table (see route.h).
 * Matching is by segment count and literal segments; {run} and {group} are
 * captured and decoded. Paths outside /api/ and /metrics go to static files.
 */
#include "route.h"

#include <string.h>

static const struct route_desc table[] = {
    {ROUTE_HEALTH, "/api/v1/health", M_GET},
    {ROUTE_HEALTH_LIVE, "/api/v1/health/live", M_GET},
    {ROUTE_HEALTH_READY, "/api/v1/health/ready", M_GET},
    {ROUTE_RUNS, "/api/v1/runs", M_GET},
    {ROUTE_RUN, "/api/v1/runs/{run}", M_GET},
    {ROUTE_RUN_LATEST, "/api/v1/runs/{run}/latest", M_GET},
    {ROUTE_RUN_POLICY, "/api/v1/runs/{run}/policy", M_GET | M_PUT},
    {ROUTE_SERIES, "/api/v1/runs/{run}/groups/{group}/series", M_GET},
    {ROUTE_HILL, "/api/v1/runs/{run}/groups/{group}/hill", M_GET},
    {ROUTE_STATS, "/api/v1/stats", M_GET},
    {ROUTE_METRICS, "/metrics", M_GET},
};

const struct route_desc *route_table(size_t *n)
{
    *n = sizeof table / sizeof table[0];
    return table;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long route_pct_decode(const char *src, size_t n, char *dst, size_t cap, int plus_is_space)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = hexval(src[i + 1]), lo = hexval(src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (c == '\0' || o + 1 >= cap)
            return -1;
        dst[o++] = c;
    }
    if (cap == 0)
        return -1;
    dst[o] = '\0';
    return (long)o;
}

enum route_method route_method_of(const char *method)
{
    if (strcmp(method, "GET") == 0)
        return M_GET;
    if (strcmp(method, "HEAD") == 0)
        return M_HEAD;
    if (strcmp(method, "PUT") == 0)
        return M_PUT;
    return M_OTHER;
}

#define MAX_SEGS 8

/* Splits path (after the leading '/') into at most MAX_SEGS raw segments.
 * Returns the count, or -1 when there are more. A trailing '/' is ignored. */
static int split(const char *path, const char *seg[], size_t len[])
{
    int n = 0;
    const char *p = path;
    if (*p == '/')
        p++;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (n == MAX_SEGS)
            return -1;
        seg[n] = p;
        len[n] = l;
        n++;
        if (!e)
            break;
        p = e + 1;
    }
    return n;
}

/* Matches one template against raw segments; captures into m. Returns 1 on a
 * match, 0 on none, -1 when a captured name fails to decode. */
static int match_one(const char *tpl, int n, const char *seg[], const size_t len[],
                     struct route_match *m)
{
    const char *tseg[MAX_SEGS];
    size_t tlen[MAX_SEGS];
    int tn = split(tpl, tseg, tlen);
    if (tn != n)
        return 0;
    for (int i = 0; i < n; i++) {
        if (tlen[i] > 0 && tseg[i][0] == '{')
            continue;
        if (tlen[i] != len[i] || memcmp(tseg[i], seg[i], len[i]) != 0)
            return 0;
    }
    for (int i = 0; i < n; i++) {
        if (!(tlen[i] > 0 && tseg[i][0] == '{'))
            continue;
        char *dst = strncmp(tseg[i], "{run}", 5) == 0 ? m->run : m->group;
        if (route_pct_decode(seg[i], len[i], dst, ROUTE_NAME_MAX + 1, 0) <= 0)
            return -1;
    }
    return 1;
}

void route_match(const char *path, enum route_method method, struct route_match *m)
{
    memset(m, 0, sizeof *m);
    if (path[0] != '/') {
        m->status = 400;
        m->error = "path must start with /";
        return;
    }
    int is_api = strncmp(path, "/api/", 5) == 0 || strcmp(path, "/api") == 0 ||
                 strcmp(path, "/metrics") == 0 || strncmp(path, "/metrics/", 9) == 0;
    if (!is_api) {
        m->id = ROUTE_STATIC;
        m->allowed = M_GET | M_HEAD;
        if (!(method & (M_GET | M_HEAD))) {
            m->status = 405;
            m->error = "method not allowed";
        }
        return;
    }
    const char *seg[MAX_SEGS];
    size_t len[MAX_SEGS];
    int n = split(path, seg, len);
    for (size_t t = 0; n >= 0 && t < sizeof table / sizeof table[0]; t++) {
        int r = match_one(table[t].template, n, seg, len, m);
        if (r == 0)
            continue;
        if (r < 0) {
            m->status = 400;
            m->error = "bad run or group name in path (empty, too long, bad escape or NUL)";
            return;
        }
        m->id = table[t].id;
        m->allowed = table[t].methods | ((table[t].methods & M_GET) ? M_HEAD : 0);
        if (!(method & m->allowed)) {
            m->status = 405;
            m->error = "method not allowed";
        }
        return;
    }
    m->status = 404;
    m->error = "no such path";
}
