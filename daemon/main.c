/*
 * main.c - htgad: settings, start-up, the signal loop and the ordered stop.
 *
 * DESIGN: threads (see DESIGN.md): ingest (ZeroMQ ROUTER), estimators (pure
 * compute, --estimators of them), writer (the only SQLite write connection),
 * linked by bounded queues and one inproc pipe. SIGTERM/SIGINT are blocked in every thread and
 * taken synchronously here with sigtimedwait(), which also paces the
 * --stats-file rewrites, so no code runs in a signal handler. SIGHUP
 * re-reads the settings and applies a changed lambda policy. Stop order
 * follows the data: ingest closes its socket and flushes partial blocks and
 * a STOP job to each estimator; the estimators drain and finish; the writer
 * gets STOP after the last row, commits, checkpoints and closes the
 * database it opened (and migrated) at its start-up. Start-up restores
 * each group's next block number, last lambda and run policy from the
 * state the writer read, so a restart (also after SIGKILL) carries on.
 *
 * A start-up that fails (a database htgad cannot write, a port in use)
 * says what and where, exits 1 and removes the database file if it created
 * it. The stop gives a failing database --stop-timeout-s; rows given up
 * there (or refused for good while running) make the exit status 3. This
 * loop also keeps the health checks' loss episodes current (health.h).
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "auth.h"
#include "config.h"
#include "htga_config.h"
#include "estimator_thread.h"
#include "flow.h"
#include "health.h"
#include "htgad_http.h"
#include "ingest.h"
#include "log.h"
#include "prio.h"
#include "queue.h"
#include "stats.h"
#include "store.h"

typedef struct daemon_parts {
    void *ctx;
    size_t nest;
    bqueue *est_qs[64]; /* one per estimator (--estimators, at most 64) */
    bqueue *row_q;
    ingest *ing;
    estimator *ests[64];
    store_writer *writer;
    auth *auth; /* CURVE on the ZeroMQ port, or NULL */
    char endpoint[CONFIG_STR_MAX];
} daemon_parts;

/* Hands every restored group to ingest and its estimator (the writer
 * resolves its ids by name on its first row). */
static void restore(daemon_parts *d, const htgad_config *cfg)
{
    size_t n;
    store_state *st = store_writer_restored(d->writer, &n);
    uint32_t stream_slot, life;

    for (size_t i = 0; i < n; i++) {
        ingest_restored r = {
            st[i].run,
            st[i].group,
            st[i].has_block,
            {st[i].lambda, st[i].alpha, st[i].last_block, st[i].last_step, st[i].reason, 0},
            cfg->policy,
            "default"};
        est_stored_policy sp = est_stored_policy_of(&st[i]);
        est_policy_restore(&sp, &r.pol, &r.source);
        if (ingest_preload(d->ing, &r, &stream_slot, &life) < 0)
            break;
        estimator_preload(d->ests[stream_slot % d->nest], stream_slot, life, &st[i]);
    }
    if (n > 0)
        LOG(LOG_INFO, "restored %zu group(s) from the database", n);
    free(st);
}

/* Creates the queues, the estimators and ingest (not started). 0 or -1. */
static int create_parts(daemon_parts *d, const htgad_config *cfg)
{
    d->nest = (size_t)cfg->estimators;
    for (size_t k = 0; k < d->nest; k++) {
        d->est_qs[k] = bqueue_new(INGEST_EST_JOBS);
        if (d->est_qs[k] == NULL)
            return -1;
        d->ests[k] = estimator_new(d->est_qs[k], d->row_q, d->ctx, cfg->block_samples, &cfg->k_rule,
                                   cfg->max_streams, cfg->db);
        if (d->ests[k] == NULL)
            return -1;
        estimator_set_delay(d->ests[k], cfg->test_estimate_delay_us);
    }
    d->ing = ingest_new(d->ctx, d->est_qs, d->nest, cfg);
    return d->ing == NULL ? -1 : 0;
}

/* Starts the writer first (it opens the database: a start-up that fails
 * there leaves nothing else to undo), then the rest. 0 or -1 (logged). */
static int start(daemon_parts *d, const htgad_config *cfg)
{
    char err[1024];

    d->ctx = zmq_ctx_new();
    d->row_q = bqueue_new(cfg->queue_rows);
    d->writer = d->ctx && d->row_q ? store_writer_new(cfg->db, d->row_q, cfg->max_streams) : NULL;
    if (d->writer == NULL)
        return -1;
    store_writer_notify(d->writer, d->ctx);
    store_writer_set_retention(d->writer, (double)cfg->retention_s);
    if (store_writer_start(d->writer, cfg->max_streams, err, sizeof(err)) < 0) {
        LOG(LOG_ERROR, "%s", err);
        store_writer_join(&d->writer); /* nothing to stop: its thread ended */
        return -1;
    }
    if (create_parts(d, cfg) < 0)
        return -1;
    restore(d, cfg);
    if (auth_start(d->ctx, cfg, &d->auth) < 0)
        return -1;
    ingest_set_auth(d->ing, d->auth);
    if (ingest_start(d->ing, d->endpoint, sizeof(d->endpoint)) < 0)
        return -1;
    for (size_t k = 0; k < d->nest; k++) {
        if (estimator_start(d->ests[k]) < 0)
            return -1;
    }
    return 0;
}

/* Stops what was started, in data order; a failing database gets
 * stop_timeout_s to take the rows still held. */
static void stop(daemon_parts *d, uint64_t stop_timeout_s)
{
    store_item *last;

    store_writer_stop_by(d->writer, health_now_ms() + (int64_t)stop_timeout_s * 1000);
    if (d->ing != NULL)
        ingest_stop(d->ing);
    ingest_join(&d->ing);
    auth_stop(&d->auth);
    for (size_t k = 0; k < d->nest; k++)
        estimator_join(&d->ests[k]);
    if (d->writer != NULL) {
        last = calloc(1, sizeof(*last));
        if (last != NULL) {
            last->kind = STORE_STOP;
            bqueue_push(d->row_q, last);
        }
    }
    store_writer_join(&d->writer);
}

static void free_parts(daemon_parts *d)
{
    for (size_t k = 0; k < d->nest; k++)
        bqueue_destroy(&d->est_qs[k]);
    bqueue_destroy(&d->row_q);
    flow_view_free();
    if (d->ctx != NULL)
        zmq_ctx_term(d->ctx);
}

static void write_stats(const htgad_config *cfg, daemon_parts *d)
{
    stats_queues qs = {d->est_qs, d->nest, d->row_q};

    if (cfg->stats_file[0] && stats_write_file(cfg->stats_file, &qs, d->endpoint) < 0)
        LOG(LOG_WARN, "cannot write %s: %s", cfg->stats_file, strerror(errno));
}

/* SIGHUP: reads the settings again (flags and --config file); a changed
 * lambda policy applies at once to the default and to every run whose
 * policy did not come from HTTP. Other settings need a restart. */
static void reload(htgad_config *cfg, daemon_parts *d, int argc, char **argv)
{
    htgad_config fresh;
    config_error err;

    if (config_parse_args(&fresh, argc, argv, stdout, &err) != CONFIG_RUN) {
        LOG(LOG_ERROR, "SIGHUP: settings not reloaded: %s", err.text);
        return;
    }
    if (policy_equal(&fresh.policy, &cfg->policy)) {
        LOG(LOG_INFO, "SIGHUP: lambda policy unchanged (other settings need a restart)");
        return;
    }
    if (ingest_set_policy(d->ing, NULL, 0, &fresh.policy, "flags") < 0) {
        LOG(LOG_ERROR, "SIGHUP: policy change refused (queue full)");
        return;
    }
    cfg->policy = fresh.policy;
    LOG(LOG_INFO, "SIGHUP: new default lambda policy applied");
}

/* Waits for SIGTERM/SIGINT, rewriting the stats file meanwhile; SIGHUP
 * reloads the policy. */
static int wait_for_signal(htgad_config *cfg, daemon_parts *d, const sigset_t *set, int argc,
                           char **argv)
{
    struct timespec ts = {(time_t)(cfg->stats_interval_ms / 1000),
                          (long)(cfg->stats_interval_ms % 1000) * 1000000L};
    int sig;

    health_report health;

    for (;;) {
        write_stats(cfg, d);
        health_check(&health); /* keeps loss episodes current between probes */
        sig = sigtimedwait(set, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT)
            return sig;
        if (sig == SIGHUP)
            reload(cfg, d, argc, argv);
    }
}

int main(int argc, char **argv)
{
    htgad_config cfg;
    config_error err;
    daemon_parts d;
    sigset_t set;
    int rc, sig;

    rc = config_parse_args(&cfg, argc, argv, stdout, &err);
    if (rc == CONFIG_EXIT)
        return 0;
    if (rc == CONFIG_ERROR) {
        fprintf(stderr, "htgad: %s\n", err.text);
        return 2;
    }
    log_set_level(cfg.log_level);
    if (cfg.queue_blocks_old != 0)
        LOG(LOG_WARN,
            "queue-blocks is ignored since 0.4: the estimator queues hold queue-bytes "
            "(%llu bytes) and htgad pushes back instead of dropping",
            (unsigned long long)cfg.queue_bytes);
    prio_set_background((int)cfg.background_nice);
    /* Block buffers (block-samples x 4 bytes) come and go at the ingest
     * rate: keep them on the heap, where freed ones are reused, instead of
     * a fresh mmap (and page faults) per block. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited by every thread */
    signal(SIGPIPE, SIG_IGN);
    memset(&d, 0, sizeof(d));
    health_set_window_ms((int64_t)cfg.health_window_s * 1000);
    int existed = access(cfg.db, F_OK) == 0;
    http_server *http = NULL;
    if (start(&d, &cfg) < 0 ||
        htgad_http_start(&cfg, d.ing, d.est_qs, d.nest, d.row_q, &http) < 0) {
        stop(&d, 0);
        free_parts(&d);
        if (!existed)
            store_remove_files(cfg.db); /* leave no empty database behind */
        LOG(LOG_ERROR, "start-up failed");
        return 1;
    }
    LOG(LOG_INFO, "htgad %s listening on %s, database %s", HTGA_VERSION_STRING, d.endpoint, cfg.db);
    sig = wait_for_signal(&cfg, &d, &set, argc, argv);
    LOG(LOG_INFO, "%s: stopping, flushing queues", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    http_stop(&http);
    stop(&d, cfg.stop_timeout_s);
    write_stats(&cfg, &d);
    free_parts(&d);
    if (STAT_GET(rows_lost) > 0) {
        LOG(LOG_ERROR, "stopped after losing %llu rows (see rows_lost, docs/reliability.md)",
            (unsigned long long)STAT_GET(rows_lost));
        return 3;
    }
    LOG(LOG_INFO, "stopped cleanly");
    return 0;
}
