/*
 * client_bench.c - what one htga_send() costs the trainer, against a memcpy
 * of the bytes it ships, measured in the same run.
 *
 * DESIGN: an in-process ROUTER on a loopback port, drained by its own thread,
 * stands in for htgad so that messages really leave. For each gradient size n
 * the bench alternates, round after round, one timed htga_send() (default
 * max_samples, so min(n, 65536) values ship) and one timed memcpy of that
 * many bytes from the gradient to a buffer; between sends, outside the
 * timed region, the client is flushed and the sink is waited for until it
 * has every message, so no send is measured as a cheap drop or against a
 * full pipe.
 * Medians and the median of per-round ratios are printed, because these
 * machines are shared and noisy. Not a test: it reports figures.
 *
 * Usage: client_bench [ROUNDS (200)] [BIG_N (100000000)]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "htga.h"

static atomic_int sink_stop;
static atomic_ulong sink_msgs;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void *sink_main(void *router)
{
    zmq_msg_t part;
    zmq_msg_init(&part);
    while (!atomic_load(&sink_stop)) {
        zmq_pollitem_t it = {.socket = router, .events = ZMQ_POLLIN};
        if (zmq_poll(&it, 1, 50) <= 0)
            continue;
        while (zmq_msg_recv(&part, router, ZMQ_DONTWAIT) >= 0)
            if (!zmq_msg_more(&part))
                atomic_fetch_add(&sink_msgs, 1);
    }
    zmq_msg_close(&part);
    return NULL;
}

/* Waits (at most 1 s) until the sink has every message handed to ZeroMQ:
 * since libhtga sends in the caller's thread, htga_flush() returning says
 * nothing about ZeroMQ's pipe, and a bench that outran the network would
 * measure a pipe full of lent buffers instead of one send. */
static void wait_sink(htga *h)
{
    htga_stats s;
    struct timespec ts = {0, 20000};
    htga_stats_get(h, &s, sizeof s);
    for (int i = 0; i < 20000 && atomic_load(&sink_msgs) < s.msgs_sent; i++)
        nanosleep(&ts, NULL);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Keeps the compiler from dropping or merging the baseline memcpy. */
static void *(*volatile memcpy_fn)(void *, const void *, size_t) = memcpy;

static void bench_size(htga *h, const float *grad, size_t n, int rounds)
{
    size_t shipped = n < 65536 ? n : 65536;
    float *dst = malloc(shipped * sizeof *dst);
    double *t_send = calloc((size_t)rounds, sizeof(double));
    double *t_copy = calloc((size_t)rounds, sizeof(double));
    double *ratio = calloc((size_t)rounds, sizeof(double));
    htga_stats before, after;
    int failed = 0;

    htga_stats_get(h, &before, sizeof before);
    for (int r = -3; r < rounds; r++) { /* 3 warm-up rounds */
        double t0, t1, t2;
        int rc;
        t0 = now_ns();
        rc = htga_send(h, "bench", r, grad, n);
        t1 = now_ns();
        memcpy_fn(dst, grad + (size_t)(r + 3) % (n / shipped) * shipped, shipped * sizeof *dst);
        t2 = now_ns();
        failed += rc != HTGA_OK;
        htga_flush(h, 1000);
        wait_sink(h); /* the message left ZeroMQ too, not only our queue */
        if (r < 0)
            continue;
        t_send[r] = t1 - t0;
        t_copy[r] = t2 - t1;
        ratio[r] = t_send[r] / t_copy[r];
    }
    htga_stats_get(h, &after, sizeof after);
    printf("n=%-10zu ships %zu B  htga_send median %9.1f us  memcpy median %8.1f us  "
           "ratio median %6.2f  (sent %llu, failed %d)\n",
           n, shipped * sizeof(float), median(t_send, (size_t)rounds) / 1e3,
           median(t_copy, (size_t)rounds) / 1e3, median(ratio, (size_t)rounds),
           (unsigned long long)(after.msgs_sent - before.msgs_sent), failed);
    free(dst);
    free(t_send);
    free(t_copy);
    free(ratio);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 200;
    size_t big = argc > 2 ? strtoull(argv[2], NULL, 10) : 100000000;
    char ep[256];
    size_t len = sizeof ep;
    void *ctx = zmq_ctx_new(), *router = zmq_socket(ctx, ZMQ_ROUTER);
    pthread_t sink;
    htga *h;
    float *grad;
    unsigned seed = 1;

    if (rounds < 1 || big < 65536 || zmq_bind(router, "tcp://127.0.0.1:*") != 0) {
        fprintf(stderr, "usage: client_bench [ROUNDS>0] [BIG_N>=65536]\n");
        return 2;
    }
    zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, ep, &len);
    pthread_create(&sink, NULL, sink_main, router);
    grad = malloc(big * sizeof *grad);
    if (!grad || htga_create(&h, ep, "bench") != HTGA_OK) {
        fprintf(stderr, "client_bench: out of memory or no client\n");
        return 1;
    }
    for (size_t i = 0; i < big; i++) {
        seed = seed * 1103515245u + 12345u;
        grad[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
    }
    for (int i = 0; i < 200 && atomic_load(&sink_msgs) == 0; i++) { /* wait for the connection */
        htga_send(h, "warmup", 0, grad, 16);
        htga_flush(h, 10);
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    printf("libhtga %s, %d rounds, default max_samples (65536)\n", htga_version(), rounds);
    bench_size(h, grad, 65536, rounds);
    bench_size(h, grad, big, rounds);
    htga_destroy(&h);
    atomic_store(&sink_stop, 1);
    pthread_join(sink, NULL);
    zmq_close(router);
    zmq_ctx_term(ctx);
    free(grad);
    return 0;
}
