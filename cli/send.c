/*
 * send.c - `htga send`: stream the values of a sample file to htgad through
 * libhtga, as a trainer would.
 *
 * DESIGN: the file is read whole (cli/samples_io.h), then sent as one
 * message, or as consecutive chunks of --chunk values at steps S, S+1, ...
 * Unlike a trainer, a command line tool should deliver what it was given, so
 * it waits (bounded by --wait-ms) for the first connection through the
 * client's start-up grace, flushes before the client's queue can fill, and
 * flushes again before exiting. Whatever the library still dropped is
 * reported, and the exit status says so (3).
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
#include <time.h>

#define CMD              "send"
#define EXIT_UNDELIVERED 3
#define QUEUE_DEPTH      64

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
                 "  --wait-ms T       wait at most T ms for the daemon and for the messages\n"
                 "                    to leave (default 5000)\n"
                 "  -h, --help        print this help and exit\n\n"
                 "Exit status: 0 all messages handed to the connection, 1 internal failure,\n"
                 "2 bad input, 3 some messages dropped (daemon unreachable or too slow).\n");
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

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining_ms(long long deadline)
{
    long long left = deadline - now_ms();
    return left < 0 ? 0 : left > 1000000000 ? 1000000000 : (int)left;
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
        rc = htga_set_int(*h, HTGA_OPT_QUEUE_DEPTH, QUEUE_DEPTH);
    if (rc == HTGA_OK)
        rc = htga_set_int(*h, HTGA_OPT_CONNECT_GRACE_MS, (int64_t)o->wait_ms);
    if (rc == HTGA_OK)
        return CLI_EXIT_OK;
    cli_error(CMD, "%s", htga_strerror(rc));
    htga_destroy(h);
    return rc == HTGA_EZMQ || rc == HTGA_ENOMEM ? CLI_EXIT_FAIL : CLI_EXIT_USAGE;
}

/* Sends values[0..n) as one message or in chunks; returns an exit status. */
static int send_all(const send_opts *o, htga *h, const float *values, size_t n)
{
    size_t chunk = o->chunk ? o->chunk : n, msgs = 0, off;
    long long deadline = now_ms() + (long long)o->wait_ms;
    htga_stats st;
    int rc, undelivered = 0;

    for (off = 0; off < n; off += chunk, msgs++) {
        size_t len = n - off < chunk ? n - off : chunk;
        if (msgs > 0 && msgs % (QUEUE_DEPTH / 2) == 0 &&
            htga_flush(h, remaining_ms(deadline)) != HTGA_OK)
            undelivered = 1;
        rc = htga_send(h, o->group, o->step + (int64_t)msgs, values + off, len);
        if (rc == HTGA_EINVAL) {
            cli_error(CMD, "bad --group name '%s'", o->group);
            return CLI_EXIT_USAGE;
        }
        if (rc != HTGA_OK)
            undelivered = 1;
    }
    if (htga_flush(h, remaining_ms(deadline)) != HTGA_OK)
        undelivered = 1;
    htga_stats_get(h, &st, sizeof st);
    undelivered |= st.msgs_sent < msgs;
    printf("sent %" PRIu64 " of %zu messages (%" PRIu64 " values of %zu) to %s", st.msgs_sent, msgs,
           st.samples_sent, n, o->endpoint);
    if (undelivered)
        printf(", %" PRIu64 " not delivered", (uint64_t)msgs - st.msgs_sent);
    printf("\n");
    if (undelivered)
        cli_error(CMD, "not everything was delivered (is htgad running at %s?)", o->endpoint);
    return undelivered ? EXIT_UNDELIVERED : CLI_EXIT_OK;
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
