/*
 * auth.c - the ZAP handler and handshake counter (see auth.h).
 */
#include "auth.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "log.h"
#include "stats.h"

#define AUTH_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define AUTH_MON_ENDPOINT "inproc://htgad-auth-monitor"
#define AUTH_DOMAIN       "htga"
#define AUTH_KEYS_MAX     65536
#define AUTH_POLL_MS      100

struct auth {
    void *ctx;
    char secret[41], public_[41];
    int any;             /* --curve-clients any: every key admitted */
    uint8_t (*keys)[32]; /* the allow-list, binary */
    size_t nkeys;
    void *zap; /* REP, bound before start (the thread owns it after) */
    pthread_t thread;
    int started;
    atomic_int stop;
};

/* One allow-list line: "KEY" or "public KEY"; blank and '#' lines skipped.
 * Returns 1 with key filled, 0 for nothing, -1 malformed. */
static int parse_line(const char *line, uint8_t key[32])
{
    char a[64] = "", b[64] = "";
    int n = sscanf(line, "%63s %63s", a, b);
    const char *z = n == 2 && strcmp(a, "public") == 0 ? b : n == 1 ? a : NULL;

    if (n <= 0 || a[0] == '#')
        return 0;
    if (z == NULL || strlen(z) != 40 || zmq_z85_decode(key, z) == NULL)
        return -1;
    return 1;
}

static int load_clients(auth *a, const char *path)
{
    char line[512];
    unsigned lineno = 0;
    struct stat sb;
    FILE *f;

    if (strcmp(path, "any") == 0) {
        a->any = 1;
        return 0;
    }
    f = fopen(path, "r");
    if (f == NULL || fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        LOG(LOG_ERROR, "--curve-clients %s: %s", path,
            f == NULL ? strerror(errno) : "not a regular file");
        if (f != NULL)
            fclose(f);
        return -1;
    }
    a->keys = malloc(AUTH_KEYS_MAX * sizeof(*a->keys));
    while (a->keys != NULL && fgets(line, sizeof(line), f) != NULL) {
        int rc = parse_line(line, a->keys[a->nkeys]);
        lineno++;
        if (rc < 0 || (rc > 0 && a->nkeys + 1 >= AUTH_KEYS_MAX)) {
            LOG(LOG_ERROR, "--curve-clients %s:%u: %s", path, lineno,
                rc < 0 ? "expected a public key (40 Z85 characters, or \"public KEY\")"
                       : "too many keys");
            fclose(f);
            return -1;
        }
        a->nkeys += (size_t)rc;
    }
    fclose(f);
    if (a->keys == NULL || a->nkeys == 0) {
        LOG(LOG_ERROR, "--curve-clients %s: no client keys in it (use any to admit every key)",
            path);
        return -1;
    }
    return 0;
}

static int allowed(const auth *a, const uint8_t *key, size_t len)
{
    if (len != 32)
        return 0;
    if (a->any)
        return 1;
    for (size_t i = 0; i < a->nkeys; i++)
        if (memcmp(a->keys[i], key, 32) == 0)
            return 1;
    return 0;
}

/* Answers one ZAP request (RFC 27): version, request id, domain, address,
 * identity, mechanism, then the client's 32-byte public key. */
static void answer_zap(auth *a)
{
    zmq_msg_t f[8];
    size_t n = 0;
    int more = 1;
    char user[41] = "";
    const char *status = "400", *text = "key not allowed";

    while (more && n < 8) {
        zmq_msg_init(&f[n]);
        if (zmq_msg_recv(&f[n], a->zap, 0) < 0) {
            zmq_msg_close(&f[n]);
            break;
        }
        more = zmq_msg_more(&f[n]);
        n++;
    }
    while (more) { /* malformed: too many frames, read and drop the rest */
        zmq_msg_t x;
        zmq_msg_init(&x);
        more = zmq_msg_recv(&x, a->zap, 0) >= 0 && zmq_msg_more(&x);
        zmq_msg_close(&x);
    }
    if (n >= 7 && zmq_msg_size(&f[5]) == 5 && memcmp(zmq_msg_data(&f[5]), "CURVE", 5) == 0 &&
        allowed(a, zmq_msg_data(&f[6]), zmq_msg_size(&f[6]))) {
        zmq_z85_encode(user, zmq_msg_data(&f[6]), 32);
        status = "200";
        text = "OK";
    }
    if (n >= 2) {
        zmq_send(a->zap, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(a->zap, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), ZMQ_SNDMORE);
        zmq_send(a->zap, status, 3, ZMQ_SNDMORE);
        zmq_send(a->zap, text, strlen(text), ZMQ_SNDMORE);
        zmq_send(a->zap, user, strlen(user), ZMQ_SNDMORE);
        zmq_send(a->zap, "", 0, 0);
    }
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
}

/* Reads one monitor event (two frames: event + value, then the address). */
static void count_event(void *mon)
{
    zmq_msg_t f;
    uint16_t event = 0;
    int more;

    zmq_msg_init(&f);
    if (zmq_msg_recv(&f, mon, 0) < 0) {
        zmq_msg_close(&f);
        return;
    }
    if (zmq_msg_size(&f) >= 2)
        memcpy(&event, zmq_msg_data(&f), 2);
    more = zmq_msg_more(&f);
    zmq_msg_close(&f);
    while (more) {
        zmq_msg_init(&f);
        more = zmq_msg_recv(&f, mon, 0) >= 0 && zmq_msg_more(&f);
        zmq_msg_close(&f);
    }
    if (event & (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH))
        STAT_INC(auth_refused);
}

static void *auth_main(void *arg)
{
    auth *a = arg;
    int zero = 0;
    void *mon = zmq_socket(a->ctx, ZMQ_PAIR);

    pthread_setname_np(pthread_self(), "htgad-auth");
    if (mon != NULL) {
        zmq_setsockopt(mon, ZMQ_LINGER, &zero, sizeof(zero));
        if (zmq_connect(mon, AUTH_MON_ENDPOINT) != 0) {
            zmq_close(mon);
            mon = NULL;
        }
    }
    while (!atomic_load(&a->stop)) {
        zmq_pollitem_t items[2] = {{a->zap, 0, ZMQ_POLLIN, 0}, {mon, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, mon ? 2 : 1, AUTH_POLL_MS) < 0 && errno != EINTR)
            break;
        if (items[0].revents & ZMQ_POLLIN)
            answer_zap(a);
        if (mon && (items[1].revents & ZMQ_POLLIN))
            count_event(mon);
    }
    if (mon != NULL)
        zmq_close(mon);
    zmq_close(a->zap);
    a->zap = NULL;
    return NULL;
}

/* Whether --listen names a loopback address (or a local ipc:// path). */
static int loopback(const char *listen)
{
    return strncmp(listen, "ipc://", 6) == 0 || strncmp(listen, "tcp://127.", 10) == 0 ||
           strncmp(listen, "tcp://localhost:", 16) == 0 || strncmp(listen, "tcp://[::1]:", 12) == 0;
}

static void auth_free(auth *a)
{
    if (a->zap != NULL)
        zmq_close(a->zap);
    free(a->keys);
    free(a);
}

int auth_start(void *ctx, const htgad_config *cfg, auth **out)
{
    int zero = 0;
    char derived[41];
    auth *a;

    *out = NULL;
    if (cfg->curve_secret[0] == '\0') {
        if (!loopback(cfg->listen))
            LOG(LOG_WARN,
                "%s is not a loopback address and CURVE is off: anyone who reaches it can "
                "write any run (see docs/security.md, --curve-secret-key)",
                cfg->listen);
        if (cfg->curve_clients[0] != '\0' || cfg->curve_public[0] != '\0') {
            LOG(LOG_ERROR, "--curve-clients and --curve-public-key need --curve-secret-key");
            return -1;
        }
        return 0;
    }
    if (!zmq_has("curve")) {
        LOG(LOG_ERROR, "--curve-secret-key: this libzmq was built without CURVE");
        return -1;
    }
    if (zmq_curve_public(derived, cfg->curve_secret) != 0) {
        LOG(LOG_ERROR, "--curve-secret-key: not a valid key");
        return -1;
    }
    if (cfg->curve_public[0] != '\0' && strcmp(cfg->curve_public, derived) != 0) {
        LOG(LOG_ERROR,
            "--curve-public-key is not the public key of --curve-secret-key (that is "
            "%s)",
            derived);
        return -1;
    }
    if (cfg->curve_clients[0] == '\0') {
        LOG(LOG_ERROR, "--curve-secret-key needs --curve-clients FILE (client public keys "
                       "allowed in) or --curve-clients any");
        return -1;
    }
    a = calloc(1, sizeof(*a));
    if (a == NULL)
        return -1;
    a->ctx = ctx;
    memcpy(a->secret, cfg->curve_secret, 41);
    memcpy(a->public_, derived, 41);
    if (load_clients(a, cfg->curve_clients) < 0)
        goto out_free;
    a->zap = zmq_socket(ctx, ZMQ_REP);
    if (a->zap == NULL || zmq_setsockopt(a->zap, ZMQ_LINGER, &zero, sizeof(zero)) != 0 ||
        zmq_bind(a->zap, AUTH_ZAP_ENDPOINT) != 0) {
        LOG(LOG_ERROR, "CURVE: cannot bind %s: %s", AUTH_ZAP_ENDPOINT, zmq_strerror(errno));
        goto out_free;
    }
    if (pthread_create(&a->thread, NULL, auth_main, a) != 0)
        goto out_free;
    a->started = 1;
    LOG(LOG_INFO, "CURVE on: server key %s, %s", a->public_,
        a->any ? "any client key admitted" : "clients from the allow-list only");
    *out = a;
    return 0;

out_free:
    auth_free(a);
    return -1;
}

int auth_router(const auth *a, void *router)
{
    int one = 1;

    if (a == NULL)
        return 0;
    if (zmq_setsockopt(router, ZMQ_CURVE_SERVER, &one, sizeof(one)) != 0 ||
        zmq_setsockopt(router, ZMQ_CURVE_SECRETKEY, a->secret, 40) != 0 ||
        zmq_setsockopt(router, ZMQ_ZAP_DOMAIN, AUTH_DOMAIN, strlen(AUTH_DOMAIN)) != 0)
        return -1;
    return zmq_socket_monitor(router, AUTH_MON_ENDPOINT,
                              ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                                  ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                  ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
}

void auth_stop(auth **ap)
{
    auth *a;

    if (ap == NULL || *ap == NULL)
        return;
    a = *ap;
    atomic_store(&a->stop, 1);
    if (a->started)
        pthread_join(a->thread, NULL);
    auth_free(a);
    *ap = NULL;
}
