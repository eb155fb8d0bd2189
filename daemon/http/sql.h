/*
 * sql.h: what the route handlers share to read the database. Not API.
 *
 * Design: each HTTP thread owns one read-only connection (req_db) and keeps
 * the statements it finished with prepared on it for its next request
 * (sql_prep / sql_unprep; server.c finalizes them with the connection).
 * Every value from a request is bound; statements come from queries.h.
 */
#ifndef HTGA_HTTP_SQL_H
#define HTGA_HTTP_SQL_H

#include <sqlite3.h>
#include <stdint.h>

#include "hbuf.h"
#include "internal.h"

/* A prepared statement for sql: one this thread parked with the same text
 * when there is one, else a new one. NULL on error. Give it back with
 * sql_unprep(). */
sqlite3_stmt *sql_prep(sqlite3 *db, const char *sql);

/* Resets st and parks it for sql_prep() to hand out again (at most 16 are
 * parked; the oldest is finalized). Accepts NULL. */
void sql_unprep(sqlite3_stmt *st);

/* Prepares the statement built in sql, then frees sql; NULL on any failure. */
sqlite3_stmt *sql_prep_built(sqlite3 *db, hbuf *sql);

/* Runs a one-statement command without a result (BEGIN, COMMIT) through
 * sql_prep(); returns the sqlite3_step code (SQLITE_DONE when it worked). */
int sql_exec(sqlite3 *db, const char *sql);

/* Runs a one-row, one-integer query with ?1 = a1 and, when s2 is not NULL,
 * ?2 = s2 (text) or else ?2 = *i2 when i2 is not NULL. Returns 1 with *out
 * set, 0 for no row or NULL, -1 on error. */
int sql_query_int(sqlite3 *db, const char *sql, int64_t a1, const char *s2, const int64_t *i2,
                  int64_t *out);

/* Appends column i of st's current row as a JSON value. */
void sql_col_json(hbuf *b, sqlite3_stmt *st, int i);

/* Appends every row of st as a JSON array of objects keyed by column name
 * (the queries alias their columns with the answer's keys) and unpreps st.
 * Returns SQLITE_DONE when every row was read, else the SQLite error. */
int sql_rows_json(hbuf *b, sqlite3_stmt *st);

/* The calling thread's connection in *db: 0, or -1 with rep filled (503). */
int reply_db(const struct request *r, struct reply *rep, sqlite3 **db);

/* reply_db(), then the route's run to *run_id and, when group_id is not
 * NULL, its group to *group_id. 0, or -1 with rep filled (503, 404 for an
 * unknown run or group, 500). */
int req_run_ids(const struct request *r, struct reply *rep, sqlite3 **db, int64_t *run_id,
                int64_t *group_id);

/* Fills rep with 500 and db's last error. Returns 0. */
int reply_sql_error(struct reply *rep, sqlite3 *db);

#endif
