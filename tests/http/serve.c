/*
 * http_serve: runs the HTTP server alone over an existing database, for the
 * Prometheus scrape test and the benchmark when htgad itself is not needed.
 * Usage: http_serve DB [LISTEN] [THREADS]  (LISTEN default 127.0.0.1:0).
 * Prints "port N" once listening, then serves until SIGTERM or SIGINT.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "http.h"

static size_t stats(void *ud, struct http_stat *out, size_t cap)
{
    (void)ud;
    if (cap < 1)
        return 0;
    out[0] = (struct http_stat){
        "ingest_messages", "Messages received.", HTTP_STAT_COUNTER, NULL, NULL, 0};
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DB [LISTEN] [THREADS]\n", argv[0]);
        return 2;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct http_config cfg = {
        .listen = argc > 2 ? argv[2] : "127.0.0.1:0",
        .db_path = argv[1],
        .threads = argc > 3 ? (unsigned)atoi(argv[3]) : 0,
        .default_policy = {POLICY_LINEAR, 1, 0.1, 10, 0},
        .stats = stats,
        .metrics_expire_s = 1e9,
    };
    http_server *srv;
    char err[256];
    if (http_start(&srv, &cfg, err, sizeof err) != HTTP_OK) {
        fprintf(stderr, "http_serve: %s\n", err);
        return 1;
    }
    printf("port %u\n", http_port(srv));
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    http_stop(&srv);
    return 0;
}
