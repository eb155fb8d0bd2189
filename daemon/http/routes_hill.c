/*
 * routes_hill: GET /api/v1/runs/{run}/groups/{group}/hill, the Hill plot
 * (alpha for every k) of a group's latest block, computed from its stored
 * top order statistics with the estimators' own est_hill_plot.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "est.h"
#include "internal.h"
#include "queries.h"
#include "sql.h"

int handle_hill(const struct request *r, struct reply *rep)
{
    sqlite3 *db;
    const char *run = r->route->run, *group = r->route->group;
    int64_t rid, gid;
    if (req_only_params(r, req_no_params, rep) || req_run_ids(r, rep, &db, &rid, &gid))
        return 0;
    sqlite3_stmt *st = sql_prep(db, Q_HILL);
    if (!st)
        return reply_sql_error(rep, db);
    sqlite3_bind_int64(st, 1, gid);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sql_unprep(st);
        return rc == SQLITE_DONE ? reply_error(rep, 404, "no Hill plot for the latest block")
                                 : reply_sql_error(rep, db);
    }
    size_t m = (size_t)sqlite3_column_bytes(st, 3) / sizeof(double);
    const unsigned char *blob = sqlite3_column_blob(st, 3);
    double *y = malloc((m ? m : 1) * sizeof *y), *alpha = malloc((m ? m : 1) * sizeof *alpha);
    if (!y || !alpha) {
        free(y);
        free(alpha);
        sql_unprep(st);
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
        sql_unprep(st);
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
    sql_unprep(st);
    return reply_buf(rep, &b, "application/json");
}
