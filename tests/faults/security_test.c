/*
 * Security of the ZeroMQ port against the real htgad (issue 13): one peer
 * flooding new run names cannot take the stream slots other peers need,
 * and is told why it is refused; with CURVE on, a client without the right
 * keys is refused and counted on both ends, one with them is served (keys
 * made by the real `htga keygen`, given to libhtga by option or by the
 * environment). The flooding peer speaks the wire protocol itself from a
 * second loopback address (127.0.0.2), the honest one uses libhtga.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <zmq.h>

#include "harness.h"
#include "htga.h"
#include "wire.h"

#define BLOCK  "1024"
#define NBLOCK 1024
#define FLOOD  1100

static testd d;

static void setup(void)
{
    testd_init(&d);
}

static void teardown(void)
{
    testd_cleanup(&d);
}

TestSuite(security, .init = setup, .fini = teardown, .timeout = 90);

/* Sends one block of heavy-tailed values for (h's run, group) at step. */
static void send_block(htga *h, const char *group, int64_t step)
{
    static float x[NBLOCK];
    uint64_t seed = (uint64_t)step * 7919 + 17;
    student_t(x, NBLOCK, 3.0, &seed);
    cr_assert_eq(htga_send(h, group, step, x, NBLOCK), HTGA_OK);
}

static int wait_rows(const char *run, int64_t want, int timeout_ms)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) >= %lld FROM estimates WHERE run = '%s'",
             (long long)want, run);
    return testd_wait_query(&d, sql, 1, timeout_ms);
}

/* Polls the stats file until key is at least want. 0, or -1 at the deadline. */
static int wait_stat_at_least(const char *key, int64_t want, int timeout_ms)
{
    for (int64_t t = now_ms(); now_ms() - t < timeout_ms; sleep_ms(10))
        if (testd_stat(&d, key) >= want)
            return 0;
    return -1;
}

/* ---- stream-slot flooding ------------------------------------------------ */

/* A raw DEALER connected from source address src (another loopback
 * address is another peer to htgad). */
static void *dealer_from(void *ctx, const char *src)
{
    char ep[128];
    int linger = 0, hwm = 100000;
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    cr_assert_not_null(s);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    snprintf(ep, sizeof ep, "tcp://%s:0;127.0.0.1:%d", src, d.port);
    cr_assert_eq(zmq_connect(s, ep), 0, "connect %s: %s", ep, zmq_strerror(zmq_errno()));
    return s;
}

/* One SAMPLES message of one value under run name `run`, group "g". */
static void send_one_value(void *s, const char *run, int64_t step)
{
    unsigned char hdr[WIRE_HEADER_MAX];
    float v = 1.5f;
    wire_msg m = {.kind = WIRE_SAMPLES,
                  .step = step,
                  .count = 1,
                  .run = run,
                  .run_len = strlen(run),
                  .group = "g",
                  .group_len = 1};
    size_t hlen = wire_encode_header(&m, hdr, sizeof hdr);
    cr_assert_gt(hlen, 0);
    cr_assert_geq(zmq_send(s, hdr, hlen, ZMQ_SNDMORE), 0);
    cr_assert_geq(zmq_send(s, &v, sizeof v, 0), 0);
}

/* Reads what htgad sent back to s until `want` refusals arrived or
 * timeout_ms passed; every message must be a refusal notice (a LAMBDA of
 * reason WIRE_REFUSED_* and lambda 1). Returns the refusals seen. */
static int read_refusals(void *s, int want, int timeout_ms)
{
    int got = 0;
    int64_t deadline = now_ms() + timeout_ms;
    while (got < want && now_ms() < deadline) {
        zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 50) <= 0)
            continue;
        zmq_msg_t f[2];
        size_t n = 0;
        int more = 1;
        while (more) {
            zmq_msg_t x;
            zmq_msg_init(&x);
            cr_assert_geq(zmq_msg_recv(&x, s, 0), 0);
            more = zmq_msg_more(&x);
            if (n < 2)
                f[n++] = x;
            else
                zmq_msg_close(&x);
        }
        cr_assert_eq(n, 2, "a notice has a header and a body");
        const void *data[2] = {zmq_msg_data(&f[0]), zmq_msg_data(&f[1])};
        size_t lens[2] = {zmq_msg_size(&f[0]), zmq_msg_size(&f[1])};
        wire_msg m;
        wire_lambda lam;
        cr_assert_eq(wire_decode_dir(data, lens, 2, WIRE_DIR_TO_CLIENT, &m, NULL), WIRE_OK);
        wire_decode_lambda(m.body, &lam);
        cr_assert(lam.reason == WIRE_REFUSED_PEER_RUNS || lam.reason == WIRE_REFUSED_PEER_STREAMS,
                  "reason %u", lam.reason);
        cr_assert_eq(lam.lambda, 1.0);
        cr_assert(isnan(lam.alpha));
        got++;
        zmq_msg_close(&f[0]);
        zmq_msg_close(&f[1]);
    }
    return got;
}

/* The probe: 1,100 one-value SAMPLES under new run names from one
 * DEALER used to fill every stream slot in a second; a new run of another
 * trainer then lost all its samples. Now the flooding peer gets its burst
 * of runs and a refusal notice for each of the rest, a run that was going
 * on keeps storing blocks, and a new run from another peer is admitted. */
Test(security, stream_flood_from_one_peer_leaves_room_for_others)
{
    htga *early, *late;
    cr_assert_eq(testd_start(&d, "--block-samples", BLOCK, "--max-streams", "64",
                             "--peer-runs-burst", "8", "--peer-runs-per-s", "2", NULL),
                 0);
    cr_assert_eq(htga_create(&early, d.endpoint, "early"), HTGA_OK);
    send_block(early, "w", 0);
    cr_assert_eq(wait_rows("early", 1, 10000), 0);

    void *ctx = zmq_ctx_new();
    void *flood = dealer_from(ctx, "127.0.0.2");
    int64_t t0 = now_ms();
    char run[32];
    for (int i = 0; i < FLOOD; i++) {
        snprintf(run, sizeof run, "junk-%d", i);
        send_one_value(flood, run, i);
    }
    cr_assert_eq(wait_stat_at_least("msgs", FLOOD + 1, 10000), 0, "the flood arrived");
    double secs = (double)(now_ms() - t0) / 1000.0;
    /* the burst, plus 2 a second for as long as the flood took */
    int64_t admitted_max = 8 + (int64_t)ceil(2.0 * secs) + 1;
    int64_t refused = testd_stat(&d, "drop_peer_runs");
    cr_assert_geq(refused, FLOOD - admitted_max, "refused %lld of %d in %.1f s", (long long)refused,
                  FLOOD, secs);
    cr_assert_leq(testd_stat(&d, "runs"), admitted_max + 1, "the flood holds few runs");
    cr_assert_geq(read_refusals(flood, 100, 5000), 100, "the flooding peer is told why");
    cr_log_info("flood: %d new runs in %.2f s, %lld refused, %lld runs held", FLOOD, secs,
                (long long)refused, (long long)testd_stat(&d, "runs"));

    /* the run that was going on, and a new run of another peer */
    send_block(early, "w", 1);
    cr_assert_eq(wait_rows("early", 2, 10000), 0);
    cr_assert_eq(htga_create(&late, d.endpoint, "late"), HTGA_OK);
    send_block(late, "w", 0);
    cr_assert_eq(wait_rows("late", 1, 10000), 0);
    htga_stats st;
    cr_assert_eq(htga_stats_get(late, &st, sizeof st), HTGA_OK);
    cr_assert_eq(st.refused, 0);
    htga_destroy(&early);
    htga_destroy(&late);
    zmq_close(flood);
    zmq_ctx_term(ctx);
    cr_assert_eq(testd_stop(&d, SIGTERM), 0);
    /* the refused names never reached the database */
    cr_assert_leq(testd_query(&d, "SELECT count(*) FROM runs WHERE name LIKE 'junk-%'"),
                  admitted_max);
}

/* One peer opening groups of one run: --peer-max-streams of them are held,
 * the next is refused with a notice libhtga counts (htga_stats.refused)
 * and keeps no lambda for; another peer still gets its groups. */
Test(security, one_peer_holds_at_most_its_share_of_streams)
{
    htga *h;
    double lam;
    cr_assert_eq(testd_start(&d, "--block-samples", BLOCK, "--max-streams", "16",
                             "--peer-max-streams", "3", NULL),
                 0);
    cr_assert_eq(htga_create(&h, d.endpoint, "greedy"), HTGA_OK);
    send_block(h, "a", 0);
    send_block(h, "b", 0);
    send_block(h, "c", 0);
    cr_assert_eq(wait_rows("greedy", 3, 10000), 0);
    send_block(h, "d", 0);
    htga_stats st = {0};
    for (int64_t t = now_ms(); st.refused == 0 && now_ms() - t < 5000; sleep_ms(10))
        cr_assert_eq(htga_stats_get(h, &st, sizeof st), HTGA_OK);
    cr_assert_eq(st.refused, 1);
    cr_assert_eq(htga_lambda_get(h, "d", &lam), HTGA_ENOTFOUND, "a refusal is not a lambda");
    cr_assert_eq(testd_wait_stat(&d, "drop_peer_streams", NBLOCK, 5000), 0);

    void *ctx = zmq_ctx_new();
    void *s = dealer_from(ctx, "127.0.0.3"); /* another peer, same run */
    unsigned char hdr[WIRE_HEADER_MAX];
    static float x[NBLOCK];
    uint64_t seed = 5;
    student_t(x, NBLOCK, 3.0, &seed);
    wire_msg m = {.kind = WIRE_SAMPLES,
                  .count = NBLOCK,
                  .run = "greedy",
                  .run_len = 6,
                  .group = "e",
                  .group_len = 1};
    size_t hlen = wire_encode_header(&m, hdr, sizeof hdr);
    cr_assert_geq(zmq_send(s, hdr, hlen, ZMQ_SNDMORE), 0);
    cr_assert_geq(zmq_send(s, x, sizeof x, 0), 0);
    cr_assert_eq(wait_rows("greedy", 4, 10000), 0);
    cr_assert_eq(testd_query(&d, "SELECT count(*) FROM estimates WHERE group_name = 'd'"), 0);
    zmq_close(s);
    zmq_ctx_term(ctx);
    htga_destroy(&h);
    cr_assert_eq(testd_stop(&d, SIGTERM), 0);
}

/* ---- CURVE --------------------------------------------------------------- */

/* Runs `htga keygen ARGS` with stdout to out_path (NULL: discarded). */
static void keygen(const char *args, const char *out_path)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s keygen %s > %s", HTGA_CLI_PATH, args,
             out_path ? out_path : "/dev/null");
    int rc = system(cmd);
    cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "%s failed", cmd);
}

/* The public key of a keygen file, into key (41 bytes). */
static void public_of(const char *path, char *key)
{
    char line[256], word[16];
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    key[0] = '\0';
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%15s %40s", word, key) == 2 && strcmp(word, "public") == 0)
            break;
    fclose(f);
    cr_assert_eq(strlen(key), 40);
}

struct curve_fixture {
    char server[160], client[160], stranger[160], clients[160];
    char server_pub[41];
};

/* Server, listed client and unlisted client key files; htgad with CURVE. */
static void start_curve(struct curve_fixture *k)
{
    char args[256];
    snprintf(k->server, sizeof k->server, "%s/server.key", d.dir);
    snprintf(k->client, sizeof k->client, "%s/client.key", d.dir);
    snprintf(k->stranger, sizeof k->stranger, "%s/stranger.key", d.dir);
    snprintf(k->clients, sizeof k->clients, "%s/clients", d.dir);
    snprintf(args, sizeof args, "-o %s", k->server);
    keygen(args, NULL);
    snprintf(args, sizeof args, "-o %s", k->client);
    keygen(args, NULL);
    snprintf(args, sizeof args, "-o %s", k->stranger);
    keygen(args, NULL);
    snprintf(args, sizeof args, "--public %s", k->client);
    keygen(args, k->clients);
    public_of(k->server, k->server_pub);
    cr_assert_eq(testd_start(&d, "--block-samples", BLOCK, "--curve-key-file", k->server,
                             "--curve-clients", k->clients, NULL),
                 0);
}

static int64_t wait_auth_failures(htga *h, uint64_t want, int timeout_ms)
{
    htga_stats st = {0};
    for (int64_t t = now_ms(); st.auth_failures < want && now_ms() - t < timeout_ms; sleep_ms(10))
        cr_assert_eq(htga_stats_get(h, &st, sizeof st), HTGA_OK);
    return (int64_t)st.auth_failures;
}

Test(security, curve_serves_a_listed_client)
{
    struct curve_fixture k;
    htga *h;
    double lam = 0;
    start_curve(&k);
    cr_assert_eq(htga_create(&h, d.endpoint, "keyed"), HTGA_OK);
    cr_assert_eq(htga_set_str(h, HTGA_OPT_CURVE_KEY_FILE, k.client), HTGA_OK);
    cr_assert_eq(htga_set_str(h, HTGA_OPT_CURVE_SERVER_KEY, k.server_pub), HTGA_OK);
    send_block(h, "w", 0);
    cr_assert_eq(wait_rows("keyed", 1, 10000), 0);
    for (int64_t t = now_ms(); htga_lambda_get(h, "w", &lam) != HTGA_OK && now_ms() - t < 5000;)
        sleep_ms(10);
    cr_assert_eq(htga_lambda_get(h, "w", &lam), HTGA_OK, "the lambda comes back encrypted");
    htga_destroy(&h);

    /* the same through the environment (what htga send gets): the keys are
     * there before the first connection, so not even one attempt without
     * them is refused (set by option, the first may be) */
    setenv("HTGA_CURVE_KEY_FILE", k.client, 1);
    setenv("HTGA_CURVE_SERVER_KEY", k.server_pub, 1);
    int rc = htga_create(&h, d.endpoint, "keyed-env");
    unsetenv("HTGA_CURVE_KEY_FILE");
    unsetenv("HTGA_CURVE_SERVER_KEY");
    cr_assert_eq(rc, HTGA_OK);
    send_block(h, "w", 0);
    cr_assert_eq(wait_rows("keyed-env", 1, 10000), 0);
    htga_stats st;
    cr_assert_eq(htga_stats_get(h, &st, sizeof st), HTGA_OK);
    cr_assert_eq(st.auth_failures, 0);
    htga_destroy(&h);
    cr_assert_eq(testd_stop(&d, SIGTERM), 0);
}

Test(security, curve_refuses_and_counts_clients_without_the_key)
{
    struct curve_fixture k;
    htga *plain, *stranger, *wrong_server;
    start_curve(&k);
    /* no CURVE at all */
    cr_assert_eq(htga_create(&plain, d.endpoint, "plain"), HTGA_OK);
    cr_assert_geq(wait_auth_failures(plain, 1, 10000), 1, "the client sees the refusal");
    cr_assert_eq(wait_stat_at_least("auth_refused", 1, 10000), 0, "htgad counts it");
    /* keys of its own, not on the list */
    int64_t before = testd_stat(&d, "auth_refused");
    cr_assert_eq(htga_create(&stranger, d.endpoint, "stranger"), HTGA_OK);
    cr_assert_eq(htga_set_str(stranger, HTGA_OPT_CURVE_KEY_FILE, k.stranger), HTGA_OK);
    cr_assert_eq(htga_set_str(stranger, HTGA_OPT_CURVE_SERVER_KEY, k.server_pub), HTGA_OK);
    cr_assert_geq(wait_auth_failures(stranger, 1, 10000), 1);
    cr_assert_eq(wait_stat_at_least("auth_refused", before + 1, 10000), 0);
    /* a listed key but the wrong server key */
    char other_pub[41];
    public_of(k.stranger, other_pub);
    cr_assert_eq(htga_create(&wrong_server, d.endpoint, "wrong-server"), HTGA_OK);
    cr_assert_eq(htga_set_str(wrong_server, HTGA_OPT_CURVE_KEY_FILE, k.client), HTGA_OK);
    cr_assert_eq(htga_set_str(wrong_server, HTGA_OPT_CURVE_SERVER_KEY, other_pub), HTGA_OK);
    before = testd_stat(&d, "auth_refused");
    cr_assert_eq(wait_stat_at_least("auth_refused", before + 1, 10000), 0);
    /* none of them got a message in */
    send_block(plain, "w", 0);
    send_block(stranger, "w", 0);
    send_block(wrong_server, "w", 0);
    htga_destroy(&plain);
    htga_destroy(&stranger);
    htga_destroy(&wrong_server);
    cr_assert_eq(testd_stat(&d, "msgs"), 0);
    cr_assert_eq(testd_stop(&d, SIGTERM), 0);
    cr_assert_eq(testd_query(&d, "SELECT count(*) FROM estimates"), 0);
    cr_assert_eq(testd_query(&d, "SELECT count(*) FROM runs"), 0);
}

/* Settings that cannot work stop htgad at start-up, naming the setting. */
Test(security, curve_settings_are_checked_at_start)
{
    char key[160], args[512], log[4096] = "";
    snprintf(key, sizeof key, "%s/server.key", d.dir);
    snprintf(args, sizeof args, "-o %s", key);
    keygen(args, NULL);
    cr_assert_neq(testd_start(&d, "--curve-key-file", key, NULL), 0, "no allow-list");
    FILE *f = fopen(d.log, "r");
    cr_assert_not_null(f);
    size_t n = fread(log, 1, sizeof log - 1, f);
    log[n] = '\0';
    fclose(f);
    cr_assert(strstr(log, "--curve-clients") != NULL, "log: %s", log);
    cr_assert_neq(testd_start(&d, "--curve-secret-key", "not-a-key", NULL), 0);
    cr_assert_neq(testd_start(&d, "--curve-key-file", "/dev/zero", NULL), 0, "a device is no key");
    cr_assert_neq(testd_start(&d, "--curve-key-file", key, "--curve-clients", "/dev/zero", NULL),
                  0);
    /* libhtga refuses a bad key file from the environment at once */
    htga *h = NULL;
    setenv("HTGA_CURVE_KEY_FILE", "/dev/zero", 1);
    int created = htga_create(&h, d.endpoint, "r");
    unsetenv("HTGA_CURVE_KEY_FILE");
    cr_assert_eq(created, HTGA_EINVAL);
    cr_assert_null(h);
    /* keygen never overwrites a key file */
    snprintf(args, sizeof args, "%s keygen -o %s 2>/dev/null", HTGA_CLI_PATH, key);
    int rc = system(args);
    cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 2);
}
