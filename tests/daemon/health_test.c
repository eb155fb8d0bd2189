/*
 * health_test.c - the health verdict (daemon/health.c): health_evaluate on
 * snapshots built by hand, then the live state (heartbeats, loss
 * episodes) through health_check.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <time.h>

#include "health.h"
#include "stats.h"

#define NOW 1000000 /* ms: any clock reading */

static health_snapshot base(void)
{
    health_snapshot s;

    memset(&s, 0, sizeof s);
    s.now_ms = NOW;
    s.window_ms = 30000;
    return s;
}

static void add_thread(health_snapshot *s, const char *name, int busy, int64_t ago_ms)
{
    snprintf(s->threads[s->nthreads].name, HEALTH_NAME_MAX, "%s", name);
    s->threads[s->nthreads].busy = busy;
    s->threads[s->nthreads].beat_ms = s->now_ms - ago_ms;
    s->nthreads++;
}

/* The writer's tries fail since ago_ms with SQLite code rc and text msg. */
static void failing_writer(health_snapshot *s, int64_t ago_ms, int rc, const char *msg)
{
    s->writer_failing_ms = s->now_ms - ago_ms;
    s->writer_rc = rc;
    snprintf(s->writer_msg, sizeof s->writer_msg, "%s", msg);
}

static int has_reason(const health_report *r, const char *text)
{
    for (size_t i = 0; i < r->nreasons; i++) {
        if (strstr(r->reasons[i], text) != NULL)
            return 1;
    }
    return 0;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

Test(health, all_well_is_live_and_ready_without_reasons)
{
    health_snapshot s = base();
    health_report r;

    add_thread(&s, "ingest", 1, 100);
    add_thread(&s, "estimator", 0, 3600 * 1000); /* idle for an hour: waiting, not stuck */
    add_thread(&s, "writer", 1, 29000);          /* busy, within the window */
    health_evaluate(&s, &r);
    cr_assert(r.live && r.ready);
    cr_assert_eq(r.nreasons, 0);
}

Test(health, busy_thread_without_progress_is_not_live)
{
    health_snapshot s = base();
    health_report r;

    add_thread(&s, "estimator", 1, 30001);
    health_evaluate(&s, &r);
    cr_assert(!r.live && !r.ready);
    cr_assert(has_reason(&r, "estimator: no progress for 30.0 s"), "%s", r.reasons[0]);
}

/* Threads blocked behind a failing writer are not the fault: a restart
 * would not help them and would lose the rows the writer holds. */
Test(health, waiting_behind_a_failing_writer_is_live_but_not_ready)
{
    health_snapshot s = base();
    health_report r;

    failing_writer(&s, 40000, 10 /* SQLITE_IOERR */, "disk I/O error");
    s.writer_held = 77;
    add_thread(&s, "ingest", 1, 35000);
    add_thread(&s, "writer", 1, 200);
    health_evaluate(&s, &r);
    cr_assert(r.live);
    cr_assert(!r.ready);
    cr_assert(has_reason(&r, "writer: failing for 40.0 s (disk I/O error), retrying; 77 rows"));
    cr_assert(has_reason(&r, "ingest: no progress for 35.0 s (waiting behind the writer)"));
}

/* The writer itself stuck in a call (a hung disk) is a stall. */
Test(health, stalled_writer_is_not_live_even_when_failing)
{
    health_snapshot s = base();
    health_report r;

    failing_writer(&s, 40000, 10, "disk I/O error");
    add_thread(&s, "writer", 1, 31000);
    health_evaluate(&s, &r);
    cr_assert(!r.live);
    cr_assert(has_reason(&r, "writer: no progress"));
}

Test(health, full_disk_is_named)
{
    health_snapshot s = base();
    health_report r;

    failing_writer(&s, 1500, 13 /* SQLITE_FULL */, "database or disk is full");
    health_evaluate(&s, &r);
    cr_assert(r.live && !r.ready);
    cr_assert(has_reason(&r, "writer: disk full for 1.5 s"), "%s", r.reasons[0]);
}

/* A lock held outside htgad is reported after HEALTH_LOCK_GRACE_MS. */
Test(health, lock_wait_counts_after_its_grace)
{
    health_snapshot s = base();
    health_report r;

    s.lock_wait_ms = NOW - (HEALTH_LOCK_GRACE_MS - 1);
    health_evaluate(&s, &r);
    cr_assert(r.ready);
    s.lock_wait_ms = NOW - HEALTH_LOCK_GRACE_MS;
    health_evaluate(&s, &r);
    cr_assert(r.live && !r.ready);
    cr_assert(has_reason(&r, "lock held outside htgad"));
}

Test(health, losses_are_reasons)
{
    health_snapshot s = base();
    health_report r;

    s.nlosses = 1;
    s.losses[0].name = "est_queue";
    s.losses[0].count = 12;
    s.losses[0].since_ms = NOW - 4000;
    s.losses[0].last_ms = NOW - 1000;
    health_evaluate(&s, &r);
    cr_assert(r.live && !r.ready);
    cr_assert(has_reason(&r, "shedding: 12 lost (est_queue) in the last 4.0 s"), "%s",
              r.reasons[0]);
}

/* The live state: a loss episode opens at the first loss, counts from its
 * start, and closes a window after the last one; lambdas not pushed are
 * no loss. */
Test(health, loss_episodes_follow_the_counters)
{
    health_report r;
    int64_t deadline;

    health_set_window_ms(300);
    health_check(&r);
    cr_assert(r.ready);
    STAT_ADD(drops[DROP_LAMBDA_SEND], 5);
    health_check(&r);
    cr_assert(r.ready, "a lambda not pushed loses no data");
    STAT_ADD(drops[DROP_EST_QUEUE], 3);
    health_check(&r);
    cr_assert(!r.ready);
    cr_assert(has_reason(&r, "shedding: 3 lost (est_queue)"), "%s", r.reasons[0]);
    STAT_ADD(rows_lost, 2);
    STAT_ADD(drops[DROP_EST_QUEUE], 1);
    health_check(&r);
    cr_assert(has_reason(&r, "shedding: 4 lost (est_queue)"), "%s", r.reasons[0]);
    cr_assert(has_reason(&r, "shedding: 2 lost (rows_lost)"));
    deadline = health_now_ms() + 3000;
    do {
        sleep_ms(20);
        health_check(&r);
    } while (!r.ready && health_now_ms() < deadline);
    cr_assert(r.ready, "the episode never closed");
    STAT_ADD(drops[DROP_EST_QUEUE], 1); /* a new episode counts from its own start */
    health_check(&r);
    cr_assert(has_reason(&r, "shedding: 1 lost (est_queue)"), "%s", r.reasons[0]);
}

/* The live state: a thread that says it is busy and then stops beating
 * is stalled once the window passes; saying it waits ends that. */
Test(health, heartbeats_find_a_stalled_thread)
{
    health_report r;
    int64_t deadline;

    health_set_window_ms(100);
    health_thread_enter("worker");
    health_busy();
    deadline = health_now_ms() + 3000;
    do {
        sleep_ms(20);
        health_check(&r);
    } while (r.live && health_now_ms() < deadline);
    cr_assert(!r.live);
    cr_assert(has_reason(&r, "worker: no progress"), "%s", r.reasons[0]);
    health_idle();
    health_check(&r);
    cr_assert(r.live && r.ready);
    health_busy();
    health_thread_leave(); /* a thread that ended is not watched */
    sleep_ms(150);
    health_check(&r);
    cr_assert(r.live);
}
