/*
 * sql: the route handlers' database helpers (see sql.h): statements kept
 * prepared per thread, rows as JSON, names resolved to ids.
 */
#include "sql.h"

#include <stdio.h>
#include <string.h>

#include "queries.h"

/* Statements this thread finished with, kept prepared for its next
 * request on the same connection (each thread owns one: server.c, which
 * finalizes them with it): compiling is a large share of a small request's
 * CPU, and a series request runs ~9 statements (bench/README-http.md).
 * Bounded, since the select lists built from the requested fields vary;
 * the oldest go first. */
#define PARKED_MAX 16
static _Thread_local struct {
    sqlite3_stmt *st[PARKED_MAX];
    int n;
} parked;

sqlite3_stmt *sql_prep(sqlite3 *db, const char *sql)
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

void sql_unprep(sqlite3_stmt *st)
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

int sql_exec(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = sql_prep(db, sql);
    if (!st)
        return SQLITE_ERROR;
    int rc = sqlite3_step(st);
    sql_unprep(st);
    return rc;
}

sqlite3_stmt *sql_prep_built(sqlite3 *db, hbuf *sql)
{
    sqlite3_stmt *st = hbuf_failed(sql) ? NULL : sql_prep(db, sql->data);
    hbuf_free(sql);
    return st;
}

int sql_query_int(sqlite3 *db, const char *sql, int64_t a1, const char *s2, const int64_t *i2,
                  int64_t *out)
{
    sqlite3_stmt *st = sql_prep(db, sql);
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
    sql_unprep(st);
    return ret;
}

void sql_col_json(hbuf *b, sqlite3_stmt *st, int i)
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
        sql_col_json(b, st, i);
    }
    hbuf_put(b, "}", 1);
}

int sql_rows_json(hbuf *b, sqlite3_stmt *st)
{
    int rc, n = 0;
    hbuf_put(b, "[", 1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n++)
            hbuf_put(b, ",", 1);
        row_json(b, st);
    }
    hbuf_put(b, "]", 1);
    sql_unprep(st);
    return rc;
}

int reply_db(const struct request *r, struct reply *rep, sqlite3 **db)
{
    const char *err = "database not available";
    *db = req_db(r, &err);
    if (!*db) {
        reply_error(rep, 503, err);
        return -1;
    }
    return 0;
}

int reply_sql_error(struct reply *rep, sqlite3 *db)
{
    char msg[256];
    snprintf(msg, sizeof msg, "database error: %s", sqlite3_errmsg(db));
    return reply_error(rep, 500, msg);
}

int req_run_ids(const struct request *r, struct reply *rep, sqlite3 **db, int64_t *run_id,
                int64_t *group_id)
{
    if (reply_db(r, rep, db))
        return -1;
    sqlite3_stmt *st = sql_prep(*db, Q_RUN_ID);
    if (!st)
        return reply_sql_error(rep, *db), -1;
    sqlite3_bind_text(st, 1, r->route->run, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *run_id = sqlite3_column_int64(st, 0);
    sql_unprep(st);
    if (rc != SQLITE_ROW)
        return (rc == SQLITE_DONE ? reply_error(rep, 404, "unknown run")
                                  : reply_sql_error(rep, *db)),
               -1;
    if (!group_id)
        return 0;
    rc = sql_query_int(*db, Q_GROUP_ID, *run_id, r->route->group, NULL, group_id);
    if (rc <= 0)
        return (rc == 0 ? reply_error(rep, 404, "unknown group") : reply_sql_error(rep, *db)), -1;
    return 0;
}
