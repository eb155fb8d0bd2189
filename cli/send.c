/*
 * send.c - `htga send`: stream the values of a sample file to htgad through
 * libhtga, as a trainer would.
 *
 * DESIGN: the file is read whole (cli/samples_io.h), then sent as one
 * message, or as consecutive chunks of --chunk values at steps S, S+1, ...
 * Unlike a trainer, a replay must deliver everything it was given, or say
 * what it lost: it ignores the daemon's budgets (every chunk is sent, at
 * --max-samples values), waits for room instead of letting the client's
 * queue shed (it flushes whenever half of the queue's bytes are in use),
 * and brackets the replay with two barriers. The first, before any message,
 * finds that the daemon is there and answers barriers (htgad 0.4 or later),
 * and notes the run's lost blocks so far; the last (HTGA_BARRIER_CLOSE)
 * returns once htgad has estimated and stored everything, closing the last
 * partial block. Exit 0 only when its answer shows every message received
 * on the one connection, no value refused and no block of the run lost
 * since the first; otherwise exit 3 with how many and why.
 */
#include "cli.h"
#include "htga.h"
#include "samples_io.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD              "send"
#define EXIT_UNDELIVERED 3
#define QUEUE_BYTES      (64ll << 20)

typedef struct send_opts {
    const char *endpoint, *run, *group, *path;
    int64_t step;
    int have_step;
    size_t rank, max_samples, chunk, wait_ms;
    int have_max;
} send_opts;

enum { OPT_ENDPOINT = 256, OPT_RUN, OPT_GROUP, OPT_STEP, OPT_RANK, OPT_MAX, OPT_CHUNK, OPT_WAIT };

static const struct option long_opts[] = {
    {"endpoint", required_argument, NULL, OPT_ENDPOINT},
    {"run", required_argument, NULL, OPT_RUN},
    {"group", required_argument, NULL, OPT_GROUP},
    {"step", required_argument, NULL, OPT_STEP},
    {"rank", required_argument, NULL, OPT_RANK},
    {"max-samples", required_argument, NULL, OPT_MAX},
    {"chunk", required_argument, NULL, OPT_CHUNK},
    {"wait-ms", required_argument, NULL, OPT_WAIT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: htga send --endpoint E --run R --group G --step S [--rank N]\n"
                 "                 [--max-samples M] [--chunk N] [--wait-ms T] FILE\n\n"
                 "Sends the values of FILE (.npy, .f32 or text; '-' for standard input) to the\n"
                 "htgad at endpoint E as gradient samples of group G of run R at step S.\n\n"
                 "  --endpoint E      ZeroMQ endpoint of htgad, e.g. tcp://127.0.0.1:5555\n"
                 "  --run R           run name (1 to 128 bytes of UTF-8)\n"
                 "  --group G         parameter group name (1 to 128 bytes of UTF-8)\n"
                 "  --step S          training step of the (first) message, may be negative\n"
                 "  --rank N          worker rank to report (default 0)\n"
                 "  --max-samples M   values kept per message, drawn without bias\n"
                 "                    (default 65536; 0 = all, up to 1048576)\n"
                 "  --chunk N         send consecutive chunks of N values as steps S, S+1, ...\n"
                 "  --wait-ms T       wait at most T ms for the daemon, for each wait for room\n"
                 "                    in the client's queue, and for htgad's final answer\n"
                 "                    (default 5000)\n"
                 "  -h, --help        print this help and exit\n\n"
                 "Every message is sent (the daemon's budgets are not followed); the command\n"
                 "waits until htgad has estimated and stored all of it (a barrier, htgad 0.4\n"
                 "or later).\n"
                 "Exit status: 0 every message received and stored, 1 internal failure,\n"
                 "2 bad input, 3 not delivered or not stored: htgad unreachable, older than\n"
                 "0.4 (it never answers the barrier), the connection lost, messages lost or\n"
                 "values refused, or blocks of the run lost; the message says how many.\n");
}

static int parse_step(const char *text, int64_t *out)
{
    char *end;
    long long v;
    if (!text || !*text)
        return -1;
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || end == text || text[0] == ' ')
        return -1;
    *out = v;
    return 0;
}

static int size_opt(const char *name, const char *text, size_t *out)
{
    if (cli_parse_size(text, out) == 0)
        return 0;
    cli_error(CMD, "--%s must be a non-negative integer, got '%s'", name, text);
    return -1;
}

/* Returns -1 (exit 2), 1 (help printed, exit 0) or 0. */
static int parse_opts(int argc, char **argv, send_opts *o)
{
    int c;
    memset(o, 0, sizeof *o);
    o->wait_ms = 5000;
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
        switch (c) {
        case OPT_ENDPOINT:
            o->endpoint = optarg;
            break;
        case OPT_RUN:
            o->run = optarg;
            break;
        case OPT_GROUP:
            o->group = optarg;
            break;
        case OPT_STEP:
            if (parse_step(optarg, &o->step) != 0) {
                cli_error(CMD, "--step must be an integer, got '%s'", optarg);
                return -1;
            }
            o->have_step = 1;
            break;
        case OPT_RANK:
            if (size_opt("rank", optarg, &o->rank) != 0)
                return -1;
            if (o->rank > UINT32_MAX) {
                cli_error(CMD, "--rank must be below 2^32");
                return -1;
            }
            break;
        case OPT_MAX:
            if (size_opt("max-samples", optarg, &o->max_samples) != 0)
                return -1;
            o->have_max = 1;
            break;
        case OPT_CHUNK:
            if (size_opt("chunk", optarg, &o->chunk) != 0)
                return -1;
            if (o->chunk == 0) {
                cli_error(CMD, "--chunk must be at least 1");
                return -1;
            }
            break;
        case OPT_WAIT:
            if (size_opt("wait-ms", optarg, &o->wait_ms) != 0)
                return -1;
            if (o->wait_ms > 3600000) {
                cli_error(CMD, "--wait-ms must be at most 3600000");
                return -1;
            }
            break;
        default:
            return cli_opt_other(CMD, c, argv, usage);
        }
    }
    if (!o->endpoint || !o->run || !o->group || !o->have_step) {
        cli_error(CMD, "--endpoint, --run, --group and --step are required (try 'htga send "
                       "--help')");
        return -1;
    }
    if (optind + 1 != argc) {
        cli_error(CMD, optind >= argc ? "no FILE given" : "give exactly one FILE");
        return -1;
    }
    o->path = argv[optind];
    return 0;
}

/* Creates and configures the client; returns an exit status. */
static int open_client(const send_opts *o, htga **h)
{
    int rc = htga_create(h, o->endpoint, o->run);
    if (rc == HTGA_OK)
        rc = htga_set_int(*h, HTGA_OPT_RANK, (int64_t)o->rank);
    if (rc == HTGA_OK && o->have_max)
        rc = htga_set_int(*h, HTGA_OPT_MAX_SAMPLES, (int64_t)o->max_samples);
    if (rc == HTGA_OK)
        rc = htga_set_int(*h, HTGA_OPT_QUEUE_BYTES, QUEUE_BYTES);
    if (rc == HTGA_OK)
        rc = htga_set_int(*h, HTGA_OPT_FOLLOW_BUDGET, 0);
    if (rc == HTGA_OK)
        return CLI_EXIT_OK;
    cli_error(CMD, "%s", htga_strerror(rc));
    htga_destroy(h);
    return rc == HTGA_EZMQ || rc == HTGA_ENOMEM ? CLI_EXIT_FAIL : CLI_EXIT_USAGE;
}

/* Why a barrier failed, for the user. */
static void barrier_error(const send_opts *o, htga *h, int rc, const char *which)
{
    htga_stats st;
    htga_stats_get(h, &st, sizeof st);
    if (rc == HTGA_ERESET)
        cli_error(CMD, "the connection to htgad at %s was lost before its %s answer", o->endpoint,
                  which);
    else if (st.connections == 0)
        cli_error(CMD, "htgad at %s could not be reached within %zu ms (is it running?)",
                  o->endpoint, o->wait_ms);
    else
        cli_error(CMD,
                  "htgad at %s gave no %s answer within %zu ms (an htgad older than 0.4 never "
                  "answers; else it is overloaded: raise --wait-ms)",
                  o->endpoint, which, o->wait_ms);
}

/* Checks the final answer against what was sent; returns an exit status. */
static int check_ack(const send_opts *o, const htga_ack *base, const htga_ack *ack, size_t msgs)
{
    uint64_t lost = ack->blocks_lost - base->blocks_lost;
    int ok = 1;
    if (ack->connection != base->connection || ack->msgs_sent != msgs) {
        cli_error(CMD,
                  "the connection to htgad was remade during the replay: %" PRIu64
                  " of %zu messages went on the last one, the others may be lost",
                  ack->msgs_sent, msgs);
        ok = 0;
    }
    if (ack->msgs != ack->msgs_sent) {
        cli_error(CMD, "htgad received %" PRIu64 " of %" PRIu64 " messages sent", ack->msgs,
                  ack->msgs_sent);
        ok = 0;
    }
    if (ack->values_refused) {
        cli_error(CMD,
                  "htgad refused %" PRIu64 " of %" PRIu64 " values (stream or run limits, "
                  "or no memory: see its /api/v1/stats)",
                  ack->values_refused, ack->values);
        ok = 0;
    }
    if (lost) {
        cli_error(CMD,
                  "%" PRIu64 " blocks of run %s were not stored (see htgad's /api/v1/stats "
                  "for why)",
                  lost, o->run);
        ok = 0;
    }
    if (ack->status != 0) {
        cli_error(CMD, "htgad was stopping while it answered");
        ok = 0;
    }
    return ok ? CLI_EXIT_OK : EXIT_UNDELIVERED;
}

/* Sends one chunk, first waiting for room when half the queue is in use:
 * returns 0, or an exit status. */
static int send_chunk(const send_opts *o, htga *h, int64_t step, const float *v, size_t len,
                      uint64_t *held)
{
    size_t m = o->have_max && o->max_samples && o->max_samples < len ? o->max_samples : len;
    uint64_t bytes = (uint64_t)m * 4 + 256;
    int rc;
    if (*held + bytes > QUEUE_BYTES / 2) {
        if (htga_flush(h, (int)o->wait_ms) != HTGA_OK) {
            cli_error(CMD, "htgad at %s took no message for %zu ms", o->endpoint, o->wait_ms);
            return EXIT_UNDELIVERED;
        }
        *held = 0;
    }
    *held += bytes;
    rc = htga_send(h, o->group, step, v, len);
    if (rc == HTGA_EINVAL) {
        cli_error(CMD, "bad --group name '%s'", o->group);
        return CLI_EXIT_USAGE;
    }
    if (rc != HTGA_OK) {
        cli_error(CMD, "a message was dropped: %s", htga_strerror(rc));
        return EXIT_UNDELIVERED;
    }
    return 0;
}

/* Sends values[0..n) as one message or in chunks; returns an exit status. */
static int send_all(const send_opts *o, htga *h, const float *values, size_t n)
{
    size_t chunk = o->chunk ? o->chunk : n, msgs = 0, off;
    uint64_t held = 0;
    htga_ack base, ack;
    htga_stats st;
    int rc;

    rc = htga_barrier(h, 0, (int)o->wait_ms, &base, sizeof base);
    if (rc != HTGA_OK) {
        barrier_error(o, h, rc, "first");
        printf("sent 0 of %zu messages (0 values of %zu) to %s, none delivered\n",
               (n + chunk - 1) / chunk, n, o->endpoint);
        return EXIT_UNDELIVERED;
    }
    for (off = 0, rc = 0; off < n && rc == 0; off += chunk, msgs++)
        rc = send_chunk(o, h, o->step + (int64_t)msgs, values + off,
                        n - off < chunk ? n - off : chunk, &held);
    if (rc == CLI_EXIT_USAGE)
        return rc;
    if (rc == 0) {
        rc = htga_barrier(h, HTGA_BARRIER_CLOSE, (int)o->wait_ms, &ack, sizeof ack);
        if (rc != HTGA_OK)
            barrier_error(o, h, rc, "final");
        rc = rc == HTGA_OK ? check_ack(o, &base, &ack, msgs) : EXIT_UNDELIVERED;
    }
    htga_stats_get(h, &st, sizeof st);
    printf("sent %" PRIu64 " of %zu messages (%" PRIu64 " values of %zu) to %s", st.msgs_sent,
           (n + chunk - 1) / chunk, st.samples_sent, n, o->endpoint);
    if (rc == CLI_EXIT_OK)
        printf(", all received and stored (%" PRIu64 " blocks of the run stored)",
               ack.blocks_stored);
    else
        printf(", not all delivered and stored");
    printf("\n");
    return rc;
}

int cli_send(int argc, char **argv)
{
    send_opts o;
    sio_error err;
    char msg[512];
    float *values = NULL;
    size_t n = 0;
    htga *h = NULL;
    int rc = parse_opts(argc, argv, &o);

    if (rc != 0)
        return rc > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    rc = sio_read_file(o.path, SIO_FORMAT_AUTO, &values, &n, &err);
    if (rc != SIO_OK) {
        cli_error(CMD, "%s", sio_error_string(&err, o.path, msg, sizeof msg));
        return rc == SIO_ENOMEM ? CLI_EXIT_FAIL : CLI_EXIT_USAGE;
    }
    if (n == 0) {
        cli_error(CMD, "%s: no values to send", o.path);
        free(values);
        return CLI_EXIT_USAGE;
    }
    rc = open_client(&o, &h);
    if (rc == CLI_EXIT_OK)
        rc = send_all(&o, h, values, n);
    htga_destroy(&h);
    free(values);
    return rc;
}
