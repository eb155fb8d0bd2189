/*
 * htga.c - libhtga: the public calls and options.
 *
 * DESIGN: internal.h describes the handle's parts. A send runs in the
 * trainer's thread and never touches the socket: it looks up the group and
 * its budget (lam_mu), reserves a buffer under the queue's byte bound (mu,
 * shedding by longest-queue-drop when full), draws the sample without any
 * lock, queues it (mu) and wakes the I/O thread only when that thread said
 * it may sleep. A barrier is a marker queued like a message; its caller
 * waits on the handle's condition variable for the I/O thread to send it
 * and for the daemon's ACK. Counters live under mu, so a snapshot adds up.
 */
#include "htga.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "sample.h"

int64_t htga__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void htga__wake(htga *h)
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

static struct timespec deadline_in(int timeout_ms)
{
    struct timespec dl;
    if (timeout_ms < 0)
        timeout_ms = 0;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    return dl;
}

/* ---------- version, errors ---------- */

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
    case HTGA_SKIPPED:
        return "not sent: the daemon's budget skips this step of the group";
    case HTGA_EINVAL:
        return "invalid argument";
    case HTGA_ENOMEM:
        return "out of memory";
    case HTGA_EZMQ:
        return "ZeroMQ error (bad endpoint or context failure)";
    case HTGA_EDROPPED:
        return "message dropped (no room in the client's queue)";
    case HTGA_ENOTFOUND:
        return "nothing received for this group yet";
    case HTGA_ETIMEDOUT:
        return "timed out (messages still queued, or no answer from the daemon)";
    case HTGA_ENOTSUP:
        return "unknown option";
    case HTGA_EBUSY:
        return "option cannot change now";
    case HTGA_ERESET:
        return "the connection to the daemon was lost before the answer came";
    default:
        return "unknown error code";
    }
}

/* ---------- create, destroy ---------- */

/* The I/O thread is gone (or never was): nothing is lent to ZeroMQ. */
static void free_handle(htga *h)
{
    queue_free_all(h);
    groups_free(h);
    free(h->endpoint);
    if (h->efd >= 0)
        close(h->efd);
    pthread_mutex_destroy(&h->mu);
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
    pthread_mutex_init(&h->mu, NULL);
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

static void set_defaults(htga *h)
{
    h->max_samples = DEFAULT_MAX_SAMPLES;
    h->sample_run = DEFAULT_SAMPLE_RUN;
    h->queue_bytes = DEFAULT_QUEUE_BYTES;
    h->grace_ms = DEFAULT_GRACE_MS;
    h->hello_ms = DEFAULT_HELLO_MS;
    h->io_waiting = 1;
    atomic_store(&h->follow_budget, 1);
    h->seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)h ^ ((uint64_t)htga__now_ms() << 20);
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
    if (init_sync(h) != 0) {
        free(h);
        return HTGA_ENOMEM;
    }
    memcpy(h->run, run, run_len);
    h->run_len = run_len;
    set_defaults(h);
    h->rank = rank;
    h->endpoint = strdup(endpoint);
    if (curve_from_env(h) != 0) {
        rc = HTGA_EINVAL;
        goto fail;
    }
    h->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!h->endpoint || h->efd < 0 || start_io_thread(h) != 0)
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
    htga__wake(h);
    pthread_join(h->thread, NULL);
    free_handle(h);
}

/* ---------- options ---------- */

static int in_range(int64_t v, int64_t lo, int64_t hi)
{
    return v >= lo && v <= hi;
}

/* mu held. */
static int set_locked(htga *h, htga_option opt, int64_t value)
{
    switch (opt) {
    case HTGA_OPT_MAX_SAMPLES:
        if (!in_range(value, 0, WIRE_COUNT_MAX))
            return HTGA_EINVAL;
        h->max_samples = (size_t)value;
        return HTGA_OK;
    case HTGA_OPT_SAMPLE_CLUSTER:
        if (!in_range(value, 1, MAX_SAMPLE_RUN))
            return HTGA_EINVAL;
        h->sample_run = (size_t)value;
        return HTGA_OK;
    case HTGA_OPT_RANK:
        if (!in_range(value, 0, UINT32_MAX))
            return HTGA_EINVAL;
        h->rank = (uint32_t)value;
        return HTGA_OK;
    case HTGA_OPT_SEED:
        h->seed = (uint64_t)value;
        return HTGA_OK;
    case HTGA_OPT_QUEUE_DEPTH:
        if (!in_range(value, 0, MAX_QUEUE_DEPTH))
            return HTGA_EINVAL;
        h->queue_depth = (size_t)value;
        return HTGA_OK;
    case HTGA_OPT_QUEUE_BYTES:
        if (!in_range(value, (int64_t)MIN_QUEUE_BYTES, (int64_t)MAX_QUEUE_BYTES))
            return HTGA_EINVAL;
        h->queue_bytes = (uint64_t)value;
        return HTGA_OK;
    case HTGA_OPT_CONNECT_GRACE_MS:
        if (!in_range(value, 0, 60000))
            return HTGA_EINVAL;
        h->grace_ms = value;
        return HTGA_OK;
    case HTGA_OPT_HELLO_INTERVAL_MS:
        if (!in_range(value, 10, 60000))
            return HTGA_EINVAL;
        h->hello_ms = value;
        return HTGA_OK;
    case HTGA_OPT_FOLLOW_BUDGET:
        if (!in_range(value, 0, 1))
            return HTGA_EINVAL;
        atomic_store(&h->follow_budget, (int)value);
        return HTGA_OK;
    default:
        return HTGA_ENOTSUP;
    }
}

int htga_set_int(htga *h, htga_option opt, int64_t value)
{
    int rc;
    if (!h)
        return HTGA_EINVAL;
    pthread_mutex_lock(&h->mu);
    rc = set_locked(h, opt, value);
    pthread_mutex_unlock(&h->mu);
    if (rc == HTGA_OK && opt == HTGA_OPT_HELLO_INTERVAL_MS)
        htga__wake(h);
    return rc;
}

/* ---------- sending ---------- */

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

/* What a send learnt from the group table: its group, budget and turn. */
struct turn {
    struct group *g;
    uint32_t values; /* budget's values per send, 0: none */
    int skip;
};

static struct turn take_turn(htga *h, const char *group, size_t group_len)
{
    struct turn t = {0};
    pthread_mutex_lock(&h->lam_mu);
    t.g = groups_get(h, group, group_len);
    if (t.g && atomic_load(&h->follow_budget)) {
        uint32_t every = 1;
        if (t.g->has_budget) {
            t.values = t.g->b_values;
            every = t.g->b_every;
        } else if (h->has_run_budget) {
            t.values = h->run_values;
            every = h->run_every;
        }
        t.skip = every > 1 && t.g->offered % every != 0;
        t.g->offered++;
    }
    pthread_mutex_unlock(&h->lam_mu);
    return t;
}

/* What a send decided under mu. */
struct plan {
    struct qbuf *b; /* NULL: bytes reserved, allocate */
    size_t m, run;
    uint32_t rank;
    smp_rng rng;
};

/* Counts the offer and reserves room for it (mu taken inside). Returns
 * HTGA_OK with *p filled, or the code of a skipped or dropped message. */
static int plan_send(htga *h, const struct turn *t, size_t n, struct plan *p)
{
    int rc = HTGA_OK;
    pthread_mutex_lock(&h->mu);
    h->st.offered++;
    if (!t->g) {
        h->st.drops_queue++; /* no memory for the group's entry */
        h->next_seq++;
        rc = HTGA_ENOMEM;
    } else if (t->skip) {
        h->st.skipped_budget++;
        rc = HTGA_SKIPPED;
    } else {
        p->m = h->max_samples && h->max_samples < WIRE_COUNT_MAX ? h->max_samples : WIRE_COUNT_MAX;
        if (t->values && t->values < p->m)
            p->m = t->values;
        if (p->m > n)
            p->m = n;
        p->run = h->sample_run;
        p->rank = h->rank;
        smp_seed(&p->rng, h->seed ^ (h->draws++ * 0x9E3779B97F4A7C15ull));
        if (queue_reserve(h, p->m, &p->b) != 0) {
            count_drop(h, 0);
            rc = HTGA_EDROPPED;
        }
    }
    pthread_mutex_unlock(&h->mu);
    return rc;
}

static int send_one(htga *h, const char *group, size_t group_len, int64_t step, const float *grad,
                    size_t n)
{
    struct turn t = take_turn(h, group, group_len);
    struct plan p;
    struct qbuf *b;
    int rc = plan_send(h, &t, n, &p), need_wake;

    if (rc != HTGA_OK)
        return rc;
    b = p.b;
    if (!b) {
        b = aligned_alloc(64, qbuf_bytes(p.m));
        if (!b) {
            pthread_mutex_lock(&h->mu);
            queue_unreserve(h, p.m);
            h->st.drops_queue++;
            h->next_seq++;
            pthread_mutex_unlock(&h->mu);
            return HTGA_ENOMEM;
        }
        b->cap = p.m;
        b->h = h;
    }
    b->e.kind = QE_SAMPLES;
    b->g = t.g;
    b->step = step;
    b->rank = p.rank;
    b->requeue = 0;
    b->count = (uint32_t)smp_draw_runs(grad, n, p.m, p.run, &p.rng, b->data);
    to_little_endian(b->data, b->count);
    /* the daemon widens its interval for runs: tell it the length used */
    b->cluster = n > p.m && p.run > 1 ? (uint32_t)(p.run < b->count ? p.run : b->count) : 0;
    pthread_mutex_lock(&h->mu);
    queue_commit(h, b);
    h->st.sends++;
    need_wake = h->io_waiting;
    h->io_waiting = 0;
    pthread_mutex_unlock(&h->mu);
    if (need_wake)
        htga__wake(h);
    return HTGA_OK;
}

int htga_send(htga *h, const char *group, int64_t step, const float *grad, size_t n)
{
    size_t group_len;
    if (!h || !grad || n == 0 || !name_valid(group, &group_len))
        return HTGA_EINVAL;
    return send_one(h, group, group_len, step, grad, n);
}

int htga_send_many(htga *h, int64_t step, size_t count, const char *const *groups,
                   const float *const *grads, const size_t *ns, int *rcs)
{
    size_t queued = 0, len;

    if (!h || count > INT_MAX || (count > 0 && (!groups || !grads || !ns)))
        return HTGA_EINVAL;
    for (size_t i = 0; i < count; i++)
        if (!grads[i] || ns[i] == 0 || !name_valid(groups[i], &len))
            return HTGA_EINVAL;
    for (size_t i = 0; i < count; i++) {
        int rc =
            send_one(h, groups[i], strnlen(groups[i], WIRE_NAME_MAX + 1), step, grads[i], ns[i]);
        queued += rc == HTGA_OK;
        if (rcs)
            rcs[i] = rc;
    }
    return (int)queued;
}

/* ---------- lambdas, budgets ---------- */

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
    struct group *g = groups_find(h, group, len);
    if (g && g->has_lambda) {
        v = g->lambda;
        rc = HTGA_OK;
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

int htga_group_budget(htga *h, const char *group, uint32_t *values, uint32_t *every)
{
    size_t len;
    uint32_t v = 0, e = 1;
    int rc = HTGA_ENOTFOUND;

    if (!h || !name_valid(group, &len)) {
        rc = HTGA_EINVAL;
    } else {
        pthread_mutex_lock(&h->lam_mu);
        struct group *g = groups_find(h, group, len);
        if (g && g->has_budget) {
            v = g->b_values;
            e = g->b_every;
            rc = HTGA_OK;
        } else if (h->has_run_budget) {
            v = h->run_values;
            e = h->run_every;
            rc = HTGA_OK;
        }
        pthread_mutex_unlock(&h->lam_mu);
    }
    if (values)
        *values = v;
    if (every)
        *every = e;
    return rc;
}

/* ---------- flush, barrier, stats ---------- */

int htga_flush(htga *h, int timeout_ms)
{
    struct timespec dl = deadline_in(timeout_ms);
    int rc = HTGA_OK;

    if (!h)
        return HTGA_EINVAL;
    pthread_mutex_lock(&h->mu);
    while ((h->q_head || h->handing) && rc == HTGA_OK)
        if (pthread_cond_timedwait(&h->cv, &h->mu, &dl) == ETIMEDOUT && (h->q_head || h->handing))
            rc = HTGA_ETIMEDOUT;
    pthread_mutex_unlock(&h->mu);
    return rc;
}

/* A barrier given up at its deadline leaves the queue or the pending list;
 * mu held. */
static void barrier_withdraw(htga *h, struct barrier *b)
{
    while (b->state == B_SENDING) /* the I/O thread holds it for one send */
        pthread_cond_wait(&h->cv, &h->mu);
    if (b->state == B_QUEUED) {
        queue_unlink(h, &b->e);
    } else if (b->state == B_SENT) {
        struct barrier **p = &h->pending;
        while (*p != b)
            p = &(*p)->pnext;
        *p = b->pnext;
    }
}

int htga_barrier(htga *h, unsigned flags, int timeout_ms, htga_ack *out, size_t size)
{
    struct timespec dl = deadline_in(timeout_ms);
    struct barrier b;
    int need_wake, rc;

    if (!h || (flags & ~HTGA_BARRIER_CLOSE))
        return HTGA_EINVAL;
    memset(&b, 0, sizeof b);
    b.e.kind = QE_BARRIER;
    b.flags = flags & HTGA_BARRIER_CLOSE ? WIRE_BARRIER_CLOSE : 0;
    pthread_mutex_lock(&h->mu);
    b.token = ++h->next_token;
    b.state = B_QUEUED;
    queue_push(h, &b.e);
    need_wake = h->io_waiting;
    h->io_waiting = 0;
    pthread_mutex_unlock(&h->mu);
    if (need_wake)
        htga__wake(h);

    pthread_mutex_lock(&h->mu);
    while (b.state != B_DONE && b.state != B_FAILED)
        if (pthread_cond_timedwait(&h->cv, &h->mu, &dl) == ETIMEDOUT)
            break;
    if (b.state == B_DONE || b.state == B_FAILED) {
        rc = b.rc;
    } else {
        barrier_withdraw(h, &b);
        rc = HTGA_ETIMEDOUT;
    }
    pthread_mutex_unlock(&h->mu);
    if (rc != HTGA_OK) {
        htga_ack mine = {.msgs_sent = b.ack.msgs_sent,
                         .values_sent = b.ack.values_sent,
                         .connection = b.ack.connection};
        b.ack = mine;
    }
    if (out)
        memcpy(out, &b.ack, size < sizeof b.ack ? size : sizeof b.ack);
    return rc;
}

int htga_connected(htga *h)
{
    int online = 0;
    if (h) {
        pthread_mutex_lock(&h->mu);
        online = h->online;
        pthread_mutex_unlock(&h->mu);
    }
    return online;
}

int htga_stats_get(htga *h, htga_stats *out, size_t size)
{
    htga_stats copy;
    if (!h || !out)
        return HTGA_EINVAL;
    pthread_mutex_lock(&h->mu);
    copy = h->st;
    copy.queue_msgs = h->queued + h->filling + h->handing;
    copy.queue_bytes = h->mem;
    pthread_mutex_unlock(&h->mu);
    groups_budget_range(h, &copy.budget_values_min, &copy.budget_values_max);
    memcpy(out, &copy, size < sizeof copy ? size : sizeof copy);
    return HTGA_OK;
}
