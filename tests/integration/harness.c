/*
 * harness.c - start/stop the real htgad and read what it wrote (see harness.h).
 */
#include "harness.h"
#include "mix.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        perror("free_port");
        abort();
    }
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

int testd_free_port(void)
{
    return free_port();
}

void testd_init(testd *d)
{
    memset(d, 0, sizeof(*d));
    strcpy(d->dir, "/tmp/htgad-it-XXXXXX");
    if (mkdtemp(d->dir) == NULL)
        abort();
    snprintf(d->db, sizeof(d->db), "%s/htga.db", d->dir);
    snprintf(d->stats, sizeof(d->stats), "%s/stats", d->dir);
    snprintf(d->log, sizeof(d->log), "%s/htgad.log", d->dir);
    d->port = free_port();
    snprintf(d->endpoint, sizeof(d->endpoint), "tcp://127.0.0.1:%d", d->port);
}

static pid_t spawn(testd *d, char **extra, int nextra)
{
    char *argv[64];
    int argc = 0, fd;
    pid_t pid;

    argv[argc++] = HTGAD_PATH;
    argv[argc++] = "--db";
    argv[argc++] = d->db;
    argv[argc++] = "--listen";
    argv[argc++] = d->endpoint;
    argv[argc++] = "--stats-file";
    argv[argc++] = d->stats;
    argv[argc++] = "--stats-interval-ms";
    argv[argc++] = "50";
    argv[argc++] = "--http";
    argv[argc++] = "off";
    for (int i = 0; i < nextra && argc < 62; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    pid = fork();
    if (pid == 0) {
        fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 2);
        dup2(fd, 1);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

int testd_start(testd *d, ...)
{
    char *extra[48];
    int n = 0, status;
    va_list ap;
    int64_t deadline;

    va_start(ap, d);
    while (n < 48 && (extra[n] = va_arg(ap, char *)) != NULL)
        n++;
    va_end(ap);
    unlink(d->stats);
    d->pid = spawn(d, extra, n);
    if (d->pid < 0)
        return -1;
    deadline = now_ms() + 10000;
    while (now_ms() < deadline) {
        if (access(d->stats, R_OK) == 0)
            return 0;
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            d->pid = 0;
            return -1;
        }
        sleep_ms(10);
    }
    return -1;
}

int testd_stop(testd *d, int sig)
{
    int status;

    if (d->pid <= 0)
        return -1;
    kill(d->pid, sig);
    if (waitpid(d->pid, &status, 0) != d->pid)
        return -1;
    d->pid = 0;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

void testd_cleanup(testd *d)
{
    char cmd[128];

    if (d->pid > 0)
        testd_stop(d, SIGKILL);
    if (getenv("HTGA_KEEP_TEST_DIRS") == NULL && d->dir[0]) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", d->dir);
    }
}

int64_t testd_stat(const testd *d, const char *key)
{
    char line[256], k[128];
    long long v;
    FILE *f = fopen(d->stats, "r");
    int64_t out = -1;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%127s %lld", k, &v) == 2 && strcmp(k, key) == 0) {
            out = v;
            break;
        }
    }
    fclose(f);
    return out;
}

static sqlite3_stmt *query(const testd *d, sqlite3 **db, const char *sql)
{
    sqlite3_stmt *st = NULL;

    *db = NULL;
    if (sqlite3_open_v2(d->db, db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_busy_timeout(*db, 2000);
    if (sqlite3_prepare_v2(*db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

int64_t testd_query(const testd *d, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st = query(d, &db, sql);
    int64_t v = -1;

    if (st != NULL && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

double testd_query_double(const testd *d, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st = query(d, &db, sql);
    double v = NAN;

    if (st != NULL && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

void testd_query_text(const testd *d, const char *sql, char *buf, size_t len)
{
    sqlite3 *db;
    sqlite3_stmt *st = query(d, &db, sql);

    buf[0] = '\0';
    if (st != NULL && sqlite3_column_text(st, 0) != NULL)
        snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

int testd_wait_query(const testd *d, const char *sql, int64_t want, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;

    do {
        if (testd_query(d, sql) == want)
            return 0;
        sleep_ms(20);
    } while (now_ms() < deadline);
    return -1;
}

int testd_wait_stat(const testd *d, const char *key, int64_t want, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;

    do {
        if (testd_stat(d, key) == want)
            return 0;
        sleep_ms(20);
    } while (now_ms() < deadline);
    return -1;
}

static double gauss(uint64_t *s)
{
    return sqrt(-2.0 * log(htga_uniform01(s))) * cos(6.283185307179586 * htga_uniform01(s));
}

void student_t(float *x, size_t n, double nu, uint64_t *seed)
{
    int inu = (int)nu;

    for (size_t i = 0; i < n; i++) {
        double chi2 = 0;
        for (int j = 0; j < inu; j++) {
            double g = gauss(seed);
            chi2 += g * g;
        }
        x[i] = (float)(gauss(seed) / sqrt(chi2 / nu));
    }
}
