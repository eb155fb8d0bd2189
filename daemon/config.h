/*
 * config.h - htgad's settings: one table drives the flags and the file.
 *
 * DESIGN: every setting is a row of a static table (name, kind, limits,
 * help). `--name value` (or `--name=value`) on the command line and
 * `name value` / `name = value` lines in the file given by --config are fed
 * to the same setter, so both accept exactly the same keys and values, and
 * --help is printed from the table. Order: defaults, then the file, then the
 * flags (flags win). Every value is validated; the first error is reported
 * in a caller-supplied buffer.
 */
#ifndef HTGAD_CONFIG_H
#define HTGAD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "estimators/est.h"
#include "policy.h"

#define CONFIG_PATH_MAX 4096
#define CONFIG_STR_MAX  256

typedef struct htgad_config {
    char db[CONFIG_PATH_MAX];
    char listen[CONFIG_STR_MAX];
    uint64_t block_samples;
    uint64_t window_steps; /* 0 = off */
    est_k_rule k_rule;
    policy policy; /* default policy of new runs */
    uint64_t max_streams;
    uint64_t estimators;       /* estimator threads */
    uint64_t queue_bytes;      /* bytes of blocks the estimator queues hold, all together */
    uint64_t queue_blocks_old; /* queue-blocks, ignored since 0.4 (0: not given) */
    uint64_t queue_rows;       /* writer queue depth, in rows */
    uint64_t background_nice;  /* estimator and writer threads: this much nicer, SCHED_BATCH */
    int log_level;
    char http[CONFIG_STR_MAX]; /* the HTTP API's "ADDR:PORT", or "off" */
    char token[CONFIG_STR_MAX];
    char web_root[CONFIG_PATH_MAX];   /* dashboard files; "" = the installed copy, else ./web */
    char stats_file[CONFIG_PATH_MAX]; /* "" = none */
    uint64_t stats_interval_ms;
    uint64_t metrics_expire_s;       /* finished runs leave /metrics after this */
    uint64_t stream_idle_s;          /* a stream without samples this long is expired */
    uint64_t test_estimate_delay_us; /* tests only: each block's estimate sleeps this long */
    uint64_t stop_timeout_s;  /* SIGTERM: a failing database gets this long, then rows are lost */
    uint64_t health_window_s; /* stall and shedding window of the health checks */
    uint64_t retention_s;     /* blocks older than this drop to their rollups; 0 = keep */
    /* what one peer (CURVE key, else address, else identity) may take */
    uint64_t peer_max_streams; /* streams one peer may have created and still held; 0 = half */
    double peer_runs_per_s;    /* new runs a peer may open per second, after the burst */
    uint64_t peer_runs_burst;
    /* CURVE on the ZeroMQ port (docs/security.md); off when curve_secret is "" */
    char curve_secret[CONFIG_STR_MAX];   /* Z85, 40 characters */
    char curve_public[CONFIG_STR_MAX];   /* Z85, derived from the secret when not given */
    char curve_clients[CONFIG_PATH_MAX]; /* allow-list file of client public keys, or "any" */
    uint64_t http_max_connections;
    uint64_t http_per_ip;
    uint64_t http_request_timeout_s;
} htgad_config;

typedef struct config_error {
    char text[1024];
} config_error;

/* Fills *cfg with the defaults. */
void config_defaults(htgad_config *cfg);

/* Sets one key (without "--") from its text value. Returns 0, or -1 with
 * err filled ("--key: why"). */
int config_set(htgad_config *cfg, const char *key, const char *value, config_error *err);

/* Reads a config file: `key value` or `key = value` lines, '#' comments,
 * blank lines, optional double quotes around the value. Returns 0 or -1
 * with err filled (file, line, why). */
int config_load_file(htgad_config *cfg, const char *path, config_error *err);

/* The same from an open stream; name labels the messages (file:line). */
int config_load_stream(htgad_config *cfg, FILE *f, const char *name, config_error *err);

/*
 * The whole command line: defaults, then --config FILE if given, then the
 * other flags. Returns CONFIG_RUN (start the daemon), CONFIG_EXIT (--help or
 * --version printed to out; exit 0) or CONFIG_ERROR (err filled; exit 2).
 */
#define CONFIG_RUN   0
#define CONFIG_EXIT  1
#define CONFIG_ERROR (-1)
int config_parse_args(htgad_config *cfg, int argc, char **argv, FILE *out, config_error *err);

/* The checks that involve two keys (lambda-min <= lambda-max), once
 * everything is read. 0, or -1 with err filled. */
int config_check(const htgad_config *cfg, config_error *err);

/* Prints the usage text (from the table) to out. */
void config_usage(FILE *out);

#endif /* HTGAD_CONFIG_H */
