/*
 * request: what a route handler calls to read its request and fill its
 * reply (see internal.h): the error and JSON replies, the thread's
 * read-only database connection, the query parameters.
 *
 * Design: each HTTP thread opens its connection on first use and keeps it
 * in the server's pthread key, whose destructor (req_db_close) closes it,
 * with the statements kept prepared on it, when libmicrohttpd joins the
 * thread. Handlers see no libmicrohttpd types; this file and server.c do.
 */
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

int reply_error(struct reply *rep, int status, const char *msg)
{
    hbuf b = {0};
    hbuf_puts(&b, "{\"error\":");
    hbuf_json_str(&b, msg);
    hbuf_puts(&b, "}\n");
    rep->status = status;
    rep->content_type = "application/json";
    rep->body = hbuf_take(&b, &rep->len);
    return 0;
}

int reply_buf(struct reply *rep, hbuf *b, const char *content_type)
{
    if (hbuf_failed(b)) {
        hbuf_free(b);
        return reply_error(rep, 500, "out of memory");
    }
    rep->status = 200;
    rep->content_type = content_type;
    rep->body = hbuf_take(b, &rep->len);
    if (!rep->body)
        return reply_error(rep, 500, "out of memory");
    return 0;
}

/* Busy handler: retry every 250 us for up to 2 s. SQLite's default
 * (sqlite3_busy_timeout) sleeps in growing steps up to 100 ms, which shows
 * up as 100 ms tails while the daemon's writer checkpoints the WAL. */
static int busy_wait(void *ud, int tries)
{
    (void)ud;
    if (tries >= 8000)
        return 0;
    struct timespec ts = {0, 250000};
    nanosleep(&ts, NULL);
    return 1;
}

void req_db_close(void *p)
{
    sqlite3_stmt *st;
    while ((st = sqlite3_next_stmt(p, NULL)) != NULL)
        sqlite3_finalize(st);
    sqlite3_close_v2(p);
}

sqlite3 *req_db(const struct request *r, const char **err)
{
    sqlite3 *db = pthread_getspecific(r->srv->db_key);
    if (db)
        return db;
    int rc =
        sqlite3_open_v2(r->srv->db_path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        *err = "database not available";
        sqlite3_close_v2(db);
        return NULL;
    }
    sqlite3_busy_handler(db, busy_wait, NULL);
    pthread_setspecific(r->srv->db_key, db);
    return db;
}

const char *req_query(const struct request *r, const char *key, char *buf, size_t cap, int *bad)
{
    const char *raw = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
    if (!raw)
        return NULL;
    if (route_pct_decode(raw, strlen(raw), buf, cap, 1) < 0) {
        *bad = 1;
        return NULL;
    }
    return buf;
}

/* The query check of req_only_params(): the names allowed, the first not. */
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

int req_only_params(const struct request *r, const char *const *allowed, struct reply *rep)
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

const char *const req_no_params[] = {NULL};
