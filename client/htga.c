/*
 * htga.c - libhtga: the trainer-side client of htgad.
 *
 * DESIGN: one DEALER socket per handle, shared under a lock (h->sock_mu)
 * between the trainer's threads and one background I/O thread. The common
 * path of htga_send() is one copy and no thread hand-off of ours: the sample
 * is drawn into a buffer from a pool (a LIFO stack, so the buffer reused is
 * the one ZeroMQ released last), the buffer is lent to ZeroMQ with
 * zmq_msg_init_data() (its free callback puts it back in the pool) and
 * zmq_msg_send(ZMQ_DONTWAIT) runs in the caller's thread. ZMQ_IMMEDIATE makes
 * a missing daemon an EAGAIN, SNDHWM a slow one: the message is dropped and
 * counted. Before the first connection (the start-up grace) messages wait in
 * a bounded ring that the I/O thread sends once the handshake is done.
 * htga_send_many() draws all its samples first, then hands them over under
 * one hold of sock_mu with one ZMQ_EVENTS look afterwards: the first message
 * of a step wakes ZeroMQ's I/O thread (an eventfd write, the dearest part of
 * a send on a 2-core VM), the others find it awake or join its next batch.
 *
 * The I/O thread sleeps in poll() on the socket's ZMQ_FD, the monitor
 * socket's ZMQ_FD and an eventfd; it drains lambdas, follows the connection
 * state from the socket monitor (HANDSHAKE_SUCCEEDED / DISCONNECTED), says
 * HELLO on every new connection and every second while connected (so a
 * restarted daemon knows the client and pushes the run's lambdas), and sends
 * the ring. ZMQ_FD is edge-triggered and any operation on the socket may
 * consume the edge, so whoever used the socket checks ZMQ_EVENTS afterwards:
 * a sender that sees POLLIN wakes the I/O thread through the eventfd, and
 * the I/O thread does not sleep while POLLIN is pending.
 *
 * Locks, in the order they nest: h->sock_mu (both sockets), h->mu (ring,
 * options, counters, seq), h->pool_mu (the buffer pool, a leaf: nothing is
 * called under it); h->lam_mu (lambda table) is a leaf too. Sequence
 * numbers of directly sent messages are taken under sock_mu, so they leave
 * in increasing order even with several sending threads.
 */
#include "htga.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "sample.h"
#include "wire.h"

#define DEFAULT_MAX_SAMPLES 65536
#define DEFAULT_SAMPLE_RUN  1 /* one value per stratum: see HTGA_OPT_SAMPLE_CLUSTER */
#define MAX_SAMPLE_RUN      4096
#define DEFAULT_QUEUE_DEPTH 64
#define MAX_QUEUE_DEPTH     4096
#define DEFAULT_GRACE_MS    500
#define DEFAULT_HELLO_MS    1000
#define DESTROY_BUDGET_MS   100
/* Messages ZeroMQ holds for a connected daemon. 128: the burst a connected
 * client absorbed before the direct path (a 64-slot queue in front of a
 * 64-message HWM), so a trainer's burst to a slow daemon is not dropped
 * sooner than it was. */
#define SNDHWM       128
#define MON_ENDPOINT "inproc://htga-monitor"

#define POOL_SPARE 8 /* buffers beyond queue depth + SNDHWM (ZeroMQ's encoder holds some) */

enum slot_state { SLOT_FREE, SLOT_FILLING, SLOT_READY };

/* A sample buffer of the pool. Lent to ZeroMQ with the message it carries;
 * ZeroMQ's free callback (or ours on failure) returns it to the pool. */
struct pbuf {
    struct pbuf *next;
    htga *h;
    float *data;
    size_t cap;
};

/* One SAMPLES message waiting in the ring (start-up grace only). FILLING
 * slots belong to the sender that reserved them, READY slots to the I/O
 * thread. */
struct slot {
    enum slot_state state;
    uint64_t seq;
    int64_t step;
    uint32_t rank;
    uint32_t count;   /* 0: cancelled (allocation failed), skipped */
    uint32_t cluster; /* run length of the sample (wire field), 0: independent values */
    size_t group_len;
    char group[WIRE_NAME_MAX];
    struct pbuf *pb;
};

struct lam_entry {
    size_t len; /* 0: empty */
    char name[WIRE_NAME_MAX];
    double lambda;
};

struct htga {
    char *endpoint;
    /* CURVE keys, Z85 ("" = unset); under sock_mu */
    char curve_server[41], curve_public[41], curve_secret[41];
    char run[WIRE_NAME_MAX];
    size_t run_len;

    pthread_mutex_t sock_mu; /* sock and mon, from any thread */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* ring progress, I/O thread start-up */
    struct slot *ring;
    size_t depth, head, tail, used;
    uint64_t draws; /* accepted sends so far: seeds each one's subsample */

    pthread_mutex_t pool_mu;
    struct pbuf *pool; /* free buffers, a stack: the last released (cache-hot) is reused first */
    size_t pool_total; /* buffers in existence, free or lent */

    size_t max_samples;
    size_t sample_run; /* values per run of the subsample, 1: one per stratum */
    uint32_t rank;
    uint64_t seed;
    uint64_t next_seq;
    int online;      /* a daemon connection has completed its handshake */
    int grace;       /* start-up grace: queue even though not yet online */
    int ever_online; /* the grace never comes back after a first connection */
    int64_t t0_ms;   /* creation time, for the grace */
    int64_t grace_ms;
    int64_t hello_ms;
    htga_stats st;
    int started; /* 0 starting, 1 running, -1 failed */

    pthread_mutex_t lam_mu;
    struct lam_entry *lam;
    size_t lam_cap, lam_used;

    int efd;
    int io_waiting;       /* the I/O thread may sleep: the next READY slot must wake it */
    atomic_int sock_full; /* the last send (or look) found ZeroMQ's pipe full */
    atomic_int stop;
    pthread_t thread;

    void *ctx, *sock, *mon; /* sock and mon under sock_mu */
    int sock_fd, mon_fd;    /* their ZMQ_FD, for the I/O thread's poll() */

    /* I/O thread only */
    int64_t next_hello_ms;
};

/* ---------- small helpers ---------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wake(htga *h)
{
    uint64_t one = 1;
    ssize_t rc = write(h->efd, &one, sizeof one);
    (void)rc; /* EAGAIN means the counter is already non-zero: awake */
}

static int name_valid(const char *s, size_t *len)
{
    if (!s)
        return 0;
    *len = strnlen(s, WIRE_NAME_MAX + 1);
    return *len >= 1 && *len <= WIRE_NAME_MAX && wire_name_ok(s, *len);
}

static uint64_t fnv1a(const char *s, size_t len)
{
    uint64_t x = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        x = (x ^ (unsigned char)s[i]) * 1099511628211ull;
    return x;
}

/* ---------- lambda table (lam_mu held) ---------- */

static struct lam_entry *lam_find(struct lam_entry *t, size_t cap, const char *name, size_t len)
{
    size_t i = (size_t)fnv1a(name, len) & (cap - 1);
    while (t[i].len && (t[i].len != len || memcmp(t[i].name, name, len) != 0))
        i = (i + 1) & (cap - 1);
    return &t[i];
}

static int lam_grow(htga *h)
{
    size_t cap = h->lam_cap ? 2 * h->lam_cap : 16;
    struct lam_entry *t = calloc(cap, sizeof *t);
    if (!t)
        return -1;
    for (size_t i = 0; i < h->lam_cap; i++)
        if (h->lam[i].len)
            *lam_find(t, cap, h->lam[i].name, h->lam[i].len) = h->lam[i];
    free(h->lam);
    h->lam = t;
    h->lam_cap = cap;
    return 0;
}

static void lam_store(htga *h, const char *name, size_t len, double lambda)
{
    struct lam_entry *e;
    pthread_mutex_lock(&h->lam_mu);
    if (2 * (h->lam_used + 1) > h->lam_cap && lam_grow(h) != 0)
        goto out;
    e = lam_find(h->lam, h->lam_cap, name, len);
    if (!e->len) {
        e->len = len;
        memcpy(e->name, name, len);
        h->lam_used++;
    }
    e->lambda = lambda;
out:
    pthread_mutex_unlock(&h->lam_mu);
}

/* ---------- sample buffer pool ---------- */

/* Takes a free buffer, or makes room for a new one while fewer than `max`
 * exist (then returns one with no data yet); NULL when all are lent out. */
static struct pbuf *pool_take(htga *h, size_t max)
{
    struct pbuf *pb;
    pthread_mutex_lock(&h->pool_mu);
    pb = h->pool;
    if (pb) {
        h->pool = pb->next;
    } else if (h->pool_total < max && (pb = calloc(1, sizeof *pb)) != NULL) {
        pb->h = h;
        h->pool_total++;
    }
    pthread_mutex_unlock(&h->pool_mu);
    return pb;
}

static void pool_put(struct pbuf *pb)
{
    htga *h = pb->h;
    pthread_mutex_lock(&h->pool_mu);
    pb->next = h->pool;
    h->pool = pb;
    pthread_mutex_unlock(&h->pool_mu);
}

/* ZeroMQ is done with a message lent one of our buffers (any thread). */
static void pbuf_release(void *data, void *hint)
{
    (void)data;
    pool_put(hint);
}

/* Makes pb hold at least m floats; 0, or -1 (pb unchanged) when out of memory. */
static int pbuf_reserve(struct pbuf *pb, size_t m)
{
    float *d;
    if (pb->cap >= m)
        return 0;
    d = malloc(m * sizeof *d);
    if (!d)
        return -1;
    free(pb->data);
    pb->data = d;
    pb->cap = m;
    return 0;
}

static void pool_free_all(htga *h)
{
    while (h->pool) {
        struct pbuf *pb = h->pool;
        h->pool = pb->next;
        free(pb->data);
        free(pb);
    }
}

/* ---------- I/O thread ---------- */

static int sock_set(void *s, int opt, int v)
{
    return zmq_setsockopt(s, opt, &v, sizeof v);
}

/* Whether v is a CURVE key in Z85 text (40 characters of its alphabet). */
static int z85_key(const char *v)
{
    static const char z85[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                              ".-:+=^!/*?&<>()[]{}@%$#";
    return v && strlen(v) == 40 && strspn(v, z85) == 40;
}

/* Reads a `htga keygen` file: "public KEY", "secret KEY" and optional
 * "server KEY" lines, '#' comments. Keys found are copied; 0 or -1. */
static int read_key_file(const char *path, char *pub, char *sec, char *srv)
{
    char line[256], word[16], key[64];
    FILE *f = fopen(path, "r");
    int rc = 0, lines = 0;
    if (!f)
        return -1;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        if (++lines > 64) { /* a key file is a few lines (a device never ends) */
            rc = -1;
            break;
        }
        if (line[0] == '#' || line[strspn(line, " \t\r\n")] == '\0')
            continue;
        if (sscanf(line, "%15s %63s", word, key) != 2 || !z85_key(key))
            rc = -1;
        else if (strcmp(word, "public") == 0)
            memcpy(pub, key, 41);
        else if (strcmp(word, "secret") == 0)
            memcpy(sec, key, 41);
        else if (strcmp(word, "server") == 0)
            memcpy(srv, key, 41);
        else
            rc = -1;
    }
    fclose(f);
    return rc;
}

/* Gives h->sock the CURVE keys (a fresh pair when none was set); they
 * apply to the connections made after. */
static int curve_apply(htga *h)
{
    if (!h->curve_public[0] || !h->curve_secret[0]) {
        if (zmq_curve_keypair(h->curve_public, h->curve_secret) != 0)
            return -1;
    }
    return zmq_setsockopt(h->sock, ZMQ_CURVE_SERVERKEY, h->curve_server, 40) ||
           zmq_setsockopt(h->sock, ZMQ_CURVE_PUBLICKEY, h->curve_public, 40) ||
           zmq_setsockopt(h->sock, ZMQ_CURVE_SECRETKEY, h->curve_secret, 40);
}

static int io_open(htga *h)
{
    h->ctx = zmq_ctx_new();
    if (!h->ctx)
        return -1;
    zmq_ctx_set(h->ctx, ZMQ_IO_THREADS, 1);
    h->sock = zmq_socket(h->ctx, ZMQ_DEALER);
    h->mon = zmq_socket(h->ctx, ZMQ_PAIR);
    if (!h->sock || !h->mon)
        return -1;
    if (sock_set(h->sock, ZMQ_IMMEDIATE, 1) || sock_set(h->sock, ZMQ_SNDHWM, SNDHWM) ||
        sock_set(h->sock, ZMQ_RCVHWM, 1000) || sock_set(h->sock, ZMQ_LINGER, DESTROY_BUDGET_MS) ||
        sock_set(h->sock, ZMQ_RECONNECT_IVL, 100) ||
        sock_set(h->sock, ZMQ_RECONNECT_IVL_MAX, 1000) ||
        sock_set(h->sock, ZMQ_HEARTBEAT_IVL, 1000) ||
        sock_set(h->sock, ZMQ_HEARTBEAT_TIMEOUT, 3000) || sock_set(h->mon, ZMQ_LINGER, 0))
        return -1;
    if (h->curve_server[0] && curve_apply(h) != 0)
        return -1;
    if (zmq_socket_monitor(h->sock, MON_ENDPOINT,
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0 ||
        zmq_connect(h->mon, MON_ENDPOINT) != 0)
        return -1;
    if (zmq_getsockopt(h->sock, ZMQ_FD, &h->sock_fd, &(size_t){sizeof h->sock_fd}) != 0 ||
        zmq_getsockopt(h->mon, ZMQ_FD, &h->mon_fd, &(size_t){sizeof h->mon_fd}) != 0)
        return -1;
    return zmq_connect(h->sock, h->endpoint);
}

/* Whether a socket has a message waiting (ZMQ_EVENTS; resets the edge of
 * its ZMQ_FD, so callers look before sleeping on that fd). */
static int readable(void *sock)
{
    int ev = 0;
    size_t sz = sizeof ev;
    return zmq_getsockopt(sock, ZMQ_EVENTS, &ev, &sz) == 0 && (ev & ZMQ_POLLIN);
}

/* After a send on h->sock (sock_mu held): notes whether ZeroMQ would take
 * another message now (h->sock_full) and returns whether input waits. */
static int after_send(htga *h)
{
    int ev = 0;
    size_t sz = sizeof ev;
    if (zmq_getsockopt(h->sock, ZMQ_EVENTS, &ev, &sz) != 0)
        ev = ZMQ_POLLOUT;
    atomic_store(&h->sock_full, !(ev & ZMQ_POLLOUT));
    return (ev & ZMQ_POLLIN) != 0;
}

/* Whether a direct send would find room in ZeroMQ. Free while the last send
 * left room; once ZeroMQ was full, asked again (ZMQ_EVENTS) at each send,
 * so a send that would be dropped is dropped before the sample is drawn. */
static int sock_has_room(htga *h)
{
    int input;
    if (!atomic_load(&h->sock_full))
        return 1;
    pthread_mutex_lock(&h->sock_mu);
    input = after_send(h);
    pthread_mutex_unlock(&h->sock_mu);
    if (input)
        wake(h);
    return !atomic_load(&h->sock_full);
}

static void io_close(htga *h, int linger_ms)
{
    if (h->sock) {
        zmq_socket_monitor(h->sock, NULL, 0);
        sock_set(h->sock, ZMQ_LINGER, linger_ms < 0 ? 0 : linger_ms);
        zmq_close(h->sock);
    }
    if (h->mon)
        zmq_close(h->mon);
    if (h->ctx)
        zmq_ctx_term(h->ctx);
    h->sock = h->mon = h->ctx = NULL;
}

static void send_hello(htga *h)
{
    unsigned char hdr[WIRE_HEADER_MAX];
    wire_msg m = {.kind = WIRE_HELLO, .run = h->run, .run_len = h->run_len};
    size_t len;

    pthread_mutex_lock(&h->mu);
    m.rank = h->rank;
    m.seq = h->next_seq;
    m.dropped = h->st.drops_queue + h->st.drops_offline;
    h->next_hello_ms = now_ms() + h->hello_ms;
    pthread_mutex_unlock(&h->mu);
    len = wire_encode_header(&m, hdr, sizeof hdr);
    zmq_send(h->sock, hdr, len, ZMQ_DONTWAIT); /* EAGAIN: the next HELLO will do */
}

static void drain_monitor(htga *h)
{
    for (;;) {
        zmq_msg_t f;
        uint16_t event = 0;
        int more;
        zmq_msg_init(&f);
        if (zmq_msg_recv(&f, h->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&f);
            return;
        }
        if (zmq_msg_size(&f) >= 2)
            memcpy(&event, zmq_msg_data(&f), 2);
        more = zmq_msg_more(&f);
        zmq_msg_close(&f);
        while (more) { /* the endpoint frame */
            zmq_msg_init(&f);
            if (zmq_msg_recv(&f, h->mon, 0) < 0)
                more = 0;
            else
                more = zmq_msg_more(&f);
            zmq_msg_close(&f);
        }
        pthread_mutex_lock(&h->mu);
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            h->online = 1;
            h->ever_online = 1;
            h->grace = 0;
        } else if (event == ZMQ_EVENT_DISCONNECTED) {
            h->online = 0;
        } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ||
                   event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
                   event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
            h->st.auth_failures++;
        }
        pthread_mutex_unlock(&h->mu);
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            send_hello(h);
    }
}

static void handle_incoming(htga *h, zmq_msg_t *frames, size_t nframes)
{
    const void *data[3];
    size_t lens[3];
    wire_msg m;
    wire_lambda lam;
    int ok;

    for (size_t i = 0; i < nframes && i < 3; i++) {
        data[i] = zmq_msg_data(&frames[i]);
        lens[i] = zmq_msg_size(&frames[i]);
    }
    ok = wire_decode_dir(data, lens, nframes, WIRE_DIR_TO_CLIENT, &m, NULL) == WIRE_OK &&
         m.run_len == h->run_len && memcmp(m.run, h->run, m.run_len) == 0;
    /* count first: a reader who sees the lambda also sees it counted */
    pthread_mutex_lock(&h->mu);
    if (ok)
        wire_decode_lambda(m.body, &lam);
    if (ok && lam.reason >= WIRE_REFUSED)
        h->st.refused++; /* not a lambda: the group keeps none */
    else if (ok)
        h->st.lambdas_recv++;
    else
        h->st.bad_msgs_recv++;
    pthread_mutex_unlock(&h->mu);
    if (ok && lam.reason < WIRE_REFUSED)
        lam_store(h, m.group, m.group_len, lam.lambda);
}

static void drain_incoming(htga *h)
{
    for (;;) {
        zmq_msg_t frames[3];
        size_t n = 0;
        int more = 1;
        zmq_msg_init(&frames[0]);
        if (zmq_msg_recv(&frames[0], h->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&frames[0]);
            return;
        }
        n = 1;
        more = zmq_msg_more(&frames[0]);
        while (more) { /* keep up to 3 frames; more than 2 is an error anyway */
            zmq_msg_t f;
            zmq_msg_init(&f);
            if (zmq_msg_recv(&f, h->sock, 0) < 0) {
                zmq_msg_close(&f);
                break;
            }
            more = zmq_msg_more(&f);
            if (n < 3)
                frames[n++] = f;
            else
                zmq_msg_close(&f);
        }
        handle_incoming(h, frames, n);
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&frames[i]);
    }
}

/* Hands one SAMPLES message (header m, body pb's first m->count floats) to
 * ZeroMQ without copying the body; sock_mu held. pb is consumed either way:
 * lent to ZeroMQ, or back in the pool. Returns 0 when sent, -1 when ZeroMQ
 * refused (no connected daemon, or its pipe is full). */
static int send_samples(htga *h, const wire_msg *m, struct pbuf *pb)
{
    unsigned char hdr[WIRE_HEADER_MAX];
    size_t len = wire_encode_header(m, hdr, sizeof hdr);
    zmq_msg_t body;

    if (zmq_msg_init_data(&body, pb->data, (size_t)m->count * 4, pbuf_release, pb) != 0) {
        pool_put(pb);
        return -1;
    }
    /* once the first frame is in, ZeroMQ takes the rest of the message */
    if (zmq_send(h->sock, hdr, len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_msg_send(&body, h->sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&body); /* gives pb back */
        return -1;
    }
    return 0;
}

/* Counts a message handed to ZeroMQ, or dropped after being accepted; mu held. */
static void count_sent(htga *h, int sent, uint32_t count)
{
    if (sent) {
        h->st.msgs_sent++;
        h->st.samples_sent += count;
        h->st.bytes_sent += (uint64_t)count * 4;
    } else {
        h->st.drops_offline++; /* no peer or its pipe is full */
    }
}

/* Sends (or drops) the ready slots at the head of the ring, in order;
 * sock_mu held. With a deadline (final pump at destroy), nothing waits for
 * the grace and what is left at the deadline is dropped. */
static void pump(htga *h, int64_t deadline_ms)
{
    int final = deadline_ms > 0;

    pthread_mutex_lock(&h->mu);
    while (h->used > 0 && h->ring[h->head].state == SLOT_READY) {
        struct slot *s = &h->ring[h->head];
        struct pbuf *pb = s->pb;
        wire_msg m = {.kind = WIRE_SAMPLES,
                      .rank = s->rank,
                      .step = s->step,
                      .seq = s->seq,
                      .count = s->count,
                      .cluster = s->cluster,
                      .dropped = h->st.drops_queue + h->st.drops_offline,
                      .run = h->run,
                      .run_len = h->run_len,
                      .group = s->group,
                      .group_len = s->group_len};
        if (s->count == 0) {
            h->st.drops_queue++; /* cancelled by its sender: no buffer */
        } else if (!final && (atomic_load(&h->stop) || (!h->online && h->grace))) {
            break; /* destroy takes over, or wait for the first connection */
        } else if (!h->online || (final && now_ms() >= deadline_ms)) {
            h->st.drops_offline++;
        } else {
            int sent;
            s->pb = NULL;
            pthread_mutex_unlock(&h->mu);
            sent = send_samples(h, &m, pb) == 0;
            pthread_mutex_lock(&h->mu);
            count_sent(h, sent, m.count);
        }
        if (s->pb) {
            pool_put(s->pb);
            s->pb = NULL;
        }
        s->state = SLOT_FREE;
        h->head = (h->head + 1) % h->depth;
        h->used--;
        pthread_cond_broadcast(&h->cv);
    }
    /* Whatever stopped the loop (empty ring, head still FILLING, offline), the
     * next slot to turn READY must wake us: set under the same lock the
     * sender marks READY under, so no wake-up is lost. */
    h->io_waiting = 1;
    pthread_mutex_unlock(&h->mu);
}

/* Milliseconds poll() may sleep: until the next HELLO or the grace end. */
static int poll_timeout(htga *h, int64_t now)
{
    int64_t t = h->next_hello_ms - now;
    pthread_mutex_lock(&h->mu);
    if (h->grace) {
        int64_t g = h->t0_ms + h->grace_ms - now;
        if (g <= 0) {
            h->grace = 0;
            g = 0;
        }
        if (g < t)
            t = g;
    }
    pthread_mutex_unlock(&h->mu);
    return t < 0 ? 0 : t > 60000 ? 60000 : (int)t;
}

/* One round of the I/O thread's work on the sockets; returns 1 when a
 * socket still has input (its ZMQ_FD may not signal it again). */
static int service(htga *h)
{
    int again;
    pthread_mutex_lock(&h->sock_mu);
    drain_monitor(h);
    drain_incoming(h);
    pump(h, 0);
    if (now_ms() >= h->next_hello_ms) {
        int online;
        pthread_mutex_lock(&h->mu);
        online = h->online;
        h->next_hello_ms = now_ms() + h->hello_ms;
        pthread_mutex_unlock(&h->mu);
        if (online)
            send_hello(h);
    }
    again = readable(h->sock) || readable(h->mon);
    pthread_mutex_unlock(&h->sock_mu);
    return again;
}

static void *io_main(void *arg)
{
    htga *h = arg;
    int rc = io_open(h);
    int64_t t_stop;

    pthread_mutex_lock(&h->mu);
    h->started = rc == 0 ? 1 : -1;
    h->next_hello_ms = now_ms() + h->hello_ms;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    if (rc != 0) {
        io_close(h, 0);
        return NULL;
    }
    while (!atomic_load(&h->stop)) {
        struct pollfd p[3] = {
            {.fd = h->sock_fd, .events = POLLIN},
            {.fd = h->mon_fd, .events = POLLIN},
            {.fd = h->efd, .events = POLLIN},
        };
        if (poll(p, 3, poll_timeout(h, now_ms())) < 0 && errno != EINTR) {
            /* ENOMEM: retry shortly. Leaving the loop would close the socket
             * under senders still using it (only destroy may close it). */
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        if (p[2].revents & POLLIN) {
            uint64_t v;
            ssize_t r = read(h->efd, &v, sizeof v);
            (void)r;
        }
        while (service(h) && !atomic_load(&h->stop))
            ;
    }
    t_stop = now_ms();
    pthread_mutex_lock(&h->sock_mu);
    drain_monitor(h);
    pump(h, t_stop + DESTROY_BUDGET_MS / 2);
    pthread_mutex_unlock(&h->sock_mu);
    io_close(h, (int)(DESTROY_BUDGET_MS - (now_ms() - t_stop)));
    return NULL;
}

/* ---------- public API ---------- */

const char *htga_version(void)
{
    return HTGA_VERSION_STRING;
}

int htga_version_number(void)
{
    return HTGA_VERSION_NUMBER;
}

const char *htga_strerror(int code)
{
    switch (code) {
    case HTGA_OK:
        return "success";
    case HTGA_EINVAL:
        return "invalid argument";
    case HTGA_ENOMEM:
        return "out of memory";
    case HTGA_EZMQ:
        return "ZeroMQ error (bad endpoint or context failure)";
    case HTGA_EDROPPED:
        return "message dropped (queue full or daemon away)";
    case HTGA_ENOTFOUND:
        return "no lambda received for this group yet";
    case HTGA_ETIMEDOUT:
        return "timed out with messages still queued";
    case HTGA_ENOTSUP:
        return "unknown option";
    case HTGA_EBUSY:
        return "option cannot change while messages are queued";
    default:
        return "unknown error code";
    }
}

/* The ZeroMQ context is gone (or never was): every buffer is back in the
 * pool or still in a ring slot. */
static void free_handle(htga *h)
{
    if (h->ring)
        for (size_t i = 0; i < h->depth; i++)
            if (h->ring[i].pb)
                pool_put(h->ring[i].pb);
    free(h->ring);
    pool_free_all(h);
    free(h->lam);
    free(h->endpoint);
    if (h->efd >= 0)
        close(h->efd);
    pthread_mutex_destroy(&h->sock_mu);
    pthread_mutex_destroy(&h->mu);
    pthread_mutex_destroy(&h->pool_mu);
    pthread_mutex_destroy(&h->lam_mu);
    pthread_cond_destroy(&h->cv);
    free(h);
}

static int init_sync(htga *h)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return -1;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_cond_init(&h->cv, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        return -1;
    }
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&h->sock_mu, NULL);
    pthread_mutex_init(&h->mu, NULL);
    pthread_mutex_init(&h->pool_mu, NULL);
    pthread_mutex_init(&h->lam_mu, NULL);
    return 0;
}

/* Starts the I/O thread with every signal blocked, so that the trainer's
 * signal handlers (SIGINT in Python, ...) keep running on its own threads. */
static int start_io_thread(htga *h)
{
    sigset_t all, old;
    int rc;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&h->thread, NULL, io_main, h);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* Configuration by environment, as a launcher (torchrun, a batch script)
 * sets it: a NULL or empty endpoint or run comes from HTGA_ENDPOINT or
 * HTGA_RUN, and the rank from RANK when that is a decimal in 0..2^32-1
 * (anything else there is left alone: RANK is not ours). */
static void from_env(const char **endpoint, const char **run, uint32_t *rank)
{
    const char *r = getenv("RANK");
    char *end;
    unsigned long long v;

    if (!*endpoint || !**endpoint)
        *endpoint = getenv("HTGA_ENDPOINT");
    if (!*run || !**run)
        *run = getenv("HTGA_RUN");
    if (r && *r >= '0' && *r <= '9') {
        errno = 0;
        v = strtoull(r, &end, 10);
        if (errno == 0 && *end == '\0' && v <= UINT32_MAX)
            *rank = (uint32_t)v;
    }
}

/* HTGA_CURVE_KEY_FILE and HTGA_CURVE_SERVER_KEY, when set (before the
 * socket exists: io_open applies them). 0, or -1 when one is malformed. */
static int curve_from_env(htga *h)
{
    const char *file = getenv("HTGA_CURVE_KEY_FILE");
    const char *srv = getenv("HTGA_CURVE_SERVER_KEY");
    if (file && *file &&
        read_key_file(file, h->curve_public, h->curve_secret, h->curve_server) != 0)
        return -1;
    if (srv && *srv) {
        if (!z85_key(srv))
            return -1;
        memcpy(h->curve_server, srv, 41);
    }
    return 0;
}

int htga_create(htga **out, const char *endpoint, const char *run)
{
    htga *h;
    size_t run_len;
    uint32_t rank = 0;
    int rc = HTGA_ENOMEM;

    if (out)
        *out = NULL;
    from_env(&endpoint, &run, &rank);
    if (!out || !endpoint || !*endpoint || !name_valid(run, &run_len))
        return HTGA_EINVAL;
    h = calloc(1, sizeof *h);
    if (!h)
        return HTGA_ENOMEM;
    h->efd = -1;
    h->io_waiting = 1;
    if (init_sync(h) != 0) {
        free(h);
        return HTGA_ENOMEM;
    }
    memcpy(h->run, run, run_len);
    h->run_len = run_len;
    h->rank = rank;
    h->max_samples = DEFAULT_MAX_SAMPLES;
    h->sample_run = DEFAULT_SAMPLE_RUN;
    h->depth = DEFAULT_QUEUE_DEPTH;
    h->grace_ms = DEFAULT_GRACE_MS;
    h->hello_ms = DEFAULT_HELLO_MS;
    h->grace = 1;
    h->t0_ms = now_ms();
    h->seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)h ^ ((uint64_t)h->t0_ms << 20);
    h->endpoint = strdup(endpoint);
    if (curve_from_env(h) != 0) {
        rc = HTGA_EINVAL;
        goto fail;
    }
    h->ring = calloc(h->depth, sizeof *h->ring);
    h->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!h->endpoint || !h->ring || h->efd < 0)
        goto fail;
    if (start_io_thread(h) != 0)
        goto fail;
    pthread_mutex_lock(&h->mu);
    while (h->started == 0)
        pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
    if (h->started < 0) {
        pthread_join(h->thread, NULL);
        rc = HTGA_EZMQ;
        goto fail;
    }
    *out = h;
    return HTGA_OK;
fail:
    free_handle(h);
    return rc;
}

void htga_destroy(htga **hp)
{
    htga *h;
    if (!hp || !*hp)
        return;
    h = *hp;
    *hp = NULL;
    atomic_store(&h->stop, 1);
    wake(h);
    pthread_join(h->thread, NULL);
    free_handle(h);
}

static int set_queue_depth(htga *h, int64_t value)
{
    struct slot *ring;
    if (value < 1 || value > MAX_QUEUE_DEPTH)
        return HTGA_EINVAL;
    ring = calloc((size_t)value, sizeof *ring);
    if (!ring)
        return HTGA_ENOMEM;
    pthread_mutex_lock(&h->mu);
    if (h->used > 0) {
        pthread_mutex_unlock(&h->mu);
        free(ring);
        return HTGA_EBUSY;
    }
    free(h->ring); /* empty: its slots hold no buffer */
    h->ring = ring;
    h->depth = (size_t)value;
    h->head = h->tail = 0;
    pthread_mutex_unlock(&h->mu);
    return HTGA_OK;
}

int htga_set_int(htga *h, htga_option opt, int64_t value)
{
    int rc = HTGA_OK;
    if (!h)
        return HTGA_EINVAL;
    if (opt == HTGA_OPT_QUEUE_DEPTH)
        return set_queue_depth(h, value);
    pthread_mutex_lock(&h->mu);
    switch (opt) {
    case HTGA_OPT_MAX_SAMPLES:
        if (value < 0 || value > WIRE_COUNT_MAX)
            rc = HTGA_EINVAL;
        else
            h->max_samples = (size_t)value;
        break;
    case HTGA_OPT_SAMPLE_CLUSTER:
        if (value < 1 || value > MAX_SAMPLE_RUN)
            rc = HTGA_EINVAL;
        else
            h->sample_run = (size_t)value;
        break;
    case HTGA_OPT_RANK:
        if (value < 0 || value > UINT32_MAX)
            rc = HTGA_EINVAL;
        else
            h->rank = (uint32_t)value;
        break;
    case HTGA_OPT_SEED:
        h->seed = (uint64_t)value;
        break;
    case HTGA_OPT_CONNECT_GRACE_MS:
        if (value < 0 || value > 60000)
            rc = HTGA_EINVAL;
        else {
            h->grace_ms = value;
            h->grace = !h->ever_online; /* re-armed: may outlast the default */
        }
        break;
    case HTGA_OPT_HELLO_INTERVAL_MS:
        if (value < 10 || value > 60000)
            rc = HTGA_EINVAL;
        else
            h->hello_ms = value;
        break;
    default:
        rc = HTGA_ENOTSUP;
        break;
    }
    pthread_mutex_unlock(&h->mu);
    if (rc == HTGA_OK)
        wake(h); /* the grace or HELLO timing may have changed */
    return rc;
}

int htga_set_str(htga *h, htga_option opt, const char *value)
{
    char pub[41], sec[41], srv[41];
    int rc = HTGA_OK;
    if (!h || !value)
        return HTGA_EINVAL;
    if (opt < HTGA_OPT_CURVE_SERVER_KEY || opt > HTGA_OPT_CURVE_KEY_FILE || !zmq_has("curve"))
        return HTGA_ENOTSUP;
    pthread_mutex_lock(&h->sock_mu);
    memcpy(pub, h->curve_public, 41);
    memcpy(sec, h->curve_secret, 41);
    memcpy(srv, h->curve_server, 41);
    if (opt == HTGA_OPT_CURVE_KEY_FILE) {
        if (read_key_file(value, pub, sec, srv) != 0 || !pub[0] || !sec[0])
            rc = HTGA_EINVAL;
    } else if (!z85_key(value)) {
        rc = HTGA_EINVAL;
    } else {
        memcpy(opt == HTGA_OPT_CURVE_SERVER_KEY   ? srv
               : opt == HTGA_OPT_CURVE_PUBLIC_KEY ? pub
                                                  : sec,
               value, 41);
    }
    if (rc == HTGA_OK) {
        memcpy(h->curve_public, pub, 41);
        memcpy(h->curve_secret, sec, 41);
        memcpy(h->curve_server, srv, 41);
        /* reconnect with the keys (the socket exists once htga_create returned) */
        if (h->sock && srv[0]) {
            zmq_disconnect(h->sock, h->endpoint);
            if (curve_apply(h) != 0 || zmq_connect(h->sock, h->endpoint) != 0)
                rc = HTGA_EZMQ;
        }
    }
    pthread_mutex_unlock(&h->sock_mu);
    return rc;
}

static void to_little_endian(float *v, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        u = __builtin_bswap32(u);
        memcpy(&v[i], &u, 4);
    }
#else
    (void)v;
    (void)n;
#endif
}

/* What htga_send() decided under h->mu. */
struct send_plan {
    struct slot *slot; /* the start-up grace: the sample waits in this ring slot */
    struct pbuf *pb;   /* the buffer to draw into */
    size_t m;          /* values to draw */
    size_t run;        /* in runs of this many */
    uint32_t rank;
    smp_rng rng;
};

/* Accepts a send (counted in sends) or drops it (counted, HTGA_EDROPPED).
 * Online with nothing waiting in the ring: sent directly by the caller, if
 * ZeroMQ has room (else dropped now, before any drawing). Before the first
 * connection (grace): queued in the ring, in order. */
static int plan_send(htga *h, const char *group, size_t group_len, int64_t step, size_t n, int room,
                     struct send_plan *p)
{
    int queue;
    pthread_mutex_lock(&h->mu);
    queue = !h->online || h->used > 0;
    if ((!h->online && !(h->grace && now_ms() < h->t0_ms + h->grace_ms)) || (!queue && !room)) {
        h->next_seq++;
        h->st.drops_offline++;
        goto dropped;
    }
    if ((queue && h->used == h->depth) || !(p->pb = pool_take(h, h->depth + SNDHWM + POOL_SPARE))) {
        h->next_seq++;
        h->st.drops_queue++;
        goto dropped;
    }
    p->slot = NULL;
    if (queue) {
        struct slot *s = &h->ring[h->tail];
        h->tail = (h->tail + 1) % h->depth;
        h->used++;
        s->state = SLOT_FILLING;
        s->seq = h->next_seq++;
        s->step = step;
        s->rank = h->rank;
        s->group_len = group_len;
        memcpy(s->group, group, group_len);
        p->slot = s;
    }
    p->rank = h->rank;
    p->m = h->max_samples ? h->max_samples : WIRE_COUNT_MAX;
    p->run = h->sample_run;
    if (p->m > WIRE_COUNT_MAX)
        p->m = WIRE_COUNT_MAX;
    if (p->m > n)
        p->m = n;
    smp_seed(&p->rng, h->seed ^ (h->draws++ * 0x9E3779B97F4A7C15ull));
    h->st.sends++;
    pthread_mutex_unlock(&h->mu);
    return HTGA_OK;
dropped:
    pthread_mutex_unlock(&h->mu);
    return HTGA_EDROPPED;
}

/* One accepted send whose sample is drawn: `pending` when it still has to
 * be handed to ZeroMQ by its caller (send_drawn()), else it is done (queued
 * in the grace ring, or dropped and counted). */
struct drawn {
    const char *group;
    size_t group_len;
    uint32_t count;
    uint32_t cluster; /* the wire's run length: see draw_send() */
    int pending;
    struct send_plan p;
};

/* Plans one send and draws its sample. Returns HTGA_OK (d->pending tells
 * whether the caller still hands it to ZeroMQ), HTGA_EDROPPED or
 * HTGA_ENOMEM (counted). */
static int draw_send(htga *h, const char *group, size_t group_len, int64_t step, const float *grad,
                     size_t n, int room, struct drawn *d)
{
    struct send_plan *p = &d->p;
    int rc = plan_send(h, group, group_len, step, n, room, p);
    int need_wake;

    d->pending = 0;
    if (rc != HTGA_OK)
        return rc;
    d->group = group;
    d->group_len = group_len;
    d->count = 0;
    d->cluster = 0;
    if (pbuf_reserve(p->pb, p->m) == 0) {
        d->count = (uint32_t)smp_draw_runs(grad, n, p->m, p->run, &p->rng, p->pb->data);
        to_little_endian(p->pb->data, d->count);
        /* the daemon widens its interval for runs: tell it the length used */
        if (n > p->m && p->run > 1)
            d->cluster = (uint32_t)(p->run < d->count ? p->run : d->count);
    } else {
        rc = HTGA_ENOMEM;
    }
    if (!p->slot && rc == HTGA_OK) {
        d->pending = 1;
        return HTGA_OK;
    }
    pthread_mutex_lock(&h->mu);
    if (rc != HTGA_OK)
        h->st.sends--;
    if (!p->slot) { /* out of memory on the direct path: that seq is a drop */
        h->next_seq++;
        h->st.drops_queue++;
        pthread_mutex_unlock(&h->mu);
        pool_put(p->pb);
        return rc;
    }
    p->slot->count = d->count; /* 0: cancelled, the I/O thread frees the slot */
    p->slot->cluster = d->cluster;
    p->slot->pb = rc == HTGA_OK ? p->pb : NULL;
    p->slot->state = SLOT_READY;
    /* Only the send that may find the I/O thread asleep pays for the
     * eventfd write; while it is pumping it sees this slot by itself. */
    need_wake = h->io_waiting;
    h->io_waiting = 0;
    pthread_mutex_unlock(&h->mu);
    if (rc != HTGA_OK)
        pool_put(p->pb);
    if (need_wake)
        wake(h);
    return rc;
}

/* Takes the next seq and hands one drawn message to ZeroMQ, in the caller's
 * thread; sock_mu held. A refusal (the pipe filled since the room check) is
 * counted in drops_offline; the send stays counted in sends. */
static void send_drawn_locked(htga *h, int64_t step, struct drawn *d)
{
    wire_msg m = {.kind = WIRE_SAMPLES,
                  .rank = d->p.rank,
                  .step = step,
                  .count = d->count,
                  .cluster = d->cluster,
                  .run = h->run,
                  .run_len = h->run_len,
                  .group = d->group,
                  .group_len = d->group_len};
    int sent;

    pthread_mutex_lock(&h->mu);
    m.seq = h->next_seq++;
    m.dropped = h->st.drops_queue + h->st.drops_offline;
    pthread_mutex_unlock(&h->mu);
    sent = send_samples(h, &m, d->p.pb) == 0;
    pthread_mutex_lock(&h->mu); /* counted before the next seq is taken */
    count_sent(h, sent, d->count);
    pthread_mutex_unlock(&h->mu);
}

/* The direct path: hands the pending messages of d[0..nd-1] to ZeroMQ in
 * order under one hold of sock_mu, then looks at the socket once: whether
 * ZeroMQ has room left, and whether input waits (our sends may have taken
 * the edge of its ZMQ_FD: then the I/O thread is woken). */
static void send_drawn(htga *h, int64_t step, struct drawn *d, size_t nd)
{
    int input;

    pthread_mutex_lock(&h->sock_mu);
    for (size_t i = 0; i < nd; i++)
        if (d[i].pending)
            send_drawn_locked(h, step, &d[i]);
    input = after_send(h);
    pthread_mutex_unlock(&h->sock_mu);
    if (input)
        wake(h);
}

int htga_send(htga *h, const char *group, int64_t step, const float *grad, size_t n)
{
    size_t group_len;
    struct drawn d;
    int rc;

    if (!h || !grad || n == 0 || !name_valid(group, &group_len))
        return HTGA_EINVAL;
    rc = draw_send(h, group, group_len, step, grad, n, sock_has_room(h), &d);
    if (rc == HTGA_OK && d.pending)
        send_drawn(h, step, &d, 1);
    return rc;
}

/* Messages htga_send_many() draws before handing them to ZeroMQ together:
 * bounded, so that the call needs no allocation. */
#define SEND_MANY_CHUNK 32

/* htga_send_many() on at most SEND_MANY_CHUNK valid messages; returns how
 * many were accepted (counted in sends). */
static size_t send_many_chunk(htga *h, int64_t step, size_t count, const char *const *groups,
                              const float *const *grads, const size_t *ns, int *rcs)
{
    struct drawn d[SEND_MANY_CHUNK];
    size_t accepted = 0, pending = 0;
    int room = sock_has_room(h);

    for (size_t i = 0; i < count; i++) {
        size_t len = strnlen(groups[i], WIRE_NAME_MAX + 1);
        rcs[i] = draw_send(h, groups[i], len, step, grads[i], ns[i], room, &d[i]);
        pending += d[i].pending;
        accepted += rcs[i] == HTGA_OK;
    }
    if (pending)
        send_drawn(h, step, d, count);
    return accepted;
}

int htga_send_many(htga *h, int64_t step, size_t count, const char *const *groups,
                   const float *const *grads, const size_t *ns, int *rcs)
{
    int own[SEND_MANY_CHUNK];
    size_t accepted = 0, len;

    if (!h || count > INT_MAX || (count > 0 && (!groups || !grads || !ns)))
        return HTGA_EINVAL;
    for (size_t i = 0; i < count; i++)
        if (!grads[i] || ns[i] == 0 || !name_valid(groups[i], &len))
            return HTGA_EINVAL;
    for (size_t i = 0; i < count; i += SEND_MANY_CHUNK) {
        size_t k = count - i < SEND_MANY_CHUNK ? count - i : SEND_MANY_CHUNK;
        int *r = rcs ? rcs + i : own;
        accepted += send_many_chunk(h, step, k, groups + i, grads + i, ns + i, r);
    }
    return (int)accepted;
}

int htga_lambda_get(htga *h, const char *group, double *lambda)
{
    size_t len;
    int rc = HTGA_ENOTFOUND;
    double v = 1.0;

    if (!h || !name_valid(group, &len)) {
        rc = HTGA_EINVAL;
        goto out;
    }
    pthread_mutex_lock(&h->lam_mu);
    if (h->lam_cap) {
        struct lam_entry *e = lam_find(h->lam, h->lam_cap, group, len);
        if (e->len) {
            v = e->lambda;
            rc = HTGA_OK;
        }
    }
    pthread_mutex_unlock(&h->lam_mu);
out:
    if (lambda)
        *lambda = v;
    return rc;
}

double htga_lambda(htga *h, const char *group)
{
    double v;
    htga_lambda_get(h, group, &v);
    return v;
}

int htga_flush(htga *h, int timeout_ms)
{
    struct timespec dl;
    int rc = HTGA_OK;

    if (!h)
        return HTGA_EINVAL;
    if (timeout_ms < 0)
        timeout_ms = 0;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    wake(h);
    pthread_mutex_lock(&h->mu);
    while (h->used > 0 && rc == HTGA_OK)
        if (pthread_cond_timedwait(&h->cv, &h->mu, &dl) == ETIMEDOUT && h->used > 0)
            rc = HTGA_ETIMEDOUT;
    pthread_mutex_unlock(&h->mu);
    return rc;
}

int htga_stats_get(htga *h, htga_stats *out, size_t size)
{
    htga_stats copy;
    if (!h || !out)
        return HTGA_EINVAL;
    pthread_mutex_lock(&h->mu);
    copy = h->st;
    pthread_mutex_unlock(&h->mu);
    memcpy(out, &copy, size < sizeof copy ? size : sizeof copy);
    return HTGA_OK;
}
