/* Unit tests of daemon/queue.c. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "queue.h"

Test(queue, fifo_and_full)
{
    bqueue *q = bqueue_new(3);
    int a = 1, b = 2, c = 3, d = 4;

    cr_assert_not_null(q);
    cr_assert_null(bqueue_new(0));
    cr_assert_eq(bqueue_try_push(q, &a), 0);
    cr_assert_eq(bqueue_try_push(q, &b), 0);
    cr_assert_eq(bqueue_try_push(q, &c), 0);
    cr_assert_eq(bqueue_try_push(q, &d), -1);
    cr_assert_eq(bqueue_depth(q), 3);
    cr_assert_eq(bqueue_pop(q, 0), &a);
    cr_assert_eq(bqueue_try_push(q, &d), 0); /* wraps around */
    cr_assert_eq(bqueue_pop(q, 0), &b);
    cr_assert_eq(bqueue_pop(q, 0), &c);
    cr_assert_eq(bqueue_pop(q, 0), &d);
    cr_assert_null(bqueue_pop(q, 0));
    cr_assert_eq(bqueue_high_water(q), 3);
    bqueue_destroy(&q);
    cr_assert_null(q);
    bqueue_destroy(&q);
}

Test(queue, pop_times_out)
{
    bqueue *q = bqueue_new(1);
    struct timespec t0, t1;
    double ms;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_null(bqueue_pop(q, 50));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    cr_assert(ms >= 45 && ms < 1000, "waited %f ms", ms);
    bqueue_destroy(&q);
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void *push_late(void *arg)
{
    static int item = 7;
    struct timespec pause = {0, 30 * 1000000L};

    nanosleep(&pause, NULL);
    bqueue_push(arg, &item);
    return NULL;
}

/* The writer's linger: an absolute deadline, an item already queued comes
 * at once, one pushed before the deadline ends the wait when it arrives, and
 * a passed deadline does not wait at all. */
Test(queue, pop_by_deadline)
{
    bqueue *q = bqueue_new(2);
    struct timespec t0, deadline;
    pthread_t th;
    int a = 1;
    double ms;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    deadline = bqueue_deadline(60);
    cr_assert_null(bqueue_pop_by(q, &deadline));
    ms = ms_since(&t0);
    cr_assert(ms >= 55 && ms < 1000, "waited %f ms for the deadline", ms);

    cr_assert_eq(bqueue_try_push(q, &a), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    deadline = bqueue_deadline(5000);
    cr_assert_eq(bqueue_pop_by(q, &deadline), &a);
    cr_assert(ms_since(&t0) < 1000, "a queued item waited");

    clock_gettime(CLOCK_MONOTONIC, &t0);
    deadline = bqueue_deadline(5000);
    cr_assert_eq(pthread_create(&th, NULL, push_late, q), 0);
    cr_assert_not_null(bqueue_pop_by(q, &deadline));
    ms = ms_since(&t0);
    cr_assert(ms >= 25 && ms < 2500, "woke after %f ms, the push came at 30", ms);
    pthread_join(th, NULL);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    deadline = bqueue_deadline(0);
    cr_assert_null(bqueue_pop_by(q, &deadline));
    cr_assert(ms_since(&t0) < 1000);
    bqueue_destroy(&q);
}

#define N 20000

static void *producer(void *arg)
{
    bqueue *q = arg;

    for (uintptr_t i = 1; i <= N; i++)
        bqueue_push(q, (void *)i); /* waits while full: nothing lost */
    return NULL;
}

Test(queue, blocking_push_hands_over_everything_in_order)
{
    bqueue *q = bqueue_new(4);
    pthread_t t;
    uintptr_t expect = 1;

    pthread_create(&t, NULL, producer, q);
    while (expect <= N) {
        void *item = bqueue_pop(q, -1);
        cr_assert_eq((uintptr_t)item, expect);
        expect++;
    }
    pthread_join(t, NULL);
    cr_assert_eq(bqueue_depth(q), 0);
    cr_assert_leq(bqueue_high_water(q), 4);
    bqueue_destroy(&q);
}
