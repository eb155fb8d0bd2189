/*
 * routes_stats: GET /api/v1/stats, the daemon's counters and per-run flow
 * as one JSON object, and the daemon's counters for /metrics too
 * (routes_metrics.c).
 *
 * Design: the counters come from the daemon through cfg.stats and cfg.flow
 * (http.h), read with atomic loads on the calling HTTP thread; stats
 * sharing a name become one object keyed by their label value.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const char *const http_status_class[6] = {"", "1xx", "2xx", "3xx", "4xx", "5xx"};

size_t http_daemon_stats(const struct http_server *s, struct http_stat *st)
{
    if (!s->cfg.stats)
        return 0;
    size_t n = s->cfg.stats(s->cfg.stats_ud, st, HTTP_STATS_MAX);
    return n > HTTP_STATS_MAX ? HTTP_STATS_MAX : n;
}

/* "flow": per run, its ranks, the budget asked of each and what was shed. */
static void stats_flow(const struct http_server *s, hbuf *b)
{
    struct http_run_flow *f = NULL;
    size_t n = s->cfg.flow ? s->cfg.flow(s->cfg.stats_ud, &f) : 0;

    hbuf_puts(b, ",\"flow\":{");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            hbuf_put(b, ",", 1);
        hbuf_json_str(b, f[i].run);
        hbuf_printf(b,
                    ":{\"ranks\":%.0f,\"streams\":%.0f,\"budget_values\":%.0f,"
                    "\"budget_every\":%.0f,\"client_drops\":%.0f,\"values_refused\":%.0f,"
                    "\"blocks_lost\":%.0f,\"idle_s\":%.3f}",
                    f[i].ranks, f[i].streams, f[i].budget_values, f[i].budget_every,
                    f[i].client_drops, f[i].values_refused, f[i].blocks_lost, f[i].idle_s);
    }
    hbuf_put(b, "}", 1);
    free(f);
}

int handle_stats(const struct request *r, struct reply *rep)
{
    if (req_only_params(r, req_no_params, rep))
        return 0;
    struct http_stat *st = malloc(HTTP_STATS_MAX * sizeof *st);
    if (!st)
        return reply_error(rep, 500, "out of memory");
    size_t n = http_daemon_stats(r->srv, st);
    hbuf b = {0};
    hbuf_printf(&b, "{\"uptime_s\":%lld", (long long)(time(NULL) - r->srv->started));
    for (size_t i = 0; i < n; i++) {
        int first = i == 0 || strcmp(st[i - 1].name, st[i].name) != 0;
        int last = i + 1 == n || strcmp(st[i + 1].name, st[i].name) != 0;
        if (st[i].label) {
            if (first)
                hbuf_printf(&b, ",\"%s\":{", st[i].name);
            else
                hbuf_put(&b, ",", 1);
            hbuf_json_str(&b, st[i].label_value);
            hbuf_put(&b, ":", 1);
            hbuf_json_num(&b, st[i].value);
            if (last)
                hbuf_put(&b, "}", 1);
        } else {
            hbuf_printf(&b, ",\"%s\":", st[i].name);
            hbuf_json_num(&b, st[i].value);
        }
    }
    stats_flow(r->srv, &b);
    hbuf_puts(&b, ",\"http_requests\":{");
    for (int c = 1; c <= 5; c++)
        hbuf_printf(&b, "%s\"%s\":%llu", c > 1 ? "," : "", http_status_class[c],
                    (unsigned long long)atomic_load(&r->srv->requests[c]));
    hbuf_puts(&b, "}}\n");
    free(st);
    return reply_buf(rep, &b, "application/json");
}
