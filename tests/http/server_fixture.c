/*
 * server_fixture: what the tests of the HTTP server over real sockets
 * share (see server_fixture.h).
 */
#include "server_fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

char dir[64], dbpath[128], webdir[128];
http_server *srv;
uint16_t port;
int policy_calls;
policy last_policy;
char last_run[256];

double alpha_of(int64_t b)
{
    return b == SPIKE ? 99.0 : b == DIP ? 0.01 : 2.0 + (double)(b % 17) * 0.01;
}

int daemon_rc;
const char *daemon_reason;

static int on_policy(void *ud, const char *run, const policy *p, char *err, size_t n)
{
    (void)ud;
    policy_calls++;
    last_policy = *p;
    snprintf(last_run, sizeof last_run, "%s", run);
    if (daemon_reason)
        snprintf(err, n, "%s", daemon_reason);
    return daemon_rc;
}

static size_t stats(void *ud, struct http_stat *out, size_t cap)
{
    (void)ud;
    static const struct http_stat st[] = {
        {"ingest_messages", "Messages received.", HTTP_STAT_COUNTER, NULL, NULL, 42},
        {"drops", "Data dropped, by reason.", HTTP_STAT_COUNTER, "reason", "queue_full", 3},
        {"drops", "Data dropped, by reason.", HTTP_STAT_COUNTER, "reason", "stream_limit", 0},
        {"queue_depth", "Items waiting, by queue.", HTTP_STAT_GAUGE, "queue", "writer", 7},
    };
    size_t n = sizeof st / sizeof st[0];
    memcpy(out, st, (n < cap ? n : cap) * sizeof st[0]);
    return n;
}

unsigned timeout_s;

void start_server(const char *token)
{
    struct http_config cfg = {
        .listen = "127.0.0.1:0",
        .db_path = dbpath,
        .token = token,
        .web_root = webdir,
        .default_policy = {POLICY_LINEAR, 1.0, 0.1, 10.0, 0.0},
        .on_policy = on_policy,
        .stats = stats,
        .metrics_expire_s = 3600,
        .timeout_s = timeout_s,
    };
    char err[128];
    cr_assert_eq(http_start(&srv, &cfg, err, sizeof err), HTTP_OK, "%s", err);
    port = http_port(srv);
    cr_assert_neq(port, 0);
}

void server_setup(void)
{
    cr_assert_not_null(fixture_tmpdir(dir, sizeof dir));
    snprintf(dbpath, sizeof dbpath, "%s/t.db", dir);
    snprintf(webdir, sizeof webdir, "%s/web", dir);
    mkdir(webdir, 0700);
    char p[192];
    snprintf(p, sizeof p, "%s/index.html", webdir);
    FILE *f = fopen(p, "w");
    fputs("<!doctype html><title>htga</title>", f);
    fclose(f);
    sqlite3 *db = fixture_db(dbpath);
    cr_assert_not_null(db);
    double now = (double)time(NULL);
    int64_t g1 = fixture_group(db, "run-1", "layer/1.w", now);
    int64_t g2 = fixture_group(db, "run-1", "g2", now);
    int64_t g3 = fixture_group(db, "old run", "g", now - 86400);
    fixture_group(db, "run-1", "empty", now);
    cr_assert_eq(fixture_blocks(db, g1, 0, NBLOCKS, alpha_of, now), 0);
    cr_assert_eq(fixture_blocks(db, g2, 0, 10, NULL, now), 0);
    cr_assert_eq(fixture_blocks(db, g3, 0, 5, NULL, now - 86400), 0);
    cr_assert_eq(fixture_rollup(db), 0);
    double y[4] = {8, 4, 2, 1};
    cr_assert_eq(fixture_top(db, g2, 9, y, 4), 0);
    cr_assert_eq(sqlite3_exec(db,
                              "INSERT INTO policy_changes(run_id, kind, param, lambda_min,"
                              " lambda_max, ema, source, created_at) SELECT id, 'linear', 0.5,"
                              " 0.2, 5, 0.1, 'default', 1000 FROM runs WHERE name = 'run-1'",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(db);
    policy_calls = 0;
    daemon_rc = HTTP_OK;
    daemon_reason = NULL;
    timeout_s = 0;
}

void server_teardown(void)
{
    http_stop(&srv);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

json_t *get_json(const char *path, int want_status)
{
    struct hresp r;
    httpc(port, "GET", path, NULL, NULL, 0, &r);
    cr_assert_eq(r.status, want_status, "%s: %d %s", path, r.status, r.body);
    char ct[128];
    cr_assert_str_eq(hresp_header(&r, "Content-Type", ct, sizeof ct), "application/json");
    json_error_t e;
    json_t *j = json_loads(r.body, 0, &e);
    cr_assert_not_null(j, "%s: not JSON: %s", path, r.body);
    hresp_free(&r);
    return j;
}

void expect_error_text(const char *method, const char *path, const char *hdr, const char *body,
                       int status, const char *text)
{
    struct hresp r;
    httpc(port, method, path, hdr, body, body ? strlen(body) : 0, &r);
    cr_assert_eq(r.status, status, "%s %s: %d %s", method, path, r.status, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    const char *msg = json_string_value(json_object_get(j, "error"));
    cr_assert_not_null(msg, "%s", r.body);
    if (text)
        cr_assert_str_eq(msg, text);
    json_decref(j);
    hresp_free(&r);
}

void expect_error(const char *method, const char *path, const char *hdr, const char *body,
                  int status)
{
    expect_error_text(method, path, hdr, body, status, NULL);
}
