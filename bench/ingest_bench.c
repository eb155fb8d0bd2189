/*
 * ingest_bench.c - htgad ingest figures, measured against a baseline taken
 * in the same run (these machines are noisy).
 *
 * DESIGN: one binary, five modes, driven by bench/run-ingest.sh:
 *   raw ENDPOINT BYTES SECONDS     ZeroMQ PUSH/PULL loopback, one frame of
 *                                  BYTES per message (plus a 64-byte header
 *                                  frame, as htga sends): the ceiling.
 *   e2e ENDPOINT STATS BYTES SECONDS
 *                                  libhtga -> running htgad (estimation and
 *                                  storage on); throughput is what the daemon
 *                                  counted (its stats file), not what left.
 *   dealer ENDPOINT STATS BYTES SECONDS
 *                                  like e2e but sent by a raw ZeroMQ DEALER
 *                                  with wire-encoded SAMPLES (blocking sends,
 *                                  as raw does): the daemon's side alone.
 *   latency ENDPOINT BLOCK N       N times: send a block minus one message,
 *                                  then time from the send that completes it
 *                                  to the lambda arriving (htga_stats).
 *   sendcost ENDPOINT N [RUN]      htga_send of an N-value gradient (client
 *                                  subsamples to 65536, in runs of RUN values
 *                                  with HTGA_OPT_SAMPLE_CLUSTER, default 1)
 *                                  that really ships, to an in-process ROUTER
 *                                  on ENDPOINT, vs memcpy of the bytes it
 *                                  ships, round by round; then htga_send of
 *                                  10 values.
 * Prints `key value` lines.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "htga.h"
#include "mix.h"
#include "wire.h"

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};

    nanosleep(&ts, NULL);
}

typedef struct raw_args {
    void *ctx;
    const char *endpoint;
    size_t bytes;
    double seconds;
    uint64_t received;
} raw_args;

static void *raw_pull(void *arg)
{
    raw_args *a = arg;
    void *s = zmq_socket(a->ctx, ZMQ_PULL);
    zmq_msg_t m;
    int timeout = 500;

    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
    if (zmq_bind(s, a->endpoint) < 0) {
        fprintf(stderr, "raw: cannot bind %s: %s\n", a->endpoint, zmq_strerror(zmq_errno()));
        exit(1);
    }
    zmq_msg_init(&m);
    while (zmq_msg_recv(&m, s, 0) >= 0) {
        if (!zmq_msg_more(&m))
            a->received++;
    }
    zmq_msg_close(&m);
    zmq_close(s);
    return NULL;
}

static int mode_raw(const char *endpoint, size_t bytes, double seconds)
{
    raw_args a = {zmq_ctx_new(), endpoint, bytes, seconds, 0};
    pthread_t t;
    void *s;
    char hdr[64] = {0};
    char *body = calloc(1, bytes);
    double t0, t1;
    int zero = 0, stall_ms = 2000;

    pthread_create(&t, NULL, raw_pull, &a);
    s = zmq_socket(a.ctx, ZMQ_PUSH);
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &stall_ms, sizeof(stall_ms)); /* never hang */
    zmq_connect(s, endpoint);
    sleep_us(200000);
    t0 = now_s();
    uint64_t sent = 0;
    while (now_s() - t0 < seconds) {
        for (int i = 0; i < 64; i++) {
            if (zmq_send(s, hdr, sizeof(hdr), ZMQ_SNDMORE) < 0 || zmq_send(s, body, bytes, 0) < 0)
                break;
            sent++;
        }
    }
    /* Wait for the receiver to catch up, then time what arrived. */
    while (a.received < sent && now_s() - t0 < seconds + 5)
        sleep_us(100);
    t1 = now_s();
    printf("raw_msgs %llu\nraw_seconds %.3f\nraw_gbps %.3f\n", (unsigned long long)a.received,
           t1 - t0, (double)a.received * (double)bytes / (t1 - t0) / 1e9);
    zmq_close(s);
    pthread_join(t, NULL);
    zmq_ctx_term(a.ctx);
    free(body);
    return 0;
}

static long long stat_of(const char *path, const char *key)
{
    char line[256], k[128];
    long long v, out = -1;
    FILE *f = fopen(path, "r");

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%127s %lld", k, &v) == 2 && strcmp(k, key) == 0)
            out = v;
    }
    fclose(f);
    return out;
}

static int mode_e2e(const char *endpoint, const char *stats, size_t bytes, double seconds)
{
    htga *h = NULL;
    size_t n = bytes / sizeof(float);
    float *x = malloc(n * sizeof(float));
    long long base, got;
    uint64_t sent = 0, seed = 1;
    double t0, t1;

    for (size_t i = 0; i < n; i++) { /* heavy-ish tails, cheap to make */
        double u = htga_uniform01(&seed);
        x[i] = (float)((i & 1 ? 1 : -1) / (u * u + 1e-9));
    }
    if (htga_create(&h, endpoint, "bench") != HTGA_OK)
        return 1;
    htga_set_int(h, HTGA_OPT_MAX_SAMPLES, 0);
    htga_set_int(h, HTGA_OPT_QUEUE_DEPTH, 256);
    sleep_us(300000);
    base = stat_of(stats, "samples");
    t0 = now_s();
    while (now_s() - t0 < seconds) {
        if (htga_send(h, "w", (int64_t)sent, x, n) == HTGA_OK)
            sent++;
        else
            sleep_us(20); /* full: let the I/O thread drain (the trainer would move on) */
    }
    htga_flush(h, 5000);
    /* The daemon's counter (values received, 4 bytes each: payload bytes,
     * as for raw) says what arrived; wait until it stops moving. */
    got = -1;
    for (int i = 0; i < 100; i++) {
        long long g = stat_of(stats, "samples");
        if (g == got)
            break;
        got = g;
        sleep_us(60000);
    }
    t1 = now_s() - 0.06; /* the last, unchanged poll */
    printf("e2e_msgs_sent %llu\ne2e_seconds %.3f\ne2e_gbps %.3f\n", (unsigned long long)sent,
           t1 - t0, 4.0 * (double)(got - base) / (t1 - t0) / 1e9);
    htga_destroy(&h);
    free(x);
    return 0;
}

/* Waits until the daemon's samples counter stops moving; returns it and
 * sets *t_end to when it last moved. */
static long long settle(const char *stats, double *t_end)
{
    long long got = -1;

    for (int i = 0; i < 100; i++) {
        long long g = stat_of(stats, "samples");
        if (g == got)
            break;
        got = g;
        *t_end = now_s();
        sleep_us(60000);
    }
    return got;
}

static int mode_dealer(const char *endpoint, const char *stats, size_t bytes, double seconds)
{
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_DEALER);
    unsigned char hdr[WIRE_HEADER_MAX];
    size_t n = bytes / sizeof(float), hlen;
    float *x = calloc(n, sizeof(float));
    wire_msg m;
    long long base, got;
    uint64_t sent = 0;
    double t0, t1 = 0;
    int zero = 0, stall_ms = 2000;

    for (size_t i = 0; i < n; i++)
        x[i] = (float)((i % 13) - 6) * (float)(1 + i % 997);
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &stall_ms, sizeof(stall_ms)); /* never hang */
    zmq_connect(s, endpoint);
    memset(&m, 0, sizeof(m));
    m.kind = WIRE_SAMPLES;
    m.count = (uint32_t)n;
    m.run = "bench";
    m.run_len = 5;
    m.group = "w";
    m.group_len = 1;
    sleep_us(300000);
    base = stat_of(stats, "samples");
    t0 = now_s();
    while (now_s() - t0 < seconds) {
        for (int i = 0; i < 64; i++) {
            m.step = (int64_t)sent;
            m.seq = sent++;
            hlen = wire_encode_header(&m, hdr, sizeof(hdr));
            if (zmq_send(s, hdr, hlen, ZMQ_SNDMORE) < 0 || zmq_send(s, x, n * sizeof(float), 0) < 0)
                break;
        }
    }
    got = settle(stats, &t1);
    printf("dealer_msgs_sent %llu\ndealer_seconds %.3f\ndealer_gbps %.3f\n",
           (unsigned long long)sent, t1 - t0, 4.0 * (double)(got - base) / (t1 - t0) / 1e9);
    zmq_close(s);
    zmq_ctx_term(ctx);
    free(x);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int mode_latency(const char *endpoint, size_t block, int reps)
{
    htga *h = NULL;
    size_t per = 16384, msgs = block / per;
    float *x = malloc(per * sizeof(float));
    double *lat = calloc((size_t)reps, sizeof(double));
    htga_stats s;
    int64_t step = 0;
    int done = 0;

    for (size_t i = 0; i < per; i++)
        x[i] = (float)((i % 7) - 3) * (float)(1 + i % 1000);
    if (msgs < 1 || htga_create(&h, endpoint, "latency") != HTGA_OK)
        return 1;
    htga_set_int(h, HTGA_OPT_MAX_SAMPLES, 0);
    sleep_us(300000);
    for (int r = 0; r < reps; r++) {
        for (size_t m = 0; m + 1 < msgs; m++)
            htga_send(h, "w", step++, x, per);
        htga_flush(h, 1000);
        sleep_us(2000); /* the partial block is in the daemon */
        htga_stats_get(h, &s, sizeof(s));
        uint64_t before = s.lambdas_recv;
        double t0 = now_s();
        if (htga_send(h, "w", step++, x, per) != HTGA_OK)
            continue;
        /* Poll every 20 us (plus timer slack) rather than spin: a spinning
         * thread would take one of the two cores the lambda's path needs. */
        while (now_s() - t0 < 1.0) {
            htga_stats_get(h, &s, sizeof(s));
            if (s.lambdas_recv > before)
                break;
            sleep_us(20);
        }
        if (s.lambdas_recv > before)
            lat[done++] = (now_s() - t0) * 1e3;
    }
    qsort(lat, (size_t)done, sizeof(double), cmp_double);
    if (done > 0)
        printf("latency_n %d\nlatency_p50_ms %.3f\nlatency_p99_ms %.3f\nlatency_max_ms %.3f\n",
               done, lat[done / 2], lat[(size_t)(done * 0.99)], lat[done - 1]);
    htga_destroy(&h);
    free(x);
    free(lat);
    return done > 0 ? 0 : 1;
}

typedef struct sink_args {
    void *router;
    atomic_int stop;
    atomic_ulong msgs;
} sink_args;

/* Stands in for htgad in sendcost: receives and throws away. */
static void *sink_main(void *arg)
{
    sink_args *a = arg;
    zmq_msg_t part;

    zmq_msg_init(&part);
    while (!atomic_load(&a->stop)) {
        zmq_pollitem_t it = {a->router, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 50) <= 0)
            continue;
        while (zmq_msg_recv(&part, a->router, ZMQ_DONTWAIT) >= 0)
            if (!zmq_msg_more(&part))
                atomic_fetch_add(&a->msgs, 1);
    }
    zmq_msg_close(&part);
    return NULL;
}

/* Keeps the compiler from dropping or merging the baseline memcpy. */
static void *(*volatile memcpy_fn)(void *, const void *, size_t) = memcpy;

/* Waits (outside any timed region) until the sink has everything sent. */
static void wait_sink(htga *h, sink_args *a)
{
    htga_stats s;
    double t0 = now_s();

    htga_stats_get(h, &s, sizeof(s));
    while (atomic_load(&a->msgs) < s.msgs_sent && now_s() - t0 < 0.2)
        sleep_us(20);
}

/* htga_send of an n-value gradient (subsampled to 65536) that really ships
 * to an in-process ROUTER, against a memcpy of the 256 KiB it ships,
 * alternated round by round; then sends of 10 values. Medians. */
static int mode_sendcost(const char *endpoint, size_t n, int64_t run)
{
    enum { ROUNDS = 1000 };
    htga *h = NULL;
    float *g = malloc(n * sizeof(float)), *dst = malloc(65536 * sizeof(float));
    float *whole = malloc(n * sizeof(float));
    double *t_send = calloc(ROUNDS, sizeof(double)), *t_copy = calloc(ROUNDS, sizeof(double));
    double *t_whole = calloc(ROUNDS, sizeof(double)), *ratio_whole = calloc(ROUNDS, sizeof(double));
    double *ratio = calloc(ROUNDS, sizeof(double)), *t_small = calloc(ROUNDS, sizeof(double));
    sink_args a = {0};
    void *ctx = zmq_ctx_new();
    pthread_t t;
    htga_stats s;
    int zero = 0, ok = 0, small_ok = 0;
    double t0;

    for (size_t i = 0; i < n; i++)
        g[i] = (float)i;
    a.router = zmq_socket(ctx, ZMQ_ROUTER);
    zmq_setsockopt(a.router, ZMQ_LINGER, &zero, sizeof(zero));
    if (zmq_bind(a.router, endpoint) < 0 || htga_create(&h, endpoint, "cost") != HTGA_OK)
        return 1;
    if (htga_set_int(h, HTGA_OPT_SAMPLE_CLUSTER, run) != HTGA_OK)
        return 1;
    pthread_create(&t, NULL, sink_main, &a);
    t0 = now_s(); /* connected once a message goes through */
    do {
        htga_send(h, "w", 0, g, 10);
        sleep_us(10000);
        htga_stats_get(h, &s, sizeof(s));
    } while (s.msgs_sent == 0 && now_s() - t0 < 5);
    for (int r = -10; r < ROUNDS; r++) {
        double t1, t2, t3;
        wait_sink(h, &a);
        t1 = now_s();
        int rc = htga_send(h, "w", r, g, n);
        t2 = now_s();
        memcpy_fn(dst, g + (size_t)(r & 63), 65536 * sizeof(float));
        t3 = now_s();
        if (r >= 0) {
            ok += rc == HTGA_OK;
            t_send[r] = t2 - t1;
            t_copy[r] = t3 - t2;
            ratio[r] = t_send[r] / t_copy[r];
        }
    }
    /* apart, so the 4 MB copy does not change what the rounds above see:
     * the send against a memcpy of the whole gradient, the floor of a
     * sampler that reads every line of it */
    for (int r = 0; r < ROUNDS; r++) {
        double t1, t2;
        wait_sink(h, &a);
        t1 = now_s();
        htga_send(h, "w", r, g, n);
        t2 = now_s();
        memcpy_fn(whole, g, n * sizeof(float));
        t_whole[r] = now_s() - t2;
        ratio_whole[r] = (t2 - t1) / t_whole[r];
    }
    for (int r = 0; r < ROUNDS; r++) {
        double t1;
        wait_sink(h, &a);
        t1 = now_s();
        small_ok += htga_send(h, "w", r, g, 10) == HTGA_OK;
        t_small[r] = now_s() - t1;
    }
    qsort(t_send, ROUNDS, sizeof(double), cmp_double);
    qsort(t_copy, ROUNDS, sizeof(double), cmp_double);
    qsort(ratio, ROUNDS, sizeof(double), cmp_double);
    qsort(t_small, ROUNDS, sizeof(double), cmp_double);
    qsort(t_whole, ROUNDS, sizeof(double), cmp_double);
    qsort(ratio_whole, ROUNDS, sizeof(double), cmp_double);
    printf("gradient_memcpy_us %.2f\nsend_over_gradient_memcpy %.2f\n", t_whole[ROUNDS / 2] * 1e6,
           ratio_whole[ROUNDS / 2]);
    printf("send_us %.2f\nmemcpy_us %.2f\nsend_over_memcpy %.2f\nsends_ok %d of %d\n"
           "small_send_us %.2f\nsmall_send_p99_us %.2f\nsmall_sends_ok %d\n",
           t_send[ROUNDS / 2] * 1e6, t_copy[ROUNDS / 2] * 1e6, ratio[ROUNDS / 2], ok, ROUNDS,
           t_small[ROUNDS / 2] * 1e6, t_small[ROUNDS * 99 / 100] * 1e6, small_ok);
    htga_destroy(&h);
    atomic_store(&a.stop, 1);
    pthread_join(t, NULL);
    zmq_close(a.router);
    zmq_ctx_term(ctx);
    free(g);
    free(dst);
    free(whole);
    free(t_whole);
    free(ratio_whole);
    free(t_send);
    free(t_copy);
    free(ratio);
    free(t_small);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "raw") == 0)
        return mode_raw(argv[2], strtoull(argv[3], NULL, 10), atof(argv[4]));
    if (argc == 6 && strcmp(argv[1], "e2e") == 0)
        return mode_e2e(argv[2], argv[3], strtoull(argv[4], NULL, 10), atof(argv[5]));
    if (argc == 6 && strcmp(argv[1], "dealer") == 0)
        return mode_dealer(argv[2], argv[3], strtoull(argv[4], NULL, 10), atof(argv[5]));
    if (argc == 5 && strcmp(argv[1], "latency") == 0)
        return mode_latency(argv[2], strtoull(argv[3], NULL, 10), atoi(argv[4]));
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "sendcost") == 0)
        return mode_sendcost(argv[2], strtoull(argv[3], NULL, 10),
                             argc == 5 ? strtoll(argv[4], NULL, 10) : 1);
    fprintf(stderr,
            "usage: ingest_bench raw|e2e|dealer|latency|sendcost ... (see bench/run-ingest.sh)\n");
    return 2;
}
