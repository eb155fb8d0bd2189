/*
 * http_feed.c - feeds a running htgad through libhtga at full rate, for
 * bench/run-http.sh: the HTTP benchmark measures its queries while the
 * daemon ingests, estimates and stores blocks of the group being queried.
 *
 * Usage: http_feed ENDPOINT RUN GROUP FIRST_STEP SECONDS
 * Sends 64 KiB messages (16384 float32, no client subsampling) of one
 * gradient with heavy tails, one step per message from FIRST_STEP, as fast
 * as the client queue takes them, for SECONDS (or until SIGTERM). Prints
 * `key value` lines: sends accepted, dropped by the client queue, and the
 * messages the client shipped.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "htga.h"
#include "mix.h"

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    const size_t n = 16384;
    htga *h = NULL;
    htga_stats st;
    uint64_t seed = 1;
    float *x;

    if (argc != 6) {
        fprintf(stderr, "usage: http_feed ENDPOINT RUN GROUP FIRST_STEP SECONDS\n");
        return 2;
    }
    x = malloc(n * sizeof(float));
    if (x == NULL || htga_create(&h, argv[1], argv[2]) != HTGA_OK) {
        fprintf(stderr, "http_feed: cannot create the client\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++) { /* Pareto-like tails, both signs */
        double u = htga_uniform01(&seed);
        x[i] = (float)((i & 1 ? 1 : -1) / (u * u + 1e-9));
    }
    htga_set_int(h, HTGA_OPT_MAX_SAMPLES, 0);
    htga_set_int(h, HTGA_OPT_QUEUE_DEPTH, 256);
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    int64_t step = strtoll(argv[4], NULL, 10);
    double t0 = now_s(), secs = atof(argv[5]);
    while (!stop && now_s() - t0 < secs) {
        if (htga_send(h, argv[3], step, x, n) == HTGA_OK) {
            step++;
        } else {
            struct timespec ts = {0, 20000}; /* queue full: let the I/O thread drain */
            nanosleep(&ts, NULL);
        }
    }
    htga_flush(h, 2000);
    htga_stats_get(h, &st, sizeof(st));
    printf("feed_seconds %.3f\nfeed_sends %llu\nfeed_msgs_sent %llu\nfeed_drops_queue %llu\n",
           now_s() - t0, (unsigned long long)st.sends, (unsigned long long)st.msgs_sent,
           (unsigned long long)st.drops_queue);
    htga_destroy(&h);
    free(x);
    return 0;
}
