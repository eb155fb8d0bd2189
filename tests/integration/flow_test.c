/*
 * Flow control against the real htgad: a burst larger than the daemon's
 * queues is stored whole (push-back, not loss) while its memory stays under
 * --queue-bytes, barriers answer only once rows are committed, budgets
 * reach every rank of a run and follow the number of ranks, a client of the
 * old format (no feature bits) gets no budget and is served as before, and
 * a small group gets its first block within the documented window.
 *
 * Most tests speak the wire protocol through a raw DEALER (rawc below), so
 * they see exactly what htgad sends; the small-group test uses libhtga.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <zmq.h>

#include "harness.h"
#include "htga.h"
#include "wire.h"

static testd d;

static void setup(void)
{
    testd_init(&d);
}

static void teardown(void)
{
    testd_cleanup(&d);
}

TestSuite(flow, .init = setup, .fini = teardown, .timeout = 60);

/* A raw client: one DEALER, what it sent, what it got. */
typedef struct rawc {
    void *ctx, *s;
    const char *run;
    uint64_t seq;
    int flow;          /* its HELLO says WIRE_FEAT_FLOW */
    wire_budget bud;   /* the last BUDGET for every group */
    int budgets;       /* BUDGETs received */
    int lambdas;       /* LAMBDAs received */
    int lambda_before; /* a LAMBDA came before any BUDGET */
    wire_ack ack;
    int64_t ack_token;
    int acks;
} rawc;

static void rawc_open(rawc *c, const char *run, int flow)
{
    int zero = 0;
    memset(c, 0, sizeof(*c));
    c->ctx = zmq_ctx_new();
    c->s = zmq_socket(c->ctx, ZMQ_DEALER);
    c->run = run;
    c->flow = flow;
    zmq_setsockopt(c->s, ZMQ_LINGER, &zero, sizeof(zero));
    cr_assert_eq(zmq_connect(c->s, d.endpoint), 0);
}

static void rawc_close(rawc *c)
{
    zmq_close(c->s);
    zmq_ctx_term(c->ctx);
}

/* Sends one message (blocking: a raw client simply waits when htgad pushes
 * back, as `htga send` does). */
static void rawc_send(rawc *c, wire_kind kind, const char *group, int64_t step, uint32_t cluster,
                      const float *x, uint32_t n)
{
    unsigned char hdr[WIRE_HEADER_MAX];
    wire_msg m = {.kind = kind,
                  .step = step,
                  .seq = c->seq,
                  .count = n,
                  .cluster = cluster,
                  .run = c->run,
                  .run_len = strlen(c->run),
                  .group = group,
                  .group_len = group ? strlen(group) : 0};
    size_t hlen = wire_encode_header(&m, hdr, sizeof(hdr));

    cr_assert_gt(hlen, 0);
    if (kind == WIRE_SAMPLES)
        c->seq++;
    if (kind == WIRE_SAMPLES) {
        cr_assert_eq(zmq_send(c->s, hdr, hlen, ZMQ_SNDMORE), (int)hlen);
        cr_assert_eq(zmq_send(c->s, x, 4 * (size_t)n, 0), (int)(4 * n));
    } else {
        cr_assert_eq(zmq_send(c->s, hdr, hlen, 0), (int)hlen);
    }
}

static void rawc_hello(rawc *c)
{
    rawc_send(c, WIRE_HELLO, NULL, c->flow ? WIRE_FEAT_FLOW : 0, 0, NULL, 0);
}

/* Reads what htgad sent, up to timeout_ms; returns the number of messages. */
static int rawc_poll(rawc *c, int timeout_ms)
{
    int got = 0;
    int64_t deadline = now_ms() + timeout_ms;

    for (;;) {
        zmq_pollitem_t it = {c->s, 0, ZMQ_POLLIN, 0};
        int64_t left = deadline - now_ms();
        unsigned char f[2][512];
        int len[2], n = 0, more = 1;
        wire_msg m;

        if (zmq_poll(&it, 1, left > 0 ? (long)left : 0) <= 0)
            return got;
        while (more && n < 2) {
            size_t sz = sizeof(more);
            len[n] = zmq_recv(c->s, f[n], sizeof(f[n]), 0);
            cr_assert_geq(len[n], 0);
            zmq_getsockopt(c->s, ZMQ_RCVMORE, &more, &sz);
            n++;
        }
        cr_assert_eq(more, 0, "a message of more than 2 frames");
        const void *fr[2] = {f[0], f[1]};
        size_t ln[2] = {(size_t)len[0], n > 1 ? (size_t)len[1] : 0};
        cr_assert_eq(wire_decode_dir(fr, ln, (size_t)n, WIRE_DIR_TO_CLIENT, &m, NULL), WIRE_OK);
        got++;
        if (m.kind == WIRE_BUDGET) {
            cr_assert_eq(m.group_len, 0, "htgad budgets whole runs");
            wire_decode_budget(m.body, &c->bud);
            c->budgets++;
        } else if (m.kind == WIRE_LAMBDA) {
            c->lambdas++;
            if (c->budgets == 0)
                c->lambda_before = 1;
        } else if (m.kind == WIRE_ACK) {
            wire_decode_ack(m.body, &c->ack);
            c->ack_token = m.step;
            c->acks++;
        }
    }
}

/* Sends a BARRIER and waits for its ACK (up to timeout_ms). */
static void rawc_barrier(rawc *c, int64_t token, uint32_t flags, int timeout_ms)
{
    int before = c->acks;
    int64_t deadline = now_ms() + timeout_ms;

    rawc_send(c, WIRE_BARRIER, NULL, token, flags, NULL, 0);
    while (c->acks == before && now_ms() < deadline)
        rawc_poll(c, 50);
    cr_assert_gt(c->acks, before, "no ACK within %d ms", timeout_ms);
    cr_assert_eq(c->ack_token, token);
}

static float *heavy(size_t n, uint64_t seed)
{
    float *x = malloc(n * sizeof(float));
    cr_assert_not_null(x);
    student_t(x, n, 3.0, &seed);
    return x;
}

/* 200 groups of 65536 values in one step: 52 MB against a 4 MiB bound and
 * an estimator made slow on purpose. Everything is stored; the queues never
 * held more than the bound plus one message. */
Test(flow, burst_larger_than_the_queues_is_stored_whole)
{
    enum { G = 200, N = 65536 };
    rawc c;
    float *x = heavy(N, 11);
    char group[32];

    cr_assert_eq(testd_start(&d, "--queue-bytes", "4M", "--test-estimate-delay-us", "1000",
                             "--estimators", "1", NULL),
                 0);
    rawc_open(&c, "burst", 1);
    rawc_hello(&c);
    for (int g = 0; g < G; g++) {
        snprintf(group, sizeof(group), "layer%03d.weight", g);
        x[0] = (float)g; /* every block its own */
        rawc_send(&c, WIRE_SAMPLES, group, 0, 0, x, N);
    }
    rawc_barrier(&c, 42, 0, 30000);
    cr_assert_eq(c.ack.msgs, G);
    cr_assert_eq(c.ack.values, (uint64_t)G * N);
    cr_assert_eq(c.ack.values_refused, 0);
    cr_assert_eq(c.ack.blocks_stored, G);
    cr_assert_eq(c.ack.blocks_lost, 0);
    /* committed before the ACK: a reader sees every row now */
    cr_assert_eq(testd_query(&d, "SELECT count(*) FROM blocks"), G);
    cr_assert_eq(testd_query(&d, "SELECT count(DISTINCT group_id) FROM blocks"), G);
    cr_assert_eq(testd_wait_stat(&d, "barriers", 1, 5000), 0);
    cr_assert_eq(testd_stat(&d, "drop_est_queue"), 0);
    cr_assert_gt(testd_stat(&d, "backpressure_events"), 0, "the burst never filled the queues");
    /* the bound: 4 MiB, passed by at most the message read last */
    cr_assert_leq(testd_stat(&d, "est_bytes_max"), (4 << 20) + 4 * N);
    rawc_close(&c);
    free(x);
}

Test(flow, barrier_answers_after_commit_and_close_flushes_the_partial_block)
{
    rawc c;
    float *x = heavy(1536, 5);

    cr_assert_eq(testd_start(&d, "--block-samples", "1024", "--window-steps", "0", NULL), 0);
    rawc_open(&c, "bar", 1);
    rawc_hello(&c);
    rawc_send(&c, WIRE_SAMPLES, "w", 1, 0, x, 1024);
    rawc_send(&c, WIRE_SAMPLES, "w", 2, 0, x, 1024);
    rawc_send(&c, WIRE_SAMPLES, "w", 3, 0, x, 512); /* half a block: stays open */
    rawc_barrier(&c, -7, 0, 10000);
    cr_assert_eq(c.ack.msgs, 3);
    cr_assert_eq(c.ack.values, 2560);
    cr_assert_eq(c.ack.blocks_stored, 2);
    cr_assert_eq(testd_query(&d, "SELECT count(*) FROM blocks"), 2);
    rawc_barrier(&c, 8, WIRE_BARRIER_CLOSE, 10000);
    cr_assert_eq(c.ack.blocks_stored, 3);
    cr_assert_eq(testd_query(&d, "SELECT count(*) FROM blocks"), 3);
    cr_assert_eq(testd_query(&d, "SELECT n FROM blocks ORDER BY block DESC LIMIT 1"), 512);
    /* an empty barrier is answered too */
    rawc_barrier(&c, 9, WIRE_BARRIER_CLOSE, 10000);
    cr_assert_eq(c.ack.blocks_stored, 3);
    rawc_close(&c);
    free(x);
}

Test(flow, budgets_reach_every_rank_and_follow_their_number)
{
    enum { R = 4 };
    rawc c[R], old;
    float *x = heavy(2048, 9);

    cr_assert_eq(testd_start(&d, "--block-samples", "65536", NULL), 0);
    for (int i = 0; i < R; i++) {
        rawc_open(&c[i], "ranks", 1);
        rawc_hello(&c[i]);
        rawc_barrier(&c[i], i, 0, 5000); /* HELLO handled, and its answer sent, before the ACK */
    }
    for (int i = 0; i < R; i++) {
        rawc_barrier(&c[i], 10 + i, 0, 5000); /* what was sent to it before is in */
        cr_assert_geq(c[i].budgets, 1, "rank %d got no budget", i);
        /* the last budget of every rank: R ranks share a block */
        cr_assert_eq(c[i].bud.values, 65536 / R, "rank %d: %u", i, c[i].bud.values);
        cr_assert_eq(c[i].bud.every, 1);
        cr_assert_eq(c[i].bud.ranks, R);
    }
    /* an old-format client (HELLO without feature bits) joins: it counts
     * as a rank but is sent no BUDGET; its samples are stored as before */
    rawc_open(&old, "ranks", 0);
    rawc_hello(&old);
    rawc_send(&old, WIRE_SAMPLES, "w", 1, 0, x, 2048);
    rawc_barrier(&old, 1, WIRE_BARRIER_CLOSE, 5000);
    cr_assert_eq(old.budgets, 0);
    cr_assert_eq(old.ack.blocks_stored, 1);
    for (int i = 0; i < R; i++) {
        rawc_barrier(&c[i], 100 + i, 0, 5000);
        cr_assert_eq(c[i].bud.values, (65536 + R) / (R + 1), "rank %d: %u", i, c[i].bud.values);
        cr_assert_eq(c[i].bud.ranks, R + 1);
    }
    cr_assert_gt(testd_stat(&d, "budgets_sent"), 2 * R - 1);
    for (int i = 0; i < R; i++)
        rawc_close(&c[i]);
    rawc_close(&old);
    free(x);
}

/* A group of 100 values a step never fills a 65536-value block; with the
 * default window (32 steps, once 1024 values are in) its first block closes
 * at its 33rd step, and its lambda comes back to the client. */
Test(flow, a_small_group_gets_a_lambda_within_the_window)
{
    htga *h = NULL;
    float *x = heavy(100, 3);
    double lambda = 0;
    int64_t deadline;

    cr_assert_eq(testd_start(&d, NULL), 0);
    cr_assert_eq(htga_create(&h, d.endpoint, "small"), HTGA_OK);
    for (int64_t step = 0; step <= 32; step++) {
        deadline = now_ms() + 2000;
        while (htga_send(h, "bias", step, x, 100) == HTGA_EDROPPED && now_ms() < deadline)
            sleep_ms(5);
    }
    cr_assert_eq(htga_flush(h, 5000), HTGA_OK);
    cr_assert_eq(testd_wait_query(&d, "SELECT count(*) FROM blocks", 1, 10000), 0);
    cr_assert_eq(testd_query(&d, "SELECT n FROM blocks"), 3200); /* steps 0..31 */
    deadline = now_ms() + 10000;
    while (htga_lambda_get(h, "bias", &lambda) != HTGA_OK && now_ms() < deadline)
        sleep_ms(10);
    cr_assert_eq(htga_lambda_get(h, "bias", &lambda), HTGA_OK, "no lambda came back");
    htga_destroy(&h);
    free(x);
}

/* Writes n little-endian float32 values of Student-t(3) to path (.f32). */
static void write_f32(const char *path, size_t n, uint64_t seed)
{
    float *x = heavy(n, seed);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(x, sizeof(float), n, f), n);
    fclose(f);
    free(x);
}

/* Runs `htga send ARGS` with its output in d.dir/send.out; returns its exit
 * status, and the output in out (len bytes). */
static int htga_send_cli(char *out, size_t len, const char *args)
{
    char cmd[1024];
    FILE *f;
    size_t got;
    int st;

    snprintf(cmd, sizeof(cmd), "%s send --endpoint %s %s >%s/send.out 2>&1", HTGA_CLI_PATH,
             d.endpoint, args, d.dir);
    st = system(cmd);
    snprintf(cmd, sizeof(cmd), "%s/send.out", d.dir);
    f = fopen(cmd, "r");
    got = f ? fread(out, 1, len - 1, f) : 0;
    out[got] = '\0';
    if (f)
        fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* The replay: 200 blocks in chunks of a quarter block, against an
 * estimator slowed down and queues of 1 MiB, so htgad pushes back all the
 * way: every block is stored, and the exit status says so. */
Test(flow, replay_stores_every_block_or_says_why)
{
    char path[160], out[4096], args[512];

    cr_assert_eq(testd_start(&d, "--block-samples", "4096", "--queue-bytes", "1M",
                             "--test-estimate-delay-us", "2000", NULL),
                 0);
    snprintf(path, sizeof(path), "%s/grads.f32", d.dir);
    write_f32(path, 200 * 4096, 21);
    snprintf(args, sizeof(args), "--run replay --group fc1.weight --step 0 --chunk 1024 %s", path);
    cr_assert_eq(htga_send_cli(out, sizeof(out), args), 0, "%s", out);
    cr_assert_eq(testd_query(&d, "SELECT count(*) FROM estimates WHERE run = 'replay'"), 200);
    cr_assert_eq(testd_query(&d, "SELECT sum(n) FROM estimates WHERE run = 'replay'"), 200 * 4096);
    /* a second group refused by the stream limit: the replay fails, saying why */
    testd_stop(&d, SIGTERM);
    cr_assert_eq(testd_start(&d, "--block-samples", "4096", "--max-streams", "1", NULL), 0);
    snprintf(args, sizeof(args), "--run replay --group other --step 0 --chunk 4096 %s", path);
    cr_assert_eq(htga_send_cli(out, sizeof(out), args), 3, "%s", out);
    cr_assert(strstr(out, "refused") != NULL, "%s", out);
}

/* An overload made on purpose (each block's estimate sleeps 10 ms: about
 * 100 blocks a second) against a trainer of 16 groups sending a block's
 * worth each every 4 ms for 4 s (about 40x what htgad can estimate): htgad
 * pushes back, asks for less (the budget falls), the client's queue sheds
 * the oldest of the fullest group, and every group keeps getting blocks,
 * none more than twice another. */
Test(flow, overload_sheds_fairly_and_every_group_gets_blocks)
{
    enum { G = 16, N = 4096, STEPS = 1000 };
    htga *h = NULL;
    float *x = heavy(N, 77);
    const char *groups[G];
    const float *grads[G];
    size_t ns[G];
    char names[G][16];
    htga_stats st;
    htga_ack ack;
    uint32_t values = 0, every = 0;
    int64_t t0 = now_ms();

    cr_assert_eq(testd_start(&d, "--block-samples", "4096", "--queue-bytes", "1M",
                             "--test-estimate-delay-us", "10000", "--estimators", "1", NULL),
                 0);
    cr_assert_eq(htga_create(&h, d.endpoint, "overload"), HTGA_OK);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_QUEUE_BYTES, 1 << 20), HTGA_OK);
    for (int g = 0; g < G; g++) {
        snprintf(names[g], sizeof(names[g]), "g%02d", g);
        groups[g] = names[g];
        grads[g] = x;
        ns[g] = N;
    }
    for (int s = 0; s < STEPS; s++) {
        htga_send_many(h, s, G, groups, grads, ns, NULL);
        while (now_ms() < t0 + 4 * (s + 1))
            sleep_ms(1);
    }
    cr_assert_eq(htga_group_budget(h, "g00", &values, &every), HTGA_OK, "no budget came");
    cr_assert(values < N || every > 1, "the budget never fell: %u values every %u", values, every);
    cr_assert_eq(htga_barrier(h, HTGA_BARRIER_CLOSE, 60000, &ack, sizeof(ack)), HTGA_OK);
    cr_assert_eq(ack.msgs, ack.msgs_sent, "messages lost between client and htgad");
    cr_assert_eq(ack.blocks_lost, 0);
    cr_assert_eq(htga_stats_get(h, &st, sizeof(st)), HTGA_OK);
    cr_assert_eq(st.offered, (uint64_t)G * STEPS);
    cr_assert_eq(st.offered, st.msgs_sent + st.drops_queue + st.drops_offline + st.skipped_budget +
                                 st.queue_msgs);
    cr_assert_eq(testd_query(&d, "SELECT count(DISTINCT group_name) FROM estimates"), G,
                 "a group got no block");
    int64_t lo = testd_query(&d, "SELECT min(c) FROM (SELECT count(*) AS c FROM estimates"
                                 " GROUP BY group_name)");
    int64_t hi = testd_query(&d, "SELECT max(c) FROM (SELECT count(*) AS c FROM estimates"
                                 " GROUP BY group_name)");
    cr_log_info("overload: %llu offered, %llu sent, %llu shed, %llu skipped; blocks per group "
                "%lld..%lld; budget %u values every %u",
                (unsigned long long)st.offered, (unsigned long long)st.msgs_sent,
                (unsigned long long)(st.drops_queue + st.drops_offline),
                (unsigned long long)st.skipped_budget, (long long)lo, (long long)hi, values, every);
    cr_assert_geq(lo, 1);
    cr_assert_leq(hi, 2 * lo, "blocks per group %lld..%lld: not fair", (long long)lo,
                  (long long)hi);
    htga_destroy(&h);
    free(x);
}

/* One SAMPLES (or, n = 0, a HELLO) with the seq and dropped given. */
static void raw_msg(rawc *c, int64_t step, uint64_t seq, uint64_t dropped, const float *x,
                    uint32_t n)
{
    unsigned char hdr[WIRE_HEADER_MAX];
    wire_msg m = {.kind = n ? WIRE_SAMPLES : WIRE_HELLO,
                  .step = n ? step : WIRE_FEAT_FLOW,
                  .seq = seq,
                  .count = n,
                  .dropped = dropped,
                  .run = c->run,
                  .run_len = strlen(c->run),
                  .group = n ? "g0" : NULL,
                  .group_len = n ? 2 : 0};
    size_t hlen = wire_encode_header(&m, hdr, sizeof(hdr));

    cr_assert_gt(hlen, 0);
    cr_assert_eq(zmq_send(c->s, hdr, hlen, n ? ZMQ_SNDMORE : 0), (int)hlen);
    if (n)
        cr_assert_eq(zmq_send(c->s, x, 4 * (size_t)n, 0), (int)(4 * n));
}

/* A client's drops as its headers report them become rows of table shed
 * (view gaps) with the steps around them, also across a reconnect: the
 * new connection's first report carries on from the old one's (same rank,
 * seq gone on by at least the drops), and the message sent on the old
 * connection that never arrived is a "connection" row. */
Test(flow, reported_drops_leave_gaps_across_a_reconnect)
{
    float *x = heavy(1024, 9);
    rawc a, b;

    cr_assert_eq(testd_start(&d, "--block-samples", "1024", NULL), 0);
    rawc_open(&a, "rc", 1);
    raw_msg(&a, 0, 0, 0, NULL, 0); /* HELLO: nothing dropped yet */
    raw_msg(&a, 0, 0, 0, x, 1024); /* steps 0, 1 */
    raw_msg(&a, 1, 1, 0, x, 1024);
    raw_msg(&a, 5, 5, 3, x, 1024); /* seq 2, 3, 4 dropped: steps 2..4 */
    cr_assert_eq(testd_wait_query(&d, "SELECT count(*) FROM estimates WHERE run = 'rc'", 3, 10000),
                 0);
    rawc_close(&a);
    rawc_open(&b, "rc", 1);
    raw_msg(&b, 0, 9, 5, NULL, 0); /* seq 6, 7 dropped, seq 8 lost with the connection */
    raw_msg(&b, 9, 9, 5, x, 1024);
    cr_assert_eq(testd_wait_query(&d, "SELECT count(*) FROM estimates WHERE run = 'rc'", 4, 10000),
                 0);
    cr_assert_eq(testd_wait_query(&d,
                                  "SELECT coalesce(sum(count), 0) FROM gaps WHERE run = 'rc'"
                                  " AND reason = 'client_queue'",
                                  5, 10000),
                 0, "%lld in gaps",
                 (long long)testd_query(&d, "SELECT sum(count) FROM gaps WHERE run = 'rc'"));
    cr_assert_eq(testd_query(&d, "SELECT min(step_first) FROM gaps WHERE reason = 'client_queue'"),
                 1);
    cr_assert_eq(testd_query(&d, "SELECT max(step_last) FROM gaps WHERE reason = 'client_queue'"),
                 9);
    cr_assert_eq(testd_wait_query(&d,
                                  "SELECT count(*) FROM gaps WHERE run = 'rc' AND group_name IS"
                                  " NULL AND reason = 'connection' AND count = 1 AND unit ="
                                  " 'messages' AND step_first = 5 AND step_last = 9",
                                  1, 10000),
                 0);
    /* the client reported 5 drops in all, on two connections: counted once
     * (a is still held as a peer, b carries on from it) */
    cr_assert_eq(testd_wait_stat(&d, "client_drops", 5, 5000), 0, "client_drops %lld",
                 (long long)testd_stat(&d, "client_drops"));
    rawc_close(&b);
    free(x);
}

/* A new client that shed messages before any of its messages left it (its
 * first HELLO and SAMPLES say seq == dropped) has them placed at its first
 * step; one whose earlier messages went to another htgad (seq > dropped,
 * no earlier connection here) is a baseline: counted, no row, as an
 * earlier htgad may have recorded them. */
Test(flow, drops_before_a_first_delivery_leave_a_gap)
{
    float *x = heavy(1024, 10);
    rawc a, b;

    cr_assert_eq(testd_start(&d, "--block-samples", "1024", NULL), 0);
    /* b first: an event of its would be due no later than a's */
    rawc_open(&b, "restarted", 1);
    raw_msg(&b, 0, 50, 4, NULL, 0); /* 46 messages went elsewhere */
    raw_msg(&b, 60, 50, 4, x, 1024);
    rawc_open(&a, "first", 1);
    raw_msg(&a, 0, 4, 4, NULL, 0); /* HELLO: seq 0..3 were all dropped */
    raw_msg(&a, 7, 4, 4, x, 1024);
    cr_assert_eq(testd_wait_query(&d,
                                  "SELECT count(*) FROM gaps WHERE run = 'first' AND reason ="
                                  " 'client_queue' AND count = 4 AND step_first = 7 AND"
                                  " step_last = 7",
                                  1, 10000),
                 0, "%lld in gaps",
                 (long long)testd_query(&d, "SELECT sum(count) FROM gaps WHERE run = 'first'"));
    cr_assert_eq(testd_wait_stat(&d, "client_drops", 8, 5000), 0, "client_drops %lld",
                 (long long)testd_stat(&d, "client_drops"));
    cr_assert_eq(
        testd_wait_query(&d, "SELECT count(*) FROM estimates WHERE run = 'restarted'", 1, 10000),
        0);
    /* an event of b's would have been flushed with a's, or before it, and
     * b's barrier answers once everything before it is committed */
    rawc_barrier(&b, 1, 0, 10000);
    cr_assert_eq(testd_query(&d, "SELECT count(*) FROM gaps WHERE run = 'restarted'"), 0);
    rawc_close(&a);
    rawc_close(&b);
    free(x);
}
