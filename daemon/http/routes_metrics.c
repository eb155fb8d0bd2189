/*
 * routes_metrics: GET /metrics, Prometheus text format (metrics.h writes
 * it): the build, the daemon's counters, each live run's flow, the latest
 * block's figures of each (run, group), and the server's own requests.
 *
 * Design: per-group gauges come from one query over the latest block of
 * each group (Q_METRICS_LATEST); runs and groups without a block for
 * cfg.metrics_expire_s leave, so finished runs do not pile up series.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "htga_config.h"
#include "internal.h"
#include "metrics.h"
#include "queries.h"
#include "sql.h"

/* Per-run flow families (htga_run_*{run="..."}). */
static void metrics_flow(const struct http_server *s, hbuf *b)
{
    static const struct {
        const char *name, *type, *help;
        size_t off;
    } fam[] = {
        {"htga_run_ranks", "gauge", "Client connections of a run.",
         offsetof(struct http_run_flow, ranks)},
        {"htga_run_budget_values", "gauge", "Values per send htgad asks of each rank of a run.",
         offsetof(struct http_run_flow, budget_values)},
        {"htga_run_budget_every", "gauge", "A rank of a run sends one step in this many.",
         offsetof(struct http_run_flow, budget_every)},
        {"htga_run_client_drops_total", "counter",
         "Messages a run's clients report they dropped (their queue full, daemon away).",
         offsetof(struct http_run_flow, client_drops)},
        {"htga_run_values_refused_total", "counter",
         "Values of a run htgad refused (stream or run limit, no memory).",
         offsetof(struct http_run_flow, values_refused)},
        {"htga_run_blocks_lost_total", "counter", "Blocks of a run closed but never stored.",
         offsetof(struct http_run_flow, blocks_lost)},
    };
    struct http_run_flow *f = NULL;
    size_t n = s->cfg.flow ? s->cfg.flow(s->cfg.stats_ud, &f) : 0;
    const char *k = "run";
    double expire = s->cfg.metrics_expire_s > 0 ? s->cfg.metrics_expire_s : 3600;
    size_t live = 0;

    for (size_t i = 0; i < n; i++) /* finished runs leave, as the group gauges do */
        if (f[i].idle_s <= expire)
            f[live++] = f[i];
    for (size_t j = 0; live > 0 && j < sizeof fam / sizeof fam[0]; j++) {
        prom_family(b, fam[j].name, fam[j].type, fam[j].help);
        for (size_t i = 0; i < live; i++) {
            const char *v = f[i].run;
            double x;
            memcpy(&x, (const char *)&f[i] + fam[j].off, sizeof x);
            prom_sample(b, fam[j].name, 1, &k, &v, x);
        }
    }
    free(f);
}

/* Writes the daemon's counters as Prometheus families. */
static void metrics_daemon(const struct http_server *s, hbuf *b)
{
    struct http_stat *st = malloc(HTTP_STATS_MAX * sizeof *st);
    if (!st) {
        b->failed = 1;
        return;
    }
    size_t n = http_daemon_stats(s, st);
    char name[160];
    for (size_t i = 0; i < n; i++) {
        int counter = st[i].kind == HTTP_STAT_COUNTER;
        snprintf(name, sizeof name, "htga_%s%s", st[i].name, counter ? "_total" : "");
        if (i == 0 || strcmp(st[i - 1].name, st[i].name) != 0)
            prom_family(b, name, counter ? "counter" : "gauge", st[i].help);
        const char *k = st[i].label, *v = st[i].label_value;
        prom_sample(b, name, k ? 1 : 0, &k, &v, st[i].value);
    }
    free(st);
}

static const struct {
    const char *name, *help;
    int col;
} group_gauges[] = {
    {"htga_alpha", "Hill tail index alpha of the latest block of a group.", 4},
    {"htga_alpha_stderr", "Standard error of alpha of the latest block.", 5},
    {"htga_kurtosis", "Excess kurtosis of the latest block.", 6},
    {"htga_gradient_variance", "Variance of the latest block's gradient samples.", 7},
    {"htga_lambda", "Gradient scale lambda recommended after the latest block.", 8},
    {"htga_lambda_min", "Lower clamp of lambda in the policy of the latest block.", 9},
    {"htga_lambda_max", "Upper clamp of lambda in the policy of the latest block.", 10},
    {"htga_last_step", "Last training step of the latest block.", 3},
    {"htga_last_block", "Index of the latest estimated block of a group.", 2},
};

/* Writes per-(run, group) gauges for groups with a block newer than the
 * expiry; finished runs drop out after cfg.metrics_expire_s. */
static void metrics_groups(const struct request *r, hbuf *b)
{
    const char *err;
    sqlite3 *db = req_db(r, &err);
    if (!db)
        return;
    sqlite3_stmt *st = sql_prep(db, Q_METRICS_LATEST);
    if (!st)
        return;
    sqlite3_bind_double(st, 1, (double)time(NULL) - r->srv->cfg.metrics_expire_s);
    hbuf rows[sizeof group_gauges / sizeof group_gauges[0]];
    memset(rows, 0, sizeof rows);
    static const char *const keys[] = {"run", "group"};
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *vals[2] = {(const char *)sqlite3_column_text(st, 0),
                               (const char *)sqlite3_column_text(st, 1)};
        if (!vals[0] || !vals[1])
            continue;
        for (size_t g = 0; g < sizeof group_gauges / sizeof group_gauges[0]; g++) {
            int col = group_gauges[g].col;
            double v =
                sqlite3_column_type(st, col) == SQLITE_NULL ? NAN : sqlite3_column_double(st, col);
            prom_sample(&rows[g], group_gauges[g].name, 2, keys, vals, v);
        }
    }
    sql_unprep(st);
    for (size_t g = 0; g < sizeof group_gauges / sizeof group_gauges[0]; g++) {
        prom_family(b, group_gauges[g].name, "gauge", group_gauges[g].help);
        if (rows[g].len)
            hbuf_put(b, rows[g].data, rows[g].len);
        if (hbuf_failed(&rows[g]))
            b->failed = 1;
        hbuf_free(&rows[g]);
    }
}

int handle_metrics(const struct request *r, struct reply *rep)
{
    const struct http_server *s = r->srv;
    hbuf b = {0};
    const char *vk = "version", *vv = HTGA_VERSION_STRING;
    prom_family(&b, "htga_build_info", "gauge", "Always 1; the version label names the build.");
    prom_sample(&b, "htga_build_info", 1, &vk, &vv, 1);
    prom_family(&b, "htga_start_time_seconds", "gauge",
                "Start time of the HTTP server since the Unix epoch.");
    prom_sample(&b, "htga_start_time_seconds", 0, NULL, NULL, (double)s->started);
    metrics_daemon(s, &b);
    metrics_flow(s, &b);
    metrics_groups(r, &b);
    prom_family(&b, "htga_http_requests_total", "counter",
                "HTTP requests answered, by status class.");
    const char *ck = "code";
    for (int c = 1; c <= 5; c++) {
        const char *cv = http_status_class[c];
        prom_sample(&b, "htga_http_requests_total", 1, &ck, &cv,
                    (double)atomic_load(&s->requests[c]));
    }
    prom_family(&b, "htga_http_requests_cut_total", "counter",
                "HTTP requests cut because they did not arrive in time (slow clients).");
    prom_sample(&b, "htga_http_requests_cut_total", 0, NULL, NULL,
                (double)atomic_load(&s->slow_cut));
    return reply_buf(rep, &b, PROM_CONTENT_TYPE);
}
