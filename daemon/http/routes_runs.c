/*
 * routes_runs: GET /api/v1/runs (every run with its figures), /runs/{run}
 * (its groups and current policy) and /runs/{run}/latest (each group's
 * latest block).
 *
 * Design: each handler reads through the calling thread's own read-only
 * connection with statements from queries.h, binding every request value,
 * and writes JSON straight into an hbuf; the queries alias their columns
 * with the answer's keys (sql_rows_json). Names in paths arrive already
 * percent-decoded by route.c and are compared exactly by SQL '='.
 */
#include "internal.h"
#include "queries.h"
#include "sql.h"

int handle_runs(const struct request *r, struct reply *rep)
{
    sqlite3 *db;
    if (req_only_params(r, req_no_params, rep) || reply_db(r, rep, &db))
        return 0;
    sqlite3_stmt *st = sql_prep(db, Q_RUNS);
    if (!st)
        return reply_sql_error(rep, db);
    hbuf b = {0};
    hbuf_puts(&b, "{\"runs\":");
    if (sql_rows_json(&b, st) != SQLITE_DONE) {
        hbuf_free(&b);
        return reply_sql_error(rep, db);
    }
    hbuf_puts(&b, "}\n");
    return reply_buf(rep, &b, "application/json");
}

/* {"run": RUN, "groups": [rows of sql for the run id] (, "policy": ...)}:
 * /runs/{run} and /runs/{run}/latest. */
static int run_groups_reply(const struct request *r, struct reply *rep, const char *sql,
                            int with_policy)
{
    sqlite3 *db;
    const char *run = r->route->run;
    int64_t rid;
    if (req_only_params(r, req_no_params, rep) || req_run_ids(r, rep, &db, &rid, NULL))
        return 0;
    sqlite3_stmt *st = sql_prep(db, sql);
    if (!st)
        return reply_sql_error(rep, db);
    sqlite3_bind_int64(st, 1, rid);
    hbuf b = {0};
    hbuf_puts(&b, "{\"run\":");
    hbuf_json_str(&b, run);
    hbuf_puts(&b, ",\"groups\":");
    if (sql_rows_json(&b, st) != SQLITE_DONE) {
        hbuf_free(&b);
        return reply_sql_error(rep, db);
    }
    if (with_policy) {
        hbuf_puts(&b, ",\"policy\":");
        if (policy_json(&b, db, r->srv, rid, 0) != 0) {
            hbuf_free(&b);
            return reply_sql_error(rep, db);
        }
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
