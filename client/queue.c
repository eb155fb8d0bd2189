/*
 * queue.c - libhtga: the byte-bounded, fair queue between the trainer's
 * threads and the I/O thread.
 *
 * DESIGN: every sample buffer that exists counts in h->mem, from its
 * allocation to its free(): while a sender draws into it, while it waits in
 * the queue, while ZeroMQ holds it (lent, until ZeroMQ's free callback) and
 * while it lies in the pool of free buffers. A sender reserves the bytes of
 * its message before drawing; when they do not fit under the bound
 * (HTGA_OPT_QUEUE_BYTES), free pooled buffers are released first, then
 * queued messages are shed by longest-queue-drop: the oldest message of the
 * group holding the most queued bytes (ties: the group whose oldest message
 * is older) goes, and it may be the sender's own group. A steady overload
 * thus takes from every group alike, and a step's burst does not lose its
 * later groups. Only when what cannot be shed (buffers being drawn or lent
 * to ZeroMQ) leaves no room is the new message itself dropped; the I/O thread
 * keeps what it lends under an eighth of the bound so that this stays rare.
 *
 * One FIFO (doubly linked, for eviction from its middle) orders everything
 * that leaves: SAMPLES buffers and barrier markers. Each group also lists
 * its queued buffers, oldest first, and h->active the groups that have any.
 * The pool is a stack (the buffer released last, cache-hot, is reused first)
 * holding at most an eighth of the bound; beyond that buffers are freed.
 * Everything here runs under h->mu, except queue_release(), ZeroMQ's free
 * callback, which takes it.
 */
#include <stdlib.h>

#include "internal.h"

size_t qbuf_bytes(size_t cap)
{
    return (sizeof(struct qbuf) + cap * sizeof(float) + 63) & ~(size_t)63;
}

uint64_t queue_inflight_cap(const htga *h)
{
    return h->queue_bytes / 8;
}

/* A message the client will not send: counted by where the daemon was, and
 * it takes a sequence number, so the gap it leaves says so (protocol.md). */
void count_drop(htga *h, int evicted)
{
    if (h->online)
        h->st.drops_queue++;
    else
        h->st.drops_offline++;
    h->st.drops_evicted += (uint64_t)evicted;
    h->next_seq++;
}

static void active_add(htga *h, struct group *g)
{
    if (h->n_active == h->cap_active) {
        size_t cap = h->cap_active ? 2 * h->cap_active : 16;
        struct group **a = realloc(h->active, cap * sizeof *a);
        if (!a)
            abort(); /* cannot happen: reserved in queue_reserve() */
        h->active = a;
        h->cap_active = cap;
    }
    g->active_idx = h->n_active;
    h->active[h->n_active++] = g;
}

static void active_remove(htga *h, struct group *g)
{
    struct group *last = h->active[--h->n_active];
    h->active[g->active_idx] = last;
    last->active_idx = g->active_idx;
}

static void fifo_link_tail(htga *h, struct qent *e)
{
    e->next = NULL;
    e->prev = h->q_tail;
    if (h->q_tail)
        h->q_tail->next = e;
    else
        h->q_head = e;
    h->q_tail = e;
}

static void fifo_link_head(htga *h, struct qent *e)
{
    e->prev = NULL;
    e->next = h->q_head;
    if (h->q_head)
        h->q_head->prev = e;
    else
        h->q_tail = e;
    h->q_head = e;
}

static void fifo_unlink(htga *h, struct qent *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        h->q_head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        h->q_tail = e->prev;
    e->prev = e->next = NULL;
}

static void account_in(htga *h, struct qbuf *b)
{
    struct group *g = b->g;
    if (g->qmsgs++ == 0)
        active_add(h, g);
    g->qbytes += qbuf_bytes(b->cap);
    h->queued++;
    h->queued_bytes += qbuf_bytes(b->cap);
}

static void account_out(htga *h, struct qbuf *b)
{
    struct group *g = b->g;
    g->qbytes -= qbuf_bytes(b->cap);
    if (--g->qmsgs == 0)
        active_remove(h, g);
    h->queued--;
    h->queued_bytes -= qbuf_bytes(b->cap);
    if (!h->q_head)
        pthread_cond_broadcast(&h->cv); /* htga_flush() waits for this */
}

void queue_push(htga *h, struct qent *e)
{
    fifo_link_tail(h, e);
    if (e->kind == QE_SAMPLES) {
        struct qbuf *b = (struct qbuf *)e;
        b->gnext = NULL;
        if (b->g->qtail)
            b->g->qtail->gnext = b;
        else
            b->g->qhead = b;
        b->g->qtail = b;
        account_in(h, b);
    }
}

/* Puts back at the head what the I/O thread took and could not send. */
void queue_push_front(htga *h, struct qent *e)
{
    fifo_link_head(h, e);
    if (e->kind == QE_SAMPLES) {
        struct qbuf *b = (struct qbuf *)e;
        b->gnext = b->g->qhead;
        b->g->qhead = b;
        if (!b->g->qtail)
            b->g->qtail = b;
        account_in(h, b);
    }
}

/* Removes e from the FIFO; a SAMPLES buffer must be its group's oldest
 * (true of the FIFO's head, and of every eviction). */
void queue_unlink(htga *h, struct qent *e)
{
    fifo_unlink(h, e);
    if (e->kind == QE_SAMPLES) {
        struct qbuf *b = (struct qbuf *)e;
        b->g->qhead = b->gnext;
        if (!b->g->qhead)
            b->g->qtail = NULL;
        b->gnext = NULL;
        account_out(h, b);
    }
    if (!h->q_head)
        pthread_cond_broadcast(&h->cv);
}

/* Longest-queue-drop: the oldest message of the group with the most queued
 * bytes; NULL when nothing is queued. Counted as a drop. */
static struct qbuf *evict(htga *h)
{
    struct group *best = NULL;
    for (size_t i = 0; i < h->n_active; i++) {
        struct group *g = h->active[i];
        if (!best || g->qbytes > best->qbytes ||
            (g->qbytes == best->qbytes && g->qhead->order < best->qhead->order))
            best = g;
    }
    if (!best)
        return NULL;
    struct qbuf *b = best->qhead;
    queue_unlink(h, &b->e);
    count_drop(h, 1);
    return b;
}

static void buf_free(htga *h, struct qbuf *b)
{
    h->mem -= qbuf_bytes(b->cap);
    free(b);
}

static void pool_put(htga *h, struct qbuf *b)
{
    if (h->pool_bytes + qbuf_bytes(b->cap) > queue_inflight_cap(h) || h->mem > h->queue_bytes) {
        buf_free(h, b);
        return;
    }
    b->gnext = h->pool;
    h->pool = b;
    h->pool_bytes += qbuf_bytes(b->cap);
}

static struct qbuf *pool_pop(htga *h)
{
    struct qbuf *b = h->pool;
    if (b) {
        h->pool = b->gnext;
        h->pool_bytes -= qbuf_bytes(b->cap);
        b->gnext = NULL;
    }
    return b;
}

/*
 * Reserves a buffer of at least m floats for a new message, shedding as the
 * DESIGN says. Returns 0 and *out: a buffer (from the pool or an evicted
 * message), or NULL when its bytes are reserved and the caller allocates it
 * (outside mu, then queue_unreserve() if that fails). Returns -1 when the
 * message cannot fit: the caller drops it. Counts it in h->filling.
 */
int queue_reserve(htga *h, size_t m, struct qbuf **out)
{
    struct qbuf *b = NULL;
    uint64_t need = qbuf_bytes(m);

    if (h->n_active == h->cap_active) { /* so that queue_commit() cannot fail */
        size_t cap = h->cap_active ? 2 * h->cap_active : 16;
        struct group **a = realloc(h->active, cap * sizeof *a);
        if (!a)
            return -1;
        h->active = a;
        h->cap_active = cap;
    }
    while (h->queue_depth && h->queued + h->filling >= h->queue_depth) {
        struct qbuf *v = evict(h);
        if (!v)
            return -1;
        if (!b && v->cap >= m)
            b = v;
        else
            buf_free(h, v);
    }
    if (!b && h->pool && h->pool->cap >= m)
        b = pool_pop(h);
    /* what is being drawn or lent cannot be shed: shed nothing in vain */
    if (!b && h->mem - h->queued_bytes - h->pool_bytes + need > h->queue_bytes)
        return -1;
    for (;;) {
        uint64_t extra = b ? 0 : need;
        struct qbuf *v;
        if (h->mem + extra <= h->queue_bytes)
            break;
        if ((v = pool_pop(h)) == NULL && (v = evict(h)) == NULL) {
            if (b)
                pool_put(h, b);
            return -1;
        }
        if (!b && v->cap >= m)
            b = v;
        else
            buf_free(h, v);
    }
    if (!b)
        h->mem += need;
    if (h->mem > h->st.queue_bytes_max)
        h->st.queue_bytes_max = h->mem;
    h->filling++;
    *out = b;
    return 0;
}

void queue_unreserve(htga *h, size_t m)
{
    h->mem -= qbuf_bytes(m);
    h->filling--;
}

/* A drawn buffer joins the tail of the queue. */
void queue_commit(htga *h, struct qbuf *b)
{
    h->filling--;
    b->order = h->order++;
    queue_push(h, &b->e);
}

/* The I/O thread took b off the queue to lend it to ZeroMQ. */
void queue_lend(htga *h, struct qbuf *b)
{
    h->lent += qbuf_bytes(b->cap);
}

void queue_release(void *data, void *hint)
{
    struct qbuf *b = hint;
    htga *h = b->h;
    int wake = 0;
    (void)data;
    pthread_mutex_lock(&h->mu);
    h->lent -= qbuf_bytes(b->cap);
    if (!b->requeue)
        pool_put(h, b);
    if (h->inflight_wait && h->lent < queue_inflight_cap(h)) {
        h->inflight_wait = 0;
        wake = 1;
    }
    pthread_mutex_unlock(&h->mu);
    if (wake)
        htga__wake(h);
}

/* Drops (and counts) every queued message: the handle is closing. */
void queue_drop_all(htga *h)
{
    struct qent *e = h->q_head;
    while (e) {
        struct qent *next = e->next;
        if (e->kind == QE_SAMPLES) {
            queue_unlink(h, e);
            count_drop(h, 0);
            buf_free(h, (struct qbuf *)e);
        }
        e = next;
    }
}

void queue_free_all(htga *h)
{
    struct qbuf *b;
    queue_drop_all(h);
    while ((b = pool_pop(h)) != NULL)
        buf_free(h, b);
    free(h->active);
    h->active = NULL;
}
