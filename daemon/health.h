/*
 * health.h - is htgad alive, and is it storing what it receives?
 *
 * DESIGN: the two questions orchestrators ask (Kubernetes liveness and
 * readiness probes). Each thread registers a heartbeat and says whether it
 * holds work (busy) or waits for input (idle); a busy thread whose last beat
 * is older than the window has stopped making progress. The writer publishes
 * its state (failing since when, with which SQLite error, waiting for a lock
 * held outside htgad since when). Data shed anywhere (the drop counters that
 * lose data, rows_lost) is followed per counter: an episode starts at the
 * first loss after a quiet window and ends a window after the last one.
 *
 * Live: no thread stalled, except one waiting behind a failing writer (a
 * restart would not help it and would lose the rows the writer holds).
 * Ready: live, the writer not failing, no lock held outside htgad for more
 * than HEALTH_LOCK_GRACE_MS, nothing shed within the window. The verdict is
 * a pure function of a snapshot (health_evaluate), tested apart from the
 * threads.
 */
#ifndef HTGAD_HEALTH_H
#define HTGAD_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#define HEALTH_THREADS_MAX   80
#define HEALTH_NAME_MAX      24
#define HEALTH_REASONS_MAX   8
#define HEALTH_REASON_LEN    192
#define HEALTH_LOSSES_MAX    16
#define HEALTH_LOCK_GRACE_MS 2000 /* a lock held outside htgad this long is reported */

typedef struct health_report {
    int live;  /* 0: a thread stopped making progress (a restart may help) */
    int ready; /* 0: htgad is not storing what it receives as it comes */
    size_t nreasons;
    char reasons[HEALTH_REASONS_MAX][HEALTH_REASON_LEN];
} health_report;

/* What health_evaluate judges: copied from the live state by health_check. */
typedef struct health_snapshot {
    int64_t now_ms, window_ms;
    size_t nthreads;
    struct {
        char name[HEALTH_NAME_MAX];
        int busy;
        int64_t beat_ms;
    } threads[HEALTH_THREADS_MAX];
    int64_t writer_failing_ms; /* since when the writer's tries fail (0: they do not) */
    int writer_rc;             /* the last failure's SQLite extended code */
    char writer_msg[96];       /* its text */
    int64_t lock_wait_ms;      /* since when the writer waits for a lock (0: it does not) */
    uint64_t writer_held;      /* rows the writer holds (its batch and queue) */
    size_t nlosses;
    struct {
        const char *name; /* static */
        uint64_t count;   /* lost in this episode */
        int64_t since_ms, last_ms;
    } losses[HEALTH_LOSSES_MAX];
} health_snapshot;

/* The window (default 30 s): a busy thread without a beat this long is
 * stalled; a loss keeps htgad not ready this long. */
void health_set_window_ms(int64_t ms);

/* Registers the calling thread under name (copied, truncated) as busy, or
 * releases its slot. Beats of an unregistered thread are no-ops. */
void health_thread_enter(const char *name);
void health_thread_leave(void);

/* The calling thread's beat: it works (busy) or is about to wait for input
 * or for room downstream (idle: a wait is not a stall). */
void health_busy(void);
void health_idle(void);

/* The writer's state: a try failed with rc (SQLite extended code) and msg,
 * holding `held` rows; tries succeed again; a lock wait starts (1) or ends
 * (0). Any thread; the writer calls them. */
void health_writer_failed(int rc, const char *msg, uint64_t held);
void health_writer_ok(void);
void health_writer_lock_wait(int waiting);

/* Takes a snapshot of the live state (reading the loss counters, so
 * calling it often keeps episodes exact) and judges it. Any thread. */
void health_check(health_report *out);

/* The verdict on a snapshot. Pure. */
void health_evaluate(const health_snapshot *s, health_report *out);

/* Monotonic milliseconds (the clock of every *_ms above). */
int64_t health_now_ms(void);

#endif /* HTGAD_HEALTH_H */
