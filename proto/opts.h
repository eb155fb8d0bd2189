/*
 * opts.h - the `--key value` command line of htga's small programs (the
 * demo trainer, the dashboard test's feeder, the benchmarks): a table of
 * options, each a name, a type, where its value goes and, for numbers, the
 * range it must lie in. Every value is checked whole (no "12abc", no
 * out-of-range number); the first problem is reported in err.
 * htgad and `htga` have their own parsers (daemon/config*.c, cli/), with
 * config files and subcommands these programs do not need.
 */
#ifndef HTGA_OPTS_H
#define HTGA_OPTS_H

#include <stddef.h>
#include <stdio.h>

typedef enum opt_type {
    OPT_STR,    /* const char ** (points into argv) */
    OPT_LONG,   /* long * */
    OPT_DOUBLE, /* double *, finite */
    OPT_U64     /* uint64_t * */
} opt_type;

typedef struct opt_spec {
    const char *name; /* with its dashes: "--steps" */
    opt_type type;
    void *dst;
    double min, max;  /* inclusive range of a number; min > max: any */
    const char *help; /* one line for opts_usage, e.g. "N   training steps" */
} opt_spec;

/* Parses argv[1..argc-1] as pairs "--key value" into the specs' dst; keys
 * not given keep the value dst held. Returns 0, 1 for --help or -h, or -1
 * with the reason in err: an unknown option, one without its value, or a
 * value that is not a number of the option's type within its range. */
int opts_parse(int argc, char *const argv[], const opt_spec *specs, size_t n, char *err,
               size_t errsize);

/* "usage: prog [--key ...]" and one line per option, to f. */
void opts_usage(FILE *f, const char *prog, const char *synopsis, const opt_spec *specs, size_t n);

#endif /* HTGA_OPTS_H */
