/*
 * io.c - libhtga: the background I/O thread, the only thread that touches
 * the handle's ZeroMQ context and sockets (it creates and closes them).
 *
 * DESIGN: the thread sleeps in poll() on the DEALER's ZMQ_FD, the socket
 * monitor's ZMQ_FD and an eventfd, and on each wake-up works until nothing
 * is left that it can do without waiting:
 *  - follows the connection from the monitor (HANDSHAKE_SUCCEEDED says
 *    HELLO, with the WIRE_FEAT_FLOW bit in its step; DISCONNECTED stops the
 *    sending and fails the barriers still waiting for their ACK);
 *  - reads LAMBDA (the group's lambda), BUDGET (the group's, or the run's,
 *    budget) and ACK (the answer to a barrier, matched by its token);
 *  - hands queued entries to ZeroMQ in FIFO order while connected: SAMPLES
 *    lend their buffer (zmq_msg_init_data, freed by queue_release()) and
 *    take their sequence number as they leave, barriers go out as one frame.
 *    Every send is ZMQ_DONTWAIT. On EAGAIN the entry goes back to the head
 *    and the thread waits for ZMQ_FD; it also stops while ZeroMQ holds
 *    buffers worth an eighth of the byte bound (then ZeroMQ's free callback
 *    wakes it through the eventfd), so that most of a backlog waits in the
 *    queue, where shedding is fair.
 * ZMQ_FD is edge-triggered and any socket operation may consume its edge,
 * so the last thing done before sleeping is a ZMQ_EVENTS look that shows
 * neither input nor, when a send waits for room, room. Senders write the
 * eventfd only when the thread said it may sleep with nothing to do
 * (h->io_waiting, under mu), so a busy thread costs them nothing.
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "internal.h"

#define SNDHWM       4096 /* the byte bound and the in-flight cap are ours */
#define MON_ENDPOINT "inproc://htga-monitor"

enum pump_rc { PUMP_IDLE, PUMP_BLOCKED_OUT, PUMP_BLOCKED_MEM };

/* Every use of the sockets goes through here: they belong to this thread. */
static void *owned(htga *h, void *sock)
{
    assert(pthread_equal(pthread_self(), h->io_tid));
    return sock;
}

static int sock_set(void *s, int opt, int v)
{
    return zmq_setsockopt(s, opt, &v, sizeof v);
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
    if (curve_apply(h, h->sock) != 0)
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

static void io_close(htga *h, int linger_ms)
{
    if (h->sock) {
        zmq_socket_monitor(owned(h, h->sock), NULL, 0);
        sock_set(h->sock, ZMQ_LINGER, linger_ms < 0 ? 0 : linger_ms);
        zmq_close(h->sock);
    }
    if (h->mon)
        zmq_close(owned(h, h->mon));
    if (h->ctx)
        zmq_ctx_term(h->ctx);
    h->sock = h->mon = h->ctx = NULL;
}

/* ZMQ_EVENTS of a socket (resets the edge of its ZMQ_FD). */
static int events(htga *h, void *sock)
{
    int ev = 0;
    size_t sz = sizeof ev;
    if (zmq_getsockopt(owned(h, sock), ZMQ_EVENTS, &ev, &sz) != 0)
        return 0;
    return ev;
}

static void send_hello(htga *h)
{
    unsigned char hdr[WIRE_HEADER_MAX];
    wire_msg m = {.kind = WIRE_HELLO, .step = WIRE_FEAT_FLOW, .run = h->run, .run_len = h->run_len};
    size_t len;

    pthread_mutex_lock(&h->mu);
    m.rank = h->rank;
    m.seq = h->next_seq;
    m.dropped = h->st.drops_queue + h->st.drops_offline;
    h->next_hello_ms = htga__now_ms() + h->hello_ms;
    pthread_mutex_unlock(&h->mu);
    len = wire_encode_header(&m, hdr, sizeof hdr);
    zmq_send(owned(h, h->sock), hdr, len, ZMQ_DONTWAIT); /* EAGAIN: the next HELLO will do */
}

/* The connection is gone: barriers sent on it will never be answered. */
static void fail_pending(htga *h)
{
    while (h->pending) {
        struct barrier *b = h->pending;
        h->pending = b->pnext;
        b->state = B_FAILED;
        b->rc = HTGA_ERESET;
    }
    pthread_cond_broadcast(&h->cv);
}

static void on_event(htga *h, uint16_t event)
{
    pthread_mutex_lock(&h->mu);
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        h->online = 1;
        h->st.connections++;
        h->conn_msgs = h->conn_values = 0;
    } else if (event == ZMQ_EVENT_DISCONNECTED) {
        h->online = 0;
        fail_pending(h);
    } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ||
               event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
               event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
        h->st.auth_failures++;
    }
    pthread_mutex_unlock(&h->mu);
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
        send_hello(h);
}

static void drain_monitor(htga *h)
{
    for (;;) {
        zmq_msg_t f;
        uint16_t event = 0;
        int more;
        zmq_msg_init(&f);
        if (zmq_msg_recv(&f, owned(h, h->mon), ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&f);
            return;
        }
        if (zmq_msg_size(&f) >= 2)
            memcpy(&event, zmq_msg_data(&f), 2);
        more = zmq_msg_more(&f);
        zmq_msg_close(&f);
        while (more) { /* the endpoint frame */
            zmq_msg_init(&f);
            more = zmq_msg_recv(&f, h->mon, 0) >= 0 && zmq_msg_more(&f);
            zmq_msg_close(&f);
        }
        on_event(h, event);
    }
}

static void on_ack(htga *h, const wire_msg *m)
{
    wire_ack a;
    struct barrier **p;
    wire_decode_ack(m->body, &a);
    pthread_mutex_lock(&h->mu);
    h->st.acks_recv++;
    for (p = &h->pending; *p && (*p)->token != (uint64_t)m->step; p = &(*p)->pnext)
        ;
    if (*p) {
        struct barrier *b = *p;
        *p = b->pnext;
        b->ack.msgs = a.msgs;
        b->ack.values = a.values;
        b->ack.values_refused = a.values_refused;
        b->ack.blocks_stored = a.blocks_stored;
        b->ack.blocks_lost = a.blocks_lost;
        b->ack.status = a.status;
        b->state = B_DONE;
        b->rc = HTGA_OK;
        pthread_cond_broadcast(&h->cv);
    } else {
        h->st.acks_unmatched++;
    }
    pthread_mutex_unlock(&h->mu);
}

static void handle_incoming(htga *h, zmq_msg_t *frames, size_t nframes)
{
    const void *data[3];
    size_t lens[3];
    wire_msg m;
    wire_lambda lam = {0};
    int ok;

    for (size_t i = 0; i < nframes && i < 3; i++) {
        data[i] = zmq_msg_data(&frames[i]);
        lens[i] = zmq_msg_size(&frames[i]);
    }
    ok = wire_decode_dir(data, lens, nframes, WIRE_DIR_TO_CLIENT, &m, NULL) == WIRE_OK &&
         m.run_len == h->run_len && memcmp(m.run, h->run, m.run_len) == 0;
    if (ok && m.kind == WIRE_ACK) {
        on_ack(h, &m);
        return;
    }
    if (ok && m.kind == WIRE_LAMBDA)
        wire_decode_lambda(m.body, &lam);
    /* counted first: a reader who sees the lambda or budget sees it counted */
    pthread_mutex_lock(&h->mu);
    if (!ok)
        h->st.bad_msgs_recv++;
    else if (m.kind == WIRE_LAMBDA && lam.reason >= WIRE_REFUSED)
        h->st.refused++; /* a refusal notice, not a lambda: the group keeps none */
    else if (m.kind == WIRE_LAMBDA)
        h->st.lambdas_recv++;
    else
        h->st.budgets_recv++;
    pthread_mutex_unlock(&h->mu);
    if (ok && m.kind == WIRE_LAMBDA && lam.reason < WIRE_REFUSED) {
        groups_set_lambda(h, m.group, m.group_len, lam.lambda);
    } else if (ok && m.kind == WIRE_BUDGET) {
        wire_budget b;
        wire_decode_budget(m.body, &b);
        groups_set_budget(h, m.group, m.group_len, b.values, b.every);
    }
}

static void drain_incoming(htga *h)
{
    for (;;) {
        zmq_msg_t frames[3];
        size_t n;
        int more;
        zmq_msg_init(&frames[0]);
        if (zmq_msg_recv(&frames[0], owned(h, h->sock), ZMQ_DONTWAIT) < 0) {
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

/* Hands one SAMPLES message to ZeroMQ, lending b. Returns 0 when sent, -1
 * when ZeroMQ has no room (b is back with the caller), -2 when it failed
 * otherwise (b went back to the pool). */
static int send_samples(htga *h, const wire_msg *m, struct qbuf *b)
{
    unsigned char hdr[WIRE_HEADER_MAX];
    size_t len = wire_encode_header(m, hdr, sizeof hdr);
    zmq_msg_t body;

    if (zmq_msg_init_data(&body, b->data, (size_t)m->count * 4, queue_release, b) != 0) {
        queue_release(NULL, b);
        return -2;
    }
    /* once the first frame is in, ZeroMQ takes the rest of the message */
    if (zmq_send(owned(h, h->sock), hdr, len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        b->requeue = 1;
        zmq_msg_close(&body); /* runs queue_release() now: the bytes are no longer lent */
        b->requeue = 0;
        return -1;
    }
    if (zmq_msg_send(&body, h->sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&body);
        return -2;
    }
    return 0;
}

static void sent_samples(htga *h, uint32_t count)
{
    h->next_seq++;
    h->st.msgs_sent++;
    h->st.samples_sent += count;
    h->st.bytes_sent += (uint64_t)count * 4;
    h->conn_msgs++;
    h->conn_values += count;
}

static void sent_barrier(htga *h, struct barrier *b)
{
    b->state = B_SENT;
    b->ack.msgs_sent = h->conn_msgs;
    b->ack.values_sent = h->conn_values;
    b->ack.connection = h->st.connections;
    b->pnext = h->pending;
    h->pending = b;
    h->st.barriers_sent++;
}

/* Hands queued entries to ZeroMQ, in order, while it takes them. */
static enum pump_rc pump(htga *h)
{
    for (;;) {
        unsigned char hdr[WIRE_HEADER_MAX];
        wire_msg m = {.run = h->run, .run_len = h->run_len};
        struct qent *e;
        struct qbuf *b = NULL;
        struct barrier *bar = NULL;
        int rc;

        pthread_mutex_lock(&h->mu);
        e = h->q_head;
        if (!e || !h->online) {
            pthread_mutex_unlock(&h->mu);
            return PUMP_IDLE;
        }
        if (e->kind == QE_SAMPLES && h->lent >= queue_inflight_cap(h)) {
            h->inflight_wait = 1;
            pthread_mutex_unlock(&h->mu);
            return PUMP_BLOCKED_MEM;
        }
        queue_unlink(h, e);
        m.seq = h->next_seq;
        m.dropped = h->st.drops_queue + h->st.drops_offline;
        if (e->kind == QE_SAMPLES) {
            b = (struct qbuf *)e;
            queue_lend(h, b);
            h->handing++;
            m.kind = WIRE_SAMPLES;
            m.rank = b->rank;
            m.step = b->step;
            m.count = b->count;
            m.cluster = b->cluster;
            m.group = b->g->name;
            m.group_len = b->g->len;
        } else {
            bar = (struct barrier *)e;
            bar->state = B_SENDING;
            m.kind = WIRE_BARRIER;
            m.rank = h->rank;
            m.step = (int64_t)bar->token;
            m.cluster = bar->flags;
        }
        pthread_mutex_unlock(&h->mu);

        if (b) {
            rc = send_samples(h, &m, b);
        } else {
            size_t len = wire_encode_header(&m, hdr, sizeof hdr);
            rc = zmq_send(owned(h, h->sock), hdr, len, ZMQ_DONTWAIT) < 0 ? -1 : 0;
        }

        pthread_mutex_lock(&h->mu);
        if (b)
            h->handing--;
        if (rc == -1) {
            queue_push_front(h, e);
            if (bar) {
                bar->state = B_QUEUED;
                pthread_cond_broadcast(&h->cv);
            }
            pthread_mutex_unlock(&h->mu);
            return PUMP_BLOCKED_OUT;
        }
        if (rc == -2)
            count_drop(h, 0);
        else if (b)
            sent_samples(h, m.count);
        else
            sent_barrier(h, bar);
        if (bar || !h->q_head)
            pthread_cond_broadcast(&h->cv); /* barrier and htga_flush() waiters */
        pthread_mutex_unlock(&h->mu);
    }
}

/* Milliseconds poll() may sleep: until the next HELLO. */
static int poll_timeout(htga *h)
{
    int64_t t = h->next_hello_ms - htga__now_ms();
    return t < 0 ? 0 : t > 60000 ? 60000 : (int)t;
}

static void hello_if_due(htga *h)
{
    int online;
    if (htga__now_ms() < h->next_hello_ms)
        return;
    pthread_mutex_lock(&h->mu);
    online = h->online;
    h->next_hello_ms = htga__now_ms() + h->hello_ms;
    pthread_mutex_unlock(&h->mu);
    if (online)
        send_hello(h);
}

/* htga_set_str() gave new CURVE keys: the connection is made again with
 * them (the I/O thread owns the socket). */
static void curve_reconnect(htga *h)
{
    int again;

    pthread_mutex_lock(&h->mu);
    again = h->curve_reconnect;
    pthread_mutex_unlock(&h->mu);
    if (!again)
        return;
    zmq_disconnect(owned(h, h->sock), h->endpoint);
    if (curve_apply(h, h->sock) == 0)
        zmq_connect(h->sock, h->endpoint);
}

/* Works until nothing is left to do without waiting (see DESIGN). */
static void service(htga *h)
{
    for (;;) {
        enum pump_rc pr;
        int ev, more;

        curve_reconnect(h);
        drain_monitor(h);
        if (events(h, h->sock) & ZMQ_POLLIN)
            drain_incoming(h);
        pr = pump(h);
        hello_if_due(h);
        ev = events(h, h->sock);
        if ((ev & ZMQ_POLLIN) || (events(h, h->mon) & ZMQ_POLLIN))
            continue;
        if (pr == PUMP_BLOCKED_OUT && (ev & ZMQ_POLLOUT))
            continue;
        pthread_mutex_lock(&h->mu);
        more = pr == PUMP_IDLE && h->online && h->q_head;
        if (pr == PUMP_BLOCKED_MEM && h->lent < queue_inflight_cap(h))
            more = 1; /* given back while we decided */
        if (!more)
            h->io_waiting = pr == PUMP_IDLE && h->online;
        pthread_mutex_unlock(&h->mu);
        if (!more)
            return;
    }
}

/* At destroy: up to deadline_ms, what is queued may still leave. */
static void final_pump(htga *h, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - htga__now_ms();
        struct pollfd p[2] = {{.fd = h->sock_fd, .events = POLLIN},
                              {.fd = h->mon_fd, .events = POLLIN}};
        int busy;
        drain_monitor(h);
        if (pump(h) == PUMP_IDLE || left <= 0)
            break;
        events(h, h->sock);
        pthread_mutex_lock(&h->mu);
        busy = h->q_head != NULL;
        pthread_mutex_unlock(&h->mu);
        if (!busy)
            break;
        poll(p, 2, (int)(left < 5 ? left : 5));
    }
    pthread_mutex_lock(&h->mu);
    queue_drop_all(h);
    pthread_mutex_unlock(&h->mu);
}

void *io_main(void *arg)
{
    htga *h = arg;
    int rc;
    int64_t t_stop;

    h->io_tid = pthread_self();
    rc = io_open(h);

    pthread_mutex_lock(&h->mu);
    h->started = rc == 0 ? 1 : -1;
    h->next_hello_ms = htga__now_ms() + h->hello_ms;
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
        service(h);
        if (atomic_load(&h->stop))
            break;
        if (poll(p, 3, poll_timeout(h)) < 0 && errno != EINTR) {
            struct timespec ts = {0, 10 * 1000000L}; /* ENOMEM: retry shortly */
            nanosleep(&ts, NULL);
            continue;
        }
        if (p[2].revents & POLLIN) {
            uint64_t v;
            ssize_t r = read(h->efd, &v, sizeof v);
            (void)r;
        }
    }
    t_stop = htga__now_ms();
    final_pump(h, t_stop + DESTROY_BUDGET_MS / 2);
    io_close(h, (int)(DESTROY_BUDGET_MS - (htga__now_ms() - t_stop)));
    return NULL;
}
