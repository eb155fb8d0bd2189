/*
 * Integration tests of htgad's life: bad settings, daemon down then up,
 * SIGTERM flush, SIGKILL recovery and restart.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "htga.h"

static testd d;

static void setup(void)
{
    testd_init(&d);
}

static void teardown(void)
{
    testd_cleanup(&d);
}

TestSuite(lifecycle, .init = setup, .fini = teardown, .timeout = 60);

static void send_blocks(htga *h, const char *group, int64_t first, int msgs, size_t n)
{
    float *x = malloc(n * sizeof(float));
    uint64_t seed = 7 + (uint64_t)first;

    for (int s = 0; s < msgs; s++) {
        int64_t deadline = now_ms() + 2000;
        student_t(x, n, 3.0, &seed);
        while (htga_send(h, group, first + s, x, n) == HTGA_EDROPPED && now_ms() < deadline)
            sleep_ms(5);
    }
    cr_assert_eq(htga_flush(h, 5000), HTGA_OK);
    free(x);
}

Test(lifecycle, bad_settings_exit_2)
{
    char cmd[512];
    int st;

    snprintf(cmd, sizeof(cmd), "%s --block-samples 0 2>/dev/null", HTGAD_PATH);
    st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    snprintf(cmd, sizeof(cmd), "%s --policy power:0.5 2>/dev/null", HTGAD_PATH);
    st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    snprintf(cmd, sizeof(cmd), "%s --help >/dev/null", HTGAD_PATH);
    st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

Test(lifecycle, daemon_down_then_up)
{
    htga *h = NULL;
    float x[1024];
    uint64_t seed = 3;
    htga_stats s;
    int64_t t0, worst = 0;

    cr_assert_eq(htga_create(&h, d.endpoint, "down"), HTGA_OK);
    student_t(x, 1024, 3.0, &seed);
    for (int i = 0; i < 50; i++) {
        t0 = now_ms();
        htga_send(h, "g", i, x, 1024);
        if (now_ms() - t0 > worst)
            worst = now_ms() - t0;
    }
    /* A send that waited for the daemon would wait for the whole loop: the
     * bound sits far above a loaded machine's scheduling delays. */
    cr_assert_lt(worst, 500, "a send took %lld ms with the daemon down", (long long)worst);
    cr_assert_eq(htga_stats_get(h, &s, sizeof(s)), HTGA_OK);
    /* the client's queue holds them while the daemon is down */
    cr_assert_eq(s.drops_offline + s.drops_queue, 0, "drops: %llu",
                 (unsigned long long)(s.drops_offline + s.drops_queue));
    cr_assert_eq(s.queue_msgs, 50);
    cr_assert_eq(testd_start(&d, "--block-samples", "1024", NULL), 0);
    send_blocks(h, "g", 100, 4, 1024); /* queued behind them; the client reconnects by itself */
    cr_assert_eq(
        testd_wait_query(&d, "SELECT count(*) FROM estimates WHERE step_first >= 100", 4, 10000),
        0);
    cr_assert_eq(
        testd_wait_query(&d, "SELECT count(*) FROM estimates WHERE step_first < 50", 50, 10000), 0,
        "the queued messages arrived too");
    htga_destroy(&h);
}

Test(lifecycle, sigterm_flushes_every_block)
{
    htga *h = NULL;

    cr_assert_eq(testd_start(&d, "--block-samples", "1024", NULL), 0);
    cr_assert_eq(htga_create(&h, d.endpoint, "term"), HTGA_OK);
    send_blocks(h, "a", 0, 5, 512); /* 2 full blocks + half a block */
    send_blocks(h, "b", 0, 3, 1000);
    cr_assert_eq(testd_wait_query(&d, "SELECT count(*) FROM estimates", 4, 10000), 0);
    /* Every value is in the daemon (the last ones in its accumulators). */
    cr_assert_eq(testd_wait_stat(&d, "samples", 5 * 512 + 3 * 1000, 5000), 0);
    cr_assert_eq(testd_stop(&d, SIGTERM), 0);
    htga_destroy(&h);
    cr_assert_eq(testd_query(&d, "SELECT count(*) FROM estimates WHERE group_name = 'a'"), 3);
    cr_assert_eq(testd_query(&d, "SELECT n FROM estimates WHERE group_name = 'a' AND block = 2"),
                 512);
    cr_assert_eq(testd_query(&d, "SELECT sum(n) FROM estimates WHERE group_name = 'b'"), 3000);
    cr_assert_eq(testd_query(&d, "SELECT count(*) FROM estimates WHERE group_name = 'b'"), 3);
}

Test(lifecycle, sigkill_keeps_the_database_and_restart_carries_on)
{
    htga *h = NULL;
    char ok[64];
    double before, lam = 0;
    int64_t deadline;

    cr_assert_eq(testd_start(&d, "--block-samples", "1024", NULL), 0);
    cr_assert_eq(htga_create(&h, d.endpoint, "kill"), HTGA_OK);
    send_blocks(h, "g", 0, 6, 1024);
    cr_assert_eq(testd_wait_query(&d, "SELECT count(*) FROM estimates", 6, 10000), 0);
    before = testd_query_double(&d, "SELECT lambda FROM estimates WHERE block = 5");
    cr_assert_eq(testd_stop(&d, SIGKILL), 128 + SIGKILL);
    testd_query_text(&d, "PRAGMA integrity_check", ok, sizeof(ok));
    cr_assert_str_eq(ok, "ok");
    htga_destroy(&h);

    cr_assert_eq(testd_start(&d, "--block-samples", "1024", NULL), 0);
    /* A new client of the run gets the restored lambda from HELLO. */
    cr_assert_eq(htga_create(&h, d.endpoint, "kill"), HTGA_OK);
    deadline = now_ms() + 3000;
    while (htga_lambda_get(h, "g", &lam) != HTGA_OK && now_ms() < deadline)
        sleep_ms(10);
    cr_assert_float_eq(lam, before, 1e-12);
    send_blocks(h, "g", 6, 3, 1024);
    cr_assert_eq(testd_wait_query(&d, "SELECT count(*) FROM estimates", 9, 10000), 0);
    cr_assert_eq(testd_query(&d, "SELECT max(block) FROM estimates"), 8);
    cr_assert_eq(testd_query(&d, "SELECT count(DISTINCT block) FROM estimates"), 9);
    cr_assert_eq(testd_query(&d, "SELECT count(*) FROM runs"), 1);
    cr_assert_eq(testd_query(&d, "SELECT count(*) FROM policy_changes"), 1);
    htga_destroy(&h);
    cr_assert_eq(testd_stop(&d, SIGTERM), 0);
    testd_query_text(&d, "PRAGMA integrity_check", ok, sizeof(ok));
    cr_assert_str_eq(ok, "ok");
}

Test(lifecycle, port_in_use_exits_1_and_listen_star_reports_the_port)
{
    testd other;
    char cmd[512], line[256];
    FILE *f;
    int st;

    cr_assert_eq(testd_start(&d, NULL), 0);
    testd_init(&other);
    snprintf(cmd, sizeof(cmd), "%s --db %s --listen %s --http off 2>/dev/null", HTGAD_PATH,
             other.db, d.endpoint);
    st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d", st);
    testd_cleanup(&other);
    cr_assert_eq(testd_stop(&d, SIGTERM), 0);
    /* tcp://127.0.0.1:* binds a free port and says which in the stats file. */
    snprintf(d.endpoint, sizeof(d.endpoint), "tcp://127.0.0.1:*");
    cr_assert_eq(testd_start(&d, NULL), 0);
    f = fopen(d.stats, "r");
    cr_assert_not_null(f);
    cr_assert_not_null(fgets(line, sizeof(line), f));
    fclose(f);
    cr_assert(strncmp(line, "listen tcp://127.0.0.1:", 23) == 0 && line[23] != '*', "%s", line);
    cr_assert_eq(testd_stop(&d, SIGTERM), 0);
}

Test(lifecycle, sighup_policy_change_is_stored_and_pushed)
{
    htga *h = NULL;
    char conf[160];
    FILE *f;
    double l1 = 0, l2 = 0;
    int64_t deadline;

    snprintf(conf, sizeof(conf), "%s/htgad.conf", d.dir);
    f = fopen(conf, "w");
    fprintf(f, "policy = linear:1\nlambda-max = 100\nlambda-min 0.001\n");
    fclose(f);
    cr_assert_eq(
        testd_start(&d, "--config", conf, "--block-samples", "1024", "--estimators", "2", NULL), 0);
    cr_assert_eq(htga_create(&h, d.endpoint, "hup"), HTGA_OK);
    send_blocks(h, "g", 0, 2, 1024);
    cr_assert_eq(testd_wait_query(&d, "SELECT count(*) FROM estimates", 2, 10000), 0);
    double a1 = testd_query_double(&d, "SELECT alpha FROM estimates WHERE block = 1");
    deadline = now_ms() + 5000; /* block 1's lambda reaches the trainer */
    while ((htga_lambda_get(h, "g", &l1) != HTGA_OK || fabs(l1 - a1) > 1e-9) && now_ms() < deadline)
        sleep_ms(10);
    cr_assert_float_eq(l1, a1, 1e-9);
    f = fopen(conf, "w");
    fprintf(f, "policy = linear:3\nlambda-max = 100\nlambda-min 0.001\n");
    fclose(f);
    kill(d.pid, SIGHUP);
    /* No new block: the lambda is re-derived from block 1 and pushed. */
    deadline = now_ms() + 3000;
    do {
        sleep_ms(20);
        htga_lambda_get(h, "g", &l2);
    } while (fabs(l2 - 3 * l1) > 1e-9 && now_ms() < deadline);
    cr_assert_float_eq(l2, 3 * l1, 1e-9);
    cr_assert_eq(testd_wait_query(&d,
                                  "SELECT count(*) FROM policy_changes WHERE source = 'flags'"
                                  " AND param = 3",
                                  1, 3000),
                 0);
    /* The next block is computed and stored under the new policy. */
    send_blocks(h, "g", 2, 1, 1024);
    cr_assert_eq(testd_wait_query(&d, "SELECT count(*) FROM estimates", 3, 10000), 0);
    cr_assert_eq(testd_query(&d, "SELECT abs(b.lambda - 3 * b.alpha) < 1e-9 AND p.param = 3"
                                 " FROM blocks b JOIN policy_changes p ON p.id = b.policy_id"
                                 " WHERE b.block = 2"),
                 1);
    cr_assert_eq(testd_query(&d, "SELECT count(*) FROM policy_changes"), 2);
    htga_destroy(&h);
    cr_assert_eq(testd_stop(&d, SIGTERM), 0);
}

/* After a restart the latest block's estimate is reloaded: a SIGHUP policy
 * change re-derives the lambda at once, before any new sample, with the
 * EMA state the latest block started from. */
Test(lifecycle, restart_then_sighup_pushes_at_once)
{
    htga *h = NULL;
    char conf[160];
    FILE *f;
    double l = 0, alpha, lam_before;
    int64_t deadline;

    snprintf(conf, sizeof(conf), "%s/htgad.conf", d.dir);
    f = fopen(conf, "w");
    fprintf(f, "policy = linear:1\nlambda-max = 100\nlambda-min 0.001\nema 0.5\n");
    fclose(f);
    cr_assert_eq(
        testd_start(&d, "--config", conf, "--block-samples", "1024", "--estimators", "2", NULL), 0);
    cr_assert_eq(htga_create(&h, d.endpoint, "rehup"), HTGA_OK);
    send_blocks(h, "g", 0, 2, 1024);
    cr_assert_eq(testd_wait_query(&d, "SELECT count(*) FROM estimates", 2, 10000), 0);
    htga_destroy(&h);
    cr_assert_eq(testd_stop(&d, SIGTERM), 0);

    cr_assert_eq(
        testd_start(&d, "--config", conf, "--block-samples", "1024", "--estimators", "2", NULL), 0);
    cr_assert_eq(htga_create(&h, d.endpoint, "rehup"), HTGA_OK);
    cr_assert_eq(testd_query(&d, "SELECT count(*) FROM blocks WHERE lambda_reason = 0"), 2);
    alpha = testd_query_double(&d, "SELECT alpha FROM estimates WHERE block = 1");
    lam_before = testd_query_double(&d, "SELECT lambda FROM estimates WHERE block = 0");
    deadline = now_ms() + 3000; /* the late joiner gets the stored lambda */
    while (htga_lambda_get(h, "g", &l) != HTGA_OK && now_ms() < deadline)
        sleep_ms(10);
    cr_assert_float_eq(l, testd_query_double(&d, "SELECT lambda FROM estimates WHERE block = 1"),
                       1e-9);
    f = fopen(conf, "w");
    fprintf(f, "policy = linear:3\nlambda-max = 100\nlambda-min 0.001\nema 0.5\n");
    fclose(f);
    kill(d.pid, SIGHUP);
    /* No new sample: block 1 re-derived under linear:3, EMA from block 0. */
    double want = 0.5 * lam_before + 0.5 * 3 * alpha;
    deadline = now_ms() + 3000;
    do {
        sleep_ms(20);
        htga_lambda_get(h, "g", &l);
    } while (fabs(l - want) > 1e-9 && now_ms() < deadline);
    cr_assert_float_eq(l, want, 1e-9);
    htga_destroy(&h);
    cr_assert_eq(testd_stop(&d, SIGTERM), 0);
}

Test(lifecycle, clean_stop_counts_no_drops)
{
    htga *h = NULL;

    cr_assert_eq(testd_start(&d, "--block-samples", "1024", NULL), 0);
    cr_assert_eq(htga_create(&h, d.endpoint, "clean"), HTGA_OK);
    send_blocks(h, "g", 0, 3, 700); /* 2 blocks + a partial one flushed at the stop */
    cr_assert_eq(testd_wait_query(&d, "SELECT count(*) FROM estimates", 2, 10000), 0);
    cr_assert_eq(testd_wait_stat(&d, "samples", 2100, 5000), 0);
    cr_assert_eq(testd_stop(&d, SIGINT), 0); /* SIGINT stops like SIGTERM */
    htga_destroy(&h);
    cr_assert_eq(testd_query(&d, "SELECT count(*) FROM estimates"), 3);
    cr_assert_eq(testd_stat(&d, "blocks_estimated"), 3);
    cr_assert_eq(testd_stat(&d, "rows_written"), 3);
    cr_assert_eq(testd_stat(&d, "drop_lambda_pipe"), 0);
    cr_assert_eq(testd_stat(&d, "drop_est_queue"), 0);
    cr_assert_eq(testd_stat(&d, "write_errors"), 0);
    cr_assert_eq(testd_stat(&d, "queue_est_depth"), 0);
    cr_assert_eq(testd_stat(&d, "queue_writer_depth"), 0);
}
