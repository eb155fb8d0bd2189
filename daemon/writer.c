/*
 * writer.c - the SQLite writer thread (see store.h for the design).
 *
 * DESIGN: one thread, one connection, prepared statements. Per batch: BEGIN
 * IMMEDIATE, rows in queue order, then the latest top order statistics of
 * each group touched, then COMMIT. Items stay alive until their batch
 * commits so the top-statistics pass can read them; then they are freed.
 *
 * Faults are loud, not lossy. A failure that may pass (disk full, I/O
 * error, a lock, out of memory) rolls the try back and keeps the batch:
 * the writer retries it with back-off (RETRY_FIRST_MS doubling to
 * RETRY_MAX_MS), truncating the WAL before each try once the disk was full,
 * while its queue fills and the estimators' pushes wait (store_push): that
 * is the back-pressure upstream. A lock held outside htgad is waited for in
 * the busy handler, not counted as a failure. A row SQLite refuses for good
 * (a constraint, a bad value) is the only one lost while htgad runs,
 * counted in rows_lost. Once stopping (store_writer_stop_by), a failing
 * batch is given up after the deadline and its rows counted lost, so a
 * stop ends. write_errors counts events: failed tries and refused rows.
 *
 * Barriers: each estimator forwards its part of a barrier (STORE_BARRIER)
 * after every block it took before it; a batch that takes one commits at
 * once, and once all parts of a barrier are committed the writer tells
 * ingest over the estimators' pipe (a PUSH socket of its own, made in its
 * thread) with the run's blocks stored and lost so far, so ingest can answer
 * the client's BARRIER. A block the estimator could not estimate comes as
 * STORE_LOST and is counted with the run's lost blocks.
 *
 * Gaps: a STORE_LOST block, a STORE_SHED event from ingest (a client's
 * drops, refused values) and a block row refused for good each become a
 * row of table shed (schema/008_shed.sql) in the same batch, so the gap
 * they leave in a series says why.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "ack.h"
#include "estimator.h"
#include "health.h"
#include "log.h"
#include "prio.h"
#include "retention.h"
#include "rollup.h"
#include "stats.h"
#include "store.h"

#define RETRY_FIRST_MS 50   /* the first back-off after a failed try */
#define RETRY_MAX_MS   1000 /* back-off doubles up to this */
#define BUSY_SLEEP_MAX 20   /* ms between looks at a lock held outside htgad */

enum {
    ST_RUN_INS,
    ST_RUN_SEL,
    ST_GROUP_INS,
    ST_GROUP_SEL,
    ST_BLOCK_INS,
    ST_TOP_UPSERT,
    ST_TOP_DELETE,
    ST_POLICY_INS,
    ST_MAX_BLOCK,
    ST_ROLLUP_LAST,
    ST_ROLLUP_LOAD,
    ST_ROLLUP_ROW,
    ST_ROLLUP_AGG_INS,
    ST_ROLLUP_MARK_DEL,
    ST_LAMBDA_UPSERT,
    ST_SHED_INS,
    ST__COUNT
};

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

typedef struct slot_cache {
    int64_t run_id;    /* 0 = not resolved yet */
    int64_t group_id;  /* for the stream slot of the same index */
    int64_t policy_id; /* the run's latest policy row (0 = none known) */
    int has_policy;
    policy pol;
    uint64_t top_batch; /* batch number the group's top was last written in */
    /* The names the ids above belong to: ingest reuses a freed slot for
     * another run or group, and a name that differs forgets the ids. */
    char run[WIRE_NAME_MAX + 1];
    char group[WIRE_NAME_MAX + 1];
    char group_run[WIRE_NAME_MAX + 1]; /* the run of `group`: the same group name in
                                          another run is another group */
} slot_cache;

/* Block numbering of a group ingest could not look up (it numbers it from
 * 0 again): its rows are shifted past the stored ones. A group ingest looked
 * up continues the stored numbers and gets no shift. Kept apart from slot_cache so a
 * rollback, which forgets cached ids, does not recompute it. */
typedef struct slot_offset {
    int known;
    uint64_t offset;
} slot_offset;

/* The open chunk of one level (see rollup.h): the fold of its blocks. */
typedef struct rollup_acc {
    int64_t chunk; /* -1: none open */
    int64_t block_first, n_blocks, step_first, step_last;
    double min[ROLLUP_NFIELDS], max[ROLLUP_NFIELDS], sum[ROLLUP_NFIELDS];
    int64_t cnt[ROLLUP_NFIELDS];
} rollup_acc;

/* A stream slot's open chunks, for group_id, holding its blocks up to
 * last_block. Not loaded: rebuilt from the stored blocks on the next block
 * (start-up, a new group in the slot, a rollback, another slot that took
 * the group). */
typedef struct slot_rollup {
    int loaded;
    int64_t group_id;
    int64_t last_block;
    rollup_acc lv[ROLLUP_LEVELS];
} slot_rollup;

/* A barrier waiting for the parts of the other estimators. */
typedef struct bar_wait {
    uint64_t id;
    uint32_t run_slot, seen, parts;
} bar_wait;

/* Blocks of a run slot stored and lost in this daemon's life. */
typedef struct run_count {
    char run[WIRE_NAME_MAX + 1];
    uint64_t stored, lost;
} run_count;

struct store_writer {
    sqlite3 *db;
    void *zctx, *pipe; /* pipe: made and used in the writer thread only */
    run_count *counts; /* per run slot */
    bar_wait *waits;   /* barriers with parts missing */
    size_t nwaits, waits_cap;
    bar_wait *done; /* barriers whole in the last batch: told after its commit */
    size_t ndone, done_cap;
    bqueue *q;
    size_t slots;
    slot_cache *cache;
    slot_offset *offsets;
    slot_rollup *rollup;
    sqlite3_stmt *st[ST__COUNT];
    sqlite3_stmt *rollup_ins; /* INSERT OR REPLACE INTO series_rollup */
    store_item *batch[STORE_BATCH_MAX];
    unsigned char refused[STORE_BATCH_MAX]; /* the item's row was refused for good */
    size_t batch_len;
    uint64_t batch_no;
    uint64_t pending_rows;     /* block rows of the open transaction */
    uint64_t pending_policies; /* policy rows of the open transaction */
    /* the last failure: what failed, SQLite's extended code and text */
    const char *fail_what;
    int fail_rc;
    char fail_msg[96];
    int failing; /* tries fail since failing_ms (health_now_ms) */
    int64_t failing_ms;
    uint64_t failed_tries;      /* in this episode */
    int disk_was_full;          /* in this episode: truncate the WAL */
    _Atomic int64_t stop_by_ms; /* stopping: give up failing batches after this (0: running) */
    pthread_t thread;
    int started;
    log_limit lim;
    retention ret; /* old blocks dropped between batches (retention.h) */
};

store_writer *store_writer_new(sqlite3 *db, bqueue *q, size_t slots)
{
    store_writer *w = calloc(1, sizeof(*w));

    if (w == NULL)
        return NULL;
    w->cache = calloc(slots, sizeof(slot_cache));
    w->offsets = calloc(slots, sizeof(slot_offset));
    w->rollup = calloc(slots, sizeof(slot_rollup));
    w->counts = calloc(slots, sizeof(run_count));
    if (w->cache == NULL || w->offsets == NULL || w->rollup == NULL || w->counts == NULL)
        goto out_free_writer;
    w->db = db;
    w->q = q;
    w->slots = slots;
    return w;

out_free_writer:
    free(w->cache);
    free(w->offsets);
    free(w->rollup);
    free(w->counts);
    free(w);
    return NULL;
}

void store_writer_notify(store_writer *w, void *zmq_ctx)
{
    w->zctx = zmq_ctx;
}

/* The counts of it's run slot, reset when the slot holds another run. */
static run_count *count_of(store_writer *w, const store_item *it)
{
    run_count *c = &w->counts[it->run_slot];

    if (strcmp(c->run, it->run) != 0) {
        memset(c, 0, sizeof(*c));
        memcpy(c->run, it->run, sizeof(c->run));
    }
    return c;
}

/* One estimator's part of a barrier, committed with everything before it:
 * a whole barrier joins w->done, to be told. */
static void barrier_part(store_writer *w, const store_item *it)
{
    bar_wait *b = NULL;

    for (size_t i = 0; i < w->nwaits; i++)
        if (w->waits[i].id == it->barrier)
            b = &w->waits[i];
    if (b == NULL) {
        if (w->nwaits == w->waits_cap) {
            size_t cap = w->waits_cap ? 2 * w->waits_cap : 8;
            bar_wait *v = realloc(w->waits, cap * sizeof(*v));
            if (v == NULL)
                return; /* its client times out; nothing is lost */
            w->waits = v;
            w->waits_cap = cap;
        }
        b = &w->waits[w->nwaits++];
        *b = (bar_wait){it->barrier, it->run_slot, 0, it->parts};
    }
    if (++b->seen < b->parts)
        return;
    if (w->ndone == w->done_cap) {
        size_t cap = w->done_cap ? 2 * w->done_cap : 8;
        bar_wait *v = realloc(w->done, cap * sizeof(*v));
        if (v == NULL)
            return;
        w->done = v;
        w->done_cap = cap;
    }
    w->done[w->ndone++] = *b;
    *b = w->waits[--w->nwaits];
}

/* The batch is settled (committed, or given up at stop): the run counts of
 * its blocks, the barrier parts in it, and ingest told of whole barriers. */
static void settle_batch(store_writer *w, int committed)
{
    for (size_t i = 0; i < w->batch_len; i++) {
        const store_item *it = w->batch[i];
        if (it->run_slot >= w->slots)
            continue;
        if (it->kind == STORE_BLOCK && committed && !w->refused[i]) {
            count_of(w, it)->stored++;
        } else if (it->kind == STORE_BLOCK || it->kind == STORE_LOST) {
            count_of(w, it)->lost++;
            if (it->kind == STORE_BLOCK) /* the estimator counted its own */
                STAT_INC(blocks_lost);
        } else if (it->kind == STORE_BARRIER) {
            barrier_part(w, it);
        } else if (it->kind == STORE_ACK) { /* a PUT policy waits for this */
            ack_done(it->ack, committed);
        }
    }
    for (size_t i = 0; i < w->ndone; i++) {
        const bar_wait *b = &w->done[i];
        est_note note = {.kind = NOTE_BARRIER, .barrier = b->id, .run_slot = b->run_slot};
        if (b->run_slot < w->slots) {
            note.blocks_stored = w->counts[b->run_slot].stored;
            note.blocks_lost = w->counts[b->run_slot].lost;
        }
        if (w->pipe == NULL || zmq_send(w->pipe, &note, sizeof(note), ZMQ_DONTWAIT) < 0)
            STAT_INC(drops[DROP_LAMBDA_PIPE]);
    }
    w->ndone = 0;
}

void store_writer_preload(store_writer *w, uint32_t run_slot, int64_t run_id, uint32_t stream_slot,
                          int64_t group_id, const policy *pol, int64_t policy_id)
{
    if (run_slot < w->slots) {
        w->cache[run_slot].run_id = run_id;
        if (pol != NULL) {
            w->cache[run_slot].has_policy = 1;
            w->cache[run_slot].pol = *pol;
            w->cache[run_slot].policy_id = policy_id;
        }
    }
    if (stream_slot < w->slots) {
        w->cache[stream_slot].group_id = group_id;
        w->offsets[stream_slot].known = 1; /* ingest continues its numbering */
    }
}

/* Records a failure (what failed, with SQLite code rc and its text) for
 * the caller to judge: transient (the try is retried) or not (the row is
 * refused). Returns -1. */
static int fail_rc(store_writer *w, const char *what, int rc, const char *msg)
{
    w->fail_what = what;
    w->fail_rc = rc;
    snprintf(w->fail_msg, sizeof(w->fail_msg), "%s", msg ? msg : sqlite3_errstr(rc));
    return -1;
}

/* A failure of the last statement on the connection. */
static int row_error(store_writer *w, const char *what)
{
    return fail_rc(w, what, sqlite3_extended_errcode(w->db), sqlite3_errmsg(w->db));
}

/* Failures that may pass: the try is rolled back and retried. The others
 * (constraint, mismatch, too big, corrupt, misuse) are the row's own. */
static int transient(int rc)
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
static int run_stmt(sqlite3_stmt *st)
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
        const char *kind = (const char *)sqlite3_column_text(st, 1);
        c->has_policy = 1;
        c->policy_id = sqlite3_column_int64(st, 0);
        c->pol.kind = kind && strcmp(kind, "power") == 0 ? POLICY_POWER : POLICY_LINEAR;
        c->pol.param = sqlite3_column_double(st, 2);
        c->pol.lambda_min = sqlite3_column_double(st, 3);
        c->pol.lambda_max = sqlite3_column_double(st, 4);
        c->pol.ema = sqlite3_column_double(st, 5);
    }
    sqlite3_finalize(st);
}

/* A slot named differently from what is cached starts a new life (or was
 * preloaded, or forgotten by a rollback): ids are resolved by name again,
 * and a new life's block numbering is checked against the stored blocks. */
static void check_names(store_writer *w, const store_item *it)
{
    slot_cache *rc = &w->cache[it->run_slot];
    slot_cache *sc = &w->cache[it->stream_slot];

    if (strcmp(rc->run, it->run) != 0) {
        if (rc->run[0] != '\0' || rc->run_id == 0) {
            rc->run_id = 0;
            rc->has_policy = -1; /* loaded once the run id is known */
        }
        snprintf(rc->run, sizeof(rc->run), "%s", it->run);
    }
    if ((it->kind == STORE_BLOCK || (it->kind == STORE_LOST && it->group[0] != '\0')) &&
        (strcmp(sc->group, it->group) != 0 ||
         (sc->group[0] != '\0' && strcmp(sc->group_run, it->run) != 0))) {
        if (sc->group[0] != '\0' || sc->group_id == 0) {
            sc->group_id = 0;
            sc->top_batch = 0;
        }
        if (sc->group[0] != '\0') /* a new life: numbering checked again */
            w->offsets[it->stream_slot] = (slot_offset){0, 0};
        snprintf(sc->group, sizeof(sc->group), "%s", it->group);
        snprintf(sc->group_run, sizeof(sc->group_run), "%s", it->run);
    } else if (sc->group_run[0] == '\0') { /* preloaded: the names come with its first row */
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
    if (run_stmt(w->st[ST_RUN_INS]) < 0)
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
    if (run_stmt(w->st[ST_GROUP_INS]) < 0)
        return 0;
    sqlite3_bind_int64(w->st[ST_GROUP_SEL], 1, run_id);
    sqlite3_bind_text(w->st[ST_GROUP_SEL], 2, it->group, -1, SQLITE_STATIC);
    c->group_id = select_id(w->st[ST_GROUP_SEL]);
    if (c->group_id != 0 && !w->offsets[it->stream_slot].known) {
        sqlite3_bind_int64(w->st[ST_MAX_BLOCK], 1, c->group_id);
        uint64_t next = (uint64_t)select_id(w->st[ST_MAX_BLOCK]);
        /* ingest continued the stored numbering (it looked the group up):
         * no shift; it numbered from 0 again: past the stored blocks */
        w->offsets[it->stream_slot].offset = next > it->block ? next - it->block : 0;
        w->offsets[it->stream_slot].known = 1;
    }
    return c->group_id;
}

static int insert_policy(store_writer *w, const store_item *it, int64_t run_id)
{
    sqlite3_stmt *st = w->st[ST_POLICY_INS];
    slot_cache *c = &w->cache[it->run_slot];

    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, it->pol.kind == POLICY_POWER ? "power" : "linear", -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, it->pol.param);
    sqlite3_bind_double(st, 4, it->pol.lambda_min);
    sqlite3_bind_double(st, 5, it->pol.lambda_max);
    sqlite3_bind_double(st, 6, it->pol.ema);
    sqlite3_bind_text(st, 7, it->source ? it->source : "default", -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 8, it->created_at);
    if (run_stmt(st) < 0)
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
    return run_stmt(st);
}

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
    if (run_stmt(st) < 0)
        return -1;
    unsigned char agg[ROLLUP_AGG_BYTES];
    rollup_agg_put_head(agg, a->block_first, a->n_blocks, a->step_first, a->step_last);
    for (int f = 0; f < ROLLUP_NFIELDS; f++)
        rollup_agg_put(agg, f, a->min[f], a->max[f], a->sum[f], a->cnt[f]);
    st = w->st[ST_ROLLUP_AGG_INS];
    bind_key(st, group_id, level, a->chunk);
    sqlite3_bind_blob(st, 4, agg, sizeof agg, SQLITE_TRANSIENT);
    if (run_stmt(st) < 0)
        return -1;
    st = w->st[ST_ROLLUP_MARK_DEL];
    bind_key(st, group_id, level, a->chunk);
    return run_stmt(st);
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
static int write_rollup(store_writer *w, const store_item *it, int64_t group_id)
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

static int write_block(store_writer *w, const store_item *it)
{
    slot_cache *rc = &w->cache[it->run_slot];
    int64_t run_id, group_id;

    run_id = ensure_run(w, it, it->created_at);
    if (run_id == 0)
        return row_error(w, "run");
    if (!rc->has_policy || !policy_equal(&rc->pol, &it->pol)) {
        if (insert_policy(w, it, run_id) < 0)
            return row_error(w, "policy");
    }
    group_id = ensure_group(w, it, run_id, it->created_at);
    if (group_id == 0)
        return row_error(w, "group");
    /* The block and its rollup rows are stored together or not at all: a
     * block stored past a chunk whose row failed would leave that chunk
     * reading as empty for good (a complete chunk without a row held no
     * block). On failure the open chunks are reloaded from what is stored,
     * so the next block writes the missing row. */
    if (sqlite3_exec(w->db, "SAVEPOINT block", NULL, NULL, NULL) != SQLITE_OK)
        return row_error(w, "savepoint");
    if (insert_block(w, it, group_id) < 0 || write_rollup(w, it, group_id) < 0) {
        row_error(w, "block");
        if (!transient(w->fail_rc)) /* a transient one rolls the whole try back */
            sqlite3_exec(w->db, "ROLLBACK TO block; RELEASE block", NULL, NULL, NULL);
        w->rollup[it->stream_slot].loaded = 0;
        return -1;
    }
    if (sqlite3_exec(w->db, "RELEASE block", NULL, NULL, NULL) != SQLITE_OK)
        return row_error(w, "release");
    w->pending_rows++;
    return 0;
}

/* A lambda a policy change re-derived from the group's latest block: the
 * group is known by name, or (a group restored at start-up, whose name the
 * estimator does not keep) by the id the writer was preloaded with. */
static int write_rederived(store_writer *w, const store_item *it)
{
    sqlite3_stmt *st = w->st[ST_LAMBDA_UPSERT];
    const slot_cache *rc = &w->cache[it->run_slot];
    int64_t group_id = w->cache[it->stream_slot].group_id;

    if (it->group[0] != '\0') {
        int64_t run_id = ensure_run(w, it, it->created_at);
        group_id = run_id ? ensure_group(w, it, run_id, it->created_at) : 0;
    }
    if (group_id == 0)
        return row_error(w, "lambda_rederived");
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
    return run_stmt(st) < 0 ? row_error(w, "lambda_rederived") : 0;
}

/* A row of table shed for item it: count things of unit lost for reason
 * in its step range, in its group (resolved by name; "" = the whole run).
 * 0, or -1 with the failure recorded. */
static int write_shed(store_writer *w, const store_item *it, uint64_t count, const char *unit,
                      const char *reason)
{
    sqlite3_stmt *st = w->st[ST_SHED_INS];
    int64_t run_id = ensure_run(w, it, it->created_at), group_id = 0;

    if (run_id == 0)
        return row_error(w, "run");
    if (it->group[0] != '\0' && (group_id = ensure_group(w, it, run_id, it->created_at)) == 0)
        return row_error(w, "group");
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
    return run_stmt(st) < 0 ? row_error(w, "shed") : 0;
}

/* Writes one item's rows. 0, or -1 with the failure recorded. */
static int write_item(store_writer *w, const store_item *it)
{
    if (it->run_slot >= w->slots || it->stream_slot >= w->slots)
        return fail_rc(w, "slot", SQLITE_RANGE, "slot out of range");
    if (it->kind == STORE_BLOCK)
        return write_block(w, it);
    if (it->kind == STORE_LAMBDA)
        return write_rederived(w, it);
    if (it->kind == STORE_LOST || it->kind == STORE_SHED)
        return write_shed(w, it, it->shed_count, it->shed_unit, it->shed_reason);
    if (it->kind == STORE_POLICY) { /* STORE_BARRIER and _ACK have no rows */
        const slot_cache *c = &w->cache[it->run_slot];
        int64_t run_id = ensure_run(w, it, it->created_at);
        /* A block of another estimator may have recorded it already. */
        if (run_id != 0 && c->has_policy && policy_equal(&c->pol, &it->pol))
            return 0;
        if (run_id == 0 || insert_policy(w, it, run_id) < 0)
            return row_error(w, "policy");
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
 * an older block's plot or empty arrays. Returns 0, or -1 after a transient
 * failure (a top refused for good is logged and counted: it is the Hill
 * plot's, not a row). */
static int write_tops(store_writer *w)
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
            rc = run_stmt(del);
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
            rc = run_stmt(st);
        }
        if (rc < 0 && transient(sqlite3_extended_errcode(w->db)))
            return row_error(w, "latest_top");
        if (rc < 0) {
            STAT_INC(write_errors);
            if (log_limit_allow(&w->lim, LOG_ERROR))
                LOG(LOG_ERROR, "writer: latest_top of %s/%s: %s", it->run, it->group,
                    sqlite3_errmsg(w->db));
        }
    }
    return 0;
}

static void free_batch(store_writer *w)
{
    for (size_t i = 0; i < w->batch_len; i++)
        free(w->batch[i]);
    w->batch_len = 0;
}

/* Forgets cached ids after a rollback: rows inserted by it are gone. */
static void forget_cache(store_writer *w)
{
    for (size_t i = 0; i < w->slots; i++) {
        memset(&w->cache[i], 0, sizeof(w->cache[i]));
        w->rollup[i].loaded = 0; /* its rows and blocks may be gone too */
    }
}

/* Ends a failed try: rolls back what SQLite did not already, forgets what
 * the rollback undid. Returns -1. */
static int roll_back(store_writer *w)
{
    if (!sqlite3_get_autocommit(w->db))
        sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
    forget_cache(w);
    STAT_INC(write_errors);
    return -1;
}

/* The trace of a block row refused for good: a row of table shed (reason
 * "writer"), written again by every try of the batch, since a rollback
 * undoes it. One SQLite refuses too is logged and counted, not retried.
 * 0, or -1 on a transient failure. */
static int write_refused_trace(store_writer *w, size_t i)
{
    const store_item *it = w->batch[i];

    if (it->kind != STORE_BLOCK || write_shed(w, it, 1, "blocks", "writer") == 0)
        return 0;
    if (transient(w->fail_rc))
        return -1;
    STAT_INC(write_errors);
    if (log_limit_allow(&w->lim, LOG_ERROR))
        LOG(LOG_ERROR, "writer: the shed row of %s/%s refused: %s: %s", it->run, it->group,
            w->fail_what, w->fail_msg);
    return 0;
}

/* Writes batch item i (or, refused by an earlier try, its trace). 0 when
 * written or refused for good (counted lost once, skipped by later tries);
 * -1 on a transient failure. */
static int write_or_refuse(store_writer *w, size_t i)
{
    const store_item *it = w->batch[i];
    static const char *const what[] = {
        [STORE_BLOCK] = "block",   [STORE_POLICY] = "policy", [STORE_LOST] = "shed",
        [STORE_LAMBDA] = "lambda", [STORE_SHED] = "shed",     [STORE_STOP] = "?",
        [STORE_BARRIER] = "?",     [STORE_ACK] = "?"};

    if (w->refused[i])
        return write_refused_trace(w, i);
    if (write_item(w, it) == 0)
        return 0;
    if (transient(w->fail_rc))
        return -1;
    w->refused[i] = 1;
    STAT_INC(write_errors);
    STAT_INC(rows_lost);
    if (log_limit_allow(&w->lim, LOG_ERROR))
        LOG(LOG_ERROR, "writer: %s row of %s/%s refused, lost: %s: %s", what[it->kind], it->run,
            it->group, w->fail_what, w->fail_msg);
    return write_refused_trace(w, i);
}

/* Appends it to the batch. */
static void batch_add(store_writer *w, store_item *it)
{
    w->refused[w->batch_len] = 0;
    w->batch[w->batch_len++] = it;
}

/* One try at the batch: BEGIN IMMEDIATE, its rows (with linger, taking
 * more from the queue until that deadline, or a STOP item, which sets
 * *stop), the groups' tops, COMMIT. Returns 0 when committed, -1 after a
 * transient failure: rolled back, the batch kept for the next try. */
static int try_batch(store_writer *w, const struct timespec *linger, int *stop)
{
    int rc;

    w->batch_no++;
    w->pending_rows = 0;
    w->pending_policies = 0;
    rc = sqlite3_exec(w->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        fail_rc(w, "BEGIN", sqlite3_extended_errcode(w->db), sqlite3_errmsg(w->db));
        return roll_back(w);
    }
    for (size_t i = 0; i < w->batch_len; i++) {
        if (write_or_refuse(w, i) < 0)
            return roll_back(w);
    }
    while (linger != NULL && !*stop && w->batch_len < STORE_BATCH_MAX) {
        store_item *it = bqueue_pop_by(w->q, linger);
        if (it == NULL)
            break;
        if (it->kind == STORE_STOP) {
            free(it);
            *stop = 1;
            break;
        }
        batch_add(w, it);
        if (write_or_refuse(w, w->batch_len - 1) < 0)
            return roll_back(w);
        if (it->kind == STORE_BARRIER) /* a client waits: commit now */
            break;
    }
    if (write_tops(w) < 0)
        return roll_back(w);
    rc = sqlite3_exec(w->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        row_error(w, "COMMIT");
        return roll_back(w);
    }
    STAT_ADD(rows_written, w->pending_rows);
    STAT_ADD(policy_changes, w->pending_policies);
    STAT_INC(transactions);
    return 0;
}

/* Truncates the WAL (a TRUNCATE checkpoint): after the disk was full, this
 * gives back the space of frames rolled back or already copied. */
static void truncate_wal(store_writer *w)
{
    if (sqlite3_wal_checkpoint_v2(w->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) == SQLITE_OK)
        STAT_INC(wal_checkpoints);
}

static int64_t stop_deadline(store_writer *w)
{
    return atomic_load(&w->stop_by_ms);
}

/* Rows the writer holds: its batch (not refused) and its queue. */
static uint64_t rows_held(store_writer *w)
{
    uint64_t n = bqueue_depth(w->q);

    for (size_t i = 0; i < w->batch_len; i++)
        n += !w->refused[i];
    return n;
}

static void note_failure(store_writer *w)
{
    if (!w->failing) {
        w->failing = 1;
        w->failing_ms = health_now_ms();
        w->failed_tries = 0;
        w->disk_was_full = 0;
    }
    w->failed_tries++;
    if ((w->fail_rc & 0xff) == SQLITE_FULL)
        w->disk_was_full = 1;
    health_writer_failed(w->fail_rc, w->fail_msg, rows_held(w));
    /* tries 1, 2, 4, 8 ... then one a minute (back-off is 1 s by then) */
    if ((w->failed_tries & (w->failed_tries - 1)) == 0 || w->failed_tries % 60 == 0)
        LOG(w->failed_tries == 1 ? LOG_ERROR : LOG_WARN,
            "writer: %s: %s; %llu rows held, retrying (try %llu)", w->fail_what, w->fail_msg,
            (unsigned long long)rows_held(w), (unsigned long long)w->failed_tries);
}

static void note_recovery(store_writer *w)
{
    if (!w->failing)
        return;
    if (w->disk_was_full)
        truncate_wal(w);
    LOG(LOG_INFO, "writer: storing again after %.1f s and %llu failed tries",
        (double)(health_now_ms() - w->failing_ms) / 1000.0, (unsigned long long)w->failed_tries);
    w->failing = 0;
    health_writer_ok();
}

/* Waits *delay_ms (doubling it for next time), beating, at most until the
 * stop deadline; truncates the WAL first when the disk was full. */
static void back_off(store_writer *w, int *delay_ms)
{
    int64_t until = health_now_ms() + *delay_ms, by = stop_deadline(w);

    if (by != 0 && until > by)
        until = by;
    if (w->disk_was_full)
        truncate_wal(w);
    while (health_now_ms() < until) {
        int64_t left = until - health_now_ms();
        struct timespec ts = {0, (long)(left < 100 ? left : 100) * 1000000L};
        nanosleep(&ts, NULL);
        health_busy();
    }
    *delay_ms = *delay_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : *delay_ms * 2;
}

/* Stopping and past the deadline: the batch's rows are counted lost. */
static void give_up(store_writer *w)
{
    uint64_t lost = 0;

    for (size_t i = 0; i < w->batch_len; i++)
        lost += !w->refused[i];
    STAT_ADD(rows_lost, lost);
    LOG(LOG_ERROR, "writer: stopping: gave up %llu rows after %s: %s", (unsigned long long)lost,
        w->fail_what, w->fail_msg);
}

/* One batch, tried until it commits (or, stopping, until the deadline).
 * Returns 1 when a STOP item was seen. */
static int run_batch(store_writer *w, store_item *first)
{
    struct timespec linger = bqueue_deadline(STORE_LINGER_MS);
    int stop = 0, delay = RETRY_FIRST_MS, rc;

    if (first->kind == STORE_STOP) {
        free(first);
        return 1;
    }
    batch_add(w, first);
    /* a barrier first: a client waits, nothing to linger for */
    for (const struct timespec *more = first->kind == STORE_BARRIER ? NULL : &linger;;
         more = NULL) {
        rc = try_batch(w, more, &stop);
        health_writer_lock_wait(0);
        if (rc == 0) {
            note_recovery(w);
            settle_batch(w, 1);
            break;
        }
        note_failure(w);
        if (stop_deadline(w) != 0 && health_now_ms() >= stop_deadline(w)) {
            give_up(w);
            settle_batch(w, 0);
            break;
        }
        back_off(w, &delay);
    }
    free_batch(w);
    return stop;
}

/* The connection's busy handler: a lock held outside htgad is waited for
 * (beating, so the wait is not a stall) until the stop deadline, if any. */
static int busy_wait(void *arg, int n)
{
    store_writer *w = arg;
    int64_t by = stop_deadline(w);
    struct timespec ts = {0, (long)(n < BUSY_SLEEP_MAX ? n + 1 : BUSY_SLEEP_MAX) * 1000000L};

    health_writer_lock_wait(1);
    health_busy();
    if (by != 0 && health_now_ms() >= by)
        return 0;
    nanosleep(&ts, NULL);
    return 1;
}

void store_writer_set_retention(store_writer *w, double keep_s)
{
    retention_init(&w->ret, keep_s, 0, 0, 0);
}

static void *writer_main(void *arg)
{
    store_writer *w = arg;
    store_item *it;

    pthread_setname_np(pthread_self(), "htgad-writer"); /* for top -H, perf */
    prio_enter_background("writer");
    health_thread_enter("writer");
    if (w->zctx != NULL && (w->pipe = zmq_socket(w->zctx, ZMQ_PUSH)) != NULL) {
        int linger = 0, hwm = 100000;
        zmq_setsockopt(w->pipe, ZMQ_LINGER, &linger, sizeof(linger));
        zmq_setsockopt(w->pipe, ZMQ_SNDHWM, &hwm, sizeof(hwm));
        if (zmq_connect(w->pipe, ESTIMATOR_PIPE) < 0) {
            LOG(LOG_ERROR, "writer: cannot connect %s: barriers will not be answered",
                ESTIMATOR_PIPE);
            zmq_close(w->pipe);
            w->pipe = NULL;
        }
    }
    for (;;) {
        health_idle();
        it = bqueue_pop(w->q, w->ret.keep_s > 0 ? 1000 : -1);
        health_busy();
        if (it != NULL && run_batch(w, it))
            break;
        retention_tick(&w->ret, w->db);
    }
    /* Drain whatever a producer pushed after STOP (should be nothing). */
    while ((it = bqueue_pop(w->q, 0)) != NULL) {
        if (it->kind == STORE_ACK)
            ack_done(it->ack, 0);
        free(it);
    }
    if (w->pipe != NULL)
        zmq_close(w->pipe);
    w->pipe = NULL;
    health_thread_leave();
    return NULL;
}

void store_writer_stop_by(store_writer *w, int64_t deadline_ms)
{
    if (w != NULL)
        atomic_store(&w->stop_by_ms, deadline_ms > 0 ? deadline_ms : 1);
}

void store_push(bqueue *q, store_item *it)
{
    if (bqueue_try_push(q, it) == 0)
        return;
    STAT_INC(writer_queue_full);
    health_idle(); /* waiting for room downstream is not a stall */
    bqueue_push(q, it);
    health_busy();
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

int store_writer_start(store_writer *w)
{
    for (int i = 0; i < ST__COUNT; i++) {
        if (sqlite3_prepare_v3(w->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &w->st[i],
                               NULL) != SQLITE_OK) {
            LOG(LOG_ERROR, "writer: preparing statement %d: %s", i, sqlite3_errmsg(w->db));
            return -1;
        }
    }
    if (prepare_rollup_insert(w) < 0) {
        LOG(LOG_ERROR, "writer: preparing the series_rollup insert: %s", sqlite3_errmsg(w->db));
        return -1;
    }
    sqlite3_busy_handler(w->db, busy_wait, w);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0)
        return -1;
    w->started = 1;
    return 0;
}

void store_writer_join(store_writer **wp)
{
    store_writer *w;

    if (wp == NULL || *wp == NULL)
        return;
    w = *wp;
    if (w->started)
        pthread_join(w->thread, NULL);
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(w->st[i]);
    sqlite3_finalize(w->rollup_ins);
    if (w->db != NULL) {
        sqlite3_exec(w->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
        sqlite3_close(w->db);
    }
    free(w->cache);
    free(w->offsets);
    free(w->rollup);
    free(w->counts);
    free(w->waits);
    free(w->done);
    free(w);
    *wp = NULL;
}
