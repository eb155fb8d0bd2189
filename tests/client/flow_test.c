/*
 * flow_test.c - libhtga's flow control against a fake daemon: the byte-
 * bounded queue (client/queue.c) absorbing a burst a slow daemon does not
 * read, the memory bound under overload, longest-queue-drop fairness,
 * budgets (values per send, every Nth step), barriers (round trip, timeout,
 * unknown tokens, a lost connection) and counters that add up.
 *
 * Every wait polls a condition with a deadline (slack() scales it under
 * valgrind); nothing sleeps for a fixed time to let something happen.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "client_support.h"

/* Every message offered is in exactly one place. */
static void assert_adds_up(const htga_stats *s)
{
    cr_assert_eq(s->offered,
                 s->msgs_sent + s->drops_queue + s->drops_offline + s->skipped_budget +
                     s->queue_msgs,
                 "offered %llu != sent %llu + drops %llu + %llu + skipped %llu + queued %llu",
                 (unsigned long long)s->offered, (unsigned long long)s->msgs_sent,
                 (unsigned long long)s->drops_queue, (unsigned long long)s->drops_offline,
                 (unsigned long long)s->skipped_budget, (unsigned long long)s->queue_msgs);
}

/* Polls stats until pred holds or the deadline passes. */
static int wait_stats(htga *h, int (*pred)(const htga_stats *, uint64_t), uint64_t arg, long ms)
{
    long end = fake_now_ms() + slack(ms);
    for (;;) {
        htga_stats s = stats(h);
        if (pred(&s, arg))
            return 0;
        if (fake_now_ms() >= end)
            return -1;
        fake_sleep_ms(1);
    }
}

static int budgets_at_least(const htga_stats *s, uint64_t n)
{
    return s->budgets_recv >= n;
}

static int barriers_sent_at_least(const htga_stats *s, uint64_t n)
{
    return s->barriers_sent >= n;
}

static int acks_at_least(const htga_stats *s, uint64_t n)
{
    return s->acks_recv >= n;
}

/* One step of a 200-layer model at 65536 values per group (52 MB) to a
 * daemon that reads nothing until the burst is over: every message waits
 * in the client's queue (or in ZeroMQ), none is dropped, and all arrive in
 * order once the daemon reads. */
Test(flow, burst_to_a_slow_daemon_is_kept_whole, .timeout = 60)
{
    enum { G = 200, N = 65536 };
    fake_daemon f;
    fake_msg m;
    float *x = calloc(N, sizeof *x);
    const char *groups[G];
    const float *grads[G];
    size_t ns[G];
    int rcs[G];
    char names[G][8];
    cr_assert_eq(fake_start_hwm(&f, "tcp://127.0.0.1:*", 2), 0);
    htga *h = connect_client(&f, "run", &m);
    fake_msg_free(&m);
    for (int i = 0; i < G; i++) {
        snprintf(names[i], sizeof names[i], "l%d", i);
        groups[i] = names[i];
        grads[i] = x;
        ns[i] = N;
    }
    cr_assert_eq(htga_send_many(h, 1, G, groups, grads, ns, rcs), G);
    htga_stats s = stats(h);
    cr_assert_eq(s.drops_queue + s.drops_offline, 0);
    cr_assert_leq(s.queue_bytes_max, 64u << 20, "the default bound holds");
    cr_assert_geq(s.queue_bytes_max, 32u << 20, "most of the burst waited in the queue");
    assert_adds_up(&s);
    for (int i = 0; i < G; i++) {
        cr_assert_eq(fake_recv_kind(&f, &m, WIRE_SAMPLES, slack(10000)), 0, "message %d", i);
        cr_assert_eq(m.m.seq, (uint64_t)i);
        cr_assert_eq(m.m.dropped, 0);
        cr_assert_eq(m.m.count, N);
        cr_assert(m.m.group_len == strlen(names[i]) && !memcmp(m.m.group, names[i], m.m.group_len));
        fake_msg_free(&m);
    }
    cr_assert_eq(htga_flush(h, slack(3000)), HTGA_OK);
    s = stats(h);
    cr_assert_eq(s.msgs_sent, G);
    cr_assert_eq(s.queue_msgs, 0);
    assert_adds_up(&s);
    htga_destroy(&h);
    fake_stop(&f);
    free(x);
}

/* An overload far beyond the bound (4 MiB for 200 x 256 KiB, the daemon
 * reading nothing): the bytes of sample buffers never pass the bound, the
 * excess is shed and counted, and each message is in exactly one place. */
Test(flow, memory_stays_under_the_byte_bound, .timeout = 60)
{
    enum { N = 65536, STEPS = 10, G = 20 };
    const uint64_t bound = 4u << 20;
    fake_daemon f;
    fake_msg m;
    float *x = calloc(N, sizeof *x);
    cr_assert_eq(fake_start_hwm(&f, "tcp://127.0.0.1:*", 2), 0);
    htga *h = connect_client(&f, "run", &m);
    fake_msg_free(&m);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_QUEUE_BYTES, (int64_t)bound), HTGA_OK);
    for (int step = 0; step < STEPS; step++)
        for (int g = 0; g < G; g++) {
            char name[8];
            snprintf(name, sizeof name, "g%d", g);
            int rc = htga_send(h, name, step, x, N);
            cr_assert(rc == HTGA_OK || rc == HTGA_EDROPPED, "rc %d", rc);
            htga_stats s = stats(h);
            cr_assert_leq(s.queue_bytes, bound);
            assert_adds_up(&s);
        }
    htga_stats s = stats(h);
    cr_assert_leq(s.queue_bytes_max, bound);
    cr_assert_gt(s.drops_queue, 0, "an overload sheds");
    cr_assert_eq(s.drops_offline, 0, "connected all along");
    cr_assert_eq(s.offered, STEPS * G);
    /* what left arrives; a gap in seq is exactly the drops between */
    uint64_t got = 0, last_seq = 0, last_dropped = 0;
    while (got < s.msgs_sent && fake_recv_kind(&f, &m, WIRE_SAMPLES, slack(5000)) == 0) {
        if (got > 0)
            cr_assert_eq(m.m.seq - last_seq - 1, m.m.dropped - last_dropped, "seq %llu after %llu",
                         (unsigned long long)m.m.seq, (unsigned long long)last_seq);
        last_seq = m.m.seq;
        last_dropped = m.m.dropped;
        got++;
        fake_msg_free(&m);
    }
    cr_assert_eq(htga_flush(h, slack(5000)), HTGA_OK);
    while (fake_recv_kind(&f, &m, WIRE_SAMPLES, 200) == 0) {
        got++;
        fake_msg_free(&m);
    }
    s = stats(h);
    cr_assert_eq(got, s.msgs_sent);
    cr_assert_eq(s.queue_msgs, 0);
    assert_adds_up(&s);
    htga_destroy(&h);
    fake_stop(&f);
    free(x);
}

/* Overfills a queue with room for `slots` messages of 1000 values while
 * the daemon is away: `steps` steps of `groups` groups, group 0 sending
 * `burst0` messages per step, each of which must be queued. Then starts the
 * daemon and counts, per group, what arrives; *min_step is the oldest step
 * that arrived. Returns the counters before the daemon started. */
static htga_stats overfill_then_deliver(int groups, int steps, int burst0, int slots,
                                        int *per_group, int64_t *min_step)
{
    enum { N = 1000 };
    static float x[N];
    char ep[256];
    fake_daemon f;
    fake_msg m;
    htga *h;
    fake_free_endpoint(ep, sizeof ep);
    cr_assert_eq(htga_create(&h, ep, "run"), HTGA_OK);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_QUEUE_BYTES, slots * (N * 4 + 128)), HTGA_OK);
    for (int step = 0; step < steps; step++)
        for (int g = 0; g < groups; g++)
            for (int k = 0; k < (g == 0 ? burst0 : 1); k++) {
                char name[8];
                snprintf(name, sizeof name, "g%d", g);
                cr_assert_eq(htga_send(h, name, step, x, N), HTGA_OK, "the new one always fits");
            }
    htga_stats s = stats(h);
    assert_adds_up(&s);
    cr_assert_eq(fake_start(&f, ep), 0);
    *min_step = steps;
    for (uint64_t i = 0; i < s.queue_msgs; i++) {
        cr_assert_eq(fake_recv_kind(&f, &m, WIRE_SAMPLES, slack(5000)), 0);
        per_group[atoi(m.m.group + 1)]++;
        *min_step = m.m.step < *min_step ? m.m.step : *min_step;
        fake_msg_free(&m);
    }
    htga_destroy(&h);
    fake_stop(&f);
    return s;
}

/* Overfull while the daemon is away, bursts of G groups per step: every
 * group keeps about the same number of messages (longest-queue-drop), and
 * the last groups of a burst are not the ones that lose. */
Test(flow, shedding_is_fair_across_groups, .timeout = 30)
{
    enum { G = 10, STEPS = 40 };
    int per_group[G] = {0};
    int64_t min_step;
    htga_stats s = overfill_then_deliver(G, STEPS, 1, 30, per_group, &min_step);
    cr_assert_gt(s.drops_evicted, 0);
    cr_assert_eq(s.drops_offline, s.drops_evicted, "shed while the daemon was away");
    cr_assert_geq(min_step, STEPS - 4, "the newest messages are kept");
    int lo = per_group[0], hi = per_group[0];
    for (int g = 1; g < G; g++) {
        lo = per_group[g] < lo ? per_group[g] : lo;
        hi = per_group[g] > hi ? per_group[g] : hi;
    }
    cr_assert_geq(lo, 2, "every group keeps messages");
    cr_assert_leq(hi - lo, 1, "groups kept %d..%d messages", lo, hi);
}

/* A group that sends five times as often as the others does not crowd
 * them out: shedding takes from the group with the most queued bytes, so
 * each group keeps about the same share (dropping the oldest overall would
 * leave the chatty group five times the others). */
Test(flow, a_chatty_group_does_not_crowd_out_the_others, .timeout = 30)
{
    enum { G = 4 };
    int per_group[G] = {0};
    int64_t min_step;
    overfill_then_deliver(G, 30, 5, 20, per_group, &min_step);
    for (int g = 1; g < G; g++)
        cr_assert_leq(abs(per_group[0] - per_group[g]), 1, "chatty %d, g%d %d", per_group[0], g,
                      per_group[g]);
}

/* A group's own budget wins over the run-wide one; values per send follow
 * min(budget, max_samples, n); "every 3" sends steps 0, 3, 6 and counts the
 * rest as skipped, not dropped; FOLLOW_BUDGET 0 ignores budgets. */
Test(flow, budgets_set_values_and_every, .timeout = 20)
{
    enum { N = 1000 };
    fake_daemon f;
    fake_msg hello, m;
    static float x[N];
    uint32_t v, e;
    cr_assert_eq(fake_start(&f, "tcp://127.0.0.1:*"), 0);
    htga *h = connect_client(&f, "run", &hello);
    fake_send_budget(&f, hello.id, hello.id_len, "other", NULL, 7, 1); /* not our run */
    fake_send_budget(&f, hello.id, hello.id_len, "run", "g", 100, 3);
    fake_send_budget(&f, hello.id, hello.id_len, "run", NULL, 50, 1);
    cr_assert_eq(wait_stats(h, budgets_at_least, 2, 3000), 0);
    cr_assert_eq(htga_group_budget(h, "g", &v, &e), HTGA_OK);
    cr_assert(v == 100 && e == 3, "g: %u every %u", v, e);
    cr_assert_eq(htga_group_budget(h, "h", &v, &e), HTGA_OK, "the run-wide budget");
    cr_assert(v == 50 && e == 1);
    htga_stats s = stats(h);
    cr_assert_eq(s.budget_values_min, 50);
    cr_assert_eq(s.budget_values_max, 100);
    cr_assert_eq(s.bad_msgs_recv, 1, "another run's budget is refused");

    int skipped = 0;
    for (int step = 0; step < 9; step++) {
        int rc = htga_send(h, "g", step, x, N);
        cr_assert(rc == (step % 3 == 0 ? HTGA_OK : HTGA_SKIPPED), "step %d rc %d", step, rc);
        skipped += rc == HTGA_SKIPPED;
        cr_assert_eq(htga_send(h, "h", step, x, N), HTGA_OK);
    }
    cr_assert_eq(htga_send(h, "tiny", 0, x, 20), HTGA_OK);
    for (int i = 0; i < 3 + 9 + 1; i++) {
        cr_assert_eq(fake_recv_kind(&f, &m, WIRE_SAMPLES, slack(3000)), 0);
        if (m.m.group[0] == 'g')
            cr_assert_eq(m.m.count, 100);
        else if (m.m.group[0] == 'h')
            cr_assert_eq(m.m.count, 50);
        else
            cr_assert_eq(m.m.count, 20, "never more than n");
        fake_msg_free(&m);
    }
    cr_assert_eq(htga_flush(h, slack(3000)), HTGA_OK);
    s = stats(h);
    cr_assert_eq(s.skipped_budget, (uint64_t)skipped);
    cr_assert_eq(s.drops_queue + s.drops_offline, 0);
    assert_adds_up(&s);

    /* max_samples below the budget wins; FOLLOW_BUDGET 0 sends max_samples */
    cr_assert_eq(htga_set_int(h, HTGA_OPT_MAX_SAMPLES, 30), HTGA_OK);
    cr_assert_eq(htga_send(h, "h", 9, x, N), HTGA_OK);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_FOLLOW_BUDGET, 0), HTGA_OK);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_MAX_SAMPLES, 200), HTGA_OK);
    cr_assert_eq(htga_send(h, "g", 9, x, N), HTGA_OK, "not skipped");
    cr_assert_eq(fake_recv_kind(&f, &m, WIRE_SAMPLES, slack(3000)), 0);
    cr_assert_eq(m.m.count, 30);
    fake_msg_free(&m);
    cr_assert_eq(fake_recv_kind(&f, &m, WIRE_SAMPLES, slack(3000)), 0);
    cr_assert_eq(m.m.count, 200);
    fake_msg_free(&m);
    fake_msg_free(&hello);
    htga_destroy(&h);
    fake_stop(&f);
}

struct barrier_call {
    htga *h;
    unsigned flags;
    int timeout_ms;
    int rc;
    htga_ack ack;
};

static void *call_barrier(void *p)
{
    struct barrier_call *c = p;
    c->rc = htga_barrier(c->h, c->flags, c->timeout_ms, &c->ack, sizeof c->ack);
    return NULL;
}

/* The barrier leaves after every message queued before it, carries its
 * flags and a token, and returns the ACK of that token with the client's
 * own counts beside the daemon's; an ACK of an unknown token is counted and
 * ignored. */
Test(flow, barrier_round_trip, .timeout = 20)
{
    fake_daemon f;
    fake_msg hello, m;
    static float x[100];
    pthread_t th;
    cr_assert_eq(fake_start(&f, "tcp://127.0.0.1:*"), 0);
    htga *h = connect_client(&f, "run", &hello);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(htga_send(h, "g", i, x, 100), HTGA_OK);
    struct barrier_call c = {h, HTGA_BARRIER_CLOSE, (int)slack(5000), 99, {0}};
    pthread_create(&th, NULL, call_barrier, &c);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(fake_recv(&f, &m, (int)slack(3000)), 0);
        cr_assert_eq(m.m.kind, WIRE_SAMPLES, "the samples come first");
        fake_msg_free(&m);
    }
    cr_assert_eq(fake_recv_kind(&f, &m, WIRE_BARRIER, (int)slack(3000)), 0);
    cr_assert_eq(m.nframes, 1);
    cr_assert_eq(m.m.cluster, WIRE_BARRIER_CLOSE);
    cr_assert_eq(m.m.seq, 3, "the next sequence number");
    wire_ack stray = {.msgs = 77};
    fake_send_ack(&f, m.id, m.id_len, "run", m.m.step + 1000, m.m.seq, &stray);
    wire_ack a = {.msgs = 3, .values = 300, .blocks_stored = 5, .blocks_lost = 1};
    fake_send_ack(&f, m.id, m.id_len, "run", m.m.step, m.m.seq, &a);
    pthread_join(th, NULL);
    cr_assert_eq(c.rc, HTGA_OK);
    cr_assert_eq(c.ack.msgs, 3);
    cr_assert_eq(c.ack.values, 300);
    cr_assert_eq(c.ack.blocks_stored, 5);
    cr_assert_eq(c.ack.blocks_lost, 1);
    cr_assert_eq(c.ack.msgs_sent, 3);
    cr_assert_eq(c.ack.values_sent, 300);
    cr_assert_eq(c.ack.connection, 1);
    htga_stats s = stats(h);
    cr_assert_eq(s.acks_recv, 2);
    cr_assert_eq(s.acks_unmatched, 1);
    cr_assert_eq(s.barriers_sent, 1);
    fake_msg_free(&m);

    /* several threads at once, each gets its own answer */
    struct barrier_call c2[3];
    pthread_t t2[3];
    for (int i = 0; i < 3; i++) {
        c2[i] = (struct barrier_call){h, 0, (int)slack(5000), 99, {0}};
        pthread_create(&t2[i], NULL, call_barrier, &c2[i]);
    }
    cr_assert_eq(fake_serve_barriers(&f, 3, (int)slack(5000)), 0);
    for (int i = 0; i < 3; i++) {
        pthread_join(t2[i], NULL);
        cr_assert_eq(c2[i].rc, HTGA_OK);
    }
    fake_msg_free(&hello);
    htga_destroy(&h);
    fake_stop(&f);
}

/* No answer (a daemon before 0.4 counts BARRIER as bad_kind and says
 * nothing): ETIMEDOUT at the deadline; the late ACK is then unmatched. A
 * barrier queued while the daemon is away times out too, and leaves the
 * queue, so later sends are unaffected. */
Test(flow, barrier_timeout, .timeout = 20)
{
    char ep[256];
    fake_daemon f;
    fake_msg hello, m;
    htga_ack ack;
    static float x[10];
    cr_assert_eq(fake_start(&f, "tcp://127.0.0.1:*"), 0);
    htga *h = connect_client(&f, "run", &hello);
    long t0 = fake_now_ms();
    cr_assert_eq(htga_barrier(h, 0, 100, &ack, sizeof ack), HTGA_ETIMEDOUT);
    long dt = fake_now_ms() - t0;
    cr_assert_geq(dt, 99);
    cr_assert_lt(dt, slack(1000));
    cr_assert_eq(ack.msgs, 0);
    cr_assert_eq(fake_recv_kind(&f, &m, WIRE_BARRIER, (int)slack(3000)), 0);
    wire_ack a = {0};
    fake_send_ack(&f, m.id, m.id_len, "run", m.m.step, m.m.seq, &a);
    cr_assert_eq(wait_stats(h, acks_at_least, 1, 3000), 0);
    cr_assert_eq(stats(h).acks_unmatched, 1);
    fake_msg_free(&m);
    fake_msg_free(&hello);
    htga_destroy(&h);
    fake_stop(&f);

    fake_free_endpoint(ep, sizeof ep);
    cr_assert_eq(htga_create(&h, ep, "run"), HTGA_OK);
    cr_assert_eq(htga_send(h, "g", 0, x, 10), HTGA_OK);
    cr_assert_eq(htga_barrier(h, 0, 50, NULL, 0), HTGA_ETIMEDOUT);
    cr_assert_eq(htga_send(h, "g", 1, x, 10), HTGA_OK);
    cr_assert_eq(fake_start(&f, ep), 0);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(fake_recv(&f, &m, (int)slack(5000)), 0);
        if (m.m.kind == WIRE_HELLO) {
            i--;
        } else {
            cr_assert_eq(m.m.kind, WIRE_SAMPLES, "the withdrawn barrier never leaves");
            cr_assert_eq(m.m.step, i);
        }
        fake_msg_free(&m);
    }
    cr_assert_eq(stats(h).barriers_sent, 0);
    htga_destroy(&h);
    fake_stop(&f);
}

/* The daemon goes away after the barrier left: HTGA_ERESET, not a wait to
 * the deadline. */
Test(flow, barrier_fails_when_the_connection_is_lost, .timeout = 20)
{
    fake_daemon f;
    fake_msg hello;
    pthread_t th;
    cr_assert_eq(fake_start(&f, "tcp://127.0.0.1:*"), 0);
    htga *h = connect_client(&f, "run", &hello);
    struct barrier_call c = {h, 0, (int)slack(10000), 99, {0}};
    pthread_create(&th, NULL, call_barrier, &c);
    cr_assert_eq(wait_stats(h, barriers_sent_at_least, 1, 3000), 0);
    long t0 = fake_now_ms();
    fake_stop(&f);
    pthread_join(th, NULL);
    cr_assert_eq(c.rc, HTGA_ERESET);
    cr_assert_lt(fake_now_ms() - t0, slack(5000));
    cr_assert_eq(c.ack.connection, 1);
    fake_msg_free(&hello);
    htga_destroy(&h);
}

struct sender_arg {
    htga *h;
    int id;
};

static void *sender(void *p)
{
    struct sender_arg *a = p;
    static float x[4096];
    char name[16];
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "t%d-%d", a->id, i % 5);
        htga_send(a->h, name, i, x, 4096);
    }
    return NULL;
}

/* Four threads overload a small queue while the daemon reads slowly: no
 * message is lost from the books, and what arrives is what was sent. */
Test(flow, counters_add_up_under_concurrent_overload, .timeout = 60)
{
    enum { T = 4 };
    fake_daemon f;
    fake_msg hello, m;
    pthread_t th[T];
    struct sender_arg args[T];
    cr_assert_eq(fake_start(&f, "tcp://127.0.0.1:*"), 0);
    htga *h = connect_client(&f, "run", &hello);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_QUEUE_BYTES, 256 << 10), HTGA_OK);
    for (int i = 0; i < T; i++) {
        args[i] = (struct sender_arg){h, i};
        pthread_create(&th[i], NULL, sender, &args[i]);
    }
    uint64_t got = 0;
    for (int i = 0; i < 50 && fake_recv_kind(&f, &m, WIRE_SAMPLES, slack(2000)) == 0; i++) {
        got++;
        fake_msg_free(&m);
        htga_stats s = stats(h);
        assert_adds_up(&s);
    }
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    while (fake_recv_kind(&f, &m, WIRE_SAMPLES, 300) == 0) {
        got++;
        fake_msg_free(&m);
    }
    cr_assert_eq(htga_flush(h, slack(3000)), HTGA_OK);
    while (fake_recv_kind(&f, &m, WIRE_SAMPLES, 100) == 0) {
        got++;
        fake_msg_free(&m);
    }
    htga_stats s = stats(h);
    cr_assert_eq(s.offered, T * 300);
    cr_assert_eq(s.queue_msgs, 0);
    assert_adds_up(&s);
    cr_assert_eq(got, s.msgs_sent);
    cr_assert_leq(s.queue_bytes_max, 256 << 10);
    fake_msg_free(&hello);
    htga_destroy(&h);
    fake_stop(&f);
}
