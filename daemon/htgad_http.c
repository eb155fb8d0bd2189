/*
 * htgad_http: maps htgad's settings and counters onto the HTTP server's
 * interface (see htgad_http.h). Counters are read with relaxed atomic loads
 * from any HTTP thread; names follow Prometheus conventions (the server adds
 * the htga_ prefix and _total to counters).
 */
#include "htgad_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flow.h"
#include "health.h"
#include "htga_config.h"
#include "log.h"
#include "stats.h"
#include "wire.h"

/* How long a PUT policy waits for its change to be stored before it
 * answers 202: the writer commits every few milliseconds unless it is
 * behind (or retrying a failed write). */
#define POLICY_STORE_WAIT_MS 2000

static struct {
    bqueue *const *est_qs;
    size_t nest;
    bqueue *row_q;
    double limit; /* --queue-bytes */
} queues;

static size_t est_depth(void)
{
    size_t n = 0;
    for (size_t i = 0; i < queues.nest; i++)
        n += bqueue_depth(queues.est_qs[i]);
    return n;
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
            "reason", drop_reason_name(i), atomic_load(&g_stats.drops[i]));
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
    ADD("write_errors", "SQLite write failures: failed tries (retried) and refused rows.", C, NULL,
        NULL, STAT_GET(write_errors));
    ADD("policy_changes", "Policy rows written.", C, NULL, NULL, STAT_GET(policy_changes));
    ADD("est_queue_bytes", "Bytes of blocks waiting for the estimators (bounded by --queue-bytes).",
        G, NULL, NULL, STAT_GET(est_bytes));
    ADD("est_queue_bytes_max", "High-water mark of est_queue_bytes.", G, NULL, NULL,
        STAT_GET(est_bytes_max));
    ADD("est_queue_bytes_limit", "--queue-bytes: where ingest stops reading.", G, NULL, NULL,
        queues.limit);
    ADD("backpressure_seconds", "Time ingest stopped reading because the queues were full.", C,
        NULL, NULL, (double)STAT_GET(backpressure_ms) / 1000);
    ADD("backpressure_events", "Times ingest started pushing back.", C, NULL, NULL,
        STAT_GET(backpressure_events));
    ADD("budget_factor",
        "Share of a full send the budget asks for (1: full resolution; lower: overloaded).", G,
        NULL, NULL, (double)STAT_GET(budget_ppm) / 1e6);
    ADD("blocks_lost",
        "Blocks closed but never stored (estimator refused, no memory, write "
        "failure).",
        C, NULL, NULL, STAT_GET(blocks_lost));
    ADD("client_drops", "Messages clients report they dropped (all runs).", C, NULL, NULL,
        STAT_GET(client_drops));
    ADD("barriers", "BARRIER messages taken.", C, NULL, NULL, STAT_GET(barriers));
    ADD("acks_sent", "ACK answers to barriers sent.", C, NULL, NULL, STAT_GET(acks_sent));
    ADD("budgets_sent", "BUDGET messages sent to clients.", C, NULL, NULL, STAT_GET(budgets_sent));
    ADD("rows_lost", "Rows taken in and never stored (refused by SQLite, or given up at stop).", C,
        NULL, NULL, STAT_GET(rows_lost));
    ADD("writer_failing", "1 while the writer's tries fail (it keeps the rows and retries).", G,
        NULL, NULL, STAT_GET(writer_failing));
    ADD("writer_queue_full", "Pushes that waited for room in the writer's queue.", C, NULL, NULL,
        STAT_GET(writer_queue_full));
    ADD("wal_checkpoints", "WAL truncations after the disk was full.", C, NULL, NULL,
        STAT_GET(wal_checkpoints));
    health_report h;
    health_check(&h);
    ADD("live", "1 when every thread makes progress (/api/v1/health/live).", G, NULL, NULL, h.live);
    ADD("ready", "1 when htgad stores what it receives (/api/v1/health/ready).", G, NULL, NULL,
        h.ready);
    ADD("queue_depth", "Items waiting in a queue (estimator: all estimators' queues).", G, "queue",
        "estimator", est_depth());
    ADD("queue_depth", "Items waiting in a queue (estimator: all estimators' queues).", G, "queue",
        "writer", bqueue_depth(queues.row_q));
    return n;
}

static size_t daemon_flow(void *ud, struct http_run_flow **out)
{
    flow_run *v;
    size_t n;

    (void)ud;
    *out = NULL;
    if (flow_view(&v, &n) < 0 || n == 0)
        return 0;
    *out = calloc(n, sizeof(**out));
    if (*out == NULL) {
        free(v);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        memcpy((*out)[i].run, v[i].run, sizeof((*out)[i].run));
        (*out)[i].ranks = v[i].ranks;
        (*out)[i].streams = v[i].streams;
        (*out)[i].budget_values = v[i].budget_values;
        (*out)[i].budget_every = v[i].budget_every;
        (*out)[i].client_drops = (double)v[i].client_drops;
        (*out)[i].values_refused = (double)v[i].values_refused;
        (*out)[i].blocks_lost = (double)v[i].blocks_lost;
        (*out)[i].idle_s = v[i].idle_s;
    }
    free(v);
    return n;
}

static void daemon_health(void *ud, struct http_health *out)
{
    health_report h;

    (void)ud;
    health_check(&h);
    out->live = h.live;
    out->ready = h.ready;
    out->nreasons = 0;
    for (size_t i = 0; i < h.nreasons && i < HTTP_HEALTH_REASONS; i++)
        snprintf(out->reasons[out->nreasons++], sizeof out->reasons[0], "%s", h.reasons[i]);
}

int htgad_http_policy(void *ing, const char *run, const policy *p, char *err, size_t errlen)
{
    const char *why;

    if (policy_validate(p, POLICY_NAMES_JSON, &why) < 0) {
        snprintf(err, errlen, "%s", why);
        return HTTP_EINVAL;
    }
    int rc = ingest_set_policy_stored(ing, run, strlen(run), p, "http", POLICY_STORE_WAIT_MS);
    if (rc == -2) {
        snprintf(err, errlen,
                 "htgad has no room for the change now (its command queue, run slots or "
                 "barriers are full); try again");
        return HTTP_EBUSY;
    }
    if (rc < 0) {
        snprintf(err, errlen,
                 "htgad could not store the policy (a write failed, or it is stopping)");
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
    queues.limit = (double)cfg->queue_bytes;
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
        .default_policy = cfg->policy,
        .stats = daemon_stats,
        .flow = daemon_flow,
        .health = daemon_health,
        .on_policy = htgad_http_policy,
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
