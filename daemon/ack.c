/*
 * ack.c - the cross-thread store acknowledgement (see ack.h).
 */
#include "ack.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "queue.h"

struct ack {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int pending; /* not ended yet */
    int outcome; /* ACK_*, once it ended */
    int refs;    /* the waiter + the one that ends it */
};

ack *ack_new(void)
{
    ack *a = calloc(1, sizeof(*a));
    pthread_condattr_t ca;

    if (a == NULL)
        return NULL;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&a->mu, NULL);
    a->pending = 1;
    a->refs = 2;
    return a;
}

static void release(ack *a)
{
    int last;

    pthread_mutex_lock(&a->mu);
    last = --a->refs == 0;
    pthread_mutex_unlock(&a->mu);
    if (last) {
        pthread_cond_destroy(&a->cv);
        pthread_mutex_destroy(&a->mu);
        free(a);
    }
}

void ack_done(ack *a, int outcome)
{
    if (a == NULL)
        return;
    pthread_mutex_lock(&a->mu);
    a->pending = 0;
    a->outcome = outcome;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    release(a);
}

int ack_wait(ack *a, int timeout_ms)
{
    struct timespec until = bqueue_deadline(timeout_ms); /* CLOCK_MONOTONIC, as cv */
    int rc;

    pthread_mutex_lock(&a->mu);
    while (a->pending > 0 && pthread_cond_timedwait(&a->cv, &a->mu, &until) == 0)
        ;
    rc = a->pending > 0 ? -1 : a->outcome;
    pthread_mutex_unlock(&a->mu);
    release(a);
    return rc;
}
