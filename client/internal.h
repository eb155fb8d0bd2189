/*
 * internal.h - libhtga internals shared by its files. Not API (not
 * installed, nothing here is exported).
 *
 * DESIGN: a handle is three parts, each in its own file, plus the public
 * calls (htga.c):
 *   groups.c  the table of the run's parameter groups: each one's latest
 *             lambda and budget (under lam_mu) and its queued messages
 *             (under mu, for the fair queue);
 *   queue.c   the byte-bounded queue of messages waiting for the socket:
 *             one FIFO of entries (SAMPLES buffers and barrier markers), a
 *             per-group FIFO for longest-queue-drop, the pool of free sample
 *             buffers and the byte accounting (under mu);
 *   io.c      the background I/O thread: it alone creates, uses and closes
 *             the ZeroMQ context and sockets; it hands queued messages to
 *             ZeroMQ, says HELLO, and reads LAMBDA, BUDGET and ACK.
 * Trainer threads draw a sample into a buffer reserved from the queue's
 * byte budget, link it at the tail and wake the I/O thread only when it may
 * be asleep. Locks: mu (queue, counters, options, barriers) and lam_mu
 * (group table) are never held together, and never across a ZeroMQ call:
 * ZeroMQ's free callback takes mu from ZeroMQ's own thread.
 */
#ifndef HTGA_INTERNAL_H
#define HTGA_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "htga.h"
#include "wire.h"

#define DEFAULT_MAX_SAMPLES 65536
#define DEFAULT_SAMPLE_RUN  1 /* one value per stratum: see HTGA_OPT_SAMPLE_CLUSTER */
#define MAX_SAMPLE_RUN      4096
#define DEFAULT_QUEUE_BYTES (64ull << 20)
#define MIN_QUEUE_BYTES     (64ull << 10)
#define MAX_QUEUE_BYTES     (1ull << 40)
#define MAX_QUEUE_DEPTH     (1 << 20) /* HTGA_OPT_QUEUE_DEPTH, a message-count cap */
#define DEFAULT_GRACE_MS    500
#define DEFAULT_HELLO_MS    1000
#define DESTROY_BUDGET_MS   100

enum qent_kind { QE_SAMPLES = 1, QE_BARRIER = 2 };

/* An entry of the handle's FIFO (h->q_head .. h->q_tail), under mu. */
struct qent {
    struct qent *prev, *next;
    int kind;
};

struct group;

/* A sample buffer with the fields of the message it carries. While queued
 * it is in the FIFO and in its group's list; while lent to ZeroMQ (the I/O
 * thread sent it) in neither, until ZeroMQ's free callback; while free, in
 * the pool (gnext links it). Its bytes (qbuf_bytes()) count in h->mem from
 * allocation to free(). */
struct qbuf {
    struct qent e; /* kind QE_SAMPLES; first */
    struct qbuf *gnext;
    struct group *g;
    htga *h;
    uint64_t order; /* enqueue order: ties of longest-queue-drop go to the older */
    int64_t step;
    uint32_t rank;
    uint32_t count;            /* values drawn */
    uint32_t cluster;          /* the wire's run length, 0: independent values */
    int requeue;               /* the I/O thread takes it back after a refused send */
    size_t cap;                /* floats data can hold */
    _Alignas(64) float data[]; /* cache-line aligned: the sample is written and read whole */
};

enum barrier_state { B_QUEUED, B_SENDING, B_SENT, B_DONE, B_FAILED };

/* A barrier waiting in the FIFO, then for its ACK (pending list). Lives on
 * the stack of the htga_barrier() caller, who unlinks it before returning;
 * while B_SENDING the I/O thread holds it outside mu and the caller waits. */
struct barrier {
    struct qent e; /* kind QE_BARRIER; first */
    struct barrier *pnext;
    uint64_t token;
    uint32_t flags;
    enum barrier_state state;
    int rc;
    htga_ack ack;
};

/* One parameter group of the run. Entries are allocated one by one and
 * never move (the table holds pointers), so queued buffers point at them. */
struct group {
    size_t len;
    char name[WIRE_NAME_MAX];
    /* under lam_mu */
    int has_lambda;
    double lambda;
    int has_budget;
    uint32_t b_values, b_every;
    uint64_t offered; /* sends offered to this group, for "every" */
    /* under mu: the group's queued messages, oldest first */
    struct qbuf *qhead, *qtail;
    size_t qbytes, qmsgs;
    size_t active_idx; /* its place in h->active while qmsgs > 0 */
};

struct htga {
    char *endpoint;
    /* CURVE keys, Z85 ("" = unset), and a reconnect asked for; under mu (curve.c) */
    char curve_server[41], curve_public[41], curve_secret[41];
    int curve_reconnect;
    char run[WIRE_NAME_MAX];
    size_t run_len;

    pthread_mutex_t mu;
    pthread_cond_t cv; /* FIFO progress, barrier answers, I/O thread start-up */

    /* options (mu) */
    size_t max_samples;
    size_t sample_run;
    uint32_t rank;
    uint64_t seed;
    int64_t grace_ms;
    int64_t hello_ms;
    uint64_t queue_bytes; /* the byte bound */
    size_t queue_depth;   /* message-count cap, 0: none */

    /* the queue (mu), see queue.c */
    struct qent *q_head, *q_tail;
    struct group **active; /* groups with queued messages */
    size_t n_active, cap_active;
    struct qbuf *pool; /* free buffers, a stack */
    uint64_t pool_bytes;
    uint64_t mem;  /* bytes of every buffer in existence */
    uint64_t lent; /* of those, lent to ZeroMQ */
    uint64_t queued_bytes;
    size_t queued;  /* SAMPLES in the FIFO */
    size_t filling; /* reserved by a sender, being drawn */
    size_t handing; /* taken by the I/O thread, being handed to ZeroMQ */
    uint64_t order;
    int inflight_wait; /* the I/O thread waits for ZeroMQ to give bytes back */

    /* state (mu) */
    uint64_t draws; /* samples drawn so far: seeds each one's subsample */
    uint64_t next_seq;
    int online;                      /* a daemon connection has completed its handshake */
    uint64_t conn_msgs, conn_values; /* SAMPLES handed over on this connection */
    uint64_t next_token;
    struct barrier *pending; /* barriers sent, waiting for their ACK */
    htga_stats st;
    int started;    /* 0 starting, 1 running, -1 failed */
    int io_waiting; /* the I/O thread may sleep: the next queued message must wake it */

    /* group table (lam_mu), see groups.c */
    pthread_mutex_t lam_mu;
    struct group **gt;
    size_t gt_cap, gt_used;
    int has_run_budget;
    uint32_t run_values, run_every;

    int efd;
    atomic_int stop;
    atomic_int follow_budget;
    pthread_t thread;
    pthread_t io_tid; /* set by the I/O thread itself, for owned() */

    /* I/O thread only */
    void *ctx, *sock, *mon;
    int sock_fd, mon_fd;
    int64_t next_hello_ms;
};

/* curve.c */
int curve_key_ok(const char *v);                                            /* 40 Z85 characters */
int curve_read_key_file(const char *path, char *pub, char *sec, char *srv); /* 0 or -1 */
int curve_from_env(htga *h);          /* HTGA_CURVE_KEY_FILE, HTGA_CURVE_SERVER_KEY; 0 or -1 */
int curve_apply(htga *h, void *sock); /* I/O thread: the keys to the socket; 0 or -1 */

/* htga.c */
int64_t htga__now_ms(void);
void htga__wake(htga *h);

/* groups.c (lam_mu taken inside unless said) */
struct group *groups_get(htga *h, const char *name, size_t len);  /* lam_mu held; NULL: no memory */
struct group *groups_find(htga *h, const char *name, size_t len); /* lam_mu held */
void groups_set_lambda(htga *h, const char *name, size_t len, double lambda);
void groups_set_budget(htga *h, const char *name, size_t len, uint32_t values, uint32_t every);
void groups_budget_range(htga *h, uint64_t *vmin, uint64_t *vmax);
void groups_free(htga *h);

/* queue.c (mu held unless said) */
size_t qbuf_bytes(size_t cap);
int queue_reserve(htga *h, size_t m, struct qbuf **out);
void queue_unreserve(htga *h, size_t m);
void queue_commit(htga *h, struct qbuf *b);
void queue_push(htga *h, struct qent *e);
void queue_push_front(htga *h, struct qent *e);
void queue_unlink(htga *h, struct qent *e);
void queue_lend(htga *h, struct qbuf *b);
void queue_release(void *data, void *hint); /* ZeroMQ's free callback; any thread, mu not held */
void queue_drop_all(htga *h);
void queue_free_all(htga *h); /* at destroy, nothing lent */
uint64_t queue_inflight_cap(const htga *h);
void count_drop(htga *h, int evicted);

/* io.c */
void *io_main(void *arg);

#endif /* HTGA_INTERNAL_H */
