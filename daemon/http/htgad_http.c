/*
 * htgad_http: maps htgad's settings and counters onto the HTTP server's
 * interface (see htgad_http.h). Counters are read with relaxed atomic loads
 * from any HTTP thread; names follow Prometheus conventions (the server adds
 * the htga_ prefix and _total to counters).
 */
#include "htgad_http.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "htga_config.h"
#include "log.h"
#include "stats.h"
#include "wire.h"

static struct {
    bqueue *const *est_qs;
    size_t nest;
    bqueue *row_q;
} queues;

static size_t est_depth(void)
{
    size_t n = 0;
    for (size_t i = 0; i < queues.nest; i++)
        n += queues.est_qs[i] ? bqueue_depth(queues.est_qs[i]) : 0;
    return n;
}

/* Drop reason names; stats.c's table when it has one. */
static const char *drop_name(int i)
{
    static const char *const own[] = {"stream_limit", "est_queue",   "nomem",     "peer_limit",
                                      "lambda_send",  "lambda_pipe", "bad_frame", "direction"};
    const char *n = drop_reason_name(i);
    if (n && strcmp(n, "unknown") != 0)
        return n;
    return i < (int)(sizeof own / sizeof own[0]) ? own[i] : "other";
}

#define ADD(nm, hp, kd, lk, lv, val)                                                               \
    do {                                                                                           \
        if (n < cap)                                                                               \
            out[n] = (struct http_stat){nm, hp, kd, lk, lv, (double)(val)};                        \
        n++;                                                                                       \
    } while (0)
#define C HTTP_STAT_COUNTER
#define G HTTP_STAT_GAUGE

static size_t daemon_stats(void *ud, struct http_stat *out, size_t cap)
{
    (void)ud;
    size_t n = 0;
    ADD("ingest_messages", "Messages received from trainers (valid or not).", C, NULL, NULL,
        STAT_GET(msgs));
    ADD("ingest_samples", "Gradient values received in valid SAMPLES messages.", C, NULL, NULL,
        STAT_GET(samples));
    ADD("ingest_received_bytes", "Bytes of all frames received.", C, NULL, NULL, STAT_GET(bytes));
    for (int i = 1; i < WIRE_E__COUNT; i++)
        ADD("ingest_decode_errors", "Messages rejected by the decoder, by error code.", C, "code",
            wire_err_name((wire_err)i), atomic_load(&g_stats.decode_errors[i]));
    for (int i = 0; i < DROP__COUNT; i++)
        ADD("drops", "Data dropped, by reason (unit depends on the reason, see docs/http.md).", C,
            "reason", drop_name(i), atomic_load(&g_stats.drops[i]));
    ADD("streams", "(run, group) streams held.", G, NULL, NULL, STAT_GET(streams));
    ADD("runs", "Runs held.", G, NULL, NULL, STAT_GET(runs));
    ADD("streams_expired", "Streams freed after --stream-idle-s without samples.", C, NULL, NULL,
        STAT_GET(streams_expired));
    ADD("auth_refused",
        "ZeroMQ handshakes refused: CURVE keys missing, wrong or not on --curve-clients.", C, NULL,
        NULL, STAT_GET(auth_refused));
    ADD("blocks_closed", "Blocks handed to the estimator.", C, NULL, NULL, STAT_GET(blocks_closed));
    ADD("blocks_zero_copy", "Blocks handed to the estimator in the message they arrived in.", C,
        NULL, NULL, STAT_GET(blocks_zero_copy));
    ADD("blocks_estimated", "Blocks estimated.", C, NULL, NULL, STAT_GET(blocks_estimated));
    ADD("blocks_fallback", "Blocks whose lambda fell back to 1.", C, NULL, NULL,
        STAT_GET(blocks_fallback));
    ADD("lambdas_sent", "LAMBDA messages pushed to trainers.", C, NULL, NULL,
        STAT_GET(lambdas_sent));
    ADD("ingest_naps", "Times ingest slept to let messages gather, under load.", C, NULL, NULL,
        STAT_GET(ingest_naps));
    ADD("rows_written", "Block rows committed to SQLite.", C, NULL, NULL, STAT_GET(rows_written));
    ADD("transactions", "SQLite transactions committed.", C, NULL, NULL, STAT_GET(transactions));
    ADD("write_errors", "SQLite write failures (rows lost).", C, NULL, NULL,
        STAT_GET(write_errors));
    ADD("policy_changes", "Policy rows written.", C, NULL, NULL, STAT_GET(policy_changes));
    ADD("queue_depth", "Items waiting in a queue (estimator: all estimators' queues).", G, "queue",
        "estimator", est_depth());
    ADD("queue_depth", "Items waiting in a queue (estimator: all estimators' queues).", G, "queue",
        "writer", queues.row_q ? bqueue_depth(queues.row_q) : 0);
    return n;
}

/* How long a PUT policy waits for its change to be stored before it
 * answers 202: the writer commits every few milliseconds unless it is
 * behind (or retrying a failed write). */
#define POLICY_STORE_WAIT_MS 2000

/* PUT policy: hands the change to the ingest thread and waits until it and
 * the lambdas it re-derived are stored (read-your-writes). */
static int apply_policy(void *ud, const char *run, const struct http_policy *p, char *err,
                        size_t errlen)
{
    policy pol = {
        .kind = p->kind == HTTP_POLICY_POWER ? POLICY_POWER : POLICY_LINEAR,
        .param = p->kind == HTTP_POLICY_POWER ? p->q : p->c,
        .lambda_min = p->lambda_min,
        .lambda_max = p->lambda_max,
        .ema = p->ema,
    };
    int rc = ingest_set_policy_stored(ud, run, strlen(run), &pol, "http", POLICY_STORE_WAIT_MS);
    if (rc < 0) {
        snprintf(err, errlen,
                 "htgad could not apply the policy (its command queue is full, or the write "
                 "failed)");
        return HTTP_EINTERNAL;
    }
    return rc == 0 ? HTTP_OK : HTTP_PENDING;
}

/* Has dir an index.html we can read? */
static int has_index(const char *dir)
{
    char path[CONFIG_PATH_MAX + 16];
    int n = snprintf(path, sizeof path, "%s/index.html", dir);
    return n > 0 && (size_t)n < sizeof path && access(path, R_OK) == 0;
}

/* The dashboard directory: --web-root when given (it must hold index.html),
 * else the installed copy (PREFIX/share/htga/web), else ./web, else the
 * source tree's web/ (a build run in place). NULL when --web-root is wrong. */
static const char *web_root(const htgad_config *cfg)
{
    if (cfg->web_root[0] != '\0') {
        if (has_index(cfg->web_root))
            return cfg->web_root;
        LOG(LOG_ERROR, "http: --web-root %s: no readable index.html there", cfg->web_root);
        return NULL;
    }
    if (has_index(HTGA_WEB_DIR))
        return HTGA_WEB_DIR;
    if (has_index("web"))
        return "web";
    return HTGA_SOURCE_ROOT "/web";
}

int htgad_http_start(const htgad_config *cfg, ingest *ing, bqueue *const *est_qs, size_t nest,
                     bqueue *row_q, http_server **out)
{
    *out = NULL;
    if (http_disabled(cfg->http))
        return 0;
    queues.est_qs = est_qs;
    queues.nest = nest;
    queues.row_q = row_q;
    const char *web = web_root(cfg);
    if (web == NULL)
        return -1;
    struct http_config hc = {
        .listen = cfg->http,
        .db_path = cfg->db,
        .token = cfg->token,
        .web_root = web,
        .metrics_expire_s = (double)cfg->metrics_expire_s,
        .max_connections = (unsigned)cfg->http_max_connections,
        .per_ip_limit = (unsigned)cfg->http_per_ip,
        .request_timeout_s = (unsigned)cfg->http_request_timeout_s,
        .default_policy =
            {
                .kind = cfg->policy.kind == POLICY_POWER ? HTTP_POLICY_POWER : HTTP_POLICY_LINEAR,
                .c = cfg->policy.param,
                .q = cfg->policy.param,
                .lambda_min = cfg->policy.lambda_min,
                .lambda_max = cfg->policy.lambda_max,
                .ema = cfg->policy.ema,
            },
        .stats = daemon_stats,
        .on_policy = ing ? apply_policy : NULL,
        .policy_ud = ing,
    };
    char err[256];
    if (http_start(out, &hc, err, sizeof err) != HTTP_OK) {
        LOG(LOG_ERROR, "http: %s", err);
        return -1;
    }
    LOG(LOG_INFO, "http API on %s (port %u)%s, dashboard from %s", cfg->http, http_port(*out),
        cfg->token[0] ? ", writes need the token" : "", web);
    return 0;
}
