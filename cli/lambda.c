/*
 * lambda.c - `htga lambda`: print the lambda htgad pushes for a group.
 *
 * DESIGN: a libhtga client for the run connects and says HELLO; the daemon
 * answers with the run's current lambdas. The command polls
 * htga_lambda_get() until the group's lambda arrives or --wait-ms passes,
 * and prints it in the shortest form that reads back to the same double.
 * Exit status 3 says no lambda arrived in time (daemon down, or no block of
 * that group closed yet), so scripts can tell it from an error.
 */
#include "cli.h"
#include "htga.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CMD            "lambda"
#define EXIT_NO_LAMBDA 3

enum { OPT_ENDPOINT = 256, OPT_RUN, OPT_GROUP, OPT_WAIT };

static const struct option long_opts[] = {
    {"endpoint", required_argument, NULL, OPT_ENDPOINT},
    {"run", required_argument, NULL, OPT_RUN},
    {"group", required_argument, NULL, OPT_GROUP},
    {"wait-ms", required_argument, NULL, OPT_WAIT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

typedef struct lambda_opts {
    const char *endpoint, *run, *group;
    size_t wait_ms;
} lambda_opts;

static void usage(FILE *out)
{
    fprintf(out, "usage: htga lambda --endpoint E --run R --group G [--wait-ms T]\n\n"
                 "Prints the gradient scale (lambda) htgad recommends for group G of run R.\n\n"
                 "  --endpoint E   ZeroMQ endpoint of htgad, e.g. tcp://127.0.0.1:5555\n"
                 "  --run R        run name\n"
                 "  --group G      parameter group name\n"
                 "  --wait-ms T    wait at most T ms for it (default 2000)\n"
                 "  -h, --help     print this help and exit\n\n"
                 "Exit status: 0 printed, 1 internal failure, 2 bad input,\n"
                 "3 no lambda arrived within T ms.\n");
}

/* Returns -1 (exit 2), 1 (help printed, exit 0) or 0. */
static int parse_opts(int argc, char **argv, lambda_opts *o)
{
    int c;
    memset(o, 0, sizeof *o);
    o->wait_ms = 2000;
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
        case OPT_WAIT:
            if (cli_parse_size(optarg, &o->wait_ms) != 0 || o->wait_ms > 3600000) {
                cli_error(CMD, "--wait-ms must be an integer from 0 to 3600000, got '%s'", optarg);
                return -1;
            }
            break;
        default:
            return cli_opt_other(CMD, c, argv, usage);
        }
    }
    if (!o->endpoint || !o->run || !o->group) {
        cli_error(CMD, "--endpoint, --run and --group are required (try 'htga lambda --help')");
        return -1;
    }
    if (optind < argc) {
        cli_error(CMD, "unexpected argument '%s'", argv[optind]);
        return -1;
    }
    return 0;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Prints v with the fewest digits that read back to the same double. */
static void print_shortest(double v)
{
    char buf[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    printf("%s\n", buf);
}

int cli_lambda(int argc, char **argv)
{
    lambda_opts o;
    htga *h = NULL;
    double v = 1.0;
    long long deadline;
    int rc = parse_opts(argc, argv, &o);

    if (rc != 0)
        return rc > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    rc = htga_create(&h, o.endpoint, o.run);
    if (rc != HTGA_OK) {
        cli_error(CMD, "%s", htga_strerror(rc));
        return rc == HTGA_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
    }
    deadline = now_ms() + (long long)o.wait_ms;
    for (;;) {
        rc = htga_lambda_get(h, o.group, &v);
        if (rc != HTGA_ENOTFOUND || now_ms() >= deadline)
            break;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    htga_destroy(&h);
    if (rc == HTGA_EINVAL) {
        cli_error(CMD, "bad --group name '%s'", o.group);
        return CLI_EXIT_USAGE;
    }
    if (rc != HTGA_OK) {
        cli_error(CMD, "no lambda for group '%s' of run '%s' arrived within %zu ms", o.group, o.run,
                  o.wait_ms);
        return EXIT_NO_LAMBDA;
    }
    print_shortest(v);
    return CLI_EXIT_OK;
}
