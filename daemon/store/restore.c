/*
 * restore.c - what a restart or a returning stream carries on from: the
 * groups' latest blocks, EMA state and their runs' latest policies, read
 * with bound parameters on the caller's connection.
 */
#include "store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESTORE_SELECT                                                                             \
    "SELECT r.id, r.name, g.id, g.name, b.block, b.step_last, b.lambda, b.alpha,"                  \
    "       b.lambda_reason,"                                                                      \
    "       p.kind, p.param, p.lambda_min, p.lambda_max, p.ema, p.source, p.id,"                   \
    "       (SELECT lambda FROM blocks WHERE group_id = g.id AND lambda_reason = 0"                \
    "         ORDER BY block DESC LIMIT 1),"                                                       \
    "       b.n, b.n_used, b.n_nonfinite, b.n_zero, b.median, b.mean, b.variance,"                 \
    "       b.kurtosis, b.alpha_se, b.alpha_lo, b.alpha_hi, b.k, b.alpha_stable,"                  \
    "       (SELECT lambda FROM blocks WHERE group_id = g.id AND lambda_reason = 0"                \
    "         AND block < b.block ORDER BY block DESC LIMIT 1),"                                   \
    "       b.alpha_deff"                                                                          \
    " FROM groups AS g JOIN runs AS r ON r.id = g.run_id"                                          \
    " LEFT JOIN blocks AS b ON b.group_id = g.id"                                                  \
    "   AND b.block = (SELECT MAX(block) FROM blocks WHERE group_id = g.id)"                       \
    " LEFT JOIN policy_changes AS p ON p.id ="                                                     \
    "   (SELECT MAX(id) FROM policy_changes WHERE run_id = r.id)"
static const char restore_sql[] =
    RESTORE_SELECT " ORDER BY COALESCE(b.created_at, g.created_at) DESC LIMIT ?";
static const char lookup_sql[] = RESTORE_SELECT " WHERE r.name = ?1 AND g.name = ?2";
static const char lookup_policy_sql[] =
    "SELECT r.id, p.kind, p.param, p.lambda_min, p.lambda_max, p.ema, p.source, p.id"
    " FROM runs AS r JOIN policy_changes AS p ON p.id ="
    "   (SELECT MAX(id) FROM policy_changes WHERE run_id = r.id)"
    " WHERE r.name = ?1";
static void copy_name(char *dst, const unsigned char *src)
{
    snprintf(dst, WIRE_NAME_MAX + 1, "%s", src ? (const char *)src : "");
}

static double column_real(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

/* The latest block's estimate as the estimator had it (columns 17..29), so
 * a policy change right after a restart can re-derive its lambda; NULL
 * columns come back as NaN and absent estimates, as est_block() left them. */
static void restore_result(sqlite3_stmt *st, const store_state *s, est_result *r)
{
    memset(r, 0, sizeof(*r));
    r->n = (size_t)sqlite3_column_int64(st, 17);
    r->n_used = (size_t)sqlite3_column_int64(st, 18);
    r->n_nonfinite = (size_t)sqlite3_column_int64(st, 19);
    r->n_zero = (size_t)sqlite3_column_int64(st, 20);
    r->n_pos = r->n_used >= r->n_zero ? r->n_used - r->n_zero : 0;
    r->median = column_real(st, 21);
    r->mean = column_real(st, 22);
    r->variance = column_real(st, 23);
    r->kurtosis = column_real(st, 24);
    r->has_hill = isfinite(s->alpha);
    if (r->has_hill) {
        r->hill.alpha = s->alpha;
        r->hill.gamma = 1.0 / s->alpha;
        r->hill.se = column_real(st, 25);
        r->hill.ci_lo = column_real(st, 26);
        r->hill.ci_hi = column_real(st, 27);
        r->hill.k = (size_t)sqlite3_column_int64(st, 28);
        r->hill.deff = sqlite3_column_type(st, 31) == SQLITE_NULL ? 1.0 : column_real(st, 31);
    }
    r->has_stable = sqlite3_column_type(st, 29) != SQLITE_NULL;
    r->stable_alpha = r->has_stable ? sqlite3_column_double(st, 29) : NAN;
}

void store_column_policy(sqlite3_stmt *st, int col, policy *pol)
{
    const char *kind = (const char *)sqlite3_column_text(st, col);

    if (kind == NULL || policy_kind_of(kind, &pol->kind) < 0) /* schema's CHECK: never */
        pol->kind = POLICY_LINEAR;
    pol->param = sqlite3_column_double(st, col + 1);
    pol->lambda_min = sqlite3_column_double(st, col + 2);
    pol->lambda_max = sqlite3_column_double(st, col + 3);
    pol->ema = sqlite3_column_double(st, col + 4);
}

static void restore_row(sqlite3_stmt *st, store_state *s)
{
    memset(s, 0, sizeof(*s));
    s->run_id = sqlite3_column_int64(st, 0);
    copy_name(s->run, sqlite3_column_text(st, 1));
    s->group_id = sqlite3_column_int64(st, 2);
    copy_name(s->group, sqlite3_column_text(st, 3));
    s->has_block = sqlite3_column_type(st, 4) != SQLITE_NULL;
    s->last_block = (uint64_t)sqlite3_column_int64(st, 4);
    s->last_step = sqlite3_column_int64(st, 5);
    s->lambda = s->has_block ? sqlite3_column_double(st, 6) : 1.0;
    s->alpha = sqlite3_column_type(st, 7) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 7);
    s->reason = (uint32_t)sqlite3_column_int(st, 8);
    s->has_ema = sqlite3_column_type(st, 16) != SQLITE_NULL;
    s->ema_lambda = s->has_ema ? sqlite3_column_double(st, 16) : 1.0;
    if (s->has_block) {
        restore_result(st, s, &s->res);
        s->has_before = sqlite3_column_type(st, 30) != SQLITE_NULL;
        s->before_lambda = s->has_before ? sqlite3_column_double(st, 30) : 1.0;
    }
    s->has_policy = sqlite3_column_type(st, 9) != SQLITE_NULL;
    if (s->has_policy) {
        store_column_policy(st, 9, &s->pol);
        snprintf(s->source, sizeof(s->source), "%s", sqlite3_column_text(st, 14));
        s->policy_id = sqlite3_column_int64(st, 15);
    }
}

int store_restore(sqlite3 *db, size_t max, store_state **out, size_t *n, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    store_state *v = NULL;
    size_t count = 0;
    int rc;

    *out = NULL;
    *n = 0;
    if (max == 0)
        return 0;
    v = calloc(max, sizeof(*v));
    if (v == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (sqlite3_prepare_v2(db, restore_sql, -1, &st, NULL) != SQLITE_OK)
        goto out_error;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && count < max)
        restore_row(st, &v[count++]);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        goto out_error;
    sqlite3_finalize(st);
    *out = v;
    *n = count;
    return 0;

out_error:
    snprintf(err, errlen, "restoring state: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    free(v);
    return -1;
}

/* The run's latest policy alone (a run whose group is not stored yet). */
static int lookup_policy(sqlite3 *db, const char *run, store_state *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(db, lookup_policy_sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->run_id = sqlite3_column_int64(st, 0);
        out->has_policy = 1;
        store_column_policy(st, 1, &out->pol);
        snprintf(out->source, sizeof(out->source), "%s", sqlite3_column_text(st, 6));
        out->policy_id = sqlite3_column_int64(st, 7);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int store_lookup(sqlite3 *db, const char *run, const char *group, store_state *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    snprintf(out->run, sizeof(out->run), "%s", run);
    snprintf(out->group, sizeof(out->group), "%s", group);
    out->lambda = 1.0;
    out->alpha = NAN;
    if (sqlite3_prepare_v2(db, lookup_sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, group, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        restore_row(st, out);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc != SQLITE_DONE)
        return -1;
    return lookup_policy(db, run, out) < 0 ? -1 : 0;
}
