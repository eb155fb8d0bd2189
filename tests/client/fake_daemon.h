/*
 * fake_daemon.h - a minimal htgad stand-in for client and CLI tests: a real
 * ZeroMQ ROUTER bound on a free loopback port that decodes what clients send
 * and pushes LAMBDA messages back. Header-only (static functions) so each
 * test program carries its own copy.
 */
#ifndef HTGA_FAKE_DAEMON_H
#define HTGA_FAKE_DAEMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "wire.h"

typedef struct fake_daemon {
    void *ctx;
    void *router;
    char endpoint[256];
} fake_daemon;

/* One received message: the identity and copies of the frames, decoded. */
typedef struct fake_msg {
    unsigned char id[256];
    size_t id_len;
    unsigned char hdr[WIRE_HEADER_MAX + 64];
    size_t hdr_len;
    unsigned char *body;
    size_t body_len;
    size_t nframes;
    wire_err rc;
    wire_msg m;
} fake_msg;

static inline long fake_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* A time bound in ms, scaled by $HTGA_TEST_TIME_SCALE (e.g. 20 under
 * valgrind) so that the bounds stay tight on a normal run. */
static inline long slack(long ms)
{
    const char *s = getenv("HTGA_TEST_TIME_SCALE");
    long k = s ? atol(s) : 1;
    return ms * (k > 0 ? k : 1);
}

static inline void fake_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Like fake_start(), but a daemon that stops taking input when it is not
 * read: ZeroMQ holds at most `hwm` messages for it and the kernel a small
 * socket buffer (0: ZeroMQ's defaults, 1000 messages). */
static inline int fake_start_hwm(fake_daemon *f, const char *bind, int hwm)
{
    int zero = 0, rcvbuf = 65536;
    size_t len = sizeof f->endpoint;
    memset(f, 0, sizeof *f);
    f->ctx = zmq_ctx_new();
    f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
    zmq_setsockopt(f->router, ZMQ_LINGER, &zero, sizeof zero);
    if (hwm > 0) {
        zmq_setsockopt(f->router, ZMQ_RCVHWM, &hwm, sizeof hwm);
        zmq_setsockopt(f->router, ZMQ_RCVBUF, &rcvbuf, sizeof rcvbuf);
    }
    if (zmq_bind(f->router, bind) != 0)
        return -1;
    zmq_getsockopt(f->router, ZMQ_LAST_ENDPOINT, f->endpoint, &len);
    return 0;
}

/* Binds a ROUTER on `bind` ("tcp://127.0.0.1:*" for a free port, or an
 * exact endpoint to restart on a known port). Returns 0 or -1. */
static inline int fake_start(fake_daemon *f, const char *bind)
{
    return fake_start_hwm(f, bind, 0);
}

static inline void fake_stop(fake_daemon *f)
{
    if (f->router)
        zmq_close(f->router);
    if (f->ctx)
        zmq_ctx_term(f->ctx);
    f->router = f->ctx = NULL;
}

/* A free loopback endpoint nobody listens on (bound, then released). */
static inline void fake_free_endpoint(char *out, size_t size)
{
    fake_daemon f;
    fake_start(&f, "tcp://127.0.0.1:*");
    snprintf(out, size, "%s", f.endpoint);
    fake_stop(&f);
}

static inline void fake_msg_free(fake_msg *m)
{
    free(m->body);
    m->body = NULL;
}

/* Receives one message within timeout_ms; returns 0, or -1 on timeout.
 * m->rc is the decoder's verdict (direction: to the daemon). */
static inline int fake_recv(fake_daemon *f, fake_msg *m, int timeout_ms)
{
    zmq_pollitem_t it = {.socket = f->router, .events = ZMQ_POLLIN};
    const void *frames[3];
    size_t lens[3];
    int more = 1, idx = 0;

    memset(m, 0, sizeof *m);
    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return -1;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, f->router, 0) < 0)
            return -1;
        size_t sz = zmq_msg_size(&part);
        if (idx == 0) {
            m->id_len = sz < sizeof m->id ? sz : sizeof m->id;
            memcpy(m->id, zmq_msg_data(&part), m->id_len);
        } else if (idx == 1) {
            m->hdr_len = sz < sizeof m->hdr ? sz : sizeof m->hdr;
            memcpy(m->hdr, zmq_msg_data(&part), m->hdr_len);
        } else if (idx == 2) {
            m->body = malloc(sz ? sz : 1);
            memcpy(m->body, zmq_msg_data(&part), sz);
            m->body_len = sz;
        }
        idx++;
        more = zmq_msg_more(&part);
        zmq_msg_close(&part);
    }
    m->nframes = (size_t)idx - 1;
    frames[0] = m->hdr;
    lens[0] = m->hdr_len;
    frames[1] = m->body;
    lens[1] = m->body_len;
    frames[2] = NULL;
    lens[2] = 0;
    m->rc = wire_decode_dir(frames, lens, m->nframes, WIRE_DIR_TO_DAEMON, &m->m, NULL);
    return 0;
}

/* Receives until a message of `kind` arrives (others are discarded). */
static inline int fake_recv_kind(fake_daemon *f, fake_msg *m, int kind, int timeout_ms)
{
    long end = fake_now_ms() + timeout_ms;
    while (fake_now_ms() < end) {
        if (fake_recv(f, m, (int)(end - fake_now_ms())) != 0)
            return -1;
        if (m->rc == WIRE_OK && m->m.kind == kind)
            return 0;
        fake_msg_free(m);
    }
    return -1;
}

/* Sends raw frames to identity id. */
static inline void fake_send_raw(fake_daemon *f, const void *id, size_t id_len,
                                 const void *const *frames, const size_t *lens, size_t n)
{
    zmq_send(f->router, id, id_len, ZMQ_SNDMORE);
    for (size_t i = 0; i < n; i++)
        zmq_send(f->router, frames[i], lens[i], i + 1 < n ? ZMQ_SNDMORE : 0);
}

static inline void fake_send_lambda(fake_daemon *f, const void *id, size_t id_len, const char *run,
                                    const char *group, double lambda)
{
    unsigned char hdr[WIRE_HEADER_MAX], body[WIRE_LAMBDA_LEN];
    wire_msg m = {.kind = WIRE_LAMBDA,
                  .count = 1,
                  .run = run,
                  .run_len = strlen(run),
                  .group = group,
                  .group_len = strlen(group)};
    wire_lambda lam = {.lambda = lambda, .alpha = 1.5, .block = 1, .step = 10};
    size_t len = wire_encode_header(&m, hdr, sizeof hdr);
    const void *frames[2] = {hdr, body};
    size_t lens[2] = {len, WIRE_LAMBDA_LEN};
    wire_encode_lambda(&lam, body);
    fake_send_raw(f, id, id_len, frames, lens, 2);
}

/* A BUDGET for `group` of run `run`, or for every group of it (group NULL). */
static inline void fake_send_budget(fake_daemon *f, const void *id, size_t id_len, const char *run,
                                    const char *group, uint32_t values, uint32_t every)
{
    unsigned char hdr[WIRE_HEADER_MAX], body[WIRE_BUDGET_LEN];
    wire_msg m = {.kind = WIRE_BUDGET,
                  .count = 1,
                  .run = run,
                  .run_len = strlen(run),
                  .group = group,
                  .group_len = group ? strlen(group) : 0};
    wire_budget b = {.values = values, .every = every, .ranks = 1};
    size_t len = wire_encode_header(&m, hdr, sizeof hdr);
    const void *frames[2] = {hdr, body};
    size_t lens[2] = {len, WIRE_BUDGET_LEN};
    wire_encode_budget(&b, body);
    fake_send_raw(f, id, id_len, frames, lens, 2);
}

/* The ACK of the barrier with token `token` (its header's step). */
static inline void fake_send_ack(fake_daemon *f, const void *id, size_t id_len, const char *run,
                                 int64_t token, uint64_t seq, const wire_ack *ack)
{
    unsigned char hdr[WIRE_HEADER_MAX], body[WIRE_ACK_LEN];
    wire_msg m = {.kind = WIRE_ACK,
                  .step = token,
                  .seq = seq,
                  .count = 1,
                  .run = run,
                  .run_len = strlen(run)};
    size_t len = wire_encode_header(&m, hdr, sizeof hdr);
    const void *frames[2] = {hdr, body};
    size_t lens[2] = {len, WIRE_ACK_LEN};
    wire_encode_ack(ack, body);
    fake_send_raw(f, id, id_len, frames, lens, 2);
}

/* Sends ack as the answer to the BARRIER b, to its sender. */
static inline void fake_answer_barrier(fake_daemon *f, const fake_msg *b, const wire_ack *ack)
{
    char run[WIRE_NAME_MAX + 1];
    memcpy(run, b->m.run, b->m.run_len);
    run[b->m.run_len] = 0;
    fake_send_ack(f, b->id, b->id_len, run, b->m.step, b->m.seq, ack);
}

/* Answers barriers as htgad would for a connection that lost nothing:
 * receives until `barriers` BARRIERs came, counting SAMPLES (and their
 * values) from the identity that sent them, and ACKs each with those
 * counts. Returns the SAMPLES received, or -1 on timeout. */
static inline long fake_serve_barriers(fake_daemon *f, int barriers, int timeout_ms)
{
    long end = fake_now_ms() + timeout_ms, msgs = 0, values = 0;
    while (barriers > 0) {
        fake_msg m;
        long left = end - fake_now_ms();
        if (left <= 0 || fake_recv(f, &m, (int)left) != 0)
            return -1;
        if (m.rc == WIRE_OK && m.m.kind == WIRE_SAMPLES) {
            msgs++;
            values += m.m.count;
        } else if (m.rc == WIRE_OK && m.m.kind == WIRE_BARRIER) {
            wire_ack a = {.msgs = (uint64_t)msgs, .values = (uint64_t)values};
            fake_answer_barrier(f, &m, &a);
            barriers--;
        }
        fake_msg_free(&m);
    }
    return msgs;
}

#endif /* HTGA_FAKE_DAEMON_H */
