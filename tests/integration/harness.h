/*
 * harness.h - runs the real htgad for integration tests.
 *
 * DESIGN: each test gets a private directory under /tmp (database, stats
 * file, daemon log) and a loopback port found free by binding port 0. The
 * daemon is the binary meson built (HTGAD_PATH), started with fork/exec and
 * considered ready when its --stats-file appears (written right after it
 * binds). Counters are read back from that file; rows from the database,
 * opened read-only as a user would.
 */
#ifndef HTGA_TEST_HARNESS_H
#define HTGA_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct testd {
    char dir[64];
    char db[128];
    char stats[128];
    char log[128];
    char endpoint[64];
    int port;
    pid_t pid;
} testd;

/* A loopback TCP port free right now (for an extra listener, e.g. --http). */
int testd_free_port(void);

/* Makes the directory and picks a port; does not start anything. */
void testd_init(testd *d);

/* Starts htgad with the test's db/endpoint/stats plus extra flags (NULL
 * terminated list). Returns 0 once it is listening, -1 when it failed. */
int testd_start(testd *d, ...);

/* Sends sig and waits; returns the exit status (or 128+signal). */
int testd_stop(testd *d, int sig);

/* Removes the directory (stops the daemon first if running). */
void testd_cleanup(testd *d);

/* A counter from the stats file, -1 when missing. */
int64_t testd_stat(const testd *d, const char *key);

/* A single integer from a read-only query on the test's database (-1 when
 * no row). */
int64_t testd_query(const testd *d, const char *sql);
double testd_query_double(const testd *d, const char *sql);
/* The first text column of the first row into buf ("" when none). */
void testd_query_text(const testd *d, const char *sql, char *buf, size_t len);

/* Polls cond_sql until it returns want, up to timeout_ms. 0 on success. */
int testd_wait_query(const testd *d, const char *sql, int64_t want, int timeout_ms);

/* Polls the stats file until key reaches want, up to timeout_ms. 0 on
 * success. */
int testd_wait_stat(const testd *d, const char *key, int64_t want, int timeout_ms);

/* Monotonic milliseconds. */
int64_t now_ms(void);
void sleep_ms(int ms);

/* Heavy-tailed samples: Student-t with nu degrees of freedom. */
void student_t(float *x, size_t n, double nu, uint64_t *seed);

#endif
