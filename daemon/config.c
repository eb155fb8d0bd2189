/*
 * config.c - the settings table, its setters, the file reader and argv.
 *
 * DESIGN: see config.h. A row parses and range-checks one value and stores
 * it: integers and paths through the row's own limits, anything else
 * through its setter; defaults are applied the same way from the table's
 * default text, so --help never disagrees with the code. Checks that involve
 * two keys (lambda-min <= lambda-max) run once after everything is read.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "htga_config.h"
#include "log.h"

typedef int (*config_setter)(htgad_config *cfg, const char *value, const char **why);

/* How a row stores its value: through its setter, or, with set NULL, as
 * an integer in [min, max] (ROW_U64) or a path shorter than max bytes
 * (ROW_PATH) at offset off of htgad_config. */
typedef enum row_kind { ROW_FN = 0, ROW_U64, ROW_PATH } row_kind;

typedef struct config_row {
    const char *name;
    const char *arg; /* placeholder in --help */
    const char *def; /* default, as text */
    config_setter set;
    const char *help;
    row_kind kind;
    size_t off;
    uint64_t min, max;
    const char *note; /* ROW_U64: said after the range when a value is refused */
} config_row;

#define U64(field, lo, hi, note) ROW_U64, offsetof(htgad_config, field), lo, hi, note
#define FN                       ROW_FN, 0, 0, 0, NULL
#define PATH(field)                                                                                \
    ROW_PATH, offsetof(htgad_config, field), 0, sizeof(((htgad_config *)0)->field), NULL

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;

    if (*s == '\0' || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    *out = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(*out))
        return -1;
    return 0;
}

static int copy_str(char *dst, size_t cap, const char *value)
{
    size_t n = strlen(value);

    if (n >= cap)
        return -1;
    memcpy(dst, value, n + 1);
    return 0;
}

static int set_db(htgad_config *cfg, const char *v, const char **why)
{
    *why = "needs a non-empty path";
    return (*v == '\0' || copy_str(cfg->db, sizeof(cfg->db), v) < 0) ? -1 : 0;
}

/* tcp://HOST:PORT (PORT a number 1..65535 or '*') or ipc://PATH. */
static int valid_endpoint(const char *v)
{
    const char *colon;
    uint64_t port;

    if (strncmp(v, "ipc://", 6) == 0)
        return v[6] != '\0';
    if (strncmp(v, "tcp://", 6) != 0)
        return 0;
    colon = strrchr(v + 6, ':');
    if (colon == NULL || colon == v + 6)
        return 0;
    for (const char *p = v + 6; p < colon; p++) {
        if (!isalnum((unsigned char)*p) && strchr(".-_[]:*", *p) == NULL)
            return 0;
    }
    if (strcmp(colon + 1, "*") == 0)
        return 1;
    return parse_u64(colon + 1, 1, 65535, &port) == 0;
}

static int set_listen(htgad_config *cfg, const char *v, const char **why)
{
    *why = "expected tcp://HOST:PORT (PORT 1-65535 or *) or ipc://PATH";
    if (!valid_endpoint(v) || copy_str(cfg->listen, sizeof(cfg->listen), v) < 0)
        return -1;
    return 0;
}

static int set_window_steps(htgad_config *cfg, const char *v, const char **why)
{
    *why = "expected an integer >= 0 (0 = off)";
    return parse_u64(v, 0, (uint64_t)INT64_MAX, &cfg->window_steps);
}

static int set_k_rule(htgad_config *cfg, const char *v, const char **why)
{
    *why = "expected sqrt, auto, frac:F (0<F<1), N or fixed:N";
    return est_k_rule_parse(v, &cfg->k_rule) == EST_OK ? 0 : -1;
}

static int set_policy(htgad_config *cfg, const char *v, const char **why)
{
    return policy_parse(v, &cfg->policy, why);
}

/* A policy member from its flag: a number, then the policy's own rule. */
static int set_policy_member(htgad_config *cfg, policy_member m, const char *v, const char **why)
{
    double d;

    if (parse_double(v, &d) < 0) {
        *why = "expected a finite number";
        return -1;
    }
    return policy_set(&cfg->policy, m, d, POLICY_NAMES_FLAGS, why);
}

static int set_lambda_min(htgad_config *cfg, const char *v, const char **why)
{
    return set_policy_member(cfg, POLICY_M_LAMBDA_MIN, v, why);
}

static int set_lambda_max(htgad_config *cfg, const char *v, const char **why)
{
    return set_policy_member(cfg, POLICY_M_LAMBDA_MAX, v, why);
}

static int set_ema(htgad_config *cfg, const char *v, const char **why)
{
    return set_policy_member(cfg, POLICY_M_EMA, v, why);
}

/* "auto": the processors this process may run on, less one for ingest and
 * the writer, at least 1. */
static uint64_t spare_cpus(void)
{
    long n = 0;
#ifdef CPU_COUNT
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        n = CPU_COUNT(&set);
#endif
    if (n <= 0)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 1 ? (uint64_t)(n - 1 < 64 ? n - 1 : 64) : 1;
}

static int set_estimators(htgad_config *cfg, const char *v, const char **why)
{
    *why = "expected auto or an integer in [1, 64]";
    if (strcmp(v, "auto") == 0) {
        cfg->estimators = spare_cpus();
        return 0;
    }
    return parse_u64(v, 1, 64, &cfg->estimators);
}

/* A size in bytes, with an optional binary suffix K, M or G. */
static int parse_bytes(const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
    char num[32];
    size_t len = strlen(v);
    uint64_t mult = 1, n;

    if (len == 0 || len >= sizeof(num))
        return -1;
    memcpy(num, v, len + 1);
    switch (num[len - 1]) {
    case 'K':
    case 'k':
        mult = 1024;
        break;
    case 'M':
        mult = 1024 * 1024;
        break;
    case 'G':
        mult = 1024 * 1024 * 1024;
        break;
    default:
        break;
    }
    if (mult != 1)
        num[len - 1] = '\0';
    if (parse_u64(num, 0, UINT64_MAX / mult, &n) < 0 || n * mult < min || n * mult > max)
        return -1;
    *out = n * mult;
    return 0;
}

static int set_queue_bytes(htgad_config *cfg, const char *v, const char **why)
{
    *why = "expected a size from 1M to 64G (bytes, or with K, M or G)";
    return parse_bytes(v, (uint64_t)1 << 20, (uint64_t)64 << 30, &cfg->queue_bytes);
}

/* Before 0.4 the estimator queues were bounded in blocks; a config that
 * still names it starts, and htgad says what replaced it. */
static int set_queue_blocks_or_unset(htgad_config *cfg, const char *v, const char **why)
{
    *why = "expected an integer in [1, 65536] (ignored since 0.4: see queue-bytes)";
    if (strcmp(v, "0") == 0) { /* the default: not given */
        cfg->queue_blocks_old = 0;
        return 0;
    }
    return parse_u64(v, 1, 65536, &cfg->queue_blocks_old);
}

static int set_log_level(htgad_config *cfg, const char *v, const char **why)
{
    *why = "expected error, warn, info or debug";
    return log_level_parse(v, &cfg->log_level);
}

/* "off" or ADDR:PORT with ADDR an IPv4 address, [IPv6] or localhost. */
static int set_http(htgad_config *cfg, const char *v, const char **why)
{
    const char *colon = strrchr(v, ':');
    uint64_t port;

    *why = "expected off or ADDR:PORT (PORT 1-65535)";
    if (strcmp(v, "off") != 0) {
        if (colon == NULL || colon == v || parse_u64(colon + 1, 1, 65535, &port) < 0)
            return -1;
        for (const char *p = v; p < colon; p++) {
            if (!isalnum((unsigned char)*p) && strchr(".:[]", *p) == NULL)
                return -1;
        }
    }
    return copy_str(cfg->http, sizeof(cfg->http), v);
}

static int set_token(htgad_config *cfg, const char *v, const char **why)
{
    *why = "at most 255 printable characters";
    for (const char *p = v; *p; p++) {
        if (!isgraph((unsigned char)*p))
            return -1;
    }
    return copy_str(cfg->token, sizeof(cfg->token), v);
}

static int set_peer_runs_per_s(htgad_config *cfg, const char *v, const char **why)
{
    double x;

    *why = "expected a number in (0, 1e6]";
    if (parse_double(v, &x) < 0 || !(x > 0 && x <= 1e6))
        return -1;
    cfg->peer_runs_per_s = x;
    return 0;
}

/* A CURVE key in Z85 text: 40 characters of the Z85 alphabet. */
static int set_z85_key(char *dst, size_t cap, const char *v, const char **why)
{
    static const char z85[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                              ".-:+=^!/*?&<>()[]{}@%$#";

    *why = "expected a CURVE key: 40 Z85 characters (htga keygen), or empty";
    if (*v != '\0' && (strlen(v) != 40 || strspn(v, z85) != 40))
        return -1;
    return copy_str(dst, cap, v);
}

static int set_curve_secret(htgad_config *cfg, const char *v, const char **why)
{
    return set_z85_key(cfg->curve_secret, sizeof(cfg->curve_secret), v, why);
}

static int set_curve_public(htgad_config *cfg, const char *v, const char **why)
{
    return set_z85_key(cfg->curve_public, sizeof(cfg->curve_public), v, why);
}

/* A `htga keygen` file: its "public" and "secret" lines become the two
 * keys (read now: the file may then be made unreadable to others). */
static int set_curve_key_file(htgad_config *cfg, const char *v, const char **why)
{
    char line[256], word[16], key[64];
    FILE *f;
    int got = 0, lines = 0;

    *why = "cannot read it";
    if (*v == '\0')
        return 0;
    f = fopen(v, "r");
    if (f == NULL)
        return -1;
    *why = "expected \"public KEY\" and \"secret KEY\" lines (htga keygen -o FILE)";
    /* a key file is a few lines: read no more (a device never ends) */
    while (lines++ < 64 && fgets(line, sizeof(line), f) != NULL) {
        if (line[0] == '#' || sscanf(line, "%15s %63s", word, key) != 2)
            continue;
        if (strcmp(word, "secret") == 0 && set_curve_secret(cfg, key, why) == 0)
            got |= 1;
        else if (strcmp(word, "public") == 0 && set_curve_public(cfg, key, why) == 0)
            got |= 2;
    }
    fclose(f);
    return got == 3 ? 0 : -1;
}

static const config_row rows[] = {
    {"db", "PATH", "htga.db", set_db, "SQLite database (created if missing)", FN},
    {"listen", "ENDPOINT", "tcp://127.0.0.1:5555", set_listen,
     "ZeroMQ endpoint trainers connect to (tcp://HOST:PORT, PORT * = any free port)", FN},
    {"block-samples", "N", "65536", NULL, "samples per block of a (run, group)",
     U64(block_samples, 64, 16777216, NULL)},
    {"window-steps", "W", "32", set_window_steps,
     "close a block that spans W steps once it holds 1024 values, even if not full, so small "
     "groups get lambdas (0 = off)",
     FN},
    {"k-rule", "RULE", "sqrt", set_k_rule,
     "Hill k: sqrt, auto, frac:F, N (fixed); see docs/estimators.md", FN},
    {"policy", "linear:C|power:Q", "linear:1", set_policy,
     "default lambda policy of new runs: C*alpha or alpha^-Q (Q > 1)", FN},
    {"lambda-min", "X", "0.1", set_lambda_min, "lower clamp of lambda", FN},
    {"lambda-max", "X", "10", set_lambda_max, "upper clamp of lambda", FN},
    {"ema", "BETA", "0", set_ema, "weight kept from the previous lambda, [0, 1); 0 = off", FN},
    {"max-streams", "N", "1024", NULL,
     "most (run, group) streams held at once (also the most runs)",
     U64(max_streams, 1, 1048576, NULL)},
    {"stream-idle-s", "S", "600", NULL,
     "a stream without samples for S seconds is flushed and its slot freed; it carries on "
     "from the database when it comes back",
     U64(stream_idle_s, 1, 31536000, NULL)},
    {"estimators", "auto|N", "auto", set_estimators,
     "estimator threads (auto: the processors less one); a stream's blocks always go to the "
     "same one",
     FN},
    {"queue-bytes", "SIZE", "64M", set_queue_bytes,
     "bytes of blocks waiting for the estimators; when full, htgad stops reading and the clients "
     "queue (nothing is dropped here)",
     FN},
    {"queue-rows", "N", "1024", NULL, "rows waiting for the SQLite writer",
     U64(queue_rows, 1, 1048576, NULL)},
    {"background-nice", "N", "0", NULL,
     "run the estimator and writer threads N nicer than ingest (and SCHED_BATCH; 0 = off), so "
     "under overload ingest keeps its CPU and the estimator drops whole blocks, counted",
     U64(background_nice, 0, 19, NULL)},
    {"log-level", "LEVEL", "info", set_log_level, "error, warn, info or debug", FN},
    {"http", "ADDR:PORT|off", "127.0.0.1:8080", set_http,
     "REST API, /metrics and dashboard address; off disables HTTP", FN},
    {"token", "TOKEN", "", set_token,
     "bearer token required for HTTP writes (PUT policy); unset: writes only when listening on "
     "loopback",
     FN},
    {"web-root", "DIR", "", NULL,
     "dashboard directory (index.html, js/, css/); empty = the installed copy "
     "(PREFIX/share/htga/web) when present, else ./web, else the source tree's web/",
     PATH(web_root)},
    {"stats-file", "PATH", "", NULL, "rewrite counters there as `key value` lines (empty = off)",
     PATH(stats_file)},
    {"stats-interval-ms", "MS", "1000", NULL, "how often --stats-file is rewritten",
     U64(stats_interval_ms, 10, 3600000, NULL)},
    {"metrics-expire-s", "S", "3600", NULL, "a run with no new block for S seconds leaves /metrics",
     U64(metrics_expire_s, 1, 31536000, NULL)},
    {"queue-blocks", "N", "0", set_queue_blocks_or_unset,
     "ignored since 0.4 (a warning says so): the estimator queues are bounded by queue-bytes", FN},
    {"test-estimate-delay-us", "US", "0", NULL,
     "for tests only: sleep this long before each block, to overload htgad on purpose",
     U64(test_estimate_delay_us, 0, 10000000, NULL)},
    {"stop-timeout-s", "S", "20", NULL,
     "on SIGTERM, rows the database still refuses after S seconds are given up (counted in "
     "rows_lost, exit status 3); while running, failed writes are retried without limit",
     U64(stop_timeout_s, 0, 86400, NULL)},
    {"health-window-s", "S", "30", NULL,
     "/api/v1/health: a thread with work but no progress for S seconds is stalled; data shed "
     "keeps htgad not ready for S seconds",
     U64(health_window_s, 1, 86400, NULL)},
    {"retention-s", "S", "0", NULL,
     "drop full-resolution blocks older than S seconds, keeping their rollups (64 blocks a point "
     "and coarser); 0 keeps every block",
     U64(retention_s, 0, 3153600000ULL, "seconds; 0 keeps every block")},
    {"peer-max-streams", "N", "0", NULL,
     "streams one peer (CURVE key, else IP address) may have opened and still hold; more are "
     "refused with a notice (0 = half of --max-streams, at least 64)",
     U64(peer_max_streams, 0, 1048576, "0 = the default share")},
    {"peer-runs-per-s", "R", "8", set_peer_runs_per_s,
     "new runs one peer may open per second once its burst is spent; more are refused", FN},
    {"peer-runs-burst", "N", "128", NULL, "new runs one peer may open at once",
     U64(peer_runs_burst, 1, 1048576, NULL)},
    {"curve-secret-key", "Z85", "", set_curve_secret,
     "htgad's CURVE secret key (htga keygen): encrypts the ZeroMQ port and admits only "
     "--curve-clients; see docs/security.md (empty = off)",
     FN},
    {"curve-public-key", "Z85", "", set_curve_public,
     "htgad's CURVE public key, checked against the secret (empty = derived from it)", FN},
    {"curve-key-file", "FILE", "", set_curve_key_file,
     "read --curve-secret-key and --curve-public-key from FILE (htga keygen -o FILE)", FN},
    {"curve-clients", "FILE|any", "", NULL,
     "client public keys allowed in (one Z85 key a line, # comments), or any (encryption "
     "only); required with --curve-secret-key",
     PATH(curve_clients)},
    {"http-max-connections", "N", "512", NULL, "HTTP connections held at once",
     U64(http_max_connections, 4, 65536, NULL)},
    {"http-per-ip", "N", "16", NULL, "HTTP connections from one IP address at once",
     U64(http_per_ip, 1, 65536, NULL)},
    {"http-request-timeout-s", "S", "10", NULL,
     "an HTTP request (line, headers, body) must arrive within S seconds, else it is cut; "
     "while 3/4 of the connections are in use, 0.2 s",
     U64(http_request_timeout_s, 1, 3600, NULL)},
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))

static const config_row *find_row(const char *name)
{
    for (size_t i = 0; i < NROWS; i++) {
        if (strcmp(rows[i].name, name) == 0)
            return &rows[i];
    }
    return NULL;
}

/* Stores value as row says. 0, or -1 with why (capacity cap) saying what
 * the row expects. */
static int row_set(htgad_config *cfg, const config_row *row, const char *value, char *why,
                   size_t cap)
{
    const char *text = "bad value";
    uint64_t u;

    switch (row->kind) {
    case ROW_U64:
        if (parse_u64(value, row->min, row->max, &u) == 0) {
            memcpy((char *)cfg + row->off, &u, sizeof u);
            return 0;
        }
        snprintf(why, cap, "expected an integer in [%llu, %llu]%s%s%s",
                 (unsigned long long)row->min, (unsigned long long)row->max, row->note ? " (" : "",
                 row->note ? row->note : "", row->note ? ")" : "");
        return -1;
    case ROW_PATH:
        if (copy_str((char *)cfg + row->off, (size_t)row->max, value) == 0)
            return 0;
        snprintf(why, cap, "path too long");
        return -1;
    case ROW_FN:
        break;
    }
    if (row->set(cfg, value, &text) == 0)
        return 0;
    snprintf(why, cap, "%s", text);
    return -1;
}

void config_defaults(htgad_config *cfg)
{
    char why[160];

    memset(cfg, 0, sizeof(*cfg));
    cfg->policy = policy_default();
    for (size_t i = 0; i < NROWS; i++)
        row_set(cfg, &rows[i], rows[i].def, why, sizeof why);
}

int config_set(htgad_config *cfg, const char *key, const char *value, config_error *err)
{
    const config_row *row = find_row(key);
    char why[160];

    if (row == NULL) {
        snprintf(err->text, sizeof(err->text), "unknown setting '%s'", key);
        return -1;
    }
    if (row_set(cfg, row, value, why, sizeof why) < 0) {
        snprintf(err->text, sizeof(err->text), "--%s '%s': %s", key, value, why);
        return -1;
    }
    return 0;
}

int config_check(const htgad_config *cfg, config_error *err)
{
    const char *why;

    if (policy_validate(&cfg->policy, POLICY_NAMES_FLAGS, &why) < 0) {
        snprintf(err->text, sizeof(err->text), "policy: %s", why);
        return -1;
    }
    return 0;
}

void config_usage(FILE *out)
{
    char flag[64];

    fprintf(out, "usage: htgad [--config FILE] [--key value ...]\n\n"
                 "htgad estimates the gradient tails trainers stream to it and pushes a\n"
                 "lambda back. Every flag may also be given in the --config file as a\n"
                 "`key value` or `key = value` line (flags win).\n\n");
    fprintf(out, "  --config FILE\n        read settings from FILE first (flags still win)\n");
    for (size_t i = 0; i < NROWS; i++) {
        snprintf(flag, sizeof(flag), "--%s %s", rows[i].name, rows[i].arg);
        fprintf(out, "  %s\n        %s (default: %s)\n", flag, rows[i].help,
                rows[i].def[0] ? rows[i].def : "none");
    }
    fprintf(out, "  --help\n        print this text\n  --version\n        print the version\n");
    fprintf(out, "\nExit status: 0 on SIGTERM/SIGINT after a full flush, 1 on a runtime\n"
                 "failure (database, endpoint), 2 on a bad setting.\n");
}
