/*
 * server_fixture.h: the fixture of the tests of the HTTP server over real
 * sockets (server_test.c, server_series_test.c, server_policy_test.c).
 *
 * Design: server_setup() builds a temporary database with the daemon's
 * migrations: run "run-1" with groups "layer/1.w" (NBLOCKS blocks, alpha
 * from alpha_of(): a spike at SPIKE, a dip at DIP), "g2" (10 blocks, a
 * Hill plot on its last) and "empty" (none), run "old run" a day old, the
 * rollups, and one stored policy of run-1 (linear 0.5, lambda in
 * [0.2, 5], ema 0.1). Each test then starts its own server on a free port
 * with start_server(); server_teardown() stops it and removes the files.
 * The daemon is a stub: on_policy counts and records what it is handed and
 * answers daemon_rc (with daemon_reason), stats are four fixed counters.
 */
#ifndef HTGA_TESTS_SERVER_FIXTURE_H
#define HTGA_TESTS_SERVER_FIXTURE_H

#include <jansson.h>
#include <stdint.h>

#include "http.h"
#include "httpc.h"

#define NBLOCKS 25000
#define SPIKE   12345
#define DIP     555

extern char dir[64], dbpath[128], webdir[128];
extern http_server *srv;
extern uint16_t port;             /* of srv */
extern unsigned timeout_s;        /* the idle timeout start_server() sets (0 = default) */
extern int policy_calls;          /* on_policy calls */
extern policy last_policy;        /* what on_policy was handed last */
extern char last_run[256];        /* and for which run */
extern int daemon_rc;             /* what on_policy answers (HTTP_OK after setup) */
extern const char *daemon_reason; /* the reason it gives, or NULL */

/* alpha of block b of layer/1.w. */
double alpha_of(int64_t b);

void server_setup(void);
void server_teardown(void);

/* Starts srv on 127.0.0.1:0 with the token (NULL = none). */
void start_server(const char *token);

/* GETs path, expects want_status and a JSON body; returns it (json_decref). */
json_t *get_json(const char *path, int want_status);

/* Expects status and {"error": text} (any text when text is NULL). */
void expect_error_text(const char *method, const char *path, const char *hdr, const char *body,
                       int status, const char *text);
void expect_error(const char *method, const char *path, const char *hdr, const char *body,
                  int status);

#endif
