/*
 * routes_runs: the REST handlers (health, runs, run, latest, series, hill,
 * policy, stats) and /metrics.
 *
 * Design: each handler reads through the calling thread's own read-only
 * connection with statements from queries.h, binding every request value,
 * and writes JSON straight into an hbuf (columnar series can hold millions
 * of numbers; a DOM would triple the memory). Names in paths arrive already
 * percent-decoded by route.c and are compared exactly by SQL '='.
 */
#include "est.h"
#include "internal.h"
#include "metrics.h"
#include "queries.h"
#include "series.h"

#include "rollup.h"

#include "htga_config.h"

#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

/* ---- small SQL helpers ------------------------------------------------ */

/* Statements this thread finished with, kept prepared for its next
 * request on the same connection (each thread owns one: server.c, which
 * finalizes them with it). Compiling the statements was 8% of a series
 * request's CPU: a series request runs ~9 of them. Bounded, since the
 * select lists built from the requested fields vary; the oldest go first. */
#define PARKED_MAX 16
static _Thread_local struct {
    sqlite3_stmt *st[PARKED_MAX];
    int n;
} parked;

/* A prepared statement for sql: a parked one with the same text when
 * there is one, else a new one. NULL on error. Give it back with unprep(). */
static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
    for (int i = parked.n - 1; i >= 0; i--) {
        sqlite3_stmt *st = parked.st[i];
        if (sqlite3_db_handle(st) == db && strcmp(sqlite3_sql(st), sql) == 0) {
            memmove(&parked.st[i], &parked.st[i + 1], (size_t)(parked.n - i - 1) * sizeof st);
            parked.n--;
            return st;
        }
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

/* Resets st and parks it for prep() to hand out again (the oldest parked
 * statement is finalized when full). Accepts NULL. */
static void unprep(sqlite3_stmt *st)
{
    if (!st)
        return;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (parked.n == PARKED_MAX) {
        sqlite3_finalize(parked.st[0]);
        memmove(&parked.st[0], &parked.st[1], (PARKED_MAX - 1) * sizeof st);
        parked.n--;
    }
    parked.st[parked.n++] = st;
}

/* Runs a one-statement SQL command without a result (BEGIN, COMMIT) through
 * prep(); returns the sqlite3_step code (SQLITE_DONE when it worked). */
static int exec_parked(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = prep(db, sql);
    if (!st)
        return SQLITE_ERROR;
    int rc = sqlite3_step(st);
    unprep(st);
    return rc;
}

/* Prepares the statement built in sql, then frees sql; NULL on any failure. */
static sqlite3_stmt *prep_built(sqlite3 *db, hbuf *sql)
{
    sqlite3_stmt *st = hbuf_failed(sql) ? NULL : prep(db, sql->data);
    hbuf_free(sql);
    return st;
}

/* Runs a one-row, one-integer query with ?1 = a1 and, when s2 is not NULL,
 * ?2 = s2 (text) or else ?2 = *i2 when i2 is not NULL. Returns 1 with *out
 * set, 0 for no row or NULL, -1 on error. */
static int query_int(sqlite3 *db, const char *sql, int64_t a1, const char *s2, const int64_t *i2,
                     int64_t *out)
{
    sqlite3_stmt *st = prep(db, sql);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, a1);
    if (s2)
        sqlite3_bind_text(st, 2, s2, -1, SQLITE_STATIC);
    else if (i2)
        sqlite3_bind_int64(st, 2, *i2);
    int rc = sqlite3_step(st);
    int ret = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    if (ret == 1 && sqlite3_column_type(st, 0) == SQLITE_NULL)
        ret = 0;
    if (ret == 1)
        *out = sqlite3_column_int64(st, 0);
    unprep(st);
    return ret;
}

/* Appends column i of the current row as a JSON value. */
static void col_json(hbuf *b, sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        hbuf_printf(b, "%lld", (long long)sqlite3_column_int64(st, i));
        break;
    case SQLITE_FLOAT:
        hbuf_json_num(b, sqlite3_column_double(st, i));
        break;
    case SQLITE_TEXT:
        hbuf_json_str(b, (const char *)sqlite3_column_text(st, i));
        break;
    default:
        hbuf_puts(b, "null");
    }
}

/* Appends the current row as an object keyed by column names. */
static void row_json(hbuf *b, sqlite3_stmt *st)
{
    hbuf_put(b, "{", 1);
    for (int i = 0; i < sqlite3_column_count(st); i++) {
        if (i)
            hbuf_put(b, ",", 1);
        hbuf_json_str(b, sqlite3_column_name(st, i));
        hbuf_put(b, ":", 1);
        col_json(b, st, i);
    }
    hbuf_put(b, "}", 1);
}

/* Appends every row of st as a JSON array of objects keyed by column name
 * (the queries alias their columns with the answer's keys) and finalizes st.
 * Returns SQLITE_DONE when every row was read, else the SQLite error. */
static int rows_json(hbuf *b, sqlite3_stmt *st)
{
    int rc, n = 0;
    hbuf_put(b, "[", 1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n++)
            hbuf_put(b, ",", 1);
        row_json(b, st);
    }
    hbuf_put(b, "]", 1);
    unprep(st);
    return rc;
}

static int db_or_error(const struct request *r, struct reply *rep, sqlite3 **db)
{
    const char *err = "database not available";
    *db = req_db(r, &err);
    if (!*db) {
        reply_error(rep, 503, err);
        return -1;
    }
    return 0;
}

static int sql_error(struct reply *rep, sqlite3 *db)
{
    char msg[256];
    snprintf(msg, sizeof msg, "database error: %s", sqlite3_errmsg(db));
    return reply_error(rep, 500, msg);
}

/* Resolves the run (and the group, when group is not NULL) to ids; fills
 * rep with 404 or 500 and returns -1 when that fails. */
static int resolve(sqlite3 *db, const char *run, const char *group, int64_t *run_id,
                   int64_t *group_id, struct reply *rep)
{
    sqlite3_stmt *st = prep(db, Q_RUN_ID);
    if (!st)
        return sql_error(rep, db), -1;
    sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *run_id = sqlite3_column_int64(st, 0);
    unprep(st);
    if (rc != SQLITE_ROW)
        return (rc == SQLITE_DONE ? reply_error(rep, 404, "unknown run") : sql_error(rep, db)), -1;
    if (!group)
        return 0;
    rc = query_int(db, Q_GROUP_ID, *run_id, group, NULL, group_id);
    if (rc <= 0)
        return (rc == 0 ? reply_error(rep, 404, "unknown group") : sql_error(rep, db)), -1;
    return 0;
}

/* Rejects query parameters not in allowed (NULL-terminated); names starting
 * with '_' (cache busters) pass. */
struct qcheck {
    const char *const *allowed;
    const char *bad;
};

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    (void)kind;
    (void)value;
    struct qcheck *q = cls;
    if (key[0] == '_')
        return MHD_YES;
    for (const char *const *a = q->allowed; *a; a++)
        if (strcmp(*a, key) == 0)
            return MHD_YES;
    q->bad = key;
    return MHD_NO;
}

static int only_params(const struct request *r, const char *const *allowed, struct reply *rep)
{
    struct qcheck q = {allowed, NULL};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, check_arg, &q);
    if (!q.bad)
        return 0;
    char msg[160];
    snprintf(msg, sizeof msg, "unknown query parameter '%.64s'", q.bad);
    reply_error(rep, 400, msg);
    return -1;
}

static const char *const no_params[] = {NULL};

/* ---- health, runs, run, latest --------------------------------------- */

/* /health and /health/ready: 200 when live and ready, else 503; /health/live:
 * 200 when live (a readiness reason alone keeps it 200). The reasons are
 * listed either way. */
int handle_health(const struct request *r, struct reply *rep)
{
    struct http_health h = {.live = 1, .ready = 1};
    const struct http_server *s = r->srv;
    if (s->cfg.health)
        s->cfg.health(s->cfg.health_ud, &h);
    int ok = r->route->id == ROUTE_HEALTH_LIVE ? h.live : h.live && h.ready;
    hbuf b = {0};
    hbuf_printf(&b, "{\"status\":\"%s\",\"live\":%s,\"ready\":%s,\"reasons\":[",
                ok ? "ok" : "failing", h.live ? "true" : "false", h.ready ? "true" : "false");
    for (unsigned i = 0; i < h.nreasons && i < HTTP_HEALTH_REASONS; i++) {
        if (i)
            hbuf_put(&b, ",", 1);
        h.reasons[i][sizeof h.reasons[i] - 1] = '\0';
        hbuf_json_str(&b, h.reasons[i]);
    }
    hbuf_printf(&b, "],\"version\":\"%s\",\"uptime_s\":%lld}\n", HTGA_VERSION_STRING,
                (long long)(time(NULL) - s->started));
    reply_buf(rep, &b, "application/json");
    if (rep->status == 200 && !ok)
        rep->status = 503;
    return 0;
}

int handle_runs(const struct request *r, struct reply *rep)
{
    sqlite3 *db;
    if (only_params(r, no_params, rep) || db_or_error(r, rep, &db))
        return 0;
    sqlite3_stmt *st = prep(db, Q_RUNS);
    if (!st)
        return sql_error(rep, db);
    hbuf b = {0};
    hbuf_puts(&b, "{\"runs\":");
    if (rows_json(&b, st) != SQLITE_DONE) {
        hbuf_free(&b);
        return sql_error(rep, db);
    }
    hbuf_puts(&b, "}\n");
    return reply_buf(rep, &b, "application/json");
}

/* Reads the policy columns of a Q_POLICY row into *p (an unknown kind
 * reads as linear). */
static void policy_of_row(sqlite3_stmt *st, policy *p)
{
    if (policy_kind_of((const char *)sqlite3_column_text(st, 0), &p->kind) < 0)
        p->kind = POLICY_LINEAR;
    p->param = sqlite3_column_double(st, 1);
    p->lambda_min = sqlite3_column_double(st, 2);
    p->lambda_max = sqlite3_column_double(st, 3);
    p->ema = sqlite3_column_double(st, 4);
}

/* Appends p as the API shows a policy: "kind", "c" (linear) or "q"
 * (power), "lambda_min", "lambda_max", "ema"; members only, no braces. */
static void policy_members_json(hbuf *b, const policy *p)
{
    hbuf_printf(b, "\"kind\":\"%s\",\"%s\":", policy_kind_name(p->kind),
                p->kind == POLICY_POWER ? "q" : "c");
    hbuf_json_num(b, p->param);
    hbuf_puts(b, ",\"lambda_min\":");
    hbuf_json_num(b, p->lambda_min);
    hbuf_puts(b, ",\"lambda_max\":");
    hbuf_json_num(b, p->lambda_max);
    hbuf_puts(b, ",\"ema\":");
    hbuf_json_num(b, p->ema);
}

/* Appends a Q_POLICY row as a JSON object: the policy, its source and
 * when it changed. */
static void policy_row(hbuf *b, sqlite3_stmt *st)
{
    policy p;
    policy_of_row(st, &p);
    hbuf_put(b, "{", 1);
    policy_members_json(b, &p);
    hbuf_puts(b, ",\"source\":");
    col_json(b, st, 5);
    hbuf_puts(b, ",\"changed_at\":");
    col_json(b, st, 6);
    hbuf_put(b, "}", 1);
}

/* Appends the run's current policy as a JSON object: the latest stored
 * change, or the daemon's default when none is stored. With history, adds
 * "history": every stored change, latest first (100 at most). */
static void policy_json(hbuf *b, sqlite3 *db, const struct http_server *s, int64_t run_id,
                        int history)
{
    sqlite3_stmt *st = prep(db, Q_POLICY);
    if (st)
        sqlite3_bind_int64(st, 1, run_id);
    int n = 0;
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        if (n == 0) {
            policy_row(b, st);
            if (!history) {
                n++;
                break;
            }
            b->len--; /* reopen the object */
            hbuf_puts(b, ",\"history\":[");
        } else {
            hbuf_put(b, ",", 1);
        }
        policy_row(b, st);
        n++;
    }
    unprep(st);
    if (n > 0) {
        if (history)
            hbuf_puts(b, "]}");
        return;
    }
    hbuf_put(b, "{", 1);
    policy_members_json(b, &s->cfg.default_policy);
    hbuf_puts(b, ",\"source\":\"default\",\"changed_at\":null");
    hbuf_puts(b, history ? ",\"history\":[]}" : "}");
}

/* {"run": RUN, "groups": [rows of sql for the run id] (, "policy": ...)}:
 * /runs/{run} and /runs/{run}/latest. */
static int run_groups_reply(const struct request *r, struct reply *rep, const char *sql,
                            int with_policy)
{
    sqlite3 *db;
    const char *run = r->route->run;
    int64_t rid, gid;
    if (only_params(r, no_params, rep) || db_or_error(r, rep, &db) ||
        resolve(db, run, NULL, &rid, &gid, rep))
        return 0;
    sqlite3_stmt *st = prep(db, sql);
    if (!st)
        return sql_error(rep, db);
    sqlite3_bind_int64(st, 1, rid);
    hbuf b = {0};
    hbuf_puts(&b, "{\"run\":");
    hbuf_json_str(&b, run);
    hbuf_puts(&b, ",\"groups\":");
    if (rows_json(&b, st) != SQLITE_DONE) {
        hbuf_free(&b);
        return sql_error(rep, db);
    }
    if (with_policy) {
        hbuf_puts(&b, ",\"policy\":");
        policy_json(&b, db, r->srv, rid, 0);
    }
    hbuf_puts(&b, "}\n");
    return reply_buf(rep, &b, "application/json");
}

int handle_run(const struct request *r, struct reply *rep)
{
    return run_groups_reply(r, rep, Q_RUN_GROUPS, 1);
}

int handle_latest(const struct request *r, struct reply *rep)
{
    return run_groups_reply(r, rep, Q_LATEST, 0);
}

/* ---- series ----------------------------------------------------------- */

/* Longest block range a downsampled query reads as rows (~20 ms here). */
#define SERIES_RAW_MAX 20000
/* The most blocks a series answers without max_points: past it a full answer
 * (14 fields per block) would run to hundreds of MB, so the client must ask
 * for downsampling. The dashboard's "all blocks" stays well below. */
#define SERIES_FULL_MAX 200000

struct rows_ctx {
    sqlite3 *db;
    int64_t gid;
    const char *run, *group;
    const int *ids;
    int nfields;
};

/* Called for each row by read_rows: vals[i] is field ids[i] (NaN = NULL). */
typedef int (*row_fn)(void *ud, int64_t block, int64_t step_first, int64_t step_last,
                      const double *vals);

/* Reads rows of the group with block in [b0, b1], calling row() for each. */
static int read_rows(const struct rows_ctx *c, int64_t b0, int64_t b1, row_fn row, void *ud)
{
    hbuf sql = {0};
    hbuf_puts(&sql, "SELECT block, step_first, step_last");
    for (int f = 0; f < c->nfields; f++)
        hbuf_printf(&sql, ", %s", series_field_name(c->ids[f]));
    hbuf_puts(&sql, Q_SERIES_TAIL);
    sqlite3_stmt *st = prep_built(c->db, &sql);
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, c->gid);
    sqlite3_bind_int64(st, 2, b0);
    sqlite3_bind_int64(st, 3, b1);
    double vals[SF_COUNT_];
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int f = 0; f < c->nfields; f++)
            vals[f] = sqlite3_column_type(st, 3 + f) == SQLITE_NULL
                          ? NAN
                          : sqlite3_column_double(st, 3 + f);
        if (row(ud, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                sqlite3_column_int64(st, 2), vals) != 0) {
            rc = SQLITE_ABORT;
            break;
        }
    }
    unprep(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int add_to_series(void *ud, int64_t block, int64_t step_first, int64_t step_last,
                         const double *vals)
{
    return series_add(ud, block, step_first, step_last, vals);
}

/* Parses a decimal int64 parameter; returns 0, or -1 when malformed. */
static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    if (!*s)
        return -1;
    long long v = strtoll(s, &end, 10);
    if (*end)
        return -1;
    *out = v;
    return 0;
}

struct series_q {
    int ids[SERIES_MAX_FIELDS];
    int nfields;
    int has_from, has_to, csv;
    int64_t from, to, max_points;
};

static int series_params(const struct request *r, struct series_q *q, struct reply *rep)
{
    static const char *const allowed[] = {"fields",     "from_step", "to_step",
                                          "max_points", "format",    NULL};
    if (only_params(r, allowed, rep))
        return -1;
    char buf[512], err[128];
    int bad = 0;
    memset(q, 0, sizeof *q);
    const char *v = req_query(r, "fields", buf, sizeof buf, &bad);
    if (bad || (q->nfields = series_parse_fields(v, q->ids, err, sizeof err)) < 0)
        return reply_error(rep, 400, bad ? "bad fields parameter" : err), -1;
    if ((v = req_query(r, "from_step", buf, sizeof buf, &bad)) && parse_i64(v, &q->from) == 0)
        q->has_from = 1;
    else if (v || bad)
        return reply_error(rep, 400, "from_step must be an integer"), -1;
    if ((v = req_query(r, "to_step", buf, sizeof buf, &bad)) && parse_i64(v, &q->to) == 0)
        q->has_to = 1;
    else if (v || bad)
        return reply_error(rep, 400, "to_step must be an integer"), -1;
    if ((v = req_query(r, "max_points", buf, sizeof buf, &bad)) &&
        (parse_i64(v, &q->max_points) != 0 || q->max_points < 2 || q->max_points > 1000000))
        return reply_error(rep, 400, "max_points must be an integer in [2, 1000000]"), -1;
    if (bad)
        return reply_error(rep, 400, "bad max_points"), -1;
    if ((v = req_query(r, "format", buf, sizeof buf, &bad))) {
        if (strcmp(v, "csv") == 0)
            q->csv = 1;
        else if (strcmp(v, "json") != 0)
            return reply_error(rep, 400, "format must be json or csv"), -1;
    } else if (bad) {
        return reply_error(rep, 400, "bad format"), -1;
    }
    if (q->has_from && q->has_to && q->from > q->to)
        return reply_error(rep, 400, "from_step is after to_step"), -1;
    return 0;
}

/* Finds the block range [*b0, *b1] for the step range; returns 1, 0 when
 * empty, -1 on error. */
static int block_range(sqlite3 *db, int64_t gid, const struct series_q *q, int64_t *b0, int64_t *b1)
{
    int rc = q->has_from ? query_int(db, Q_BLOCK_FROM_STEP, gid, NULL, &q->from, b0)
                         : query_int(db, Q_BLOCK_MIN, gid, NULL, NULL, b0);
    if (rc <= 0)
        return rc;
    rc = q->has_to ? query_int(db, Q_BLOCK_TO_STEP, gid, NULL, &q->to, b1)
                   : query_int(db, Q_BLOCK_MAX, gid, NULL, NULL, b1);
    if (rc <= 0)
        return rc;
    return *b0 <= *b1;
}

/* One rollup row: a run of blocks and the aggregates of the requested fields. */
struct chunk_row {
    int64_t block, count, step_first, step_last;
    double mn[SERIES_MAX_FIELDS], mx[SERIES_MAX_FIELDS], sum[SERIES_MAX_FIELDS];
    int64_t cnt[SERIES_MAX_FIELDS];
};

/* Binds group, level and the chunk range [c0, c1] to ?1-?4 of st. */
static void bind_chunks(sqlite3_stmt *st, int64_t gid, int64_t level, int64_t c0, int64_t c1)
{
    sqlite3_bind_int64(st, 1, gid);
    sqlite3_bind_int64(st, 2, level);
    sqlite3_bind_int64(st, 3, c0);
    sqlite3_bind_int64(st, 4, c1);
}

/* One rollup row of a query's current result into r: from the columns of
 * series_rollup (block_first, n_blocks, the steps, then min/max/sum/cnt of
 * each field asked for) or from the packed agg BLOB of series_rollup_agg.
 * Returns SQLITE_ROW, or an error code for a malformed row. */
static int row_from_cols(const struct rows_ctx *c, sqlite3_stmt *st, struct chunk_row *r)
{
    r->block = sqlite3_column_int64(st, 0);
    r->count = sqlite3_column_int64(st, 1);
    r->step_first = sqlite3_column_int64(st, 2);
    r->step_last = sqlite3_column_int64(st, 3);
    for (int f = 0; f < c->nfields; f++) {
        int col = 4 + 4 * f;
        r->mn[f] = sqlite3_column_double(st, col);
        r->mx[f] = sqlite3_column_double(st, col + 1);
        r->sum[f] = sqlite3_column_double(st, col + 2);
        r->cnt[f] = sqlite3_column_int64(st, col + 3);
    }
    return SQLITE_ROW;
}

static int row_from_agg(const struct rows_ctx *c, sqlite3_stmt *st, struct chunk_row *r)
{
    const unsigned char *agg = sqlite3_column_blob(st, 0);
    if (!agg || sqlite3_column_bytes(st, 0) != ROLLUP_AGG_BYTES)
        return SQLITE_CORRUPT;
    rollup_agg_get_head(agg, &r->block, &r->count, &r->step_first, &r->step_last);
    for (int f = 0; f < c->nfields; f++)
        rollup_agg_get(agg, c->ids[f], &r->mn[f], &r->mx[f], &r->sum[f], &r->cnt[f]);
    return SQLITE_ROW;
}

/* Steps st (bound, prepared by prep) to its end, folding each row, read by
 * row_of, into s; unpreps st. 0, or -1 on an SQL error, a malformed row or
 * out of memory. */
static int fold_chunks(const struct rows_ctx *c, struct series *s, sqlite3_stmt *st,
                       int (*row_of)(const struct rows_ctx *, sqlite3_stmt *, struct chunk_row *))
{
    struct chunk_row r;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((rc = row_of(c, st, &r)) != SQLITE_ROW)
            break;
        if (series_add_summary(s, r.block, r.count, r.step_first, r.step_last, r.mn, r.mx, r.sum,
                               r.cnt) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    unprep(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Folds the rollup rows of `level`, chunks [c0, c1], into s from their
 * columns: the range holds a row not packed yet (written by SQL). */
static int read_chunks_cols(const struct rows_ctx *c, struct series *s, int64_t level, int64_t c0,
                            int64_t c1)
{
    hbuf sql = {0};
    hbuf_puts(&sql, "SELECT block_first, n_blocks, step_first, step_last");
    for (int f = 0; f < c->nfields; f++) {
        const char *nm = series_field_name(c->ids[f]);
        hbuf_printf(&sql, ", %s_min, %s_max, %s_sum, %s_cnt", nm, nm, nm, nm);
    }
    hbuf_puts(&sql, Q_ROLLUP_TAIL);
    sqlite3_stmt *st = prep_built(c->db, &sql);
    if (!st)
        return -1;
    bind_chunks(st, c->gid, level, c0, c1);
    return fold_chunks(c, s, st, row_from_cols);
}

/* Folds the series_rollup rows of level `level`, chunks [c0, c1] of the
 * group, into s (see daemon/rollup.h), from their packed copies in
 * series_rollup_agg: one BLOB column of a narrow row (8 a page, where the
 * wide rows fit 4; under ingest each request re-reads its pages). When a
 * row of the range is not packed yet, the whole range is read from the
 * columns of series_rollup instead. */
static int read_chunks(const struct rows_ctx *c, struct series *s, int64_t level, int64_t c0,
                       int64_t c1)
{
    sqlite3_stmt *st = prep(c->db, Q_ROLLUP_UNPACKED);
    if (!st)
        return -1;
    bind_chunks(st, c->gid, level, c0, c1);
    int rc = sqlite3_step(st), unpacked = rc == SQLITE_ROW && sqlite3_column_int(st, 0);
    unprep(st);
    if (rc != SQLITE_ROW)
        return -1;
    if (unpacked)
        return read_chunks_cols(c, s, level, c0, c1);
    if (!(st = prep(c->db, Q_ROLLUP_AGG)))
        return -1;
    bind_chunks(st, c->gid, level, c0, c1);
    return fold_chunks(c, s, st, row_from_agg);
}

/* Folds blocks [p, q] into s with the chunks of level index li and below:
 * whole complete chunks of the level from series_rollup, the rest (the
 * partial chunks at both ends, the open chunk past `last`, the group's last
 * block) with the next level down, and rows below the smallest level. A
 * complete chunk without a row held no block. Every chunk of a level at or
 * below li must lie inside one bucket (the width is a multiple of it). */
static int fold_range(const struct rows_ctx *c, struct series *s, int64_t last, int64_t p,
                      int64_t q, int li)
{
    if (p > q)
        return 0;
    if (li < 0)
        return read_rows(c, p, q, add_to_series, s);
    int64_t level = ROLLUP_LEVEL(li);
    int64_t c0 = (p + level - 1) / level, c1 = (q + 1) / level - 1;
    int64_t done = last / level - 1; /* the last complete chunk: a later block exists */
    if (c1 > done)
        c1 = done;
    if (c0 > c1)
        return fold_range(c, s, last, p, q, li - 1);
    if (fold_range(c, s, last, p, c0 * level - 1, li - 1) != 0 ||
        read_chunks(c, s, level, c0, c1) != 0)
        return -1;
    return fold_range(c, s, last, (c1 + 1) * level, q, li - 1);
}

/* Fills s with blocks [b0, b1] of a group whose last block is `last`: as
 * rows, or, when the bucket width is a multiple of the smallest rollup
 * level, from the largest level dividing it (see fold_range). */
static int fill_series(const struct rows_ctx *c, struct series *s, int64_t b0, int64_t b1,
                       int64_t last)
{
    if (s->width == 0 || s->width % ROLLUP_LEVEL(0) != 0)
        return read_rows(c, b0, b1, add_to_series, s);
    int li = 0;
    while (li + 1 < ROLLUP_LEVELS && s->width % ROLLUP_LEVEL(li + 1) == 0)
        li++;
    return fold_range(c, s, last, b0, b1, li);
}

/* Bucket width for span blocks in at most max_points buckets: the smallest
 * that fits, then, when it is at least the smallest rollup level or the
 * range is too long to read as rows, rounded up to a multiple of half the
 * largest level not above it (of 64 at least), itself a level: a bucket
 * then folds 1 to 3 rollup rows, and the answer holds at least 2/3 of the
 * buckets asked for (half when they are under 128 blocks wide). */
static int64_t bucket_width(int64_t span, int64_t max_points)
{
    int64_t width = (span + max_points - 2) / (max_points - 1);
    if (width < ROLLUP_LEVEL(0) && span <= SERIES_RAW_MAX)
        return width;
    int li = 0;
    while (li + 1 < ROLLUP_LEVELS && ROLLUP_LEVEL(li + 1) <= width)
        li++;
    int64_t unit = ROLLUP_LEVEL(li > 0 ? li - 1 : 0);
    return (width + unit - 1) / unit * unit;
}

static int series_answer(const struct request *r, struct reply *rep, sqlite3 *db,
                         const struct series_q *qp, int64_t rid, int64_t gid);

/* The most shed events a series answer lists ("shed_truncated" past it). */
#define SERIES_SHED_MAX 1000

/* Appends ,"shed":[...] (and "shed_truncated") to b: the shed events of
 * the group or its whole run whose steps overlap the requested range (all
 * of them without one), first SERIES_SHED_MAX in step order. 0 or -1 on an
 * SQL error. */
static int shed_json(sqlite3 *db, const struct series_q *q, int64_t rid, int64_t gid, hbuf *b)
{
    sqlite3_stmt *st = prep(db, Q_SERIES_SHED);
    int rc, n = 0;

    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, rid);
    sqlite3_bind_int64(st, 2, gid);
    sqlite3_bind_int64(st, 3, q->has_from ? q->from : INT64_MIN);
    sqlite3_bind_int64(st, 4, q->has_to ? q->to : INT64_MAX);
    sqlite3_bind_int(st, 5, SERIES_SHED_MAX + 1);
    hbuf_puts(b, ",\"shed\":[");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < SERIES_SHED_MAX) {
        const char *unit = (const char *)sqlite3_column_text(st, 3);
        const char *reason = (const char *)sqlite3_column_text(st, 4);
        hbuf_printf(b, "%s{\"step_first\":%lld,\"step_last\":%lld,\"count\":%lld,\"unit\":",
                    n++ ? "," : "", (long long)sqlite3_column_int64(st, 0),
                    (long long)sqlite3_column_int64(st, 1), (long long)sqlite3_column_int64(st, 2));
        hbuf_json_str(b, unit ? unit : "");
        hbuf_puts(b, ",\"reason\":");
        hbuf_json_str(b, reason ? reason : "");
        hbuf_printf(b, ",\"scope\":\"%s\"}", sqlite3_column_int(st, 5) ? "run" : "group");
    }
    hbuf_printf(b, "],\"shed_truncated\":%s", rc == SQLITE_ROW ? "true" : "false");
    unprep(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int handle_series(const struct request *r, struct reply *rep)
{
    sqlite3 *db;
    struct series_q q;
    int64_t rid, gid;
    if (series_params(r, &q, rep) || db_or_error(r, rep, &db) ||
        resolve(db, r->route->run, r->route->group, &rid, &gid, rep))
        return 0;
    /* one read snapshot: the range, the rollup rows and the rows agree; a
     * read transaction left open would pin the WAL and fail this thread's
     * next BEGIN, so a COMMIT that fails is rolled back */
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    if (exec_parked(db, "BEGIN") != SQLITE_DONE)
        return sql_error(rep, db);
    series_answer(r, rep, db, &q, rid, gid);
    if (exec_parked(db, "COMMIT") != SQLITE_DONE)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return 0;
}

/* The series answer of handle_series, inside its read transaction. */
static int series_answer(const struct request *r, struct reply *rep, sqlite3 *db,
                         const struct series_q *qp, int64_t rid, int64_t gid)
{
    const struct series_q q = *qp;
    const char *run = r->route->run, *group = r->route->group;
    int64_t b0 = 0, b1 = -1, last = -1;
    int rc = block_range(db, gid, &q, &b0, &b1);
    if (rc > 0 && query_int(db, Q_BLOCK_MAX, gid, NULL, NULL, &last) <= 0)
        rc = -1;
    if (rc < 0)
        return sql_error(rep, db);
    int64_t span = rc ? b1 - b0 + 1 : 0;
    int64_t width = 0;
    if (!q.max_points && span > SERIES_FULL_MAX)
        return reply_error(rep, 400,
                           "the range holds more than 200000 blocks: pass max_points (e.g. "
                           "max_points=4000) to downsample, or narrow it with from_step/to_step");
    if (q.max_points && span > q.max_points)
        width = bucket_width(span, q.max_points);
    /* blocks dropped by retention: only their 64-block rollups answer */
    int64_t first_row = b0;
    if (span > 0 && query_int(db, Q_ROW_MIN, gid, NULL, NULL, &first_row) > 0 && b0 < first_row &&
        (width == 0 || width % ROLLUP_LEVEL(0) != 0))
        width = (width / ROLLUP_LEVEL(0) + 1) * ROLLUP_LEVEL(0);
    struct series s;
    struct rows_ctx c = {db, gid, run, group, q.ids, q.nfields};
    size_t hint = (size_t)(width ? span / width + 2 : (span < 1 ? 1 : span));
    if (series_init(&s, q.ids, q.nfields, width, 0, hint) != 0) {
        series_free(&s);
        return reply_error(rep, 500, "out of memory");
    }
    if (span > 0 && fill_series(&c, &s, b0, b1, last) != 0) {
        series_free(&s);
        return sql_error(rep, db);
    }
    hbuf b = {0};
    if (q.csv) {
        series_csv(&s, &b);
        series_free(&s);
        return reply_buf(rep, &b, "text/csv; charset=utf-8");
    }
    hbuf_puts(&b, "{\"run\":");
    hbuf_json_str(&b, run);
    hbuf_puts(&b, ",\"group\":");
    hbuf_json_str(&b, group);
    hbuf_puts(&b, ",\"fields\":[");
    for (int f = 0; f < q.nfields; f++)
        hbuf_printf(&b, "%s\"%s\"", f ? "," : "", series_field_name(q.ids[f]));
    hbuf_printf(&b, "],\"blocks\":%lld,\"points\":%zu,\"downsampled\":%s", (long long)span, s.n,
                width ? "true" : "false");
    if (width)
        hbuf_printf(
            &b,
            ",\"buckets\":%zu,\"downsampling\":{\"method\":\"minmax\",\"bucket_blocks\":%lld,"
            "\"description\":\"blocks are grouped into buckets of bucket_blocks consecutive "
            "blocks (block / bucket_blocks); for each field F, F is the bucket mean and "
            "F_min / F_max its extremes over every block in the bucket; block and "
            "step_first are the bucket's first, step its last, count its blocks\"}",
            s.n, (long long)width);
    if (shed_json(db, &q, rid, gid, &b) != 0) {
        hbuf_free(&b);
        series_free(&s);
        return sql_error(rep, db);
    }
    hbuf_put(&b, ",", 1);
    series_json(&s, &b);
    hbuf_puts(&b, "}\n");
    series_free(&s);
    return reply_buf(rep, &b, "application/json");
}

/* ---- hill --------------------------------------------------------------- */

int handle_hill(const struct request *r, struct reply *rep)
{
    sqlite3 *db;
    const char *run = r->route->run, *group = r->route->group;
    int64_t rid, gid;
    if (only_params(r, no_params, rep) || db_or_error(r, rep, &db) ||
        resolve(db, run, group, &rid, &gid, rep))
        return 0;
    sqlite3_stmt *st = prep(db, Q_HILL);
    if (!st)
        return sql_error(rep, db);
    sqlite3_bind_int64(st, 1, gid);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        unprep(st);
        return rc == SQLITE_DONE ? reply_error(rep, 404, "no Hill plot for the latest block")
                                 : sql_error(rep, db);
    }
    size_t m = (size_t)sqlite3_column_bytes(st, 3) / sizeof(double);
    const unsigned char *blob = sqlite3_column_blob(st, 3);
    double *y = malloc((m ? m : 1) * sizeof *y), *alpha = malloc((m ? m : 1) * sizeof *alpha);
    if (!y || !alpha) {
        free(y);
        free(alpha);
        unprep(st);
        return reply_error(rep, 500, "out of memory");
    }
    for (size_t i = 0; i < m; i++)
        memcpy(&y[i], blob + i * sizeof(double), sizeof(double)); /* little-endian hosts */
    size_t usable = 0; /* the stored values are > 0; an older row may end in zeros */
    while (usable < m && y[usable] > 0 && isfinite(y[usable]))
        usable++;
    if (usable < 2 || est_hill_plot(y, usable, alpha) != EST_OK) {
        free(y);
        free(alpha);
        unprep(st);
        return usable < 2 ? reply_error(rep, 404, "no Hill plot for the latest block")
                          : reply_error(rep, 500, "stored order statistics are not sorted");
    }
    size_t nk = usable - 1;
    hbuf b = {0};
    hbuf_puts(&b, "{\"run\":");
    hbuf_json_str(&b, run);
    hbuf_puts(&b, ",\"group\":");
    hbuf_json_str(&b, group);
    hbuf_printf(&b, ",\"block\":%lld,\"n_pos\":%lld,\"k\":[",
                (long long)sqlite3_column_int64(st, 0), (long long)sqlite3_column_int64(st, 2));
    for (size_t k = 1; k <= nk; k++)
        hbuf_printf(&b, k > 1 ? ",%zu" : "%zu", k);
    hbuf_puts(&b, "],\"alpha\":[");
    for (size_t k = 0; k < nk; k++) {
        if (k)
            hbuf_put(&b, ",", 1);
        hbuf_json_num(&b, alpha[k]);
    }
    hbuf_puts(&b, "]}\n");
    free(y);
    free(alpha);
    unprep(st);
    return reply_buf(rep, &b, "application/json");
}

/* ---- policy ------------------------------------------------------------- */

int handle_policy_get(const struct request *r, struct reply *rep)
{
    sqlite3 *db;
    const char *run = r->route->run;
    int64_t rid, gid;
    if (only_params(r, no_params, rep) || db_or_error(r, rep, &db) ||
        resolve(db, run, NULL, &rid, &gid, rep))
        return 0;
    hbuf b = {0};
    hbuf_puts(&b, "{\"run\":");
    hbuf_json_str(&b, run);
    hbuf_puts(&b, ",\"policy\":");
    policy_json(&b, db, r->srv, rid, 1);
    hbuf_puts(&b, "}\n");
    return reply_buf(rep, &b, "application/json");
}

/* Reads an optional finite number member; returns 0, or -1 when present
 * but not a number. */
static int opt_num(json_t *o, const char *key, double *out, int *present)
{
    json_t *v = json_object_get(o, key);
    *present = v != NULL;
    if (!v)
        return 0;
    if (!json_is_number(v))
        return -1;
    *out = json_number_value(v);
    return isfinite(*out) ? 0 : -1;
}

const char *http_parse_policy_body(const char *body, size_t len, policy *p)
{
    json_error_t jerr;
    json_t *o = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
    const char *msg = NULL;
    if (!o || !json_is_object(o)) {
        msg = "body must be a JSON object";
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(o, key, val)
    {
        static const char *const keys[] = {"kind", "c", "q", "lambda_min", "lambda_max", "ema"};
        int ok = 0;
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            ok |= strcmp(key, keys[i]) == 0;
        if (!ok) {
            msg = "unknown member (allowed: kind, c, q, lambda_min, lambda_max, ema)";
            goto out;
        }
    }
    if (policy_kind_of(json_string_value(json_object_get(o, "kind")), &p->kind) < 0) {
        msg = "kind must be \"linear\" or \"power\"";
        goto out;
    }
    double c = 0, q = 0;
    int has_c, has_q, has;
    if (opt_num(o, "c", &c, &has_c) || opt_num(o, "q", &q, &has_q)) {
        msg = "c and q must be finite numbers";
        goto out;
    }
    if (p->kind == POLICY_LINEAR && (!has_c || has_q)) {
        msg = "linear policy needs c > 0 and no q";
        goto out;
    }
    if (p->kind == POLICY_POWER && (!has_q || has_c)) {
        msg = "power policy needs q > 1 and no c";
        goto out;
    }
    p->param = p->kind == POLICY_POWER ? q : c;
    if (opt_num(o, "lambda_min", &p->lambda_min, &has) ||
        opt_num(o, "lambda_max", &p->lambda_max, &has) || opt_num(o, "ema", &p->ema, &has)) {
        msg = "lambda_min, lambda_max and ema must be finite numbers";
        goto out;
    }
    policy_validate(p, POLICY_NAMES_JSON, &msg);
out:
    json_decref(o);
    return msg;
}

/* Overwrites *p with run id's latest stored policy, when there is one, so
 * members a PUT omits keep their current values. */
static void current_policy(sqlite3 *db, int64_t run_id, policy *p)
{
    sqlite3_stmt *st = prep(db, Q_POLICY);
    if (!st)
        return;
    sqlite3_bind_int64(st, 1, run_id);
    if (sqlite3_step(st) == SQLITE_ROW)
        policy_of_row(st, p);
    unprep(st);
}

/* The policy this server last handed to the daemon for run, if it still
 * remembers it: 1 with *p set, else 0. Under srv->pol_mu. */
static int sent_policy(const struct http_server *srv, const char *run, policy *p)
{
    for (unsigned i = 1; i <= HTTP_POLICY_RECENT; i++) {
        const struct policy_sent *e = &srv->sent[(srv->sent_next - i) % HTTP_POLICY_RECENT];
        if (e->run[0] != '\0' && strcmp(e->run, run) == 0) {
            *p = e->p;
            return 1;
        }
    }
    return 0;
}

/* Remembers that p was handed to the daemon for run. Under srv->pol_mu. */
static void remember_policy(struct http_server *srv, const char *run, const policy *p)
{
    struct policy_sent *e = &srv->sent[srv->sent_next++ % HTTP_POLICY_RECENT];
    snprintf(e->run, sizeof e->run, "%s", run);
    e->p = *p;
}

/* Merges the body over the run's current policy and hands the result to
 * the daemon. The current policy is the one this server last handed over
 * (the daemon applies it at once, its writer stores it later), else the
 * latest stored one, else the default: two quick partial PUTs then both
 * take effect. Returns 0, or an HTTP status with msg set. */
static int put_policy(struct http_server *srv, sqlite3 *db, int64_t rid, const struct request *r,
                      policy *p, char *err, size_t errlen, const char **msg)
{
    const char *run = r->route->run;
    *p = srv->cfg.default_policy;
    if (!sent_policy(srv, run, p))
        current_policy(db, rid, p);
    if ((*msg = http_parse_policy_body(r->body, r->body_len, p)) != NULL)
        return 400;
    if (!srv->cfg.on_policy)
        return *msg = "policy updates are not wired to the daemon", 503;
    int rc = srv->cfg.on_policy(srv->cfg.policy_ud, run, p, err, errlen);
    if (rc == HTTP_OK || rc == HTTP_PENDING) {
        remember_policy(srv, run, p);
        return rc == HTTP_OK ? 0 : 202;
    }
    if (rc == HTTP_ENOTFOUND)
        return *msg = *err ? err : "unknown run", 404;
    if (rc == HTTP_EINVAL)
        return *msg = *err ? err : "policy rejected", 400;
    return *msg = *err ? err : "the daemon could not apply the policy", 500;
}

int handle_policy_put(const struct request *r, struct reply *rep)
{
    const char *run = r->route->run;
    if (only_params(r, no_params, rep))
        return 0;
    sqlite3 *db;
    int64_t rid, gid;
    if (db_or_error(r, rep, &db) || resolve(db, run, NULL, &rid, &gid, rep))
        return 0;
    policy p;
    char err[160] = "";
    const char *msg = NULL;
    pthread_mutex_lock(&r->srv->pol_mu);
    int status = put_policy(r->srv, db, rid, r, &p, err, sizeof err, &msg);
    pthread_mutex_unlock(&r->srv->pol_mu);
    if (status && status != 202)
        return reply_error(rep, status, msg);
    hbuf b = {0};
    hbuf_puts(&b, "{\"run\":");
    hbuf_json_str(&b, run);
    hbuf_puts(&b, ",\"policy\":{");
    policy_members_json(&b, &p);
    /* 200: stored, with each group's lambda re-derived from its latest
     * block, stored and pushed; 202: taken, applies, not yet stored */
    hbuf_puts(&b, status == 202 ? "},\"applies\":\"taken; stored and pushed once htgad's writer "
                                  "catches up (GET policy shows it then)\"}\n"
                                : "},\"applies\":\"now: stored, and each group's lambda "
                                  "re-derived from its latest block, stored and pushed; later "
                                  "blocks use it\"}\n");
    reply_buf(rep, &b, "application/json");
    if (status == 202 && rep->status == 200)
        rep->status = 202;
    return 0;
}

/* ---- stats and metrics -------------------------------------------------- */

#define MAX_STATS 256

static size_t get_stats(const struct http_server *s, struct http_stat *st)
{
    if (!s->cfg.stats)
        return 0;
    size_t n = s->cfg.stats(s->cfg.stats_ud, st, MAX_STATS);
    return n > MAX_STATS ? MAX_STATS : n;
}

/* "flow": per run, its ranks, the budget asked of each and what was shed. */
static void stats_flow(const struct http_server *s, hbuf *b)
{
    struct http_run_flow *f = NULL;
    size_t n = s->cfg.flow ? s->cfg.flow(s->cfg.stats_ud, &f) : 0;

    hbuf_puts(b, ",\"flow\":{");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            hbuf_put(b, ",", 1);
        hbuf_json_str(b, f[i].run);
        hbuf_printf(b,
                    ":{\"ranks\":%.0f,\"budget_values\":%.0f,\"budget_every\":%.0f,"
                    "\"client_drops\":%.0f,\"values_refused\":%.0f,\"blocks_lost\":%.0f}",
                    f[i].ranks, f[i].budget_values, f[i].budget_every, f[i].client_drops,
                    f[i].values_refused, f[i].blocks_lost);
    }
    hbuf_put(b, "}", 1);
    free(f);
}

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

int handle_stats(const struct request *r, struct reply *rep)
{
    if (only_params(r, no_params, rep))
        return 0;
    struct http_stat *st = malloc(MAX_STATS * sizeof *st);
    if (!st)
        return reply_error(rep, 500, "out of memory");
    size_t n = get_stats(r->srv, st);
    hbuf b = {0};
    hbuf_printf(&b, "{\"uptime_s\":%lld", (long long)(time(NULL) - r->srv->started));
    for (size_t i = 0; i < n; i++) {
        int first = i == 0 || strcmp(st[i - 1].name, st[i].name) != 0;
        int last = i + 1 == n || strcmp(st[i + 1].name, st[i].name) != 0;
        if (st[i].label) {
            if (first)
                hbuf_printf(&b, ",\"%s\":{", st[i].name);
            else
                hbuf_put(&b, ",", 1);
            hbuf_json_str(&b, st[i].label_value);
            hbuf_put(&b, ":", 1);
            hbuf_json_num(&b, st[i].value);
            if (last)
                hbuf_put(&b, "}", 1);
        } else {
            hbuf_printf(&b, ",\"%s\":", st[i].name);
            hbuf_json_num(&b, st[i].value);
        }
    }
    stats_flow(r->srv, &b);
    static const char *const cls[] = {"", "1xx", "2xx", "3xx", "4xx", "5xx"};
    hbuf_puts(&b, ",\"http_requests\":{");
    for (int c = 1; c <= 5; c++)
        hbuf_printf(&b, "%s\"%s\":%llu", c > 1 ? "," : "", cls[c],
                    (unsigned long long)atomic_load(&r->srv->requests[c]));
    hbuf_puts(&b, "}}\n");
    free(st);
    return reply_buf(rep, &b, "application/json");
}

/* Writes the daemon's counters as Prometheus families. */
static void metrics_daemon(const struct http_server *s, hbuf *b)
{
    struct http_stat *st = malloc(MAX_STATS * sizeof *st);
    if (!st) {
        b->failed = 1;
        return;
    }
    size_t n = get_stats(s, st);
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
    sqlite3_stmt *st = prep(db, Q_METRICS_LATEST);
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
    unprep(st);
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
    static const char *const cls[] = {"", "1xx", "2xx", "3xx", "4xx", "5xx"};
    const char *ck = "code";
    for (int c = 1; c <= 5; c++) {
        const char *cv = cls[c];
        prom_sample(&b, "htga_http_requests_total", 1, &ck, &cv,
                    (double)atomic_load(&s->requests[c]));
    }
    prom_family(&b, "htga_http_requests_cut_total", "counter",
                "HTTP requests cut because they did not arrive in time (slow clients).");
    prom_sample(&b, "htga_http_requests_cut_total", 0, NULL, NULL,
                (double)atomic_load(&s->slow_cut));
    return reply_buf(rep, &b, PROM_CONTENT_TYPE);
}
