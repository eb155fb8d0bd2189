/*
 * writer.c - the SQLite writer thread, store_writer_* (see store.h for the
 * design; its rows are written by store/rows.c and store/rollup.c).
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
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "estimator_thread.h"
#include "health.h"
#include "prio.h"
#include "stats.h"
#include "writer_internal.h"

#define RETRY_FIRST_MS 50   /* the first back-off after a failed try */
#define RETRY_MAX_MS   1000 /* back-off doubles up to this */
#define BUSY_SLEEP_MAX 20   /* ms between looks at a lock held outside htgad */
store_writer *store_writer_new(const char *path, bqueue *q, size_t slots)
{
    store_writer *w = calloc(1, sizeof(*w));

    if (w == NULL)
        return NULL;
    w->path = strdup(path);
    w->cache = calloc(slots, sizeof(slot_cache));
    w->offsets = calloc(slots, sizeof(slot_offset));
    w->rollup = calloc(slots, sizeof(slot_rollup));
    w->counts = calloc(slots, sizeof(run_count));
    if (w->path == NULL || w->cache == NULL || w->offsets == NULL || w->rollup == NULL ||
        w->counts == NULL)
        goto out_free_writer;
    w->q = q;
    w->slots = slots;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    return w;

out_free_writer:
    free(w->path);
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

/* One estimator's part of a barrier, settled with everything before it
 * (committed or not): a whole barrier joins w->done, to be told. */
static void barrier_part(store_writer *w, const store_item *it, int committed)
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
        *b = (bar_wait){it->barrier, it->run_slot, 0, it->parts, 0};
    }
    b->lost |= !committed;
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
            barrier_part(w, it, committed);
        }
    }
    for (size_t i = 0; i < w->ndone; i++) {
        const bar_wait *b = &w->done[i];
        est_note note = {
            .kind = NOTE_BARRIER, .barrier = b->id, .run_slot = b->run_slot, .committed = !b->lost};
        if (b->run_slot < w->slots) {
            note.blocks_stored = w->counts[b->run_slot].stored;
            note.blocks_lost = w->counts[b->run_slot].lost;
        }
        if (w->pipe == NULL || zmq_send(w->pipe, &note, sizeof(note), ZMQ_DONTWAIT) < 0)
            STAT_INC(drops[DROP_LAMBDA_PIPE]);
    }
    w->ndone = 0;
}

static void free_batch(store_writer *w)
{
    for (size_t i = 0; i < w->batch_len; i++)
        free(w->batch[i]);
    w->batch_len = 0;
}

/* Ends a failed try: rolls back what SQLite did not already, forgets what
 * the rollback undid. Returns -1. */
static int roll_back(store_writer *w)
{
    if (!sqlite3_get_autocommit(w->db))
        sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
    wr_forget_cache(w);
    STAT_INC(write_errors);
    return -1;
}

/* The trace of a block row refused for good: a row of table shed (reason
 * "writer"), written again by every try of the batch, since a rollback
 * undoes it. One SQLite refuses too is logged and counted, not retried.
 * 0, or -1 on a wr_transient failure. */
static int write_refused_trace(store_writer *w, size_t i)
{
    const store_item *it = w->batch[i];

    if (it->kind != STORE_BLOCK || wr_write_shed(w, it, 1, "blocks", "writer") == 0)
        return 0;
    if (wr_transient(w->wr_fail_rc))
        return -1;
    STAT_INC(write_errors);
    if (log_limit_allow(&w->lim, LOG_ERROR))
        LOG(LOG_ERROR, "writer: the shed row of %s/%s refused: %s: %s", it->run, it->group,
            w->fail_what, w->fail_msg);
    return 0;
}

/* Writes batch item i (or, refused by an earlier try, its trace). 0 when
 * written or refused for good (counted lost once, skipped by later tries);
 * -1 on a wr_transient failure. */
static int write_or_refuse(store_writer *w, size_t i)
{
    const store_item *it = w->batch[i];
    static const char *const what[] = {
        [STORE_BLOCK] = "block",   [STORE_POLICY] = "policy", [STORE_LOST] = "shed",
        [STORE_LAMBDA] = "lambda", [STORE_SHED] = "shed",     [STORE_STOP] = "?",
        [STORE_BARRIER] = "?"};

    if (w->refused[i])
        return write_refused_trace(w, i);
    if (wr_write_item(w, it) == 0)
        return 0;
    if (wr_transient(w->wr_fail_rc))
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
 * wr_transient failure: rolled back, the batch kept for the next try. */
static int try_batch(store_writer *w, const struct timespec *linger, int *stop)
{
    int rc;

    w->batch_no++;
    w->pending_rows = 0;
    w->pending_policies = 0;
    rc = sqlite3_exec(w->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        wr_fail_rc(w, "BEGIN", sqlite3_extended_errcode(w->db), sqlite3_errmsg(w->db));
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
    if (wr_write_tops(w) < 0)
        return roll_back(w);
    rc = sqlite3_exec(w->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        wr_row_error(w, "COMMIT");
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
    if ((w->wr_fail_rc & 0xff) == SQLITE_FULL)
        w->disk_was_full = 1;
    health_writer_failed(w->wr_fail_rc, w->fail_msg, rows_held(w));
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

/* The connection's start-up, in the writer thread: opened (and migrated,
 * store_open), its statements prepared, the restore read. 0, or -1 with
 * w->err set and the connection closed. */
static int open_db(store_writer *w)
{
    char err[900];

    if (store_open(w->path, &w->db, err, sizeof(err)) < 0) {
        snprintf(w->err, sizeof(w->err), "database %s", err);
        return -1;
    }
    if (wr_prepare(w) < 0)
        return -1;
    if (store_restore(w->db, w->restore_max, &w->restored, &w->nrestored, w->err, sizeof(w->err)) <
        0)
        return -1;
    sqlite3_busy_handler(w->db, busy_wait, w);
    return 0;
}

/* Ends the connection: statements finalized, the WAL checkpointed. */
static void close_db(store_writer *w)
{
    for (int i = 0; i < ST__COUNT; i++) {
        sqlite3_finalize(w->st[i]);
        w->st[i] = NULL;
    }
    sqlite3_finalize(w->rollup_ins);
    w->rollup_ins = NULL;
    if (w->db != NULL && w->ready > 0)
        sqlite3_exec(w->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    sqlite3_close(w->db);
    w->db = NULL;
}

static void signal_ready(store_writer *w, int status)
{
    pthread_mutex_lock(&w->lock);
    w->ready = status;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void *writer_main(void *arg)
{
    store_writer *w = arg;
    store_item *it;

    pthread_setname_np(pthread_self(), "htgad-writer"); /* for top -H, perf */
    prio_enter_background("writer");
    health_thread_enter("writer");
    if (open_db(w) < 0) {
        close_db(w);
        health_thread_leave();
        signal_ready(w, -1);
        return NULL;
    }
    if (w->zctx != NULL && (w->pipe = estimator_pipe_open(w->zctx)) == NULL)
        LOG(LOG_ERROR, "writer: cannot connect %s: barriers will not be answered", ESTIMATOR_PIPE);
    signal_ready(w, 1);
    for (;;) {
        health_idle();
        it = bqueue_pop(w->q, w->ret.keep_s > 0 ? 1000 : -1);
        health_busy();
        if (it != NULL && run_batch(w, it))
            break;
        retention_tick(&w->ret, w->db);
    }
    /* Drain whatever a producer pushed after STOP (should be nothing). */
    while ((it = bqueue_pop(w->q, 0)) != NULL)
        free(it);
    if (w->pipe != NULL)
        zmq_close(w->pipe);
    w->pipe = NULL;
    close_db(w);
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

int store_writer_start(store_writer *w, size_t restore_max, char *err, size_t errlen)
{
    w->restore_max = restore_max;
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        snprintf(err, errlen, "writer: cannot start its thread");
        return -1;
    }
    pthread_mutex_lock(&w->lock);
    while (w->ready == 0)
        pthread_cond_wait(&w->cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
    if (w->ready < 0) {
        pthread_join(w->thread, NULL);
        snprintf(err, errlen, "%s", w->err);
        return -1;
    }
    w->started = 1;
    return 0;
}

store_state *store_writer_restored(store_writer *w, size_t *n)
{
    store_state *st = w->restored;

    *n = w->nrestored;
    w->restored = NULL;
    w->nrestored = 0;
    return st;
}

void store_writer_join(store_writer **wp)
{
    store_writer *w;

    if (wp == NULL || *wp == NULL)
        return;
    w = *wp;
    if (w->started)
        pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w->restored);
    free(w->path);
    free(w->cache);
    free(w->offsets);
    free(w->rollup);
    free(w->counts);
    free(w->waits);
    free(w->done);
    free(w);
    *wp = NULL;
}
