/*
 * httpc: minimal HTTP client and database fixture for the HTTP tests
 * (see httpc.h).
 */
#include "httpc.h"

#include <jansson.h>
#include <math.h>

#include "htga_config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int connect_local(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void parse(char *buf, size_t len, struct hresp *r)
{
    char *sep = strstr(buf, "\r\n\r\n");
    if (!sep || sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1) {
        r->status = 0;
        r->headers = strdup("");
        r->body = buf;
        r->body_len = len;
        return;
    }
    *sep = '\0';
    r->headers = strdup(buf);
    size_t off = (size_t)(sep + 4 - buf);
    r->body_len = len - off;
    memmove(buf, sep + 4, r->body_len);
    buf[r->body_len] = '\0';
    r->body = buf;
}

void httpc_raw(uint16_t port, const char *req, size_t len, struct hresp *r)
{
    memset(r, 0, sizeof *r);
    int fd = connect_local(port);
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    if (fd >= 0 && send_all(fd, req, len) == 0) {
        for (;;) {
            if (n + 1 >= cap)
                buf = realloc(buf, cap *= 2);
            ssize_t got = recv(fd, buf + n, cap - n - 1, 0);
            if (got <= 0)
                break;
            n += (size_t)got;
        }
    }
    if (fd >= 0)
        close(fd);
    buf[n] = '\0';
    parse(buf, n, r);
}

void httpc(uint16_t port, const char *method, const char *path, const char *extra_headers,
           const char *body, size_t body_len, struct hresp *r)
{
    size_t cap = strlen(path) + (extra_headers ? strlen(extra_headers) : 0) + body_len + 256;
    char *req = malloc(cap);
    int n = snprintf(req, cap,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s"
                     "Content-Length: %zu\r\n\r\n",
                     method, path, extra_headers ? extra_headers : "", body_len);
    if (body_len)
        memcpy(req + n, body, body_len);
    if (!body && strcmp(method, "GET") == 0) /* no Content-Length on plain GETs */
        n = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s\r\n",
                     method, path, extra_headers ? extra_headers : "");
    httpc_raw(port, req, (size_t)n + body_len, r);
    free(req);
}

const char *hresp_header(const struct hresp *r, const char *name, char *buf, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = r->headers; p && *p;) {
        const char *e = strstr(p, "\r\n");
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = l - (size_t)(v - p);
            if (vl >= cap)
                vl = cap - 1;
            memcpy(buf, v, vl);
            buf[vl] = '\0';
            return buf;
        }
        p = e ? e + 2 : p + l;
    }
    return NULL;
}

void hresp_free(struct hresp *r)
{
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

sqlite3 *fixture_db(const char *path)
{
    unlink(path);
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return NULL;
    sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
    DIR *d = opendir(HTGA_SOURCE_ROOT "/schema");
    char *names[64];
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d)) && n < 64;)
        if (strstr(e->d_name, ".sql"))
            names[n++] = strdup(e->d_name);
    if (d)
        closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    int ok = n > 0;
    for (int i = 0; i < n; i++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/schema/%s", HTGA_SOURCE_ROOT, names[i]);
        char *sql = slurp(p);
        if (!sql || sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
            ok = 0;
        free(sql);
        free(names[i]);
    }
    if (!ok) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

int fixture_rollup(sqlite3 *db)
{
    char *sql = slurp(HTGA_SOURCE_ROOT "/schema/003_series_rollup.sql");
    const char *from = sql ? strstr(sql, "-- Level 64 from blocks") : NULL;
    int rc =
        from && sqlite3_exec(db, "BEGIN; DELETE FROM series_rollup", NULL, NULL, NULL) == SQLITE_OK
            ? sqlite3_exec(db, from, NULL, NULL, NULL)
            : SQLITE_ERROR;
    sqlite3_exec(db, rc == SQLITE_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    free(sql);
    return rc == SQLITE_OK ? 0 : -1;
}

struct xbucket {
    int64_t block, step_first, step, count;
    double min[3], max[3], sum[3];
    int64_t cnt[3];
};

static double num_at(json_t *j, const char *key, size_t i)
{
    json_t *v = json_array_get(json_object_get(j, key), i);
    return json_is_null(v) ? NAN : json_number_value(v);
}

static int64_t int_at(json_t *j, const char *key, size_t i)
{
    return json_integer_value(json_array_get(json_object_get(j, key), i));
}

static int close_to(double got, double want)
{
    return fabs(got - want) <= 1e-9 * fmax(1, fabs(want));
}

/* Reads the expected buckets; returns how many (x grown as needed). */
static size_t expected_buckets(sqlite3 *db, int64_t gid, int64_t from, int64_t to, int64_t width,
                               struct xbucket **xp)
{
    sqlite3_stmt *st;
    size_t n = 0, cap = 1024;
    struct xbucket *x = calloc(cap, sizeof *x);
    int64_t cur = -1;
    if (sqlite3_prepare_v2(db,
                           "SELECT block, step_first, step_last, alpha, kurtosis, alpha_lo"
                           " FROM blocks WHERE group_id = ?1 AND step_last BETWEEN ?2 AND ?3"
                           " ORDER BY block",
                           -1, &st, NULL) != SQLITE_OK)
        return (*xp = x), 0;
    sqlite3_bind_int64(st, 1, gid);
    sqlite3_bind_int64(st, 2, from);
    sqlite3_bind_int64(st, 3, to);
    while (x && sqlite3_step(st) == SQLITE_ROW) {
        int64_t b = sqlite3_column_int64(st, 0);
        int64_t key = width ? b / width : b;
        if (n == 0 || key != cur) {
            if (n == cap)
                x = realloc(x, (cap *= 2) * sizeof *x);
            memset(&x[n], 0, sizeof x[n]);
            x[n].block = b;
            x[n].step_first = sqlite3_column_int64(st, 1);
            for (int k = 0; k < 3; k++) {
                x[n].min[k] = INFINITY;
                x[n].max[k] = -INFINITY;
            }
            n++;
            cur = key;
        }
        struct xbucket *e = &x[n - 1];
        e->step = sqlite3_column_int64(st, 2);
        e->count++;
        for (int k = 0; k < 3; k++) {
            if (sqlite3_column_type(st, 3 + k) == SQLITE_NULL)
                continue;
            double v = sqlite3_column_double(st, 3 + k);
            e->min[k] = fmin(e->min[k], v);
            e->max[k] = fmax(e->max[k], v);
            e->sum[k] += v;
            e->cnt[k]++;
        }
    }
    sqlite3_finalize(st);
    *xp = x;
    return n;
}

int series_check(const void *jv, sqlite3 *db, int64_t gid, int64_t from, int64_t to, char *err,
                 size_t errlen)
{
    static const char *const f[3] = {"alpha", "kurtosis", "alpha_lo"};
    json_t *j = (json_t *)jv;
    int64_t width = json_integer_value(
        json_object_get(json_object_get(j, "downsampling"), "bucket_blocks")); /* 0 = raw */
    struct xbucket *x = NULL;
    size_t n = expected_buckets(db, gid, from, to, width, &x);
    int rc = -1;
    if (json_array_size(json_object_get(j, "block")) != n) {
        snprintf(err, errlen, "%zu buckets, want %zu", json_array_size(json_object_get(j, "block")),
                 n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (int_at(j, "block", i) != x[i].block || int_at(j, "step", i) != x[i].step ||
            (width && (int_at(j, "count", i) != x[i].count ||
                       int_at(j, "step_first", i) != x[i].step_first))) {
            snprintf(err, errlen, "bucket %zu: block/step/count/step_first differ", i);
            goto out;
        }
        for (int k = 0; k < 3; k++) {
            char key[32];
            double mean = x[i].cnt[k] ? x[i].sum[k] / (double)x[i].cnt[k] : NAN;
            int ok = x[i].cnt[k] ? close_to(num_at(j, f[k], i), mean) : isnan(num_at(j, f[k], i));
            if (ok && width && x[i].cnt[k]) {
                snprintf(key, sizeof key, "%s_min", f[k]);
                ok = close_to(num_at(j, key, i), x[i].min[k]);
                snprintf(key, sizeof key, "%s_max", f[k]);
                ok = ok && close_to(num_at(j, key, i), x[i].max[k]);
            }
            if (!ok) {
                snprintf(err, errlen, "bucket %zu: %s mean/min/max differ (mean %.15g, want %.15g)",
                         i, f[k], num_at(j, f[k], i), mean);
                goto out;
            }
        }
    }
    rc = 0;
out:
    free(x);
    return rc;
}

int64_t fixture_group(sqlite3 *db, const char *run, const char *group, double created_at)
{
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO runs(name, created_at) VALUES (?1, ?2)", -1, &st,
                       NULL);
    sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 2, created_at);
    sqlite3_step(st);
    sqlite3_finalize(st);
    sqlite3_prepare_v2(db,
                       "INSERT OR IGNORE INTO groups(run_id, name, created_at) SELECT id, ?2, ?3"
                       " FROM runs WHERE name = ?1",
                       -1, &st, NULL);
    sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, group, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, created_at);
    sqlite3_step(st);
    sqlite3_finalize(st);
    sqlite3_prepare_v2(db,
                       "SELECT g.id FROM groups g JOIN runs r ON r.id = g.run_id"
                       " WHERE r.name = ?1 AND g.name = ?2",
                       -1, &st, NULL);
    sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, group, -1, SQLITE_STATIC);
    int64_t id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return id;
}

int fixture_blocks(sqlite3 *db, int64_t gid, int64_t b0, int64_t b1, double (*alpha_of)(int64_t),
                   double t)
{
    sqlite3_stmt *st;
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    int rc = sqlite3_prepare_v2(
        db,
        "INSERT INTO blocks(group_id, block, step_first, step_last, n, n_used, n_nonfinite,"
        " n_zero, median, mean, variance, kurtosis, alpha, alpha_se, alpha_lo, alpha_hi, k,"
        " alpha_stable, lambda, lambda_raw, lambda_reason, policy_id, created_at) VALUES"
        " (?1, ?2, ?3, ?4, 65536, 65536, 0, 0, 0, 0, 1, ?5, ?6, 0.1, ?6 - 0.2, ?6 + 0.2, 256,"
        " 1.5, 1, 1, 0, NULL, ?7)",
        -1, &st, NULL);
    if (rc != SQLITE_OK)
        return -1;
    for (int64_t b = b0; b < b1 && rc == SQLITE_OK; b++) {
        sqlite3_bind_int64(st, 1, gid);
        sqlite3_bind_int64(st, 2, b);
        sqlite3_bind_int64(st, 3, b * 10);
        sqlite3_bind_int64(st, 4, b * 10 + 9);
        sqlite3_bind_double(st, 5, (double)b);
        sqlite3_bind_double(st, 6, alpha_of ? alpha_of(b) : 2.0);
        sqlite3_bind_double(st, 7, t);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    sqlite3_exec(db, rc == SQLITE_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : -1;
}

int fixture_top(sqlite3 *db, int64_t gid, int64_t block, const double *y, size_t m)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO latest_top(group_id, block, n_pos, m, y,"
                           " created_at) VALUES (?1, ?2, ?3, ?3, ?4, 0)",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, gid);
    sqlite3_bind_int64(st, 2, block);
    sqlite3_bind_int64(st, 3, (int64_t)m);
    sqlite3_bind_blob(st, 4, y, (int)(m * sizeof *y), SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    return rc;
}

char *fixture_tmpdir(char *buf, size_t cap)
{
    snprintf(buf, cap, "/tmp/htga-http-XXXXXX");
    return mkdtemp(buf);
}
