/*
 * prio_test.c - background threads lower their own priority, and only theirs.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "prio.h"

struct seen {
    int rc, nice, policy;
};

static void *background(void *arg)
{
    struct seen *s = arg;
    pid_t tid = (pid_t)syscall(SYS_gettid);

    s->rc = prio_enter_background("test");
    s->nice = getpriority(PRIO_PROCESS, (id_t)tid);
    s->policy = sched_getscheduler(tid);
    return NULL;
}

static struct seen run_thread(void)
{
    struct seen s = {-2, 0, -1};
    pthread_t t;

    cr_assert_eq(pthread_create(&t, NULL, background, &s), 0);
    pthread_join(t, NULL);
    return s;
}

Test(prio, background_thread_is_nicer_and_batch)
{
    int base = getpriority(PRIO_PROCESS, 0);
    struct seen s;

    cr_assert_leq(base, 19 - 5, "the test runs too nice (%d) to go 5 lower", base);
    prio_set_background(5);
    s = run_thread();
    cr_assert_eq(s.rc, 0);
    cr_assert_eq(s.nice, base + 5);
    cr_assert_eq(s.policy, SCHED_BATCH);
    /* the caller's own thread is untouched */
    cr_assert_eq(getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid)), base);
    cr_assert_eq(sched_getscheduler(0), SCHED_OTHER);
}

Test(prio, zero_changes_nothing)
{
    int base = getpriority(PRIO_PROCESS, 0);
    struct seen s;

    prio_set_background(0);
    s = run_thread();
    cr_assert_eq(s.rc, 0);
    cr_assert_eq(s.nice, base);
    cr_assert_eq(s.policy, SCHED_OTHER);
}
