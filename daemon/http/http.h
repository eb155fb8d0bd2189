/*
 * http.h: htgad's HTTP server (REST API, Prometheus /metrics, dashboard).
 *
 * Design: libmicrohttpd runs a thread per connection by default (bounded by
 * the connection limit), so a slow query or a slow client holds only its own
 * connection; per-IP, memory and idle-timeout limits bound what a client can
 * take. An epoll pool is available instead (threads > 0). Each thread opens its own read-only
 * SQLite connection on first use (WAL: readers never block the daemon's
 * writer) and closes it when the thread ends. The server never writes to the
 * database: a policy PUT is handed to the daemon through http_policy_fn, and
 * counters are read through http_stats_fn, so this module does not depend on
 * the daemon's threads or structs; it shares only the pure policy type and
 * its validator (policy.h). Everything not declared here is internal.
 */
#ifndef HTGA_HTTP_H
#define HTGA_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"

typedef struct http_server http_server;

/* Error codes of http_start() and of the daemon callbacks. */
#define HTTP_OK        0
#define HTTP_EINVAL    (-1) /* bad argument, bad config value, rejected policy */
#define HTTP_ENOMEM    (-2)
#define HTTP_EBIND     (-3) /* the listen address could not be bound */
#define HTTP_ENOTFOUND (-4) /* callback: no such run */
#define HTTP_EINTERNAL (-5) /* callback: the daemon could not apply the change */
#define HTTP_EBUSY     (-6) /* callback: no room for the change now; retry (503) */
#define HTTP_PENDING   1    /* callback: taken, applies, but not stored yet (202) */

/* Applies a policy change for `run`, coming from PUT /api/v1/runs/{run}/policy.
 * Called from an HTTP thread with a policy policy_validate() accepts. The
 * daemon stores the change with its time, applies it from the next block and
 * stores and pushes the recomputed lambdas. Returns HTTP_OK once all that is
 * stored (a read after it sees it), HTTP_PENDING when it is taken but not
 * stored within the callback's own bound (202), HTTP_ENOTFOUND (unknown
 * run, 404), HTTP_EINVAL (rejected, 400), HTTP_EBUSY (no room now, 503)
 * or HTTP_EINTERNAL (500); may write
 * a reason to err (capacity errlen), which the answer carries. */
typedef int (*http_policy_fn)(void *ud, const char *run, const policy *p, char *err, size_t errlen);

enum http_stat_kind { HTTP_STAT_COUNTER = 0, HTTP_STAT_GAUGE = 1 };

/* One counter or gauge of the daemon. Stats sharing a name must be adjacent
 * and then carry the same label key with different label values. */
struct http_stat {
    const char *name; /* snake_case, no prefix, no _total: "ingest_messages" */
    const char *help; /* one line */
    enum http_stat_kind kind;
    const char *label;       /* NULL, or label key such as "reason" */
    const char *label_value; /* value of that label */
    double value;            /* in base units (bytes, seconds) */
};

/* Fills out[0..cap) with the daemon's current counters and returns how many
 * it wrote. Called from HTTP threads, concurrently: read atomics only. The
 * strings must stay valid for the daemon's lifetime. */
typedef size_t (*http_stats_fn)(void *ud, struct http_stat *out, size_t cap);

/* What flow control did for one run (GET /api/v1/stats "flow", /metrics
 * htga_run_*): its ranks, the budget asked of each, and what was shed. */
struct http_run_flow {
    char run[129];
    double ranks, streams, budget_values, budget_every;
    double client_drops, values_refused, blocks_lost;
    double idle_s; /* since its last samples: /metrics leaves it out past metrics_expire_s */
};

/* Fills *out (malloc'd, the caller frees; NULL when none) with every live
 * run's flow and returns how many. Called from HTTP threads. */
typedef size_t (*http_flow_fn)(void *ud, struct http_run_flow **out);
/* The daemon's health, as the probes report it (see docs/reliability.md). */
#define HTTP_HEALTH_REASONS 8
struct http_health {
    int live;  /* 0: a thread stopped making progress (a restart may help) */
    int ready; /* 0: the daemon is not storing what it receives as it comes */
    unsigned nreasons;
    char reasons[HTTP_HEALTH_REASONS][192]; /* why not, one line each */
};

/* Fills *out. Called from HTTP threads, concurrently. */
typedef void (*http_health_fn)(void *ud, struct http_health *out);

/* Server configuration. Strings are copied by http_start(). */
struct http_config {
    const char *listen;         /* "ADDR:PORT" (IPv4 or "localhost"), port 0 = any free one */
    const char *db_path;        /* the daemon's SQLite database */
    const char *token;          /* bearer token for writes; NULL or "" = none */
    const char *web_root;       /* dashboard directory; NULL = none (404s) */
    unsigned threads;           /* 0 = a thread per connection (default); N = epoll pool of N */
    unsigned max_connections;   /* 0 = 512 */
    unsigned per_ip_limit;      /* 0 = 16 */
    unsigned timeout_s;         /* idle connection timeout; 0 = 15 */
    unsigned request_timeout_s; /* a request's line, headers and body must arrive within
                                   this; 0 = 10 (see server.c's watchdog) */
    double metrics_expire_s;    /* runs without a block for this long leave /metrics; 0 = 3600 */
    policy default_policy;      /* what GET policy reports for a run never changed;
                                   zeroed (kind 0) = policy_default() */
    http_policy_fn on_policy;   /* may be NULL: PUT then answers 503 */
    void *policy_ud;
    http_stats_fn stats; /* may be NULL: no daemon counters */
    void *stats_ud;
    http_flow_fn flow;     /* may be NULL: no per-run flow */
    http_health_fn health; /* may be NULL: health is always ok */
    void *health_ud;
};

/* Returns nonzero when cfg->listen is "off" (HTTP disabled). */
int http_disabled(const char *listen);

/* Starts the server. Ignores SIGPIPE for the process. On HTTP_OK *out owns a
 * running server to stop with http_stop(); on error *out is NULL and, when
 * err is not NULL, a reason is written there. */
int http_start(http_server **out, const struct http_config *cfg, char *err, size_t errlen);

/* The TCP port actually bound (useful with port 0). */
uint16_t http_port(const http_server *s);

/* Stops accepting, finishes in-flight requests, joins the threads (closing
 * their database connections), frees the server and sets *s to NULL.
 * Accepts NULL and *s == NULL. */
void http_stop(http_server **s);

#endif
