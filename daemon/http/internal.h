/*
 * internal.h: what server.c, request.c and the route handlers share. Not
 * API.
 *
 * Design: a handler gets the server, the matched route and the request
 * (query lookup, body) and fills a struct reply; server.c turns the reply
 * into a libmicrohttpd response. Handlers never see libmicrohttpd types.
 */
#ifndef HTGA_HTTP_INTERNAL_H
#define HTGA_HTTP_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <time.h>

#include "hbuf.h"
#include "http.h"
#include "route.h"

#define HTTP_BODY_MAX      (64 * 1024)        /* PUT bodies larger than this: 413 */
#define HTTP_STATIC_MAX    (16 * 1024 * 1024) /* largest file served from web/ */
#define HTTP_POLICY_RECENT 64                 /* policies handed over, remembered */

/* A policy this server handed to the daemon (on_policy succeeded). */
struct policy_sent {
    char run[256]; /* "" = unused */
    policy p;
};

/* One open connection, as the request-time watchdog sees it (server.c). */
struct conn_watch {
    int fd;
    int64_t since_ms; /* when the request being read began (accept, or the last reply) */
    int reading;      /* the request has not arrived in full yet */
    int cut;          /* the watchdog has shut it down */
    struct conn_watch *prev, *next;
};

struct http_server {
    struct MHD_Daemon *mhd;
    char *listen, *db_path, *token, *web_root;
    struct http_config cfg; /* strings point at the copies above */
    int loopback_only;
    uint16_t port;
    time_t started;
    pthread_key_t db_key;
    /* The policies PUT handed to the daemon, newest at sent[(next - 1) % N]:
     * the daemon's current policy of those runs even before its writer has
     * stored them, so a PUT fills omitted members from them rather than from
     * SQLite. pol_mu also makes each PUT's read-merge-hand-over atomic. */
    pthread_mutex_t pol_mu;
    struct policy_sent sent[HTTP_POLICY_RECENT];
    unsigned sent_next;
    atomic_ullong requests[6]; /* by status class: 1xx..5xx, index 1..5 */
    /* The watchdog (server.c): every open connection, and a thread that
     * cuts those whose request does not arrive in time. */
    pthread_mutex_t conn_mu;
    struct conn_watch *conns;
    size_t nconns;
    pthread_t watchdog;
    int watchdog_started;
    atomic_int watchdog_stop;
    atomic_ullong slow_cut; /* connections cut: request not in within the deadline */
};

/* The request as handlers see it. */
struct request {
    struct http_server *srv;
    void *conn; /* struct MHD_Connection * */
    const struct route_match *route;
    const char *body; /* PUT body (NUL-terminated), NULL for none */
    size_t body_len;
};

/* What a handler answers. body is malloc'd (or NULL) and owned by the reply. */
struct reply {
    int status;
    const char *content_type;
    const char *cache_control; /* NULL = "no-store" for API, none for static */
    const char *retry_after;   /* a 503 that may be retried: seconds, else NULL */
    char *body;
    size_t len;
};

/* request.c: what handlers call. */

/* Looks up a query parameter, percent-decoded ('+' = space) into buf.
 * Returns buf, NULL when absent, or sets *bad when malformed. */
const char *req_query(const struct request *r, const char *key, char *buf, size_t cap, int *bad);

/* Rejects query parameters not in allowed (NULL-terminated; req_no_params
 * allows none); names starting with '_' (cache busters) pass. Returns 0, or
 * -1 with rep filled (400). */
int req_only_params(const struct request *r, const char *const *allowed, struct reply *rep);
extern const char *const req_no_params[];

/* Fills the reply with {"error": msg} and status. Returns 0. */
int reply_error(struct reply *rep, int status, const char *msg);

/* Moves a built JSON buffer into the reply with status 200 (500 when the
 * buffer failed). Returns 0. */
int reply_buf(struct reply *rep, hbuf *b, const char *content_type);

/* The calling thread's read-only connection, opened on first use; NULL when
 * the database cannot be opened (then *err names why). */
sqlite3 *req_db(const struct request *r, const char **err);

/* Finalizes the statements kept prepared on connection db (sql.c), then
 * closes it: the destructor of srv->db_key, run as a thread ends. */
void req_db_close(void *db);

/* The most daemon stats one answer lists. */
#define HTTP_STATS_MAX 256

/* Fills st[0..HTTP_STATS_MAX) with the daemon's counters (cfg.stats) and
 * returns how many (0 without the callback). routes_stats.c. */
size_t http_daemon_stats(const struct http_server *s, struct http_stat *st);

/* "1xx".."5xx" at index 1..5: the classes srv->requests counts. */
extern const char *const http_status_class[6];

/* Appends run id's current policy as a JSON object: the latest stored
 * change, or the server's default when none is stored. With history, adds
 * "history": every stored change, latest first (100 at most). 0, or -1 on
 * an SQL error (b then holds part of it). routes_policy.c. */
int policy_json(hbuf *b, sqlite3 *db, const struct http_server *s, int64_t run_id, int history);

/* Parses a PUT policy body (len bytes, need not be NUL-terminated) over the
 * values already in *p, which it updates, and checks the result with
 * policy_validate(). Returns NULL, or a static message saying what is
 * wrong. routes_policy.c. */
const char *http_parse_policy_body(const char *body, size_t len, policy *p);

/* Route handlers, one file each (routes_<name>.c). Each fills rep and
 * returns 0. */
int handle_health(const struct request *r, struct reply *rep);     /* routes_health.c */
int handle_runs(const struct request *r, struct reply *rep);       /* routes_runs.c */
int handle_run(const struct request *r, struct reply *rep);        /* routes_runs.c */
int handle_latest(const struct request *r, struct reply *rep);     /* routes_runs.c */
int handle_policy_get(const struct request *r, struct reply *rep); /* routes_policy.c */
int handle_policy_put(const struct request *r, struct reply *rep); /* routes_policy.c */
int handle_series(const struct request *r, struct reply *rep);     /* routes_series.c */
int handle_hill(const struct request *r, struct reply *rep);       /* routes_hill.c */
int handle_stats(const struct request *r, struct reply *rep);      /* routes_stats.c */
int handle_metrics(const struct request *r, struct reply *rep);    /* routes_metrics.c */

#endif
