/*
 * send_test.c - what libhtga puts on the wire (against a fake daemon): the
 * SAMPLES header, the subsample (unbiased, reproducible by seed, clusters
 * of runs), htga_send_many's one message per group and per-message results,
 * concurrent senders, and the API's argument checks.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_support.h"

Test(client, samples_header_and_subsample, .timeout = 10)
{
    fake_daemon f;
    fake_msg m;
    float x[1000], small[50];
    cr_assert_eq(fake_start(&f, "tcp://127.0.0.1:*"), 0);
    htga *h = connect_client(&f, "run", &m);
    fake_msg_free(&m);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_RANK, 2), HTGA_OK);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_MAX_SAMPLES, 100), HTGA_OK);
    for (int i = 0; i < 1000; i++)
        x[i] = (float)i;
    for (int i = 0; i < 50; i++)
        small[i] = -(float)i - 0.5f;
    cr_assert_eq(htga_send(h, "layer.w", 7, x, 1000), HTGA_OK);
    cr_assert_eq(htga_send(h, "layer.b", -3, small, 50), HTGA_OK);

    cr_assert_eq(fake_recv_kind(&f, &m, WIRE_SAMPLES, 3000), 0);
    cr_assert_eq(m.nframes, 2);
    cr_assert_eq(m.m.rank, 2);
    cr_assert_eq(m.m.step, 7);
    cr_assert_eq(m.m.seq, 0);
    cr_assert_eq(m.m.dropped, 0);
    cr_assert_eq(m.m.count, 100);
    cr_assert_eq(m.body_len, 400);
    cr_assert_eq(m.m.group_len, 7);
    cr_assert(memcmp(m.m.group, "layer.w", 7) == 0);
    cr_assert(memcmp(m.m.run, "run", 3) == 0);
    for (int i = 0; i < 100; i++) {
        float v;
        memcpy(&v, m.body + 4 * i, 4);
        cr_assert(v >= (float)(10 * i) && v < (float)(10 * i + 10), "value %d=%g off its stratum",
                  i, v);
    }
    fake_msg_free(&m);

    cr_assert_eq(fake_recv_kind(&f, &m, WIRE_SAMPLES, 3000), 0);
    cr_assert_eq(m.m.seq, 1);
    cr_assert_eq(m.m.step, -3);
    cr_assert_eq(m.m.count, 50, "n <= max_samples: everything is sent");
    cr_assert(memcmp(m.body, small, 200) == 0);
    fake_msg_free(&m);

    cr_assert_eq(htga_flush(h, 1000), HTGA_OK);
    htga_stats s = stats(h);
    cr_assert_eq(s.sends, 2);
    cr_assert_eq(s.msgs_sent, 2);
    cr_assert_eq(s.samples_sent, 150);
    cr_assert_eq(s.bytes_sent, 600);
    cr_assert_eq(s.drops_queue + s.drops_offline, 0);
    htga_destroy(&h);
    fake_stop(&f);
}

Test(client, max_samples_zero_sends_all, .timeout = 10)
{
    fake_daemon f;
    fake_msg m;
    size_t n = 100000;
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)i;
    cr_assert_eq(fake_start(&f, "tcp://127.0.0.1:*"), 0);
    htga *h = connect_client(&f, "run", &m);
    fake_msg_free(&m);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_MAX_SAMPLES, 0), HTGA_OK);
    cr_assert_eq(htga_send(h, "g", 1, x, n), HTGA_OK);
    cr_assert_eq(fake_recv_kind(&f, &m, WIRE_SAMPLES, 3000), 0);
    cr_assert_eq(m.m.count, n);
    cr_assert(memcmp(m.body, x, n * 4) == 0);
    fake_msg_free(&m);
    htga_destroy(&h);
    fake_stop(&f);
    free(x);
}

/* The sample of a known large array: one value per stratum, uniform inside
 * it, in order, no duplicates, bounded size. */

Test(client, subsample_is_unbiased, .timeout = 20)
{
    enum { N = 1000000, M = 10000, BINS = 10 };
    fake_daemon f;
    fake_msg m;
    float *x = malloc(N * sizeof *x);
    double pos_sum = 0, chi2 = 0;
    size_t bins[BINS] = {0};
    for (size_t i = 0; i < N; i++)
        x[i] = (float)i; /* exact below 2^24 */
    cr_assert_eq(fake_start(&f, "tcp://127.0.0.1:*"), 0);
    htga *h = connect_client(&f, "run", &m);
    fake_msg_free(&m);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_MAX_SAMPLES, M), HTGA_OK);
    cr_assert_eq(htga_send(h, "g", 1, x, N), HTGA_OK);
    cr_assert_eq(fake_recv_kind(&f, &m, WIRE_SAMPLES, 3000), 0);
    cr_assert_eq(m.m.count, M);
    float prev = -1;
    double mean = 0;
    for (size_t i = 0; i < M; i++) {
        float v;
        memcpy(&v, m.body + 4 * i, 4);
        cr_assert_gt(v, prev, "order kept, no duplicate");
        prev = v;
        size_t lo = i * (N / M), size = N / M;
        cr_assert(v >= lo && v < lo + size);
        double pos = (v - lo + 0.5) / size;
        pos_sum += pos;
        bins[(size_t)(pos * BINS)]++;
        mean += v;
    }
    /* position in stratum ~ U(0,1): mean 0.5 with sd 0.2887/sqrt(M) */
    double pos_mean = pos_sum / M;
    cr_assert(fabs(pos_mean - 0.5) < 5 * 0.2887 / sqrt(M), "position mean %g", pos_mean);
    for (int b = 0; b < BINS; b++)
        chi2 += ((double)bins[b] - M / BINS) * ((double)bins[b] - M / BINS) / (M / BINS);
    cr_assert_lt(chi2, 33.7, "chi2 %g (9 dof, p = 1e-4)", chi2); /* 9 degrees of freedom */
    mean /= M;
    cr_assert(fabs(mean - (N - 1) / 2.0) < 0.002 * N, "sample mean %g", mean);
    fake_msg_free(&m);
    htga_destroy(&h);
    fake_stop(&f);
    free(x);
}

Test(client, seed_makes_samples_reproducible, .timeout = 10)
{
    enum { N = 100000, M = 1000 };
    fake_daemon f;
    fake_msg m;
    unsigned char first[4 * M];
    float *x = malloc(N * sizeof *x);
    for (size_t i = 0; i < N; i++)
        x[i] = (float)i;
    cr_assert_eq(fake_start(&f, "tcp://127.0.0.1:*"), 0);
    for (int round = 0; round < 3; round++) {
        htga *h = connect_client(&f, "run", &m);
        fake_msg_free(&m);
        htga_set_int(h, HTGA_OPT_MAX_SAMPLES, M);
        htga_set_int(h, HTGA_OPT_SEED, round < 2 ? 1234 : 99);
        cr_assert_eq(htga_send(h, "g", 1, x, N), HTGA_OK);
        cr_assert_eq(fake_recv_kind(&f, &m, WIRE_SAMPLES, 3000), 0);
        if (round == 0)
            memcpy(first, m.body, sizeof first);
        else if (round == 1)
            cr_assert(memcmp(first, m.body, sizeof first) == 0, "same seed, same sample");
        else
            cr_assert(memcmp(first, m.body, sizeof first) != 0, "other seed, other sample");
        fake_msg_free(&m);
        htga_destroy(&h);
    }
    fake_stop(&f);
    free(x);
}

struct sender_arg {
    htga *h;
    int ok;
};

static void *sender(void *p)
{
    struct sender_arg *a = p;
    float x[512];
    for (int i = 0; i < 512; i++)
        x[i] = (float)i;
    for (int i = 0; i < 200; i++)
        a->ok += htga_send(a->h, "g", i, x, 512) == HTGA_OK;
    return NULL;
}

Test(client, concurrent_senders, .timeout = 20)
{
    enum { T = 4 };
    fake_daemon f;
    fake_msg m;
    pthread_t th[T];
    struct sender_arg args[T];
    static unsigned char seen[T * 200];
    cr_assert_eq(fake_start(&f, "tcp://127.0.0.1:*"), 0);
    htga *h = connect_client(&f, "run", &m);
    fake_msg_free(&m);
    htga_set_int(h, HTGA_OPT_MAX_SAMPLES, 128);
    for (int i = 0; i < T; i++) {
        args[i] = (struct sender_arg){h, 0};
        pthread_create(&th[i], NULL, sender, &args[i]);
    }
    int ok = 0;
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        ok += args[i].ok;
    }
    cr_assert_eq(htga_flush(h, 5000), HTGA_OK);
    htga_stats s = stats(h);
    cr_assert_eq(s.sends, (uint64_t)ok);
    /* after the flush every attempt was either handed to ZeroMQ or dropped */
    cr_assert_eq(s.msgs_sent + s.drops_queue + s.drops_offline, T * 200,
                 "sends %llu drops %llu + %llu", (unsigned long long)s.sends,
                 (unsigned long long)s.drops_queue, (unsigned long long)s.drops_offline);
    int got = 0;
    uint64_t last = 0;
    while (fake_recv_kind(&f, &m, WIRE_SAMPLES, 300) == 0) {
        cr_assert_lt(m.m.seq, T * 200);
        cr_assert_eq(seen[m.m.seq], 0, "seq %llu twice", (unsigned long long)m.m.seq);
        cr_assert(got == 0 || m.m.seq > last, "seq increases");
        seen[m.m.seq] = 1;
        last = m.m.seq;
        cr_assert_eq(m.m.count, 128);
        got++;
        fake_msg_free(&m);
    }
    cr_assert_eq((uint64_t)got, s.msgs_sent);
    cr_assert_gt(got, 0);
    htga_destroy(&h);
    fake_stop(&f);
}

Test(client, arguments_and_errors)
{
    htga *h = (htga *)1;
    char long_name[200];
    float x[2] = {1, 2};
    memset(long_name, 'a', sizeof long_name);
    long_name[WIRE_NAME_MAX + 1] = 0;
    cr_assert_eq(htga_create(&h, "tcp://127.0.0.1:1", NULL), HTGA_EINVAL);
    cr_assert_null(h);
    cr_assert_eq(htga_create(NULL, "tcp://127.0.0.1:1", "r"), HTGA_EINVAL);
    cr_assert_eq(htga_create(&h, NULL, "r"), HTGA_EINVAL);
    cr_assert_eq(htga_create(&h, "tcp://127.0.0.1:1", ""), HTGA_EINVAL);
    cr_assert_eq(htga_create(&h, "tcp://127.0.0.1:1", long_name), HTGA_EINVAL);
    cr_assert_eq(htga_create(&h, "tcp://127.0.0.1:1", "a\tb"), HTGA_EINVAL);
    cr_assert_eq(htga_create(&h, "bogus://nowhere", "r"), HTGA_EZMQ);
    cr_assert_null(h);
    cr_assert_eq(htga_create(&h, "tcp://127.0.0.1:1", "r"), HTGA_OK);
    cr_assert_eq(htga_send(h, NULL, 0, x, 2), HTGA_EINVAL);
    cr_assert_eq(htga_send(h, "", 0, x, 2), HTGA_EINVAL);
    cr_assert_eq(htga_send(h, long_name, 0, x, 2), HTGA_EINVAL);
    cr_assert_eq(htga_send(h, "g", 0, NULL, 2), HTGA_EINVAL);
    cr_assert_eq(htga_send(h, "g", 0, x, 0), HTGA_EINVAL);
    cr_assert_eq(htga_send(NULL, "g", 0, x, 2), HTGA_EINVAL);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_MAX_SAMPLES, -1), HTGA_EINVAL);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_MAX_SAMPLES, WIRE_COUNT_MAX + 1), HTGA_EINVAL);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_RANK, -1), HTGA_EINVAL);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_QUEUE_DEPTH, -1), HTGA_EINVAL);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_QUEUE_BYTES, 65535), HTGA_EINVAL);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_QUEUE_BYTES, (1ll << 40) + 1), HTGA_EINVAL);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_QUEUE_BYTES, 1 << 20), HTGA_OK);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_FOLLOW_BUDGET, 2), HTGA_EINVAL);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_FOLLOW_BUDGET, 0), HTGA_OK);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_CONNECT_GRACE_MS, 60001), HTGA_EINVAL);
    cr_assert_eq(htga_set_int(h, (htga_option)99, 1), HTGA_ENOTSUP);
    cr_assert_eq(htga_set_int(NULL, HTGA_OPT_RANK, 1), HTGA_EINVAL);
    cr_assert_eq(htga_stats_get(h, NULL, 8), HTGA_EINVAL);
    cr_assert_eq(htga_flush(NULL, 1), HTGA_EINVAL);
    cr_assert_eq(htga_barrier(NULL, 0, 1, NULL, 0), HTGA_EINVAL);
    cr_assert_eq(htga_barrier(h, 2, 1, NULL, 0), HTGA_EINVAL, "unknown flag");
    uint32_t v = 7, e = 7;
    cr_assert_eq(htga_group_budget(h, "g", &v, &e), HTGA_ENOTFOUND);
    cr_assert_eq(v, 0);
    cr_assert_eq(e, 1);
    cr_assert_eq(htga_group_budget(h, "", &v, &e), HTGA_EINVAL);
    cr_assert_eq(htga_group_budget(NULL, "g", NULL, NULL), HTGA_EINVAL);
    /* a caller with a shorter (older) struct gets only its bytes */
    uint64_t two[3] = {0, 0, 0xdeadbeef};
    cr_assert_eq(htga_stats_get(h, (htga_stats *)(void *)two, 2 * sizeof(uint64_t)), HTGA_OK);
    cr_assert_eq(two[2], 0xdeadbeef);
    htga_destroy(&h);
    cr_assert_str_eq(htga_version(), HTGA_VERSION_STRING);
    cr_assert_eq(htga_version_number(), HTGA_VERSION_NUMBER);
    for (int c = 1; c >= -9; c--)
        cr_assert_not_null(htga_strerror(c));
    cr_assert_str_neq(htga_strerror(HTGA_EDROPPED), htga_strerror(-100));
}

/* HTGA_OPT_SAMPLE_CLUSTER: checked range; with 16, the sample of a large
 * array is one aligned run of 16 consecutive values per stratum of 1600
 * (units of 16, n/m = 100 of them each; the last stratum's run starts
 * anywhere in it), in order. */

Test(client, sample_cluster_option_sends_runs, .timeout = 20)
{
    enum { N = 1000000, M = 10000, L = 16 };
    fake_daemon f;
    fake_msg m;
    float *x = malloc(N * sizeof *x);
    for (size_t i = 0; i < N; i++)
        x[i] = (float)i; /* exact below 2^24 */
    cr_assert_eq(fake_start(&f, "tcp://127.0.0.1:*"), 0);
    htga *h = connect_client(&f, "run", &m);
    fake_msg_free(&m);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_SAMPLE_CLUSTER, 0), HTGA_EINVAL);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_SAMPLE_CLUSTER, 4097), HTGA_EINVAL);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_SAMPLE_CLUSTER, L), HTGA_OK);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_MAX_SAMPLES, M), HTGA_OK);
    cr_assert_eq(htga_send(h, "g", 1, x, N), HTGA_OK);
    cr_assert_eq(fake_recv_kind(&f, &m, WIRE_SAMPLES, 3000), 0);
    cr_assert_eq(m.m.count, M);
    cr_assert_eq(m.m.cluster, L, "the header says the body is runs of L");
    for (size_t r = 0; r + 1 < M / L; r++) {
        float v0;
        size_t lo = r * L * (N / M);
        memcpy(&v0, m.body + 4 * r * L, 4);
        cr_assert((size_t)v0 >= lo && (size_t)v0 + L <= lo + L * (N / M) && (size_t)v0 % L == 0,
                  "run %zu starts at %g", r, v0);
        for (size_t k = 1; k < L; k++) {
            float v;
            memcpy(&v, m.body + 4 * (r * L + k), 4);
            cr_assert_eq(v, v0 + (float)k);
        }
    }
    for (size_t k = M - L; k < M; k++) { /* the last stratum: a run at any offset */
        float v;
        memcpy(&v, m.body + 4 * k, 4);
        cr_assert((size_t)v >= (M / L - 1) * L * (N / M) && v < N);
    }
    fake_msg_free(&m);
    /* all values sent (n <= m): no runs, whatever the option */
    cr_assert_eq(htga_send(h, "g", 3, x, M), HTGA_OK);
    cr_assert_eq(fake_recv_kind(&f, &m, WIRE_SAMPLES, 3000), 0);
    cr_assert_eq(m.m.cluster, 0);
    fake_msg_free(&m);
    /* a run longer than the sample: one run of m values */
    cr_assert_eq(htga_set_int(h, HTGA_OPT_MAX_SAMPLES, 10), HTGA_OK);
    cr_assert_eq(htga_send(h, "g", 4, x, N), HTGA_OK);
    cr_assert_eq(fake_recv_kind(&f, &m, WIRE_SAMPLES, 3000), 0);
    cr_assert_eq(m.m.count, 10);
    cr_assert_eq(m.m.cluster, 10);
    fake_msg_free(&m);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_MAX_SAMPLES, M), HTGA_OK);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_SAMPLE_CLUSTER, 1), HTGA_OK, "back to one per stratum");
    cr_assert_eq(htga_send(h, "g", 2, x, N), HTGA_OK);
    cr_assert_eq(fake_recv_kind(&f, &m, WIRE_SAMPLES, 3000), 0);
    cr_assert_eq(m.m.cluster, 0);
    size_t consecutive = 0;
    for (size_t i = 1; i < M; i++) {
        float a, b;
        memcpy(&a, m.body + 4 * (i - 1), 4);
        memcpy(&b, m.body + 4 * i, 4);
        consecutive += b == a + 1;
    }
    cr_assert_lt(consecutive, M / 50, "one value per stratum of 100: few neighbours");
    fake_msg_free(&m);
    htga_destroy(&h);
    fake_stop(&f);
    free(x);
}

/* htga_send_many(): one message per group, in order, each with its own seq,
 * sampled and counted as htga_send() would; and it chunks long batches. */

Test(client, send_many_sends_one_message_per_group, .timeout = 10)
{
    enum { N = 70 }; /* more than one internal chunk */
    fake_daemon f;
    fake_msg m;
    static float big[1000], small[5];
    const char *groups[N];
    const float *grads[N];
    size_t ns[N];
    int rcs[N];
    char names[N][8];
    cr_assert_eq(fake_start(&f, "tcp://127.0.0.1:*"), 0);
    htga *h = connect_client(&f, "run", &m);
    fake_msg_free(&m);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_MAX_SAMPLES, 100), HTGA_OK);
    for (int i = 0; i < 1000; i++)
        big[i] = (float)i;
    for (int i = 0; i < 5; i++)
        small[i] = (float)i + 0.25f;
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "g%d", i);
        groups[i] = names[i];
        grads[i] = i % 2 ? small : big;
        ns[i] = i % 2 ? 5 : 1000;
        rcs[i] = 99;
    }
    cr_assert_eq(htga_send_many(h, 42, N, groups, grads, ns, rcs), N);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(rcs[i], HTGA_OK);
        cr_assert_eq(fake_recv_kind(&f, &m, WIRE_SAMPLES, 3000), 0, "message %d missing", i);
        cr_assert_eq(m.m.seq, (uint64_t)i);
        cr_assert_eq(m.m.step, 42);
        cr_assert_eq(m.m.group_len, strlen(names[i]));
        cr_assert(memcmp(m.m.group, names[i], m.m.group_len) == 0);
        if (i % 2) {
            cr_assert_eq(m.m.count, 5);
            cr_assert(memcmp(m.body, small, sizeof small) == 0);
        } else {
            cr_assert_eq(m.m.count, 100, "subsampled to max_samples");
            for (int j = 0; j < 100; j++) {
                float v;
                memcpy(&v, m.body + 4 * j, 4);
                cr_assert(v >= (float)(10 * j) && v < (float)(10 * j + 10));
            }
        }
        fake_msg_free(&m);
    }
    /* a later htga_send() continues the sequence */
    cr_assert_eq(htga_send(h, "after", 43, small, 5), HTGA_OK);
    cr_assert_eq(fake_recv_kind(&f, &m, WIRE_SAMPLES, 3000), 0);
    cr_assert_eq(m.m.seq, N);
    fake_msg_free(&m);
    cr_assert_eq(htga_flush(h, 3000), HTGA_OK);
    htga_stats s = stats(h);
    cr_assert_eq(s.sends, N + 1, "counted per message, not per call");
    cr_assert_eq(s.msgs_sent, N + 1);
    cr_assert_eq(s.samples_sent, (N / 2) * 100 + (N / 2) * 5 + 5);
    cr_assert_eq(s.drops_queue + s.drops_offline, 0);
    htga_destroy(&h);
    fake_stop(&f);
}

/* A bad argument anywhere in the batch sends nothing; count 0 is a no-op. */

Test(client, send_many_arguments)
{
    htga *h;
    float x[2] = {1, 2};
    const char *groups[2] = {"a", "b"}, *bad_groups[2] = {"a", ""};
    const float *grads[2] = {x, x}, *bad_grads[2] = {x, NULL};
    size_t ns[2] = {2, 2}, bad_ns[2] = {2, 0};
    cr_assert_eq(htga_create(&h, "tcp://127.0.0.1:1", "r"), HTGA_OK);
    cr_assert_eq(htga_send_many(NULL, 0, 2, groups, grads, ns, NULL), HTGA_EINVAL);
    cr_assert_eq(htga_send_many(h, 0, 2, NULL, grads, ns, NULL), HTGA_EINVAL);
    cr_assert_eq(htga_send_many(h, 0, 2, groups, NULL, ns, NULL), HTGA_EINVAL);
    cr_assert_eq(htga_send_many(h, 0, 2, groups, grads, NULL, NULL), HTGA_EINVAL);
    cr_assert_eq(htga_send_many(h, 0, 2, bad_groups, grads, ns, NULL), HTGA_EINVAL);
    cr_assert_eq(htga_send_many(h, 0, 2, groups, bad_grads, ns, NULL), HTGA_EINVAL);
    cr_assert_eq(htga_send_many(h, 0, 2, groups, grads, bad_ns, NULL), HTGA_EINVAL);
    cr_assert_eq(htga_send_many(h, 0, (size_t)INT_MAX + 1, groups, grads, ns, NULL), HTGA_EINVAL);
    cr_assert_eq(htga_send_many(h, 0, 0, NULL, NULL, NULL, NULL), 0);
    cr_assert_eq(stats(h).sends, 0);
    cr_assert_eq(stats(h).drops_queue + stats(h).drops_offline, 0, "nothing sent, nothing dropped");
    htga_destroy(&h);
}

/* rcs say what happened to each message at return: queued (HTGA_OK), or
 * dropped because it can never fit the queue's byte bound; the return
 * value counts the queued ones, and the counters add up. */

Test(client, send_many_rcs_are_true_per_message, .timeout = 10)
{
    char ep[256];
    htga *h;
    static float big[70000], small[8];
    const char *groups[4] = {"a", "b", "c", "d"};
    const float *grads[4] = {small, big, small, big};
    size_t ns[4] = {8, 70000, 8, 70000};
    int rcs[4];
    fake_free_endpoint(ep, sizeof ep);
    cr_assert_eq(htga_create(&h, ep, "run"), HTGA_OK);
    /* 64 KiB: a sample of 65536 values (256 KiB) never fits */
    cr_assert_eq(htga_set_int(h, HTGA_OPT_QUEUE_BYTES, 65536), HTGA_OK);
    cr_assert_eq(htga_send_many(h, 0, 4, groups, grads, ns, rcs), 2);
    cr_assert_eq(rcs[0], HTGA_OK);
    cr_assert_eq(rcs[1], HTGA_EDROPPED);
    cr_assert_eq(rcs[2], HTGA_OK);
    cr_assert_eq(rcs[3], HTGA_EDROPPED);
    htga_stats s = stats(h);
    cr_assert_eq(s.offered, 4);
    cr_assert_eq(s.sends, 2);
    cr_assert_eq(s.drops_offline, 2, "the daemon is not connected");
    cr_assert_eq(s.queue_msgs, 2);
    cr_assert_eq(s.offered,
                 s.msgs_sent + s.drops_queue + s.drops_offline + s.skipped_budget + s.queue_msgs);
    htga_destroy(&h);
}

/* Configuration by environment: a NULL endpoint and run come from
 * HTGA_ENDPOINT and HTGA_RUN, the rank from RANK; explicit values win, a
 * RANK that is not a decimal is left alone, and with nothing set create fails. */
