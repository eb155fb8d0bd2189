/*
 * health.c - heartbeats, the writer's state, loss episodes and the verdict
 * (see health.h).
 *
 * DESIGN: a beat is two relaxed atomics in the thread's slot, so beating
 * costs a clock read; slots are taken with a compare-and-swap and given back
 * when the thread ends. Loss episodes are updated under one mutex by
 * whichever thread checks (the main loop does it every --stats-interval-ms,
 * HTTP probes on demand).
 */
#include "health.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "stats.h"

typedef struct beat_slot {
    _Atomic int used;
    _Atomic int busy;
    _Atomic int64_t beat_ms;
    char name[HEALTH_NAME_MAX];
} beat_slot;

typedef struct loss_state {
    uint64_t seen;    /* the counter at the last check */
    uint64_t base;    /* the counter when the episode began */
    int64_t since_ms; /* 0: no episode yet */
    int64_t last_ms;
} loss_state;

static beat_slot slots[HEALTH_THREADS_MAX];
static _Thread_local int my_slot = -1;
static _Atomic int64_t window_ms = 30000;

static _Atomic int64_t writer_failing_ms;
static _Atomic int writer_rc;
static _Atomic int64_t lock_wait_ms;
static _Atomic uint64_t writer_held;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER; /* writer_msg, losses */
static char writer_msg[96];
static loss_state losses[HEALTH_LOSSES_MAX];

int64_t health_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void health_set_window_ms(int64_t ms)
{
    atomic_store(&window_ms, ms > 0 ? ms : 1);
}

void health_thread_enter(const char *name)
{
    for (int i = 0; i < HEALTH_THREADS_MAX; i++) {
        int free_slot = 0;
        if (!atomic_compare_exchange_strong(&slots[i].used, &free_slot, -1))
            continue;
        snprintf(slots[i].name, sizeof(slots[i].name), "%s", name);
        atomic_store(&slots[i].busy, 1);
        atomic_store(&slots[i].beat_ms, health_now_ms());
        atomic_store(&slots[i].used, 1); /* published with its name */
        my_slot = i;
        return;
    }
}

void health_thread_leave(void)
{
    if (my_slot < 0)
        return;
    atomic_store(&slots[my_slot].used, 0);
    my_slot = -1;
}

static void beat(int busy)
{
    if (my_slot < 0)
        return;
    atomic_store_explicit(&slots[my_slot].beat_ms, health_now_ms(), memory_order_relaxed);
    atomic_store_explicit(&slots[my_slot].busy, busy, memory_order_relaxed);
}

void health_busy(void)
{
    beat(1);
}

void health_idle(void)
{
    beat(0);
}

void health_writer_failed(int rc, const char *msg, uint64_t held)
{
    int64_t zero = 0;

    pthread_mutex_lock(&mu);
    snprintf(writer_msg, sizeof(writer_msg), "%s", msg ? msg : "");
    pthread_mutex_unlock(&mu);
    atomic_store(&writer_rc, rc);
    atomic_store(&writer_held, held);
    atomic_compare_exchange_strong(&writer_failing_ms, &zero, health_now_ms());
    STAT_SET(writer_failing, 1);
}

void health_writer_ok(void)
{
    atomic_store(&writer_failing_ms, 0);
    atomic_store(&writer_held, 0);
    STAT_SET(writer_failing, 0);
}

void health_writer_lock_wait(int waiting)
{
    int64_t zero = 0;

    if (waiting)
        atomic_compare_exchange_strong(&lock_wait_ms, &zero, health_now_ms());
    else
        atomic_store(&lock_wait_ms, 0);
}

/* Drops that lose data (a lambda not pushed loses none: the next HELLO or
 * push carries it). */
static int drop_loses_data(int reason)
{
    return reason != DROP_LAMBDA_SEND && reason != DROP_LAMBDA_PIPE;
}

/* Follows one loss counter's episodes; adds it to s when one is open. */
static void follow_loss(health_snapshot *s, loss_state *l, const char *name, uint64_t now_count)
{
    if (now_count != l->seen) {
        if (l->since_ms == 0 || s->now_ms - l->last_ms > s->window_ms) {
            l->base = l->seen;
            l->since_ms = s->now_ms;
        }
        l->last_ms = s->now_ms;
        l->seen = now_count;
    }
    if (l->since_ms != 0 && s->now_ms - l->last_ms <= s->window_ms &&
        s->nlosses < HEALTH_LOSSES_MAX) {
        s->losses[s->nlosses].name = name;
        s->losses[s->nlosses].count = now_count - l->base;
        s->losses[s->nlosses].since_ms = l->since_ms;
        s->losses[s->nlosses].last_ms = l->last_ms;
        s->nlosses++;
    }
}

static void take_snapshot(health_snapshot *s)
{
    memset(s, 0, sizeof(*s));
    s->now_ms = health_now_ms();
    s->window_ms = atomic_load(&window_ms);
    for (int i = 0; i < HEALTH_THREADS_MAX; i++) {
        if (atomic_load(&slots[i].used) != 1)
            continue;
        snprintf(s->threads[s->nthreads].name, HEALTH_NAME_MAX, "%s", slots[i].name);
        s->threads[s->nthreads].busy = atomic_load(&slots[i].busy);
        s->threads[s->nthreads].beat_ms = atomic_load(&slots[i].beat_ms);
        s->nthreads++;
    }
    s->writer_failing_ms = atomic_load(&writer_failing_ms);
    s->writer_rc = atomic_load(&writer_rc);
    s->lock_wait_ms = atomic_load(&lock_wait_ms);
    s->writer_held = atomic_load(&writer_held);
    pthread_mutex_lock(&mu);
    snprintf(s->writer_msg, sizeof(s->writer_msg), "%s", writer_msg);
    for (int i = 0; i < DROP__COUNT && i < HEALTH_LOSSES_MAX - 3; i++) {
        if (drop_loses_data(i))
            follow_loss(s, &losses[i], drop_reason_name(i), atomic_load(&g_stats.drops[i]));
    }
    /* flow control: what clients shed at the source, blocks never stored */
    follow_loss(s, &losses[HEALTH_LOSSES_MAX - 3], "client_drops", STAT_GET(client_drops));
    follow_loss(s, &losses[HEALTH_LOSSES_MAX - 2], "blocks_lost", STAT_GET(blocks_lost));
    follow_loss(s, &losses[HEALTH_LOSSES_MAX - 1], "rows_lost", STAT_GET(rows_lost));
    pthread_mutex_unlock(&mu);
}

void health_check(health_report *out)
{
    health_snapshot s;

    take_snapshot(&s);
    health_evaluate(&s, out);
}

static void reason(health_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void reason(health_report *r, const char *fmt, ...)
{
    va_list ap;

    if (r->nreasons == HEALTH_REASONS_MAX)
        return;
    va_start(ap, fmt);
    vsnprintf(r->reasons[r->nreasons++], HEALTH_REASON_LEN, fmt, ap);
    va_end(ap);
}

/* SQLITE_FULL, as a plain number: this file does not need sqlite3.h. */
#define RC_FULL 13

void health_evaluate(const health_snapshot *s, health_report *out)
{
    int writer_stuck =
        s->writer_failing_ms != 0 ||
        (s->lock_wait_ms != 0 && s->now_ms - s->lock_wait_ms >= HEALTH_LOCK_GRACE_MS);

    memset(out, 0, sizeof(*out));
    out->live = 1;
    if (s->writer_failing_ms != 0)
        reason(out, "writer: %s for %.1f s (%s), retrying; %llu rows held",
               (s->writer_rc & 0xff) == RC_FULL ? "disk full" : "failing",
               (double)(s->now_ms - s->writer_failing_ms) / 1000.0, s->writer_msg,
               (unsigned long long)s->writer_held);
    if (s->lock_wait_ms != 0 && s->now_ms - s->lock_wait_ms >= HEALTH_LOCK_GRACE_MS)
        reason(out, "writer: waiting %.1f s for a database lock held outside htgad",
               (double)(s->now_ms - s->lock_wait_ms) / 1000.0);
    for (size_t i = 0; i < s->nthreads; i++) {
        int64_t quiet = s->now_ms - s->threads[i].beat_ms;
        if (!s->threads[i].busy || quiet <= s->window_ms)
            continue;
        /* A thread waiting behind a failing writer is not the fault. */
        if (writer_stuck && strcmp(s->threads[i].name, "writer") != 0) {
            reason(out, "%s: no progress for %.1f s (waiting behind the writer)",
                   s->threads[i].name, (double)quiet / 1000.0);
            continue;
        }
        out->live = 0;
        reason(out, "%s: no progress for %.1f s", s->threads[i].name, (double)quiet / 1000.0);
    }
    for (size_t i = 0; i < s->nlosses; i++)
        reason(out, "shedding: %llu lost (%s) in the last %.1f s",
               (unsigned long long)s->losses[i].count, s->losses[i].name,
               (double)(s->now_ms - s->losses[i].since_ms) / 1000.0);
    out->ready = out->live && out->nreasons == 0;
}
