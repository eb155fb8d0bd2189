/*
 * queue.h - a bounded FIFO of pointers between threads.
 *
 * DESIGN: a fixed ring of void* guarded by one mutex and two condition
 * variables (not empty, not full), on CLOCK_MONOTONIC. Pushing an item hands
 * its ownership to the consumer. Producers choose: try (never blocks, the
 * caller drops and counts) or wait (backpressure). Depth and high-water mark
 * are readable from any thread for the counters.
 */
#ifndef HTGAD_QUEUE_H
#define HTGAD_QUEUE_H

#include <stddef.h>
#include <time.h>

typedef struct bqueue bqueue;

/* A queue of at most cap items; NULL on bad cap or out of memory. */
bqueue *bqueue_new(size_t cap);

/* Frees the queue (not the items still in it) and NULLs *q; accepts NULL. */
void bqueue_destroy(bqueue **q);

/* Appends item (not NULL). Returns 0, or -1 when full (item not taken). */
int bqueue_try_push(bqueue *q, void *item);

/* Appends item, waiting while the queue is full. */
void bqueue_push(bqueue *q, void *item);

/* Removes the oldest item, waiting up to timeout_ms (-1: forever, 0: not at
 * all). Returns NULL when none came. */
void *bqueue_pop(bqueue *q, int timeout_ms);

/* A point ms milliseconds from now on the queue's clock (CLOCK_MONOTONIC);
 * ms < 0 counts as 0. */
struct timespec bqueue_deadline(int ms);

/* Removes the oldest item, waiting until *deadline at most. NULL when none
 * came by then. */
void *bqueue_pop_by(bqueue *q, const struct timespec *deadline);

size_t bqueue_depth(bqueue *q);
size_t bqueue_high_water(bqueue *q);

#endif /* HTGAD_QUEUE_H */
