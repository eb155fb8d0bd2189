/*
 * ingest_test.c - the ingest and estimator threads with their queues, in
 * process: a fake peer (a ZeroMQ DEALER speaking the wire protocol) talks
 * to an ingest started here, over inproc, with its estimators and writer
 * on a temporary database, so their logic is tested without spawning
 * htgad. Every wait polls a condition with a deadline.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "config.h"
#include "estimator_thread.h"
#include "ingest.h"
#include "queue.h"
#include "stats.h"
#include "store.h"
#include "store_fixture.h"
#include "wire.h"

#define BLOCK   1024
#define NEST    2
#define WAIT_MS 10000

typedef struct pipeline {
    void *ctx;
    htgad_config cfg;
    bqueue *est_q[NEST], *row_q;
    estimator *est[NEST];
    int est_started;
    store_writer *w;
    ingest *g;
    void *peer; /* the fake client: a DEALER */
} pipeline;

static char dir[64];

static void dir_setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/htgad-ingest-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void dir_teardown(void)
{
    char cmd[128];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

static void db_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(int ms)
{
    struct timespec ts = {0, (long)ms * 1000000L};

    nanosleep(&ts, NULL);
}

/* Starts writer, estimators (unless hold_estimators: est_start does it
 * later), ingest and the fake peer on database `name`, with no restart
 * preload: every stream is new to ingest. */
static void pl_start(pipeline *p, const char *name, size_t max_streams, int hold_estimators)
{
    char err[1024], endpoint[256];
    int linger = 0;

    memset(p, 0, sizeof(*p));
    config_defaults(&p->cfg);
    db_path(p->cfg.db, sizeof p->cfg.db, name);
    snprintf(p->cfg.listen, sizeof p->cfg.listen, "inproc://ingest-test");
    p->cfg.block_samples = BLOCK;
    p->cfg.max_streams = max_streams;
    p->cfg.estimators = NEST;
    p->ctx = zmq_ctx_new();
    p->row_q = bqueue_new(1024);
    p->w = store_writer_new(p->cfg.db, p->row_q, max_streams);
    cr_assert_not_null(p->w);
    store_writer_notify(p->w, p->ctx);
    cr_assert_eq(store_writer_start(p->w, 0, err, sizeof err), 0, "%s", err);
    for (size_t k = 0; k < NEST; k++) {
        p->est_q[k] = bqueue_new(INGEST_EST_JOBS);
        p->est[k] = estimator_new(p->est_q[k], p->row_q, p->ctx, BLOCK, &p->cfg.k_rule, max_streams,
                                  p->cfg.db);
        cr_assert_not_null(p->est[k]);
    }
    p->g = ingest_new(p->ctx, p->est_q, NEST, &p->cfg);
    cr_assert_not_null(p->g);
    cr_assert_eq(ingest_start(p->g, endpoint, sizeof endpoint), 0);
    if (!hold_estimators) {
        for (size_t k = 0; k < NEST; k++)
            cr_assert_eq(estimator_start(p->est[k]), 0);
        p->est_started = 1;
    }
    p->peer = zmq_socket(p->ctx, ZMQ_DEALER);
    zmq_setsockopt(p->peer, ZMQ_LINGER, &linger, sizeof linger);
    cr_assert_eq(zmq_connect(p->peer, endpoint), 0);
}

static void est_start(pipeline *p)
{
    for (size_t k = 0; k < NEST; k++)
        cr_assert_eq(estimator_start(p->est[k]), 0);
    p->est_started = 1;
}

/* Stops in data order, as htgad does. */
static void pl_stop(pipeline *p)
{
    store_item *stop = calloc(1, sizeof(*stop));

    if (!p->est_started)
        est_start(p);
    zmq_close(p->peer);
    ingest_stop(p->g);
    ingest_join(&p->g);
    for (size_t k = 0; k < NEST; k++)
        estimator_join(&p->est[k]);
    stop->kind = STORE_STOP;
    bqueue_push(p->row_q, stop);
    store_writer_join(&p->w);
    for (size_t k = 0; k < NEST; k++)
        bqueue_destroy(&p->est_q[k]);
    bqueue_destroy(&p->row_q);
    zmq_ctx_term(p->ctx);
}

/* Sends a header (and a body, when body_len > 0) from the fake peer. */
static void send_msg(pipeline *p, wire_msg *m, const void *body, size_t body_len)
{
    unsigned char hdr[WIRE_HEADER_MAX];
    size_t len;

    m->seq = 0;
    len = wire_encode_header(m, hdr, sizeof hdr);
    cr_assert_gt(len, 0);
    cr_assert_geq(zmq_send(p->peer, hdr, len, body_len ? ZMQ_SNDMORE : 0), 0);
    if (body_len)
        cr_assert_geq(zmq_send(p->peer, body, body_len, 0), 0);
}

static void send_hello(pipeline *p, const char *run)
{
    wire_msg m = {.kind = WIRE_HELLO, .run = run, .run_len = strlen(run)};

    send_msg(p, &m, NULL, 0);
}

static void send_barrier(pipeline *p, const char *run, int64_t token, uint32_t flags)
{
    wire_msg m = {.kind = WIRE_BARRIER, .run = run, .run_len = strlen(run), .step = token};

    m.cluster = flags;
    send_msg(p, &m, NULL, 0);
}

/* Symmetric Pareto(1.5) values, the same for the same seed. */
static void heavy_values(float *x, size_t n, uint64_t seed)
{
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;

    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        double u = ((double)(s >> 11) + 0.5) / 9007199254740992.0;
        x[i] = (float)((i % 2 ? 1 : -1) * pow(u, -1.0 / 1.5));
    }
}

/* n values of (run, group) at step, drawn from seed. */
static void send_samples(pipeline *p, const char *run, const char *group, int64_t step, size_t n,
                         uint64_t seed)
{
    float *x = malloc(n * sizeof(float));
    wire_msg m = {.kind = WIRE_SAMPLES,
                  .run = run,
                  .run_len = strlen(run),
                  .group = group,
                  .group_len = strlen(group),
                  .step = step,
                  .count = (uint32_t)n};

    heavy_values(x, n, seed);
    send_msg(p, &m, x, n * sizeof(float));
    free(x);
}

/* Receives, until timeout_ms, the next message of `kind` for the peer (the
 * others: budgets, lambdas, are skipped); its body goes to body. 0 or -1. */
static int recv_kind(pipeline *p, uint8_t kind, const char *group, wire_msg *m, void *body,
                     size_t body_len)
{
    int64_t until = now_ms() + WAIT_MS;

    while (now_ms() < until) {
        unsigned char f[2][WIRE_HEADER_MAX + 64];
        const void *ptrs[2] = {f[0], f[1]};
        size_t lens[2];
        size_t nf = 0;
        int more = 1;
        zmq_pollitem_t it = {p->peer, 0, ZMQ_POLLIN, 0};

        if (zmq_poll(&it, 1, 50) <= 0)
            continue;
        while (more && nf < 2) {
            int n = zmq_recv(p->peer, f[nf], sizeof f[nf], 0);
            size_t ml = sizeof more;
            cr_assert_geq(n, 0);
            lens[nf++] = (size_t)n;
            zmq_getsockopt(p->peer, ZMQ_RCVMORE, &more, &ml);
        }
        if (wire_decode_dir(ptrs, lens, nf, WIRE_DIR_TO_CLIENT, m, NULL) != WIRE_OK ||
            m->kind != kind)
            continue;
        if (group != NULL &&
            (m->group_len != strlen(group) || memcmp(m->group, group, m->group_len) != 0))
            continue;
        memcpy(body, m->body, m->body_len < body_len ? m->body_len : body_len);
        return 0;
    }
    return -1;
}

static wire_ack barrier(pipeline *p, const char *run, int64_t token, uint32_t flags)
{
    wire_msg m;
    wire_ack ack;
    unsigned char body[WIRE_ACK_LEN];

    send_barrier(p, run, token, flags);
    cr_assert_eq(recv_kind(p, WIRE_ACK, NULL, &m, body, sizeof body), 0, "no ACK");
    cr_assert_eq(m.step, token);
    wire_decode_ack(body, &ack);
    return ack;
}

static sqlite3 *open_ro(const char *name)
{
    char path[128];
    sqlite3 *db;

    db_path(path, sizeof path, name);
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    return db;
}

/* Waits until queue q holds want jobs. */
static void wait_depth(bqueue *q, size_t want)
{
    int64_t until = now_ms() + WAIT_MS;

    while (bqueue_depth(q) != want && now_ms() < until)
        nap_ms(2);
    cr_assert_eq(bqueue_depth(q), want);
}

TestSuite(ingest, .init = dir_setup, .fini = dir_teardown, .timeout = 60);

/* A new stream is admitted while the table has room, and a refused one is
 * told why (a LAMBDA with reason WIRE_REFUSED_FULL), counted, and left out
 * of the database. */
Test(ingest, admission_of_new_streams_and_refusal_when_full)
{
    pipeline p;
    wire_msg m;
    wire_lambda lam;
    unsigned char body[WIRE_LAMBDA_LEN];
    wire_ack ack;
    sqlite3 *db;

    pl_start(&p, "adm.db", 2, 0);
    send_samples(&p, "r", "a", 0, BLOCK, 1);
    send_samples(&p, "r", "b", 0, BLOCK, 2);
    send_samples(&p, "r", "c", 0, BLOCK, 3); /* a third stream: the table holds two */
    cr_assert_eq(recv_kind(&p, WIRE_LAMBDA, "c", &m, body, sizeof body), 0);
    wire_decode_lambda(body, &lam);
    cr_assert_eq(lam.reason, WIRE_REFUSED_FULL);
    cr_assert_eq(lam.lambda, 1.0);
    ack = barrier(&p, "r", 7, 0);
    cr_assert_eq(ack.values, 3 * BLOCK);
    cr_assert_eq(ack.values_refused, BLOCK);
    cr_assert_eq(ack.blocks_stored, 2);
    cr_assert_eq(STAT_GET(streams), 2);
    cr_assert_eq(STAT_GET(drops[DROP_STREAM_LIMIT]), BLOCK);
    db = open_ro("adm.db");
    cr_assert_eq(query_int(db, "SELECT count(*) FROM estimates WHERE group_name IN ('a', 'b')"), 2);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM groups WHERE name = 'c'"), 0);
    sqlite3_close(db);
    pl_stop(&p);
}

/* A BARRIER is answered only once everything before it is committed: the
 * rows are readable the moment the ACK arrives, the partial block its CLOSE
 * flag closed included. */
Test(ingest, barrier_answered_after_commit)
{
    pipeline p;
    wire_ack ack;
    sqlite3 *db;

    pl_start(&p, "bar.db", 8, 0);
    for (int i = 0; i < 3; i++)
        send_samples(&p, "r", "g", i, BLOCK, 10 + (uint64_t)i);
    send_samples(&p, "r", "g", 3, 100, 13); /* a partial block */
    ack = barrier(&p, "r", 42, WIRE_BARRIER_CLOSE);
    db = open_ro("bar.db");
    cr_assert_eq(query_int(db, "SELECT count(*) FROM estimates WHERE run = 'r'"), 4);
    cr_assert_eq(query_int(db, "SELECT n FROM estimates WHERE block = 3"), 100);
    sqlite3_close(db);
    cr_assert_eq(ack.blocks_stored, 4);
    cr_assert_eq(ack.blocks_lost, 0);
    cr_assert_eq(ack.msgs, 4);
    pl_stop(&p);
}

/* A policy change waited for (a PUT) is answered once it is stored: the
 * same barrier, sent behind the change, ends the wait, and the change and
 * the lambda it re-derived from the latest block are readable at once. */
Test(ingest, stored_policy_change_is_readable_when_answered)
{
    pipeline p;
    policy pol = policy_default();
    sqlite3 *db;

    pl_start(&p, "put.db", 8, 0);
    for (int i = 0; i < 2; i++)
        send_samples(&p, "r", "g", i, BLOCK, 20 + (uint64_t)i);
    cr_assert_eq(barrier(&p, "r", 1, 0).blocks_stored, 2);
    pol.param = 4.0;
    cr_assert_eq(ingest_set_policy_stored(p.g, "r", 1, &pol, "http", WAIT_MS), 0);
    db = open_ro("put.db");
    cr_assert_eq(query_int(db, "SELECT count(*) FROM policy_changes WHERE source = 'http'"
                               " AND param = 4.0"),
                 1);
    cr_assert_eq(query_int(db, "SELECT block FROM lambda_rederived"), 1);
    sqlite3_close(db);
    pl_stop(&p);
}

/* Sends blocks [b0, b1) of r/g, block b drawn from seed 100 + b. */
static void send_blocks(pipeline *p, int b0, int b1)
{
    for (int b = b0; b < b1; b++)
        send_samples(p, "r", "g", b, BLOCK, 100 + (uint64_t)b);
}

/* The run's policy, set over HTTP: it must survive the stream's return. */
static void set_http_policy(pipeline *p)
{
    policy pol = policy_default();

    pol.param = 2.0;
    pol.ema = 0.6;
    pol.lambda_max = 100;
    cr_assert_eq(ingest_set_policy_stored(p->g, "r", 1, &pol, "http", WAIT_MS), 0);
}

/* A stream that comes back (new to ingest, stored in the database): its
 * estimator looks it up while ingest goes on. Held here: the estimators
 * start only after ingest has queued the OPEN and three blocks of it, so
 * all three are closed before the answer. They still get the stored block
 * numbers, the run's HTTP policy (a new default policy, SIGHUP's, while
 * the lookup is pending or after it, does not replace it) and the EMA
 * continued from the stored blocks, exactly as six blocks sent in one life
 * (the reference), and a HELLO then gets the last lambda. */
Test(ingest, stream_coming_back_carries_on_while_its_lookup_is_pending)
{
    pipeline p;
    wire_ack ack;
    wire_msg m;
    wire_lambda lam;
    unsigned char body[WIRE_LAMBDA_LEN];
    sqlite3 *ref, *db;
    double want;
    policy flags;

    pl_start(&p, "ref.db", 8, 0); /* the reference: one life */
    set_http_policy(&p);
    send_blocks(&p, 0, 6);
    cr_assert_eq(barrier(&p, "r", 1, 0).blocks_stored, 6);
    pl_stop(&p);

    pl_start(&p, "back.db", 8, 0); /* first life */
    set_http_policy(&p);
    send_blocks(&p, 0, 3);
    cr_assert_eq(barrier(&p, "r", 1, 0).blocks_stored, 3);
    pl_stop(&p);

    pl_start(&p, "back.db", 8, 1); /* it comes back; its estimator held */
    send_hello(&p, "r");
    flags = policy_default();
    flags.param = 3.0; /* a SIGHUP meanwhile: it must not replace the run's HTTP policy */
    cr_assert_eq(ingest_set_policy(p.g, NULL, 0, &flags, "flags"), 0);
    send_blocks(&p, 3, 6);
    wait_depth(p.est_q[0], 4); /* the OPEN and three blocks: ingest went on */
    est_start(&p);
    ack = barrier(&p, "r", 2, 0);
    cr_assert_eq(ack.blocks_stored, 3);
    send_hello(&p, "r"); /* answered in full: the restored lambda was never pushed */
    do {                 /* the blocks' pushes may come first */
        cr_assert_eq(recv_kind(&p, WIRE_LAMBDA, "g", &m, body, sizeof body), 0, "no lambda");
        wire_decode_lambda(body, &lam);
        cr_assert_leq(lam.block, 5);
        cr_assert_geq(lam.block, 3, "block %llu: numbered afresh", (unsigned long long)lam.block);
    } while (lam.block != 5);
    pl_stop(&p);

    ref = open_ro("ref.db");
    db = open_ro("back.db");
    cr_assert_eq(query_int(db, "SELECT count(*) FROM blocks"), 6);
    cr_assert_eq(query_int(db, "SELECT max(block) FROM blocks"), 5);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM policy_changes"), 1, "no default row");
    cr_assert_eq(query_int(db, "SELECT count(*) FROM blocks WHERE lambda_reason = 0"), 6);
    for (int b = 0; b < 6; b++) {
        char sql[160];
        sqlite3_stmt *st;
        snprintf(sql, sizeof sql,
                 "SELECT b.lambda, p.source FROM blocks b JOIN policy_changes p"
                 " ON p.id = b.policy_id WHERE b.block = %d",
                 b);
        cr_assert_eq(sqlite3_prepare_v2(ref, sql, -1, &st, NULL), SQLITE_OK);
        cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
        want = sqlite3_column_double(st, 0);
        sqlite3_finalize(st);
        cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "block %d", b);
        cr_assert_eq(sqlite3_column_double(st, 0), want, "block %d: lambda %.17g, want %.17g", b,
                     sqlite3_column_double(st, 0), want);
        cr_assert_str_eq((const char *)sqlite3_column_text(st, 1), "http", "block %d", b);
        sqlite3_finalize(st);
        if (b == 5)
            cr_assert_eq(lam.lambda, want);
    }
    sqlite3_close(ref);
    sqlite3_close(db);
}
