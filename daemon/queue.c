/*
 * queue.c - bounded pointer FIFO (see queue.h).
 *
 * DESIGN: head is the next item to pop, len the number held; both only
 * change under the mutex. Waiters re-check their condition in a loop, so
 * spurious wakeups are harmless.
 */
#include "queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct bqueue {
    pthread_mutex_t lock;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    size_t cap, head, len, high;
    void **items;
};

bqueue *bqueue_new(size_t cap)
{
    bqueue *q;
    pthread_condattr_t attr;

    if (cap == 0)
        return NULL;
    q = calloc(1, sizeof(*q));
    if (q == NULL)
        return NULL;
    q->items = calloc(cap, sizeof(void *));
    if (q->items == NULL)
        goto out_free_queue;
    q->cap = cap;
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&q->not_empty, &attr);
    pthread_cond_init(&q->not_full, &attr);
    pthread_condattr_destroy(&attr);
    return q;

out_free_queue:
    free(q);
    return NULL;
}

void bqueue_destroy(bqueue **q)
{
    if (q == NULL || *q == NULL)
        return;
    pthread_cond_destroy(&(*q)->not_empty);
    pthread_cond_destroy(&(*q)->not_full);
    pthread_mutex_destroy(&(*q)->lock);
    free((*q)->items);
    free(*q);
    *q = NULL;
}

static void put_locked(bqueue *q, void *item)
{
    q->items[(q->head + q->len) % q->cap] = item;
    q->len++;
    if (q->len > q->high)
        q->high = q->len;
    pthread_cond_signal(&q->not_empty);
}

int bqueue_try_push(bqueue *q, void *item)
{
    int rc = -1;

    pthread_mutex_lock(&q->lock);
    if (q->len < q->cap) {
        put_locked(q, item);
        rc = 0;
    }
    pthread_mutex_unlock(&q->lock);
    return rc;
}

void bqueue_push(bqueue *q, void *item)
{
    pthread_mutex_lock(&q->lock);
    while (q->len == q->cap)
        pthread_cond_wait(&q->not_full, &q->lock);
    put_locked(q, item);
    pthread_mutex_unlock(&q->lock);
}

struct timespec bqueue_deadline(int ms)
{
    struct timespec ts;
    if (ms < 0)
        ms = 0; /* a negative tv_nsec would make every timed wait fail */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* deadline NULL: wait forever; the wait ends early only when an item came. */
static void *pop_locked_wait(bqueue *q, int wait, const struct timespec *deadline)
{
    void *item = NULL;

    pthread_mutex_lock(&q->lock);
    while (q->len == 0) {
        if (!wait)
            goto out_unlock;
        if (deadline == NULL) {
            pthread_cond_wait(&q->not_empty, &q->lock);
        } else if (pthread_cond_timedwait(&q->not_empty, &q->lock, deadline) == ETIMEDOUT) {
            if (q->len == 0)
                goto out_unlock;
        }
    }
    item = q->items[q->head];
    q->head = (q->head + 1) % q->cap;
    q->len--;
    pthread_cond_signal(&q->not_full);
out_unlock:
    pthread_mutex_unlock(&q->lock);
    return item;
}

void *bqueue_pop(bqueue *q, int timeout_ms)
{
    struct timespec deadline;

    if (timeout_ms <= 0)
        return pop_locked_wait(q, timeout_ms < 0, NULL);
    deadline = bqueue_deadline(timeout_ms);
    return pop_locked_wait(q, 1, &deadline);
}

void *bqueue_pop_by(bqueue *q, const struct timespec *deadline)
{
    return pop_locked_wait(q, 1, deadline);
}

size_t bqueue_depth(bqueue *q)
{
    size_t n;

    pthread_mutex_lock(&q->lock);
    n = q->len;
    pthread_mutex_unlock(&q->lock);
    return n;
}

size_t bqueue_high_water(bqueue *q)
{
    size_t n;

    pthread_mutex_lock(&q->lock);
    n = q->high;
    pthread_mutex_unlock(&q->lock);
    return n;
}
