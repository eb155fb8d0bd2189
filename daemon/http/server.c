/*
 * server: libmicrohttpd setup, limits, routing, bodies, errors and auth.
 *
 * Design: one MHD daemon, a thread per connection by default (or an epoll
 * pool), connection, per-IP, memory and idle-timeout limits. The access
 * handler is called at least twice per request: the first call allocates a
 * small context (the PUT body collector), later calls feed the body (bodies
 * over HTTP_BODY_MAX are discarded and answered 413), the last call routes
 * and answers. MHD's own unescaping is turned off so route.c can split the
 * path before decoding ("a%2Fb" is one run name). Responses are built into
 * malloc'd buffers handed over with MHD_RESPMEM_MUST_FREE. Each MHD thread
 * owns one read-only SQLite connection kept in a pthread key whose
 * destructor closes it, with the statements kept prepared on it, when MHD
 * joins the thread.
 */
#include "internal.h"
#include "static.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <time.h>

/* Request targets longer than this are answered 414; queries with more
 * arguments than HTTP_QUERY_ARGS_MAX are answered 414 too. libmicrohttpd
 * allocates one record per argument from the connection's memory pool and,
 * once that is exhausted, closes the connection without a status. */
#define HTTP_TARGET_MAX     8192
#define HTTP_QUERY_ARGS_MAX 64

#define WATCH_PERIOD_MS   100
#define WATCH_PRESSURE_MS 200

struct conn_ctx {
    hbuf body;
    int too_large;
    int started;       /* the access handler has seen this request */
    int bad_target;    /* 0, or the status the request target earns (400, 414) */
    size_t uri_strlen; /* bytes of the target before its first NUL, as it arrived */
};

int http_disabled(const char *listen)
{
    return listen && strcmp(listen, "off") == 0;
}

/* Constant-time comparison of the Authorization header with the token. */
static int token_ok(const char *hdr, const char *token)
{
    if (!hdr || strncasecmp(hdr, "Bearer ", 7) != 0)
        return 0;
    hdr += 7;
    size_t a = strlen(hdr), b = strlen(token);
    unsigned char diff = (unsigned char)(a != b);
    for (size_t i = 0; i < b; i++)
        diff |= (unsigned char)(hdr[i < a ? i : 0] ^ token[i]);
    return diff == 0;
}

/* Writes need the token when one is set; otherwise only a loopback-only
 * server accepts them. Returns 0 or fills rep with 401/403. */
static int check_write(const struct request *r, struct reply *rep)
{
    const struct http_server *s = r->srv;
    if (s->token && *s->token) {
        const char *h =
            MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        if (!token_ok(h, s->token)) {
            reply_error(rep, 401, h ? "wrong token" : "missing Authorization: Bearer token");
            return -1;
        }
        return 0;
    }
    if (!s->loopback_only) {
        reply_error(rep, 403, "writes are disabled: no --token set and not listening on loopback");
        return -1;
    }
    return 0;
}

static int serve_static(const struct request *r, const char *path, struct reply *rep)
{
    char rel[STATIC_PATH_MAX];
    int bad = static_resolve(path, rel, sizeof rel);
    if (bad != 0)
        return reply_error(rep, bad, bad == 404 ? "not found" : "bad path");
    char *data;
    size_t len;
    int rc = static_read(r->srv->web_root, rel, HTTP_STATIC_MAX, &data, &len);
    if (rc == 404)
        return reply_error(rep, 404, "not found");
    if (rc != 0)
        return reply_error(rep, rc, rc == 413 ? "file too large" : "cannot read file");
    rep->status = 200;
    rep->content_type = static_content_type(rel);
    rep->cache_control = static_cache_control(rel);
    rep->body = data;
    rep->len = len;
    return 0;
}

static void dispatch(struct request *r, const char *path, enum route_method m, struct reply *rep)
{
    const struct route_match *rt = r->route;
    if (rt->status) {
        reply_error(rep, rt->status, rt->error);
        return;
    }
    switch (rt->id) {
    case ROUTE_HEALTH:
    case ROUTE_HEALTH_READY:
    case ROUTE_HEALTH_LIVE:
        handle_health(r, rep);
        break;
    case ROUTE_RUNS:
        handle_runs(r, rep);
        break;
    case ROUTE_RUN:
        handle_run(r, rep);
        break;
    case ROUTE_RUN_LATEST:
        handle_latest(r, rep);
        break;
    case ROUTE_RUN_POLICY:
        if (m == M_PUT) {
            if (check_write(r, rep) == 0)
                handle_policy_put(r, rep);
        } else {
            handle_policy_get(r, rep);
        }
        break;
    case ROUTE_SERIES:
        handle_series(r, rep);
        break;
    case ROUTE_HILL:
        handle_hill(r, rep);
        break;
    case ROUTE_STATS:
        handle_stats(r, rep);
        break;
    case ROUTE_METRICS:
        handle_metrics(r, rep);
        break;
    case ROUTE_STATIC:
        serve_static(r, path, rep);
        break;
    case ROUTE_NONE:
        reply_error(rep, 404, "no such path");
        break;
    }
}

static void allow_header(struct MHD_Response *resp, unsigned allowed)
{
    char v[32] = "";
    if (allowed & M_GET)
        strcat(v, "GET, HEAD");
    if (allowed & M_PUT)
        strcat(v, *v ? ", PUT" : "PUT");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, v);
}

static enum MHD_Result send_reply(struct MHD_Connection *c, struct reply *rep, unsigned allowed,
                                  int is_static)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(rep->len, rep->body ? rep->body : (char *)"",
                                        rep->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(rep->body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rep->content_type);
    if (rep->cache_control)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, rep->cache_control);
    else if (!is_static)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (rep->status == 405)
        allow_header(resp, allowed);
    if (rep->status == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (rep->status == 503 && rep->retry_after)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, rep->retry_after);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)rep->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Tracks every connection from accept to close for the watchdog. The fd is
 * only shut down (never closed) by the watchdog, and only while listed:
 * libmicrohttpd closes it after the CLOSED notification. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct http_server *s = cls;
    struct conn_watch *w = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        w = ci ? calloc(1, sizeof *w) : NULL;
        if (!w)
            return; /* not watched: only the idle timeout applies */
        w->fd = ci->connect_fd;
        w->since_ms = mono_ms();
        w->reading = 1;
        pthread_mutex_lock(&s->conn_mu);
        w->next = s->conns;
        if (s->conns)
            s->conns->prev = w;
        s->conns = w;
        s->nconns++;
        pthread_mutex_unlock(&s->conn_mu);
        *socket_context = w;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && w) {
        pthread_mutex_lock(&s->conn_mu);
        if (w->prev)
            w->prev->next = w->next;
        else
            s->conns = w->next;
        if (w->next)
            w->next->prev = w->prev;
        s->nconns--;
        pthread_mutex_unlock(&s->conn_mu);
        free(w);
        *socket_context = NULL;
    }
}

/* Marks connection c's request as arrived (reading 0) or as a new one
 * starting now (reading 1). */
static void watch_mark(struct http_server *s, struct MHD_Connection *c, int reading)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_watch *w = ci ? ci->socket_context : NULL;
    if (!w)
        return;
    pthread_mutex_lock(&s->conn_mu);
    w->reading = reading;
    if (reading)
        w->since_ms = mono_ms();
    pthread_mutex_unlock(&s->conn_mu);
}

static void *watchdog_main(void *arg)
{
    struct http_server *s = arg;
    const int64_t limit_ms = (int64_t)s->cfg.request_timeout_s * 1000;
    const size_t high = (size_t)s->cfg.max_connections * 3 / 4;
    pthread_setname_np(pthread_self(), "htgad-http-wd");
    while (!atomic_load(&s->watchdog_stop)) {
        struct timespec nap = {0, WATCH_PERIOD_MS * 1000000L};
        nanosleep(&nap, NULL);
        int64_t now = mono_ms();
        pthread_mutex_lock(&s->conn_mu);
        int pressure = s->nconns >= high;
        for (struct conn_watch *w = s->conns; w; w = w->next) {
            int64_t age = now - w->since_ms;
            if (w->cut || !w->reading ||
                (age <= limit_ms && !(pressure && age > WATCH_PRESSURE_MS)))
                continue;
            shutdown(w->fd, SHUT_RDWR); /* its thread sees EOF and closes it */
            w->cut = 1;
            atomic_fetch_add(&s->slow_cut, 1);
        }
        pthread_mutex_unlock(&s->conn_mu);
    }
    return NULL;
}

/* The request target's bytes as sent: libmicrohttpd hands url and version
 * as pointers into its copy of the request line ("METHOD target VERSION"),
 * so the target ends one byte (the space) before the version. A NUL byte
 * inside the target would otherwise go unseen: url is a C string. */
static size_t target_len(const char *url, const char *version)
{
    if (version && *version && version > url && (size_t)(version - url) <= HTTP_TARGET_MAX * 16)
        return (size_t)(version - url) - 1;
    return strlen(url);
}

/* Called by libmicrohttpd with the whole target (path and query, before it
 * splits the arguments): the request's context starts here, and a target
 * too long or with too many arguments has its query cut off (the arguments
 * are never parsed) and is answered 414 by on_request. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    struct conn_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return NULL;
    ctx->uri_strlen = strlen(uri);
    char *q = strchr(uri, '?');
    size_t args = 0;
    for (const char *p = q; p && *p; p++)
        args += *p == '&';
    if (ctx->uri_strlen > HTTP_TARGET_MAX || args >= HTTP_QUERY_ARGS_MAX) {
        ctx->bad_target = 414;
        /* the buffer is libmicrohttpd's writable copy of the line; it
         * parses the arguments from q + 1 right after this call */
        if (q)
            q[1] = '\0';
    }
    return ctx;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct http_server *s = cls;
    struct conn_ctx *ctx = *con_cls;
    if (!ctx) {
        ctx = calloc(1, sizeof *ctx);
        if (!ctx)
            return MHD_NO;
        ctx->uri_strlen = SIZE_MAX; /* on_uri had no memory: no NUL check */
        *con_cls = ctx;
    }
    if (!ctx->started) {
        ctx->started = 1;
        if (!ctx->bad_target && ctx->uri_strlen < target_len(url, version))
            ctx->bad_target = 400;
        const char *cl =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > HTTP_BODY_MAX)
            ctx->too_large = 1;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!ctx->too_large && ctx->body.len + *upload_data_size > HTTP_BODY_MAX) {
            ctx->too_large = 1;
            hbuf_free(&ctx->body);
        }
        if (!ctx->too_large)
            hbuf_put(&ctx->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }

    enum route_method m = route_method_of(method);
    struct route_match rt;
    route_match(url, m, &rt);
    struct request r = {.srv = s, .conn = c, .route = &rt};
    struct reply rep = {0};
    if (ctx->bad_target == 414) {
        reply_error(&rep, 414, "request target too long (or too many query arguments)");
    } else if (ctx->bad_target) {
        reply_error(&rep, 400, "NUL byte in the request target");
    } else if (ctx->too_large) {
        reply_error(&rep, 413, "request body too large");
    } else if (hbuf_failed(&ctx->body)) {
        reply_error(&rep, 500, "out of memory");
    } else {
        r.body = ctx->body.data;
        r.body_len = ctx->body.len;
        dispatch(&r, url, m, &rep);
    }
    if (!rep.content_type)
        rep.content_type = "application/json";
    watch_mark(s, c, 0);
    unsigned cls_idx = (unsigned)rep.status / 100;
    if (cls_idx >= 1 && cls_idx <= 5)
        atomic_fetch_add(&s->requests[cls_idx], 1);
    return send_reply(c, &rep, rt.allowed, rt.id == ROUTE_STATIC && rep.status == 200);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    struct conn_ctx *ctx = *con_cls;
    watch_mark(cls, c, 1); /* the next request on this connection starts now */
    if (ctx) {
        hbuf_free(&ctx->body);
        free(ctx);
        *con_cls = NULL;
    }
}

/* Keeps the URL and arguments as sent: route.c and req_query() decode. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

/* Parses "ADDR:PORT" (IPv4 dotted quad or "localhost"). */
static int parse_listen(const char *listen, struct sockaddr_in *sa)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || colon - listen > 63)
        return -1;
    char host[64];
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port > 65535)
        return -1;
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return -1;
    return 0;
}

/* Binds and listens on sa, so that a failure names the address and the
 * system's reason (libmicrohttpd's own message would say port 0). Returns
 * the socket (libmicrohttpd closes it at stop), or -1 with err filled. */
static int listen_on(const struct sockaddr_in *sa, const char *addr, char *err, size_t errlen)
{
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (const struct sockaddr *)sa, sizeof *sa) != 0 || listen(fd, SOMAXCONN) != 0) {
        int e = errno;
        if (e == EADDRINUSE) {
            char host[INET_ADDRSTRLEN] = "?";
            inet_ntop(AF_INET, &sa->sin_addr, host, sizeof host);
            snprintf(err, errlen,
                     "cannot listen on %s: port %u of %s is taken (%s; by another htgad? give "
                     "--http ADDR:PORT with a free port)",
                     addr, ntohs(sa->sin_port), host, strerror(e));
        } else {
            snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(e));
        }
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void server_free(struct http_server *s)
{
    if (!s)
        return;
    pthread_mutex_destroy(&s->pol_mu);
    pthread_mutex_destroy(&s->conn_mu);
    free(s->listen);
    free(s->db_path);
    free(s->token);
    free(s->web_root);
    free(s);
}

int http_start(http_server **out, const struct http_config *cfg, char *err, size_t errlen)
{
    char dummy[8];
    if (!err) {
        err = dummy;
        errlen = sizeof dummy;
    }
    *out = NULL;
    struct sockaddr_in sa;
    if (!cfg || !cfg->listen || !cfg->db_path || parse_listen(cfg->listen, &sa) != 0) {
        snprintf(err, errlen, "bad --http address (want ADDR:PORT, IPv4)");
        return HTTP_EINVAL;
    }
    const char *why;
    if (cfg->default_policy.kind != 0 &&
        policy_validate(&cfg->default_policy, POLICY_NAMES_JSON, &why) < 0) {
        snprintf(err, errlen, "default policy: %s", why);
        return HTTP_EINVAL;
    }
    signal(SIGPIPE, SIG_IGN);
    struct http_server *s = calloc(1, sizeof *s);
    if (!s)
        return HTTP_ENOMEM;
    s->cfg = *cfg;
    s->listen = dup_or_null(cfg->listen);
    s->db_path = dup_or_null(cfg->db_path);
    s->token = cfg->token && *cfg->token ? strdup(cfg->token) : NULL;
    s->web_root = dup_or_null(cfg->web_root);
    s->cfg.listen = s->listen;
    s->cfg.db_path = s->db_path;
    s->cfg.token = s->token;
    s->cfg.web_root = s->web_root;
    if (!s->cfg.max_connections)
        s->cfg.max_connections = 512;
    if (!s->cfg.per_ip_limit)
        s->cfg.per_ip_limit = 16;
    if (!s->cfg.timeout_s)
        s->cfg.timeout_s = 15;
    if (!s->cfg.request_timeout_s)
        s->cfg.request_timeout_s = 10;
    if (s->cfg.metrics_expire_s <= 0)
        s->cfg.metrics_expire_s = 3600;
    if (s->cfg.default_policy.kind == 0)
        s->cfg.default_policy = policy_default();
    s->loopback_only = (ntohl(sa.sin_addr.s_addr) >> 24) == 127;
    s->started = time(NULL);
    if (pthread_mutex_init(&s->pol_mu, NULL) != 0 || pthread_mutex_init(&s->conn_mu, NULL) != 0 ||
        pthread_key_create(&s->db_key, req_db_close) != 0) {
        server_free(s);
        return HTTP_ENOMEM;
    }
    int lfd = listen_on(&sa, cfg->listen, err, errlen);
    if (lfd < 0) {
        pthread_key_delete(s->db_key);
        server_free(s);
        return HTTP_EBIND;
    }
    struct sockaddr_in bound;
    socklen_t blen = sizeof bound;
    s->port = getsockname(lfd, (struct sockaddr *)&bound, &blen) == 0 ? ntohs(bound.sin_port)
                                                                      : ntohs(sa.sin_port);
    /* threads == 0: one thread per connection (a slow query holds only its
     * own connection); otherwise an epoll pool of that many threads. */
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
        (s->cfg.threads ? MHD_USE_EPOLL : MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL);
    s->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, lfd,
        /* the pool size only with a pool (a repeated limit otherwise) */
        s->cfg.threads ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_CONNECTION_LIMIT,
        s->cfg.threads ? s->cfg.threads : s->cfg.max_connections, MHD_OPTION_CONNECTION_LIMIT,
        s->cfg.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->cfg.per_ip_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, s->cfg.timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(128 * 1024), MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, s, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_END);
    if (!s->mhd) {
        snprintf(err, errlen, "cannot serve HTTP on %s (libmicrohttpd refused to start)",
                 cfg->listen);
        close(lfd);
        pthread_key_delete(s->db_key);
        server_free(s);
        return HTTP_EBIND;
    }
    if (pthread_create(&s->watchdog, NULL, watchdog_main, s) == 0)
        s->watchdog_started = 1;
    else /* only the idle timeout then: run on, but say so */
        snprintf(err, errlen, "no request-time watchdog (thread not started)");
    *out = s;
    return HTTP_OK;
}

uint16_t http_port(const http_server *s)
{
    return s ? s->port : 0;
}

void http_stop(http_server **sp)
{
    if (!sp || !*sp)
        return;
    struct http_server *s = *sp;
    atomic_store(&s->watchdog_stop, 1);
    if (s->watchdog_started)
        pthread_join(s->watchdog, NULL);
    MHD_stop_daemon(s->mhd);
    pthread_key_delete(s->db_key);
    server_free(s);
    *sp = NULL;
}
