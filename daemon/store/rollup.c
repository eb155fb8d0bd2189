/*
 * rollup.c - the writer's series rollups (see rollup.h): each stream's
 * open chunk of every level kept in memory, folded block by block, a
 * chunk's row written in the transaction that stores the first block past
 * it, and the open chunks rebuilt from the stored rows when needed.
 */
#include <math.h>
#include <string.h>

#include "writer_internal.h"

/* ---- series_rollup (see rollup.h) ------------------------------------ */

static void acc_open(rollup_acc *a, int64_t chunk)
{
    memset(a, 0, sizeof(*a));
    a->chunk = chunk;
    for (int f = 0; f < ROLLUP_NFIELDS; f++) {
        a->min[f] = INFINITY;
        a->max[f] = -INFINITY;
    }
}

static void acc_add(rollup_acc *a, int64_t block, int64_t step_first, int64_t step_last,
                    const double *v)
{
    if (a->n_blocks++ == 0) {
        a->block_first = block;
        a->step_first = step_first;
    }
    a->step_last = step_last;
    for (int f = 0; f < ROLLUP_NFIELDS; f++) {
        if (!isfinite(v[f]))
            continue; /* stored as NULL */
        a->cnt[f]++;
        a->sum[f] += v[f];
        if (v[f] < a->min[f])
            a->min[f] = v[f];
        if (v[f] > a->max[f])
            a->max[f] = v[f];
    }
}

/* Binds group, level, chunk to ?1, ?2, ?3 of st. */
static void bind_key(sqlite3_stmt *st, int64_t group_id, int64_t level, int64_t chunk)
{
    sqlite3_bind_int64(st, 1, group_id);
    sqlite3_bind_int64(st, 2, level);
    sqlite3_bind_int64(st, 3, chunk);
}

/* The series_rollup row of a complete chunk, and its packed copy in
 * series_rollup_agg (the row's insert trigger marks it unpacked; writing
 * the copy clears the mark), in the caller's transaction. */
static int acc_write(store_writer *w, int64_t group_id, int64_t level, const rollup_acc *a)
{
    sqlite3_stmt *st = w->rollup_ins;
    int i = 4;

    bind_key(st, group_id, level, a->chunk);
    sqlite3_bind_int64(st, i++, a->block_first);
    sqlite3_bind_int64(st, i++, a->n_blocks);
    sqlite3_bind_int64(st, i++, a->step_first);
    sqlite3_bind_int64(st, i++, a->step_last);
    for (int f = 0; f < ROLLUP_NFIELDS; f++) {
        if (a->cnt[f] > 0) {
            sqlite3_bind_double(st, i, a->min[f]);
            sqlite3_bind_double(st, i + 1, a->max[f]);
        }
        sqlite3_bind_double(st, i + 2, a->sum[f]);
        sqlite3_bind_int64(st, i + 3, a->cnt[f]);
        i += 4;
    }
    if (wr_run_stmt(st) < 0)
        return -1;
    unsigned char agg[ROLLUP_AGG_BYTES];
    rollup_agg_put_head(agg, a->block_first, a->n_blocks, a->step_first, a->step_last);
    for (int f = 0; f < ROLLUP_NFIELDS; f++)
        rollup_agg_put(agg, f, a->min[f], a->max[f], a->sum[f], a->cnt[f]);
    st = w->st[ST_ROLLUP_AGG_INS];
    bind_key(st, group_id, level, a->chunk);
    sqlite3_bind_blob(st, 4, agg, sizeof agg, SQLITE_TRANSIENT);
    if (wr_run_stmt(st) < 0)
        return -1;
    st = w->st[ST_ROLLUP_MARK_DEL];
    bind_key(st, group_id, level, a->chunk);
    return wr_run_stmt(st);
}

/* Folds one block into every level's open chunk, writing the row of each
 * chunk the block completes. Blocks come in increasing order. */
static int rollup_add(store_writer *w, slot_rollup *r, int64_t block, int64_t step_first,
                      int64_t step_last, const double *v)
{
    int rc = 0;

    for (int i = 0; i < ROLLUP_LEVELS; i++) {
        rollup_acc *a = &r->lv[i];
        int64_t chunk = block / ROLLUP_LEVEL(i);
        if (a->chunk != chunk) {
            if (a->chunk >= 0 && a->n_blocks > 0 &&
                acc_write(w, r->group_id, ROLLUP_LEVEL(i), a) < 0)
                rc = -1;
            acc_open(a, chunk);
        }
        acc_add(a, block, step_first, step_last, v);
    }
    r->last_block = block;
    return rc;
}

/* Folds src, a run of blocks after those of dst, into dst. */
static void acc_merge(rollup_acc *dst, const rollup_acc *src)
{
    if (src->n_blocks == 0)
        return;
    if (dst->n_blocks == 0) {
        dst->block_first = src->block_first;
        dst->step_first = src->step_first;
    }
    dst->n_blocks += src->n_blocks;
    dst->step_last = src->step_last;
    for (int f = 0; f < ROLLUP_NFIELDS; f++) {
        dst->cnt[f] += src->cnt[f];
        dst->sum[f] += src->sum[f];
        if (src->min[f] < dst->min[f])
            dst->min[f] = src->min[f];
        if (src->max[f] > dst->max[f])
            dst->max[f] = src->max[f];
    }
}

/* Reads chunk `chunk` of `level` of the group from series_rollup into a.
 * Returns 1, 0 when there is no row (an empty chunk), -1 on error. */
static int acc_read(store_writer *w, int64_t group_id, int64_t level, int64_t chunk, rollup_acc *a)
{
    sqlite3_stmt *st = w->st[ST_ROLLUP_ROW];
    int rc;

    acc_open(a, chunk);
    sqlite3_bind_int64(st, 1, group_id);
    sqlite3_bind_int64(st, 2, level);
    sqlite3_bind_int64(st, 3, chunk);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        a->block_first = sqlite3_column_int64(st, 0);
        a->n_blocks = sqlite3_column_int64(st, 1);
        a->step_first = sqlite3_column_int64(st, 2);
        a->step_last = sqlite3_column_int64(st, 3);
        for (int f = 0; f < ROLLUP_NFIELDS; f++) {
            int col = 4 + 4 * f;
            a->cnt[f] = sqlite3_column_int64(st, col + 3);
            a->sum[f] = sqlite3_column_double(st, col + 2);
            if (a->cnt[f] > 0) {
                a->min[f] = sqlite3_column_double(st, col);
                a->max[f] = sqlite3_column_double(st, col + 1);
            }
        }
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Rebuilds the slot's open chunks of group_id, those of the last stored
 * block before `block`, and marks any other slot holding that group as
 * stale. The open chunk of level 64 comes from its rows (< 64); that of
 * each next level is the complete first half, when there is one (its row
 * at the level below), followed by the open chunk of the level below: 11
 * rows at most, whatever the level. */
static int rollup_load(store_writer *w, slot_rollup *r, int64_t group_id, int64_t block)
{
    sqlite3_stmt *st = w->st[ST_ROLLUP_LOAD], *lst = w->st[ST_ROLLUP_LAST];
    double v[ROLLUP_NFIELDS];
    int64_t last;
    int rc;

    for (size_t i = 0; i < w->slots; i++) {
        if (w->rollup[i].group_id == group_id)
            w->rollup[i].loaded = 0;
    }
    r->group_id = group_id;
    r->last_block = -1;
    for (int i = 0; i < ROLLUP_LEVELS; i++)
        acc_open(&r->lv[i], -1);
    sqlite3_bind_int64(lst, 1, group_id);
    sqlite3_bind_int64(lst, 2, block);
    rc = sqlite3_step(lst);
    last = rc == SQLITE_ROW && sqlite3_column_type(lst, 0) != SQLITE_NULL
               ? sqlite3_column_int64(lst, 0)
               : -1;
    sqlite3_reset(lst);
    sqlite3_clear_bindings(lst);
    if (rc != SQLITE_ROW)
        return -1;
    if (last < 0) { /* no block before this one: nothing open */
        r->loaded = 1;
        return 0;
    }
    acc_open(&r->lv[0], last / ROLLUP_LEVEL(0));
    sqlite3_bind_int64(st, 1, group_id);
    sqlite3_bind_int64(st, 2, last / ROLLUP_LEVEL(0) * ROLLUP_LEVEL(0));
    sqlite3_bind_int64(st, 3, block);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int f = 0; f < ROLLUP_NFIELDS; f++)
            v[f] = sqlite3_column_type(st, 3 + f) == SQLITE_NULL ? NAN
                                                                 : sqlite3_column_double(st, 3 + f);
        acc_add(&r->lv[0], sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                sqlite3_column_int64(st, 2), v);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return -1;
    for (int i = 1; i < ROLLUP_LEVELS; i++) {
        rollup_acc half, *a = &r->lv[i];
        int64_t chunk = last / ROLLUP_LEVEL(i);

        acc_open(a, chunk);
        if (last / ROLLUP_LEVEL(i - 1) == 2 * chunk + 1) {
            rc = acc_read(w, group_id, ROLLUP_LEVEL(i - 1), 2 * chunk, &half);
            if (rc < 0)
                return -1;
            if (rc == 1)
                acc_merge(a, &half);
        }
        acc_merge(a, &r->lv[i - 1]);
    }
    r->last_block = last;
    r->loaded = 1;
    return 0;
}

/* The block's values of the series fields, as insert_block stores them
 * (NaN where it stores NULL). */
static void block_values(const store_item *it, double v[ROLLUP_NFIELDS])
{
    const est_result *r = &it->res;
    const double nan = NAN;
    const double vals[ROLLUP_NFIELDS] = {
        (double)it->step_first,
        (double)r->n,
        (double)r->n_used,
        r->median,
        r->mean,
        r->variance,
        r->kurtosis,
        r->has_hill ? r->hill.alpha : nan,
        r->has_hill ? r->hill.se : nan,
        r->has_hill ? r->hill.ci_lo : nan,
        r->has_hill ? r->hill.ci_hi : nan,
        r->has_hill ? (double)r->hill.k : nan,
        r->has_stable ? r->stable_alpha : nan,
        it->out.lambda,
    };
    memcpy(v, vals, sizeof(vals));
}

/* Folds a stored block into its stream's open chunks (rollup.h). */
int wr_write_rollup(store_writer *w, const store_item *it, int64_t group_id)
{
    slot_rollup *r = &w->rollup[it->stream_slot];
    int64_t block = (int64_t)(it->block + w->offsets[it->stream_slot].offset);
    double v[ROLLUP_NFIELDS];

    if (!r->loaded || r->group_id != group_id || block <= r->last_block) {
        if (rollup_load(w, r, group_id, block) < 0)
            return -1;
    }
    block_values(it, v);
    return rollup_add(w, r, block, it->step_first, it->step_last, v);
}
