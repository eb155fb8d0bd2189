/*
 * rows.c - the rows the writer writes for each item: runs and groups
 * resolved by name and cached per slot, blocks (with their rollups,
 * store/rollup.c), policy changes, re-derived lambdas, shed events and
 * the latest top order statistics, all through statements prepared once.
 * The thread and its batches are in store/writer.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"
#include "writer_internal.h"

static const char *const stmt_sql[ST__COUNT] = {
    "INSERT INTO runs (name, created_at) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
    "SELECT id FROM runs WHERE name = ?1",
    "INSERT INTO groups (run_id, name, created_at) VALUES (?1, ?2, ?3)"
    " ON CONFLICT (run_id, name) DO NOTHING",
    "SELECT id FROM groups WHERE run_id = ?1 AND name = ?2",
    "INSERT INTO blocks (group_id, block, step_first, step_last, n, n_used, n_nonfinite,"
    " n_zero, median, mean, variance, kurtosis, alpha, alpha_se, alpha_lo, alpha_hi, k,"
    " alpha_stable, lambda, lambda_raw, lambda_reason, policy_id, created_at, alpha_deff,"
    " stable_centre)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
    " ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)",
    "INSERT INTO latest_top (group_id, block, n_pos, m, y, created_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (group_id) DO UPDATE SET"
    " block = excluded.block, n_pos = excluded.n_pos, m = excluded.m, y = excluded.y,"
    " created_at = excluded.created_at",
    "DELETE FROM latest_top WHERE group_id = ?1",
    "INSERT INTO policy_changes (run_id, kind, param, lambda_min, lambda_max, ema, source,"
    " created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    "SELECT max(block) + 1 FROM blocks WHERE group_id = ?1",
    "SELECT max(block) FROM blocks WHERE group_id = ?1 AND block < ?2",
    /* the stored blocks of group ?1 in [?2, ?3), as the open chunks hold them */
    "SELECT block, step_first, step_last" ROLLUP_FIELDS(
        ROLLUP_COL) " FROM blocks WHERE group_id = ?1 AND block >= ?2 AND block < ?3 ORDER BY "
                    "block",
    /* one chunk's summary: group ?1, level ?2, chunk ?3 */
    "SELECT block_first, n_blocks, step_first, step_last" ROLLUP_FIELDS(
        ROLLUP_AGG_COLS) " FROM series_rollup WHERE group_id = ?1 AND level = ?2 AND chunk = ?3",
    /* the packed copy of the row just written (schema/004_series_rollup_agg.sql) */
    "INSERT OR REPLACE INTO series_rollup_agg (group_id, level, chunk, agg)"
    " VALUES (?1, ?2, ?3, ?4)",
    /* the mark the row's insert trigger left: the writer packed the row */
    "DELETE FROM series_rollup_unpacked WHERE group_id = ?1 AND level = ?2 AND chunk = ?3",
    /* a lambda re-derived by a policy change (schema/006_lambda_rederived.sql) */
    "INSERT INTO lambda_rederived (group_id, block, lambda, lambda_raw, lambda_reason,"
    " policy_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (group_id) DO"
    " UPDATE SET block = excluded.block, lambda = excluded.lambda, lambda_raw ="
    " excluded.lambda_raw, lambda_reason = excluded.lambda_reason, policy_id ="
    " excluded.policy_id, created_at = excluded.created_at",
    /* a shed event (schema/008_shed.sql) */
    "INSERT INTO shed (run_id, group_id, step_first, step_last, count, unit, reason, created_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
};
/* Records a failure (what failed, with SQLite code rc and its text) for
 * the caller to judge: wr_transient (the try is retried) or not (the row is
 * refused). Returns -1. */
int wr_fail_rc(store_writer *w, const char *what, int rc, const char *msg)
{
    w->fail_what = what;
    w->wr_fail_rc = rc;
    snprintf(w->fail_msg, sizeof(w->fail_msg), "%s", msg ? msg : sqlite3_errstr(rc));
    return -1;
}

/* A failure of the last statement on the connection. */
int wr_row_error(store_writer *w, const char *what)
{
    return wr_fail_rc(w, what, sqlite3_extended_errcode(w->db), sqlite3_errmsg(w->db));
}

/* Failures that may pass: the try is rolled back and retried. The others
 * (constraint, mismatch, too big, corrupt, misuse) are the row's own. */
int wr_transient(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_NOMEM:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_INTERRUPT:
        return 1;
    default:
        return 0;
    }
}

/* Steps a prepared statement to completion and resets it. 0 or -1. */
int wr_run_stmt(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : -1;
}

static int64_t select_id(sqlite3_stmt *st)
{
    int64_t id = 0;

    if (sqlite3_step(st) == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return id;
}

/* The run's latest stored policy into c (a run slot that starts a new life
 * carries on from it rather than storing it again). */
static void load_policy(store_writer *w, slot_cache *c)
{
    sqlite3_stmt *st = NULL;

    c->has_policy = 0;
    c->policy_id = 0;
    if (sqlite3_prepare_v2(w->db,
                           "SELECT id, kind, param, lambda_min, lambda_max, ema FROM policy_changes"
                           " WHERE run_id = ? ORDER BY id DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_int64(st, 1, c->run_id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        c->has_policy = 1;
        c->policy_id = sqlite3_column_int64(st, 0);
        store_column_policy(st, 1, &c->pol);
    }
    sqlite3_finalize(st);
}

/* A slot named differently from what is cached starts a new life (or was
 * never used, or forgotten by a rollback): ids are resolved by name again,
 * and a new life's block numbering is checked against the stored blocks. */
static void check_names(store_writer *w, const store_item *it)
{
    slot_cache *rc = &w->cache[it->run_slot];
    slot_cache *sc = &w->cache[it->stream_slot];

    if (strcmp(rc->run, it->run) != 0) {
        rc->run_id = 0;
        rc->has_policy = -1; /* loaded once the run id is known */
        snprintf(rc->run, sizeof(rc->run), "%s", it->run);
    }
    if ((it->kind == STORE_BLOCK ||
         ((it->kind == STORE_LOST || it->kind == STORE_LAMBDA) && it->group[0] != '\0')) &&
        (strcmp(sc->group, it->group) != 0 ||
         (sc->group[0] != '\0' && strcmp(sc->group_run, it->run) != 0))) {
        sc->group_id = 0;
        sc->top_batch = 0;
        if (sc->group[0] != '\0') /* a new life: numbering checked again */
            w->offsets[it->stream_slot] = (slot_offset){0, 0};
        snprintf(sc->group, sizeof(sc->group), "%s", it->group);
        snprintf(sc->group_run, sizeof(sc->group_run), "%s", it->run);
    }
}

static int64_t ensure_run(store_writer *w, const store_item *it, double now)
{
    slot_cache *c = &w->cache[it->run_slot];

    check_names(w, it);
    if (c->run_id != 0)
        return c->run_id;
    sqlite3_bind_text(w->st[ST_RUN_INS], 1, it->run, -1, SQLITE_STATIC);
    sqlite3_bind_double(w->st[ST_RUN_INS], 2, now);
    if (wr_run_stmt(w->st[ST_RUN_INS]) < 0)
        return 0;
    sqlite3_bind_text(w->st[ST_RUN_SEL], 1, it->run, -1, SQLITE_STATIC);
    c->run_id = select_id(w->st[ST_RUN_SEL]);
    if (c->run_id != 0 && c->has_policy < 0)
        load_policy(w, c);
    return c->run_id;
}

static int64_t ensure_group(store_writer *w, const store_item *it, int64_t run_id, double now)
{
    slot_cache *c = &w->cache[it->stream_slot];

    if (c->group_id != 0)
        return c->group_id;
    sqlite3_bind_int64(w->st[ST_GROUP_INS], 1, run_id);
    sqlite3_bind_text(w->st[ST_GROUP_INS], 2, it->group, -1, SQLITE_STATIC);
    sqlite3_bind_double(w->st[ST_GROUP_INS], 3, now);
    if (wr_run_stmt(w->st[ST_GROUP_INS]) < 0)
        return 0;
    sqlite3_bind_int64(w->st[ST_GROUP_SEL], 1, run_id);
    sqlite3_bind_text(w->st[ST_GROUP_SEL], 2, it->group, -1, SQLITE_STATIC);
    c->group_id = select_id(w->st[ST_GROUP_SEL]);
    return c->group_id;
}

/* The shift of the slot's blocks, measured on its life's first block it:
 * none when the estimator continued the stored numbering (it looked the
 * group up), else past the stored blocks. */
static uint64_t block_offset(store_writer *w, const store_item *it, int64_t group_id)
{
    slot_offset *o = &w->offsets[it->stream_slot];

    if (!o->known) {
        sqlite3_bind_int64(w->st[ST_MAX_BLOCK], 1, group_id);
        uint64_t next = (uint64_t)select_id(w->st[ST_MAX_BLOCK]);
        o->offset = next > it->block ? next - it->block : 0;
        o->known = 1;
    }
    return o->offset;
}

static int insert_policy(store_writer *w, const store_item *it, int64_t run_id)
{
    sqlite3_stmt *st = w->st[ST_POLICY_INS];
    slot_cache *c = &w->cache[it->run_slot];

    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, policy_kind_name(it->pol.kind), -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, it->pol.param);
    sqlite3_bind_double(st, 4, it->pol.lambda_min);
    sqlite3_bind_double(st, 5, it->pol.lambda_max);
    sqlite3_bind_double(st, 6, it->pol.ema);
    sqlite3_bind_text(st, 7, it->source ? it->source : "default", -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 8, it->created_at);
    if (wr_run_stmt(st) < 0)
        return -1;
    c->policy_id = sqlite3_last_insert_rowid(w->db);
    c->pol = it->pol;
    c->has_policy = 1;
    w->pending_policies++;
    return 0;
}

static void bind_real(sqlite3_stmt *st, int i, double v)
{
    if (isfinite(v))
        sqlite3_bind_double(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

static int insert_block(store_writer *w, const store_item *it, int64_t group_id)
{
    sqlite3_stmt *st = w->st[ST_BLOCK_INS];
    const est_result *r = &it->res;
    int64_t policy_id = w->cache[it->run_slot].policy_id;

    sqlite3_bind_int64(st, 1, group_id);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)(it->block + w->offsets[it->stream_slot].offset));
    sqlite3_bind_int64(st, 3, it->step_first);
    sqlite3_bind_int64(st, 4, it->step_last);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)r->n);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)r->n_used);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)r->n_nonfinite);
    sqlite3_bind_int64(st, 8, (sqlite3_int64)r->n_zero);
    bind_real(st, 9, r->median);
    bind_real(st, 10, r->mean);
    bind_real(st, 11, r->variance);
    bind_real(st, 12, r->kurtosis);
    if (r->has_hill) {
        bind_real(st, 13, r->hill.alpha);
        bind_real(st, 14, r->hill.se);
        bind_real(st, 15, r->hill.ci_lo);
        bind_real(st, 16, r->hill.ci_hi);
        sqlite3_bind_int64(st, 17, (sqlite3_int64)r->hill.k);
        bind_real(st, 24, r->hill.deff);
    }
    if (r->has_stable) {
        bind_real(st, 18, r->stable_alpha);
        sqlite3_bind_text(st, 25, EST_STABLE_CENTRE, -1, SQLITE_STATIC);
    }
    sqlite3_bind_double(st, 19, it->out.lambda);
    bind_real(st, 20, it->out.raw);
    sqlite3_bind_int(st, 21, (int)it->out.reason);
    if (policy_id != 0)
        sqlite3_bind_int64(st, 22, policy_id);
    sqlite3_bind_double(st, 23, it->created_at);
    return wr_run_stmt(st);
}

static int write_block(store_writer *w, const store_item *it)
{
    slot_cache *rc = &w->cache[it->run_slot];
    int64_t run_id, group_id;

    run_id = ensure_run(w, it, it->created_at);
    if (run_id == 0)
        return wr_row_error(w, "run");
    if (!rc->has_policy || !policy_equal(&rc->pol, &it->pol)) {
        if (insert_policy(w, it, run_id) < 0)
            return wr_row_error(w, "policy");
    }
    group_id = ensure_group(w, it, run_id, it->created_at);
    if (group_id == 0)
        return wr_row_error(w, "group");
    block_offset(w, it, group_id);
    /* The block and its rollup rows are stored together or not at all: a
     * block stored past a chunk whose row failed would leave that chunk
     * reading as empty for good (a complete chunk without a row held no
     * block). On failure the open chunks are reloaded from what is stored,
     * so the next block writes the missing row. */
    if (sqlite3_exec(w->db, "SAVEPOINT block", NULL, NULL, NULL) != SQLITE_OK)
        return wr_row_error(w, "savepoint");
    if (insert_block(w, it, group_id) < 0 || wr_write_rollup(w, it, group_id) < 0) {
        wr_row_error(w, "block");
        if (!wr_transient(w->wr_fail_rc)) /* a wr_transient one rolls the whole try back */
            sqlite3_exec(w->db, "ROLLBACK TO block; RELEASE block", NULL, NULL, NULL);
        w->rollup[it->stream_slot].loaded = 0;
        return -1;
    }
    if (sqlite3_exec(w->db, "RELEASE block", NULL, NULL, NULL) != SQLITE_OK)
        return wr_row_error(w, "release");
    w->pending_rows++;
    return 0;
}

/* A lambda a policy change re-derived from the group's latest block (the
 * group resolved by name). */
static int write_rederived(store_writer *w, const store_item *it)
{
    sqlite3_stmt *st = w->st[ST_LAMBDA_UPSERT];
    const slot_cache *rc = &w->cache[it->run_slot];
    int64_t run_id = ensure_run(w, it, it->created_at);
    int64_t group_id = run_id ? ensure_group(w, it, run_id, it->created_at) : 0;

    if (group_id == 0)
        return wr_row_error(w, "lambda_rederived");
    sqlite3_bind_int64(st, 1, group_id);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)(it->block + w->offsets[it->stream_slot].offset));
    sqlite3_bind_double(st, 3, it->out.lambda);
    bind_real(st, 4, it->out.raw);
    sqlite3_bind_int(st, 5, (int)it->out.reason);
    if (rc->has_policy > 0 && rc->policy_id != 0 && policy_equal(&rc->pol, &it->pol))
        sqlite3_bind_int64(st, 6, rc->policy_id);
    else
        sqlite3_bind_null(st, 6);
    sqlite3_bind_double(st, 7, it->created_at);
    return wr_run_stmt(st) < 0 ? wr_row_error(w, "lambda_rederived") : 0;
}

/* A row of table shed for item it: count things of unit lost for reason
 * in its step range, in its group (resolved by name; "" = the whole run).
 * 0, or -1 with the failure recorded. */
int wr_write_shed(store_writer *w, const store_item *it, uint64_t count, const char *unit,
                  const char *reason)
{
    sqlite3_stmt *st = w->st[ST_SHED_INS];
    int64_t run_id = ensure_run(w, it, it->created_at), group_id = 0;

    if (run_id == 0)
        return wr_row_error(w, "run");
    if (it->group[0] != '\0' && (group_id = ensure_group(w, it, run_id, it->created_at)) == 0)
        return wr_row_error(w, "group");
    if (count == 0 || unit == NULL || reason == NULL)
        return 0; /* nothing to say (an item from an older producer) */
    sqlite3_bind_int64(st, 1, run_id);
    if (group_id != 0)
        sqlite3_bind_int64(st, 2, group_id);
    sqlite3_bind_int64(st, 3, it->step_first);
    sqlite3_bind_int64(st, 4, it->step_last);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)count);
    sqlite3_bind_text(st, 6, unit, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, reason, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 8, it->created_at);
    return wr_run_stmt(st) < 0 ? wr_row_error(w, "shed") : 0;
}

/* Writes one item's rows. 0, or -1 with the failure recorded. */
int wr_write_item(store_writer *w, const store_item *it)
{
    if (it->run_slot >= w->slots || it->stream_slot >= w->slots)
        return wr_fail_rc(w, "slot", SQLITE_RANGE, "slot out of range");
    if (it->kind == STORE_BLOCK)
        return write_block(w, it);
    if (it->kind == STORE_LAMBDA)
        return write_rederived(w, it);
    if (it->kind == STORE_LOST || it->kind == STORE_SHED)
        return wr_write_shed(w, it, it->shed_count, it->shed_unit, it->shed_reason);
    if (it->kind == STORE_POLICY) { /* STORE_BARRIER and _ACK have no rows */
        const slot_cache *c = &w->cache[it->run_slot];
        int64_t run_id = ensure_run(w, it, it->created_at);
        /* A block of another estimator may have recorded it already. */
        if (run_id != 0 && c->has_policy && policy_equal(&c->pol, &it->pol))
            return 0;
        if (run_id == 0 || insert_policy(w, it, run_id) < 0)
            return wr_row_error(w, "policy");
    }
    return 0;
}

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x < y) - (x > y);
}

/* The latest top order statistics of each group of the batch: walk the
 * batch from its end so the newest block of a group is the one written
 * (sorted here: the estimator leaves each block's top unsorted, as most
 * are never written).
 * A newest block with fewer than 2 values (no Hill plot can be drawn from
 * it) deletes the group's row instead: /hill then answers 404 rather than
 * an older block's plot or empty arrays. Returns 0, or -1 after a wr_transient
 * failure (a top refused for good is logged and counted: it is the Hill
 * plot's, not a row). */
int wr_write_tops(store_writer *w)
{
    sqlite3_stmt *st = w->st[ST_TOP_UPSERT], *del = w->st[ST_TOP_DELETE];

    for (size_t i = w->batch_len; i-- > 0;) {
        store_item *it = w->batch[i];
        slot_cache *c;
        int rc;

        if (it->kind != STORE_BLOCK || w->refused[i] || it->stream_slot >= w->slots)
            continue;
        c = &w->cache[it->stream_slot];
        if (c->group_id == 0 || c->top_batch == w->batch_no || strcmp(c->group, it->group) != 0)
            continue;
        c->top_batch = w->batch_no;
        if (it->top_n < 2) {
            sqlite3_bind_int64(del, 1, c->group_id);
            rc = wr_run_stmt(del);
        } else {
            if (it->top_any_order) { /* the estimator left it unsorted: only this one is kept */
                qsort(it->top, it->top_n, sizeof(double), cmp_desc);
                it->top_any_order = 0;
            }
            sqlite3_bind_int64(st, 1, c->group_id);
            sqlite3_bind_int64(st, 2,
                               (sqlite3_int64)(it->block + w->offsets[it->stream_slot].offset));
            sqlite3_bind_int64(st, 3, (sqlite3_int64)it->res.n_pos);
            sqlite3_bind_int64(st, 4, (sqlite3_int64)it->top_n);
            sqlite3_bind_blob(st, 5, it->top, (int)(it->top_n * sizeof(double)), SQLITE_STATIC);
            sqlite3_bind_double(st, 6, it->created_at);
            rc = wr_run_stmt(st);
        }
        if (rc < 0 && wr_transient(sqlite3_extended_errcode(w->db)))
            return wr_row_error(w, "latest_top");
        if (rc < 0) {
            STAT_INC(write_errors);
            if (log_limit_allow(&w->lim, LOG_ERROR))
                LOG(LOG_ERROR, "writer: latest_top of %s/%s: %s", it->run, it->group,
                    sqlite3_errmsg(w->db));
        }
    }
    return 0;
}

/* Forgets cached ids after a rollback: rows inserted by it are gone. */
void wr_forget_cache(store_writer *w)
{
    for (size_t i = 0; i < w->slots; i++) {
        memset(&w->cache[i], 0, sizeof(w->cache[i]));
        w->rollup[i].loaded = 0; /* its rows and blocks may be gone too */
    }
}

static int prepare_rollup_insert(store_writer *w)
{
    char sql[4096];
    int n =
        snprintf(sql, sizeof(sql), "%s",
                 "INSERT OR REPLACE INTO series_rollup (group_id, level, chunk, block_first,"
                 " n_blocks, step_first, step_last" ROLLUP_FIELDS(ROLLUP_AGG_COLS) ") VALUES (?");

    for (int i = 1; i < 7 + 4 * ROLLUP_NFIELDS && n > 0 && (size_t)n < sizeof(sql); i++)
        n += snprintf(sql + n, sizeof(sql) - (size_t)n, ", ?");
    if (n <= 0 || (size_t)n + 2 > sizeof(sql))
        return -1;
    memcpy(sql + n, ")", 2);
    return sqlite3_prepare_v3(w->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &w->rollup_ins, NULL) ==
                   SQLITE_OK
               ? 0
               : -1;
}

int wr_prepare(store_writer *w)
{
    for (int i = 0; i < ST__COUNT; i++) {
        if (sqlite3_prepare_v3(w->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &w->st[i],
                               NULL) != SQLITE_OK) {
            snprintf(w->err, sizeof(w->err), "writer: preparing statement %d: %s", i,
                     sqlite3_errmsg(w->db));
            return -1;
        }
    }
    if (prepare_rollup_insert(w) < 0) {
        snprintf(w->err, sizeof(w->err), "writer: preparing the series_rollup insert: %s",
                 sqlite3_errmsg(w->db));
        return -1;
    }
    return 0;
}
