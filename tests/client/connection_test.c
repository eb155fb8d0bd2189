/*
 * connection_test.c - libhtga's connection to a fake daemon (a real ZeroMQ
 * ROUTER on a free loopback port, fake_daemon.h): HELLO on connect, lambdas
 * pushed back, bad messages from the daemon, queueing while the daemon is
 * away, reconnects and restarts, several ranks, the queue depth, bounded
 * destroy and flush, and the environment's endpoint, run and rank. Waits
 * poll with deadlines; the time bounds guard never-block promises.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_support.h"

Test(client, hello_on_connect, .timeout = 10)
{
    fake_daemon f;
    fake_msg m;
    cr_assert_eq(fake_start(&f, "tcp://127.0.0.1:*"), 0);
    htga *h = connect_client(&f, "run-hello", &m);
    cr_assert_eq(m.nframes, 1);
    cr_assert_eq(m.m.run_len, 9);
    cr_assert(memcmp(m.m.run, "run-hello", 9) == 0);
    cr_assert_eq(m.m.group_len, 0);
    cr_assert_eq(m.m.seq, 0);
    cr_assert_eq(m.m.step, WIRE_FEAT_FLOW, "HELLO says the client follows budgets");
    fake_msg_free(&m);
    /* and again, every HELLO interval: at 50 ms, three more come (a
     * condition with a deadline, not a wall-clock bound a loaded machine
     * breaks) */
    cr_assert_eq(htga_set_int(h, HTGA_OPT_HELLO_INTERVAL_MS, 50), HTGA_OK);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(fake_recv_kind(&f, &m, WIRE_HELLO, 5000), 0, "HELLO %d", i);
        fake_msg_free(&m);
    }
    htga_destroy(&h);
    cr_assert_null(h);
    fake_stop(&f);
}

Test(client, lambda_push_reaches_htga_lambda, .timeout = 10)
{
    fake_daemon f;
    fake_msg hello;
    double v = 0;
    cr_assert_eq(fake_start(&f, "tcp://127.0.0.1:*"), 0);
    htga *h = connect_client(&f, "run-l", &hello);
    cr_assert_eq(htga_lambda(h, "g1"), 1.0);
    cr_assert_eq(htga_lambda_get(h, "g1", &v), HTGA_ENOTFOUND);
    cr_assert_eq(v, 1.0);
    fake_send_lambda(&f, hello.id, hello.id_len, "run-l", "g1", 0.25);
    fake_send_lambda(&f, hello.id, hello.id_len, "run-l", "g2", 3.5);
    cr_assert_eq(wait_lambda(h, "g1", 0.25, 3000), 0);
    cr_assert_eq(wait_lambda(h, "g2", 3.5, 3000), 0);
    fake_send_lambda(&f, hello.id, hello.id_len, "run-l", "g1", 0.75);
    cr_assert_eq(wait_lambda(h, "g1", 0.75, 3000), 0, "the latest push wins");
    /* many groups: the table grows */
    for (int i = 0; i < 100; i++) {
        char g[16];
        snprintf(g, sizeof g, "grp%d", i);
        fake_send_lambda(&f, hello.id, hello.id_len, "run-l", g, 1.0 + i);
    }
    cr_assert_eq(wait_lambda(h, "grp99", 100.0, 3000), 0);
    for (int i = 0; i < 100; i++) {
        char g[16];
        snprintf(g, sizeof g, "grp%d", i);
        cr_assert_eq(htga_lambda(h, g), 1.0 + i);
    }
    cr_assert_eq(htga_lambda_get(h, "nope", &v), HTGA_ENOTFOUND);
    cr_assert_eq(stats(h).lambdas_recv, 103);
    cr_assert_eq(htga_lambda(h, ""), 1.0, "bad name: 1.0");
    cr_assert_eq(htga_lambda_get(h, NULL, &v), HTGA_EINVAL);
    fake_msg_free(&hello);
    htga_destroy(&h);
    fake_stop(&f);
}

Test(client, bad_messages_from_daemon_are_counted, .timeout = 10)
{
    fake_daemon f;
    fake_msg hello;
    unsigned char hdr[WIRE_HEADER_MAX], body[WIRE_LAMBDA_LEN];
    cr_assert_eq(fake_start(&f, "tcp://127.0.0.1:*"), 0);
    htga *h = connect_client(&f, "run", &hello);
    {
        const void *fr[1] = {"garbage"};
        size_t ln[1] = {7};
        fake_send_raw(&f, hello.id, hello.id_len, fr, ln, 1);
    }
    {
        /* a SAMPLES message: not allowed towards a client */
        wire_msg m = {.kind = WIRE_SAMPLES,
                      .count = 1,
                      .run = "run",
                      .run_len = 3,
                      .group = "g",
                      .group_len = 1};
        float one = 1;
        const void *fr[2] = {hdr, &one};
        size_t ln[2] = {wire_encode_header(&m, hdr, sizeof hdr), 4};
        fake_send_raw(&f, hello.id, hello.id_len, fr, ln, 2);
    }
    {
        /* a LAMBDA with a NaN lambda, then one with 4 frames */
        wire_msg m = {.kind = WIRE_LAMBDA,
                      .count = 1,
                      .run = "run",
                      .run_len = 3,
                      .group = "g",
                      .group_len = 1};
        wire_lambda lam = {.lambda = NAN};
        wire_encode_lambda(&lam, body);
        const void *fr[4] = {hdr, body, "x", "y"};
        size_t ln[4] = {wire_encode_header(&m, hdr, sizeof hdr), WIRE_LAMBDA_LEN, 1, 1};
        fake_send_raw(&f, hello.id, hello.id_len, fr, ln, 2);
        lam.lambda = 9;
        wire_encode_lambda(&lam, body);
        fake_send_raw(&f, hello.id, hello.id_len, fr, ln, 4);
    }
    fake_send_lambda(&f, hello.id, hello.id_len, "other-run", "g", 5.0);
    fake_send_lambda(&f, hello.id, hello.id_len, "run", "g", 2.0);
    cr_assert_eq(wait_lambda(h, "g", 2.0, 3000), 0, "a good message still gets through");
    htga_stats s = stats(h);
    cr_assert_eq(s.bad_msgs_recv, 5);
    cr_assert_eq(s.lambdas_recv, 1);
    fake_msg_free(&hello);
    htga_destroy(&h);
    fake_stop(&f);
}

/* No daemon yet: messages wait in the queue, and all of them leave, in
 * order and with their sequence numbers, once it starts. */

Test(client, daemon_down_queues_then_delivers, .timeout = 15)
{
    char ep[256];
    fake_daemon f;
    fake_msg m;
    float x[16] = {1, 2, 3};
    htga *h;
    fake_free_endpoint(ep, sizeof ep);
    cr_assert_eq(htga_create(&h, ep, "run"), HTGA_OK);
    for (int i = 0; i < 5; i++) {
        long t0 = fake_now_ms();
        cr_assert_eq(htga_send(h, "g", i, x, 16), HTGA_OK);
        /* a send waiting for the daemon would wait forever: the bound only
         * needs to sit above a loaded machine's scheduling delays */
        cr_assert_lt(fake_now_ms() - t0, slack(500), "htga_send returns at once");
    }
    htga_stats s = stats(h);
    cr_assert_eq(s.sends, 5);
    cr_assert_eq(s.queue_msgs, 5);
    cr_assert_eq(s.drops_offline + s.drops_queue, 0);
    cr_assert_eq(htga_flush(h, 20), HTGA_ETIMEDOUT, "nothing leaves while the daemon is away");
    cr_assert_eq(htga_connected(h), 0);
    cr_assert_eq(htga_connected(NULL), 0);

    cr_assert_eq(fake_start(&f, ep), 0, "rebind %s", ep);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(fake_recv_kind(&f, &m, WIRE_SAMPLES, 5000), 0, "message %d", i);
        cr_assert_eq(m.m.seq, (uint64_t)i);
        cr_assert_eq(m.m.step, i);
        cr_assert_eq(m.m.dropped, 0);
        fake_msg_free(&m);
    }
    cr_assert_eq(htga_flush(h, 3000), HTGA_OK);
    cr_assert_eq(htga_connected(h), 1);
    s = stats(h);
    cr_assert_eq(s.msgs_sent, 5);
    cr_assert_eq(s.queue_msgs, 0);
    cr_assert_eq(s.connections, 1);
    htga_destroy(&h);
    fake_stop(&f);
}

Test(client, restarted_daemon_gets_hello_and_pushes, .timeout = 15)
{
    fake_daemon f;
    fake_msg m;
    char ep[256];
    cr_assert_eq(fake_start(&f, "tcp://127.0.0.1:*"), 0);
    snprintf(ep, sizeof ep, "%s", f.endpoint);
    htga *h = connect_client(&f, "run", &m);
    fake_msg_free(&m);
    fake_stop(&f);
    fake_sleep_ms(50);
    cr_assert_eq(fake_start(&f, ep), 0);
    cr_assert_eq(fake_recv_kind(&f, &m, WIRE_HELLO, 4000), 0, "HELLO after the restart");
    fake_send_lambda(&f, m.id, m.id_len, "run", "g", 0.5);
    cr_assert_eq(wait_lambda(h, "g", 0.5, 3000), 0);
    fake_msg_free(&m);
    htga_destroy(&h);
    fake_stop(&f);
}

Test(client, two_ranks_both_get_lambdas, .timeout = 10)
{
    fake_daemon f;
    fake_msg m0, m1;
    htga *h0, *h1;
    cr_assert_eq(fake_start(&f, "tcp://127.0.0.1:*"), 0);
    cr_assert_eq(htga_create(&h0, f.endpoint, "run"), HTGA_OK);
    cr_assert_eq(htga_create(&h1, f.endpoint, "run"), HTGA_OK);
    htga_set_int(h0, HTGA_OPT_RANK, 0);
    htga_set_int(h1, HTGA_OPT_RANK, 1);
    float x[4] = {1, 2, 3, 4};
    /* identify each rank by a SAMPLES message (rank in the header) */
    int have0 = 0, have1 = 0;
    long end = fake_now_ms() + 5000;
    while (!(have0 && have1) && fake_now_ms() < end) {
        fake_msg m;
        htga_send(h0, "g", 1, x, 4);
        htga_send(h1, "g", 1, x, 4);
        if (fake_recv_kind(&f, &m, WIRE_SAMPLES, 50) != 0)
            continue;
        if (m.m.rank == 0 && !have0) {
            m0 = m;
            m0.body = NULL;
            have0 = 1;
        } else if (m.m.rank == 1 && !have1) {
            m1 = m;
            m1.body = NULL;
            have1 = 1;
        }
        fake_msg_free(&m);
    }
    cr_assert(have0 && have1);
    cr_assert(m0.id_len != m1.id_len || memcmp(m0.id, m1.id, m0.id_len) != 0);
    fake_send_lambda(&f, m0.id, m0.id_len, "run", "g", 1.5);
    fake_send_lambda(&f, m1.id, m1.id_len, "run", "g", 1.5);
    cr_assert_eq(wait_lambda(h0, "g", 1.5, 3000), 0);
    cr_assert_eq(wait_lambda(h1, "g", 1.5, 3000), 0);
    htga_destroy(&h0);
    htga_destroy(&h1);
    fake_stop(&f);
}

/* HTGA_OPT_QUEUE_DEPTH is now a cap on the message count: over it, the
 * oldest message of the fullest group is shed (counted offline here), and
 * flush times out while the daemon is away. */

Test(client, queue_depth_caps_messages_and_flush_times_out, .timeout = 10)
{
    char ep[256];
    htga *h;
    float x[8] = {0};
    fake_free_endpoint(ep, sizeof ep);
    cr_assert_eq(htga_create(&h, ep, "run"), HTGA_OK);
    cr_assert_eq(htga_set_int(h, HTGA_OPT_QUEUE_DEPTH, 4), HTGA_OK);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(htga_send(h, "g", i, x, 8), HTGA_OK, "queued; the oldest is shed");
    htga_stats s = stats(h);
    cr_assert_eq(s.drops_offline, 2);
    cr_assert_eq(s.drops_evicted, 2);
    cr_assert_eq(s.sends, 6);
    cr_assert_eq(s.queue_msgs, 4);
    long t0 = fake_now_ms();
    cr_assert_eq(htga_flush(h, 50), HTGA_ETIMEDOUT);
    cr_assert_lt(fake_now_ms() - t0, slack(500));
    cr_assert_eq(htga_set_int(h, HTGA_OPT_QUEUE_DEPTH, 0), HTGA_OK, "0: no cap");
    cr_assert_eq(htga_set_int(h, HTGA_OPT_QUEUE_DEPTH, -1), HTGA_EINVAL);
    htga_destroy(&h);
}

Test(client, destroy_with_dead_endpoint_is_fast, .timeout = 10)
{
    char ep[256];
    htga *h;
    float x[1024] = {0};
    fake_free_endpoint(ep, sizeof ep);
    cr_assert_eq(htga_create(&h, ep, "run"), HTGA_OK);
    for (int i = 0; i < 10; i++)
        htga_send(h, "g", i, x, 1024); /* queued: nobody listens */
    long t0 = fake_now_ms();
    htga_destroy(&h);
    long dt = fake_now_ms() - t0;
    cr_assert_lt(dt, slack(200), "destroy took %ld ms", dt);
    htga_destroy(&h); /* NULL is fine */
    htga_destroy(NULL);
}

Test(client, destroy_with_busy_daemon_is_bounded, .timeout = 10)
{
    fake_daemon f;
    fake_msg m;
    size_t n = 1 << 16;
    float *x = calloc(n, sizeof *x);
    cr_assert_eq(fake_start(&f, "tcp://127.0.0.1:*"), 0);
    htga *h = connect_client(&f, "run", &m);
    fake_msg_free(&m);
    for (int i = 0; i < 200; i++)
        htga_send(h, "g", i, x, n); /* 50 MiB offered; the fake never reads */
    long t0 = fake_now_ms();
    htga_destroy(&h);
    long dt = fake_now_ms() - t0;
    /* The linger is 100 ms; a hang would be unbounded. 1 s leaves room for a
     * loaded 2-core CI machine (433 ms seen under load), where 300 ms flaked. */
    cr_assert_lt(dt, slack(1000), "destroy took %ld ms", dt);
    fake_stop(&f);
    free(x);
}

Test(client, flush_waits_for_messages_to_leave, .timeout = 10)
{
    fake_daemon f;
    fake_msg m;
    float x[256];
    for (int i = 0; i < 256; i++)
        x[i] = (float)i;
    cr_assert_eq(fake_start(&f, "tcp://127.0.0.1:*"), 0);
    htga *h = connect_client(&f, "run", &m);
    fake_msg_free(&m);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(htga_send(h, "g", i, x, 256), HTGA_OK);
    cr_assert_eq(htga_flush(h, 3000), HTGA_OK);
    htga_stats s = stats(h);
    cr_assert_eq(s.msgs_sent, 20);
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(fake_recv_kind(&f, &m, WIRE_SAMPLES, 3000), 0);
        cr_assert_eq(m.m.step, i);
        cr_assert_eq(m.m.seq, (uint64_t)i);
        fake_msg_free(&m);
    }
    htga_destroy(&h);
    fake_stop(&f);
}

Test(client, endpoint_run_and_rank_from_environment, .timeout = 10)
{
    fake_daemon f;
    fake_msg m;
    float x[4] = {1, 2, 3, 4};
    htga *h = NULL;
    cr_assert_eq(fake_start(&f, "tcp://127.0.0.1:*"), 0);
    unsetenv("HTGA_ENDPOINT");
    unsetenv("HTGA_RUN");
    unsetenv("RANK");
    cr_assert_eq(htga_create(&h, NULL, NULL), HTGA_EINVAL);
    cr_assert_eq(htga_create(&h, "", "run"), HTGA_EINVAL);
    cr_assert_null(h);

    setenv("HTGA_ENDPOINT", f.endpoint, 1);
    setenv("HTGA_RUN", "env-run", 1);
    setenv("RANK", "5", 1);
    cr_assert_eq(htga_create(&h, NULL, NULL), HTGA_OK);
    cr_assert_eq(fake_recv_kind(&f, &m, WIRE_HELLO, 3000), 0);
    fake_msg_free(&m);
    cr_assert_eq(htga_send(h, "g", 1, x, 4), HTGA_OK);
    cr_assert_eq(fake_recv_kind(&f, &m, WIRE_SAMPLES, 3000), 0);
    cr_assert_eq(m.m.run_len, 7);
    cr_assert_eq(memcmp(m.m.run, "env-run", 7), 0);
    cr_assert_eq(m.m.rank, 5);
    fake_msg_free(&m);
    htga_destroy(&h);

    setenv("RANK", "two", 1);
    cr_assert_eq(htga_create(&h, "", "given-run"), HTGA_OK);
    cr_assert_eq(htga_send(h, "g", 2, x, 4), HTGA_OK);
    cr_assert_eq(fake_recv_kind(&f, &m, WIRE_SAMPLES, 3000), 0);
    cr_assert_eq(m.m.run_len, 9);
    cr_assert_eq(memcmp(m.m.run, "given-run", 9), 0);
    cr_assert_eq(m.m.rank, 0, "a RANK that is not a number is not ours to read");
    fake_msg_free(&m);
    htga_destroy(&h);
    unsetenv("HTGA_ENDPOINT");
    unsetenv("HTGA_RUN");
    unsetenv("RANK");
    fake_stop(&f);
}
