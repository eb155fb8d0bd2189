/*
 * estimate.c - `htga estimate`: offline tail estimates of saved samples.
 *
 * DESIGN: files are processed one at a time in argument order: read whole
 * (samples_io), cut into blocks, each block estimated by est_block() and
 * printed at once, then the file's values are freed, so memory holds one file
 * plus one scratch area. The scratch is allocated once for the largest block:
 * with --block N that is min(N, values in the first file) and it only grows
 * if a later file has a larger block; without --block each file is one block
 * and it grows when a later file is larger. Blocks never span files and are
 * numbered 0, 1, 2, ... continuously across all files, so with several files
 * the `block` key stays unique (the table also names the file of each row).
 * The last block of a file may be shorter than N and is estimated like the
 * others; an empty file still yields one (empty) block, so every file shows
 * up in the output. Timing covers est_block() only, never file reading.
 */
#include "cli.h"
#include "samples_io.h"
#include "est.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CMD           "estimate"
#define SCRATCH_ALIGN 64

typedef struct estimate_opts {
    est_k_rule rule;
    size_t block; /* 0: the whole file is one block */
    int json;
    int timing;
} estimate_opts;

typedef struct estimate_ctx {
    const estimate_opts *opts;
    void *scratch;
    size_t scratch_len;
    size_t next_block; /* number of the next block printed */
    int header_done;   /* the table header goes before the first row only */
} estimate_ctx;

static void usage(FILE *out)
{
    fprintf(out, "usage: htga estimate [--k N | --k-rule sqrt|frac:F|auto|N] [--block N] [--json]\n"
                 "                     [--timing] FILE...\n\n"
                 "Estimates, per block of values, the median, moments, the Hill tail index\n"
                 "(alpha, with standard error and 95%% interval) and the alpha-stable block\n"
                 "estimator.\n\n"
                 "  --k N          Hill uses the N largest deviations (clamped to n_pos-1)\n"
                 "  --k-rule R     sqrt (default): k = floor(sqrt(n_pos)); frac:F: k =\n"
                 "                 floor(F*n_pos), 0<F<1; auto: data-driven choice\n"
                 "                 (double bootstrap); N > 0: fixed k, as --k N\n"
                 "  --block N      split each file into blocks of N values; the last block\n"
                 "                 of a file may be shorter (default: one block per file)\n"
                 "  --json         one JSON object per block per line instead of a table\n"
                 "  --timing       add the seconds spent estimating (reading excluded)\n"
                 "  -h, --help     print this help and exit\n\n"
                 "FILE formats, by extension: .npy (float32/float64, little-endian,\n"
                 "C order, any shape flattened), .f32 (raw little-endian float32),\n"
                 "anything else text: numbers separated by white space or commas,\n"
                 "nan/inf allowed. '-' reads text from standard input.\n"
                 "Blocks are numbered from 0 across all FILEs in order; a block never\n"
                 "spans two files.\n\n"
                 "Table columns are the JSON keys: alpha, k, se, ci95_lo and ci95_hi are\n"
                 "hill's (alpha, k, se, ci95[0], ci95[1]); stable and block_size are the\n"
                 "alpha-stable block estimator's alpha and its block size K1 (values summed\n"
                 "per block, stable.block_size in JSON); '-' where a value does not exist.\n"
                 "Exit status: 0 ok, 1 internal/output failure, 2 bad input.\n");
}

/* ------------------------------------------------------------------------ */
/* options                                                                  */
/* ------------------------------------------------------------------------ */

enum { OPT_K = 256, OPT_K_RULE, OPT_BLOCK, OPT_JSON, OPT_TIMING };

static const struct option long_opts[] = {
    {"k", required_argument, NULL, OPT_K},
    {"k-rule", required_argument, NULL, OPT_K_RULE},
    {"block", required_argument, NULL, OPT_BLOCK},
    {"json", no_argument, NULL, OPT_JSON},
    {"timing", no_argument, NULL, OPT_TIMING},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Parses a positive integer option value or reports it; returns 0 or -1. */
static int positive(const char *name, const char *text, size_t *out)
{
    if (cli_parse_size(text, out) != 0 || *out == 0) {
        cli_error(CMD, "--%s needs a positive integer, got '%s'", name, text);
        return -1;
    }
    return 0;
}

/*
 * Fills *o from argv. Returns -1 when the caller should exit with status 2,
 * 1 when help was printed (exit 0), 0 to go on with argv[*first_file..].
 */
static int parse_opts(int argc, char **argv, estimate_opts *o, int *first_file)
{
    int have_k = 0, have_rule = 0, c;

    memset(o, 0, sizeof *o);
    o->rule.kind = EST_K_SQRT;
    opterr = 0;
    optind = 0; /* full GNU getopt reset: argv is a subcommand's argv */
    while ((c = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
        switch (c) {
        case OPT_K:
            if (positive("k", optarg, &o->rule.k) != 0)
                return -1;
            o->rule.kind = EST_K_FIXED;
            have_k = 1;
            break;
        case OPT_K_RULE:
            if (est_k_rule_parse(optarg, &o->rule) != EST_OK) {
                cli_error(CMD, "--k-rule must be sqrt, frac:F (0<F<1), auto or N>0, got '%s'",
                          optarg);
                return -1;
            }
            have_rule = 1;
            break;
        case OPT_BLOCK:
            if (positive("block", optarg, &o->block) != 0)
                return -1;
            break;
        case OPT_JSON:
            o->json = 1;
            break;
        case OPT_TIMING:
            o->timing = 1;
            break;
        default:
            return cli_opt_other(CMD, c, argv, usage);
        }
    }
    if (have_k && have_rule) {
        cli_error(CMD, "give either --k or --k-rule, not both");
        return -1;
    }
    if (optind >= argc) {
        cli_error(CMD, "no FILE given (try 'htga estimate --help')");
        return -1;
    }
    *first_file = optind;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* output                                                                   */
/* ------------------------------------------------------------------------ */

/* A JSON number, or null for NaN and +-Inf, which JSON cannot hold. */
static json_t *jnum(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *jsize(size_t v)
{
    return json_integer((json_int_t)v);
}

static json_t *hill_json(const est_result *r)
{
    if (!r->has_hill)
        return json_null();
    return json_pack("{s:o, s:o, s:o, s:[o, o]}", "alpha", jnum(r->hill.alpha), "k",
                     jsize(r->hill.k), "se", jnum(r->hill.se), "ci95", jnum(r->hill.ci_lo),
                     jnum(r->hill.ci_hi));
}

static json_t *stable_json(const est_result *r)
{
    if (!r->has_stable)
        return json_null();
    return json_pack("{s:o, s:o}", "alpha", jnum(r->stable_alpha), "block_size",
                     jsize(r->stable_k1));
}

/* Prints one block as a compact JSON object on one line; -1 on failure. */
static int print_json(size_t block, const est_result *r, const estimate_opts *o, double secs)
{
    json_t *obj;
    int rc;

    obj = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "block",
                    jsize(block), "n", jsize(r->n), "n_used", jsize(r->n_used), "n_nonfinite",
                    jsize(r->n_nonfinite), "n_zero", jsize(r->n_zero), "median", jnum(r->median),
                    "mean", jnum(r->mean), "variance", jnum(r->variance), "kurtosis",
                    jnum(r->kurtosis), "hill", hill_json(r), "stable", stable_json(r));
    if (obj == NULL)
        return -1;
    if (o->timing &&
        json_object_set_new(obj, "timing", json_pack("{s:o}", "estimate_s", jnum(secs))) != 0) {
        json_decref(obj);
        return -1;
    }
    rc = json_dumpf(obj, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(obj);
    if (rc != 0 || putchar('\n') == EOF)
        return -1;
    return 0;
}

static void print_table_header(const estimate_opts *o)
{
    printf("%5s %10s %10s %11s %9s %12s %12s %12s %12s %9s %9s %9s %9s %9s %9s %10s", "block", "n",
           "n_used", "n_nonfinite", "n_zero", "median", "mean", "variance", "kurtosis", "alpha",
           "k", "se", "ci95_lo", "ci95_hi", "stable", "block_size");
    if (o->timing)
        printf(" %10s", "est_s");
    printf("  file\n");
}

/* A number column of the table: "-" when the value does not exist. */
static void cell(int width, int prec, int present, double v)
{
    if (present && !isnan(v))
        printf(" %*.*g", width, prec, v);
    else
        printf(" %*s", width, "-");
}

static int print_row(size_t block, const est_result *r, const estimate_opts *o, double secs,
                     const char *path)
{
    const est_hill *h = &r->hill;

    printf("%5zu %10zu %10zu %11zu %9zu", block, r->n, r->n_used, r->n_nonfinite, r->n_zero);
    cell(12, 6, 1, r->median);
    cell(12, 6, 1, r->mean);
    cell(12, 6, 1, r->variance);
    cell(12, 6, 1, r->kurtosis);
    cell(9, 4, r->has_hill, h->alpha);
    if (r->has_hill)
        printf(" %9zu", h->k);
    else
        printf(" %9s", "-");
    cell(9, 3, r->has_hill, h->se);
    cell(9, 4, r->has_hill, h->ci_lo);
    cell(9, 4, r->has_hill, h->ci_hi);
    cell(9, 4, r->has_stable, r->stable_alpha);
    if (r->has_stable)
        printf(" %10zu", r->stable_k1);
    else
        printf(" %10s", "-");
    if (o->timing)
        printf(" %10.6f", secs);
    return printf("  %s\n", strcmp(path, "-") == 0 ? "<stdin>" : path) < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------------ */
/* estimation                                                               */
/* ------------------------------------------------------------------------ */

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Makes the scratch area hold at least est_scratch_bytes(n); grows only. */
static int ensure_scratch(estimate_ctx *ctx, size_t n)
{
    size_t need = est_scratch_bytes(n), len;
    void *p;

    if (ctx->scratch != NULL && need <= ctx->scratch_len)
        return 0;
    len = (need + SCRATCH_ALIGN - 1) / SCRATCH_ALIGN * SCRATCH_ALIGN;
    if (len == 0)
        len = SCRATCH_ALIGN;
    p = aligned_alloc(SCRATCH_ALIGN, len);
    if (p == NULL) {
        cli_error(CMD, "out of memory for the scratch of a %zu-value block", n);
        return -1;
    }
    memset(p, 0, len); /* fault the pages in now, so --timing measures estimation only */
    free(ctx->scratch);
    ctx->scratch = p;
    ctx->scratch_len = len;
    return 0;
}

/* Estimates and prints the blocks of one file's values; returns an exit status. */
static int estimate_values(estimate_ctx *ctx, const char *path, const float *v, size_t n)
{
    const estimate_opts *o = ctx->opts;
    size_t bs = o->block ? o->block : n;
    size_t off = 0;
    est_result r;
    double t0, secs;

    if (ensure_scratch(ctx, bs < n ? bs : n) != 0)
        return CLI_EXIT_FAIL;
    do {
        size_t len = n - off < bs ? n - off : bs;
        t0 = now_s();
        if (est_block(v + off, len, &o->rule, ctx->scratch, ctx->scratch_len, NULL, 0, NULL, &r) !=
            EST_OK) {
            cli_error(CMD, "%s: the estimator rejected block %zu (internal error)", path,
                      ctx->next_block);
            return CLI_EXIT_FAIL;
        }
        secs = now_s() - t0;
        if (!o->json && !ctx->header_done) {
            print_table_header(o);
            ctx->header_done = 1;
        }
        if ((o->json ? print_json(ctx->next_block, &r, o, secs)
                     : print_row(ctx->next_block, &r, o, secs, path)) != 0) {
            cli_error(CMD, "cannot write the output");
            return CLI_EXIT_FAIL;
        }
        ctx->next_block++;
        off += len;
    } while (off < n);
    return CLI_EXIT_OK;
}

static int estimate_file(estimate_ctx *ctx, const char *path)
{
    float *values = NULL;
    size_t n = 0;
    sio_error err;
    char msg[512];
    int rc;

    rc = sio_read_file(path, SIO_FORMAT_AUTO, &values, &n, &err);
    if (rc != SIO_OK) {
        cli_error(CMD, "%s", sio_error_string(&err, path, msg, sizeof msg));
        return rc == SIO_ENOMEM ? CLI_EXIT_FAIL : CLI_EXIT_USAGE;
    }
    rc = estimate_values(ctx, path, values, n);
    free(values);
    return rc;
}

/*
 * `htga estimate [--k N | --k-rule R] [--block N] [--json] [--timing] FILE...`
 * Prints the estimates of every block of every FILE (see usage() and the
 * design note above) and returns the exit status: 0 when all files were
 * estimated, 2 at the first bad option or unreadable/malformed file (blocks
 * of earlier files have been printed by then), 1 on an internal or output
 * failure.
 */
int cli_estimate(int argc, char **argv)
{
    estimate_opts opts;
    estimate_ctx ctx = {&opts, NULL, 0, 0, 0};
    int first = argc, rc = CLI_EXIT_OK, stdin_seen = 0;

    rc = parse_opts(argc, argv, &opts, &first);
    if (rc != 0)
        return rc > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    for (int i = first; i < argc; i++) {
        if (strcmp(argv[i], "-") == 0 && stdin_seen++) {
            cli_error(CMD, "'-' (standard input) given more than once");
            rc = CLI_EXIT_USAGE;
            goto out_free_scratch;
        }
    }
    for (int i = first; i < argc && rc == CLI_EXIT_OK; i++)
        rc = estimate_file(&ctx, argv[i]);
    if (fflush(stdout) != 0 && rc == CLI_EXIT_OK) {
        cli_error(CMD, "cannot write the output");
        rc = CLI_EXIT_FAIL;
    }

out_free_scratch:
    free(ctx.scratch);
    return rc;
}
