/*
 * estimate_test.c - `htga estimate` end to end: the built program (HTGA_BIN)
 * is run with fork/exec on the fixtures in tests/data (HTGA_TEST_DATA), its
 * JSON lines are parsed with jansson and checked against hand-worked values,
 * and its exit status and stderr against the error contract (status 2, one
 * line, nothing on stdout).
 */
#include "est.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct run_result {
    int status; /* exit status, or -1 when killed by a signal */
    char *out;  /* stdout, NUL-terminated */
    char *err;  /* stderr, NUL-terminated */
} run_result;

static char *slurp_fd(int fd)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    ssize_t got;

    lseek(fd, 0, SEEK_SET);
    while ((got = read(fd, buf + len, cap - len - 1)) > 0) {
        len += (size_t)got;
        if (cap - len < 2)
            buf = realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    close(fd);
    return buf;
}

static int temp_fd(const void *data, size_t len)
{
    char path[] = "/tmp/htga-cli-XXXXXX";
    int fd = mkstemp(path);

    cr_assert(fd >= 0);
    unlink(path);
    if (len)
        cr_assert_eq(write(fd, data, len), (ssize_t)len);
    lseek(fd, 0, SEEK_SET);
    return fd;
}

/* Runs htga with args (NULL-terminated, without argv[0]) and stdin text. */
static run_result run_htga(const char *const *args, const char *stdin_text)
{
    const char *bin = getenv("HTGA_BIN");
    const char *argv[32];
    int in, out, err, ws;
    size_t argc = 0;
    run_result r;
    pid_t pid;

    cr_assert_not_null(bin, "HTGA_BIN not set");
    argv[argc++] = bin;
    while (*args && argc < 31)
        argv[argc++] = *args++;
    argv[argc] = NULL;
    in = temp_fd(stdin_text ? stdin_text : "", stdin_text ? strlen(stdin_text) : 0);
    out = temp_fd(NULL, 0);
    err = temp_fd(NULL, 0);
    fflush(NULL);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(in);
    cr_assert_eq(waitpid(pid, &ws, 0), pid);
    r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
    r.out = slurp_fd(out);
    r.err = slurp_fd(err);
    return r;
}

static void run_free(run_result *r)
{
    free(r->out);
    free(r->err);
}

static char *data_path(const char *name)
{
    const char *dir = getenv("HTGA_TEST_DATA");
    static char paths[8][4096];
    static int next;
    char *p = paths[next++ % 8];

    cr_assert_not_null(dir, "HTGA_TEST_DATA not set");
    snprintf(p, sizeof paths[0], "%s/%s", dir, name);
    return p;
}

/* Parses the JSON lines of out into an array of objects. */
static json_t *json_lines(const char *out)
{
    json_t *arr = json_array();
    const char *p = out;

    while (*p) {
        const char *nl = strchr(p, '\n');
        json_error_t jerr;
        json_t *obj;

        cr_assert_not_null(nl, "output does not end with a newline: '%s'", p);
        obj = json_loadb(p, (size_t)(nl - p), 0, &jerr);
        cr_assert_not_null(obj, "invalid JSON line '%.*s': %s", (int)(nl - p), p, jerr.text);
        cr_assert(json_is_object(obj));
        json_array_append_new(arr, obj);
        p = nl + 1;
    }
    return arr;
}

/* Checks obj has exactly the keys of the contract (plus timing if asked). */
static void expect_keys(json_t *obj, int timing)
{
    static const char *keys[] = {"block", "n",        "n_used",   "n_nonfinite", "n_zero", "median",
                                 "mean",  "variance", "kurtosis", "hill",        "stable"};
    size_t nkeys = sizeof keys / sizeof keys[0];

    for (size_t i = 0; i < nkeys; i++)
        cr_assert_not_null(json_object_get(obj, keys[i]), "key '%s' missing", keys[i]);
    if (timing) {
        json_t *t = json_object_get(obj, "timing");
        cr_assert(json_is_object(t) && json_object_size(t) == 1);
        cr_assert(json_is_real(json_object_get(t, "estimate_s")));
        cr_assert_geq(json_real_value(json_object_get(t, "estimate_s")), 0.0);
    }
    cr_assert_eq(json_object_size(obj), nkeys + (timing ? 1 : 0), "unexpected extra keys");
    json_t *h = json_object_get(obj, "hill");
    if (!json_is_null(h)) {
        cr_assert_eq(json_object_size(h), 4);
        cr_assert(json_is_number(json_object_get(h, "alpha")));
        cr_assert(json_is_integer(json_object_get(h, "k")));
        cr_assert(json_is_number(json_object_get(h, "se")));
        cr_assert(json_is_array(json_object_get(h, "ci95")));
        cr_assert_eq(json_array_size(json_object_get(h, "ci95")), 2);
    }
    json_t *s = json_object_get(obj, "stable");
    if (!json_is_null(s)) {
        cr_assert_eq(json_object_size(s), 2);
        cr_assert(json_is_number(json_object_get(s, "alpha")));
        cr_assert(json_is_integer(json_object_get(s, "block_size")));
    }
}

static double num(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    cr_assert(json_is_number(v), "'%s' is not a number", key);
    return json_number_value(v);
}

static json_int_t integer(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    cr_assert(json_is_integer(v), "'%s' is not an integer", key);
    return json_integer_value(v);
}

#define NEAR(a, b) cr_assert_float_eq((a), (b), 1e-12 * (1 + fabs(b)), "%.17g vs %.17g", (a), (b))

/* Runs args expecting success and one JSON line per block; returns the array. */
static json_t *estimate_ok(const char *const *args, const char *stdin_text, size_t blocks)
{
    run_result r = run_htga(args, stdin_text);
    json_t *lines;

    cr_assert_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    cr_assert_str_empty(r.err);
    lines = json_lines(r.out);
    cr_assert_eq(json_array_size(lines), blocks, "%zu blocks in '%s'", json_array_size(lines),
                 r.out);
    run_free(&r);
    return lines;
}

/* The hand-worked case 1, -1, 2, -4, 8, -16 (see tests/data/README.md). */
static void expect_hand_case(json_t *obj, size_t k)
{
    const double x[6] = {1, -1, 2, -4, 8, -16};
    double mean = -10.0 / 6, m2 = 0, m4 = 0;
    double gamma = k == 1 ? log(2.0) : 1.5 * log(2.0);
    json_t *hill = json_object_get(obj, "hill");
    double lo, hi;

    for (int i = 0; i < 6; i++) {
        double d = x[i] - mean;
        m2 += d * d;
        m4 += d * d * d * d;
    }
    expect_keys(obj, 0);
    cr_assert_eq(integer(obj, "n"), 6);
    cr_assert_eq(integer(obj, "n_used"), 6);
    cr_assert_eq(integer(obj, "n_nonfinite"), 0);
    cr_assert_eq(integer(obj, "n_zero"), 0);
    NEAR(num(obj, "median"), 0.0);
    NEAR(num(obj, "mean"), mean);
    NEAR(num(obj, "variance"), m2 / 5);
    NEAR(num(obj, "kurtosis"), (m4 / 6) / ((m2 / 6) * (m2 / 6)) - 3);
    cr_assert_eq(integer(hill, "k"), (json_int_t)k);
    NEAR(num(hill, "alpha"), 1 / gamma);
    NEAR(num(hill, "se"), 1 / gamma / sqrt((double)k));
    est_hill_ci(1 / gamma, k, &lo, &hi);
    NEAR(json_number_value(json_array_get(json_object_get(hill, "ci95"), 0)), lo);
    NEAR(json_number_value(json_array_get(json_object_get(hill, "ci95"), 1)), hi);
    /* mean log|Y_j| < mean log|c_i| here (1/alpha < 0): the stable index
     * saturates at 2, its upper bound, with K1 = floor(sqrt(6)) = 2 */
    json_t *st = json_object_get(obj, "stable");
    cr_assert(json_is_object(st));
    cr_assert_eq(num(st, "alpha"), 2.0);
    cr_assert_eq(integer(st, "block_size"), 2);
}

Test(estimate, hand_case_default_sqrt_rule)
{
    json_t *lines =
        estimate_ok((const char *[]){"estimate", "--json", data_path("hand.txt"), NULL}, NULL, 1);

    expect_hand_case(json_array_get(lines, 0), 2);
    cr_assert_eq(integer(json_array_get(lines, 0), "block"), 0);
    NEAR(num(json_object_get(json_array_get(lines, 0), "hill"), "alpha"), 0.96179669392597567);
    json_decref(lines);
}

Test(estimate, hand_case_fixed_k)
{
    json_t *lines = estimate_ok(
        (const char *[]){"estimate", "--k", "1", "--json", data_path("hand.txt"), NULL}, NULL, 1);

    expect_hand_case(json_array_get(lines, 0), 1);
    NEAR(num(json_object_get(json_array_get(lines, 0), "hill"), "alpha"), 1 / log(2.0));
    json_decref(lines);
    lines = estimate_ok(
        (const char *[]){"estimate", "--k-rule", "2", "--json", data_path("hand.txt"), NULL}, NULL,
        1);
    expect_hand_case(json_array_get(lines, 0), 2);
    json_decref(lines);
}

Test(estimate, hand_case_frac_and_auto_rules)
{
    /* frac:0.5 -> k = floor(0.5 * 6) = 3: gamma = (ln 16 + ln 8 + ln 4)/3 - ln 2 = 2 ln 2 */
    json_t *lines = estimate_ok(
        (const char *[]){"estimate", "--k-rule", "frac:0.5", "--json", data_path("hand.txt"), NULL},
        NULL, 1);
    json_t *hill = json_object_get(json_array_get(lines, 0), "hill");

    cr_assert_eq(integer(hill, "k"), 3);
    NEAR(num(hill, "alpha"), 1 / (2 * log(2.0)));
    json_decref(lines);
    /* auto falls back to the sqrt rule below 64 values (est.h) */
    lines = estimate_ok(
        (const char *[]){"estimate", "--k-rule", "auto", "--json", data_path("hand.txt"), NULL},
        NULL, 1);
    expect_hand_case(json_array_get(lines, 0), 2);
    json_decref(lines);
}

Test(estimate, every_format_gives_the_same_answer)
{
    static const char *files[] = {"hand_f4.npy", "hand_f8_2x3.npy", "hand.f32", "hand.txt"};
    char *first = NULL;

    for (size_t i = 0; i < 4; i++) {
        run_result r =
            run_htga((const char *[]){"estimate", "--json", data_path(files[i]), NULL}, NULL);
        cr_assert_eq(r.status, 0, "%s: %s", files[i], r.err);
        if (first == NULL)
            first = strdup(r.out);
        else
            cr_assert_str_eq(r.out, first, "%s differs", files[i]);
        run_free(&r);
    }
    free(first);
}

Test(estimate, stdin_dash)
{
    json_t *lines =
        estimate_ok((const char *[]){"estimate", "--json", "-", NULL}, "1, -1, 2\n-4 8 -16\n", 1);

    expect_hand_case(json_array_get(lines, 0), 2);
    json_decref(lines);
}

Test(estimate, stable_case)
{
    json_t *lines =
        estimate_ok((const char *[]){"estimate", "--json", data_path("stable.txt"), NULL}, NULL, 1);
    json_t *obj = json_array_get(lines, 0), *s = json_object_get(obj, "stable");

    expect_keys(obj, 0);
    NEAR(num(obj, "mean"), 0.0);
    NEAR(num(obj, "variance"), 20.0 / 3);
    NEAR(num(obj, "kurtosis"), 41.0 / 25 - 3);
    NEAR(num(json_object_get(obj, "hill"), "alpha"), 1 / log(3.0));
    cr_assert(json_is_object(s));
    cr_assert_eq(integer(s, "block_size"), 2);
    NEAR(num(s, "alpha"), log(2.0) / (log(4.0) - log(3.0) / 2));
    json_decref(lines);
}

Test(estimate, timing_adds_exactly_one_key)
{
    json_t *lines = estimate_ok(
        (const char *[]){"estimate", "--json", "--timing", data_path("hand.f32"), NULL}, NULL, 1);

    expect_keys(json_array_get(lines, 0), 1);
    json_decref(lines);
}

Test(estimate, blocks_split_with_short_last_block)
{
    const char *text = "1 2 3 4 5 6 7 8 9 10\n";
    json_t *lines =
        estimate_ok((const char *[]){"estimate", "--json", "--block", "4", "-", NULL}, text, 3);
    const json_int_t want_n[3] = {4, 4, 2};
    const double want_median[3] = {2.5, 6.5, 9.5};

    for (size_t i = 0; i < 3; i++) {
        json_t *obj = json_array_get(lines, i);
        expect_keys(obj, 0);
        cr_assert_eq(integer(obj, "block"), (json_int_t)i);
        cr_assert_eq(integer(obj, "n"), want_n[i]);
        NEAR(num(obj, "median"), want_median[i]);
    }
    json_decref(lines);
}

Test(estimate, blocks_numbered_across_files)
{
    json_t *lines =
        estimate_ok((const char *[]){"estimate", "--json", "--block", "4", data_path("hand.txt"),
                                     data_path("stable.txt"), NULL},
                    NULL, 3);
    const json_int_t want_n[3] = {4, 2, 4};

    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(integer(json_array_get(lines, i), "block"), (json_int_t)i);
        cr_assert_eq(integer(json_array_get(lines, i), "n"), want_n[i]);
    }
    json_decref(lines);
}

Test(estimate, nan_fields_become_null)
{
    /* an empty input is one empty block; an all-NaN block has no statistics */
    json_t *lines = estimate_ok((const char *[]){"estimate", "--json", "-", NULL}, "", 1);
    json_t *obj = json_array_get(lines, 0);
    static const char *nulls[] = {"median", "mean", "variance", "kurtosis", "hill", "stable"};

    expect_keys(obj, 0);
    cr_assert_eq(integer(obj, "n"), 0);
    for (size_t i = 0; i < 6; i++)
        cr_assert(json_is_null(json_object_get(obj, nulls[i])), "%s", nulls[i]);
    json_decref(lines);

    lines = estimate_ok((const char *[]){"estimate", "--json", "-", NULL}, "nan, inf, -inf\n", 1);
    obj = json_array_get(lines, 0);
    expect_keys(obj, 0);
    cr_assert_eq(integer(obj, "n"), 3);
    cr_assert_eq(integer(obj, "n_nonfinite"), 3);
    cr_assert_eq(integer(obj, "n_used"), 0);
    for (size_t i = 0; i < 6; i++)
        cr_assert(json_is_null(json_object_get(obj, nulls[i])), "%s", nulls[i]);
    json_decref(lines);
}

Test(estimate, zeros_counted_and_too_few_for_hill)
{
    json_t *lines =
        estimate_ok((const char *[]){"estimate", "--json", "-", NULL}, "0 0 0 1 2 nan\n", 1);
    json_t *obj = json_array_get(lines, 0);

    expect_keys(obj, 0);
    cr_assert_eq(integer(obj, "n"), 6);
    cr_assert_eq(integer(obj, "n_used"), 5);
    cr_assert_eq(integer(obj, "n_nonfinite"), 1);
    cr_assert_eq(integer(obj, "n_zero"), 3);
    NEAR(num(obj, "median"), 0.0);
    NEAR(num(obj, "mean"), 0.6);
    cr_assert(json_is_null(json_object_get(obj, "hill")));
    json_decref(lines);
}

Test(estimate, readable_table)
{
    run_result r = run_htga((const char *[]){"estimate", data_path("hand.txt"), NULL}, NULL);
    const char *row;

    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(strncmp(r.out, "block", 5), 0, "%s", r.out);
    row = strchr(r.out, '\n');
    cr_assert_not_null(row);
    cr_assert_not_null(strstr(row, "0.9618"), "%s", r.out);
    cr_assert_not_null(strstr(row, "hand.txt"), "%s", r.out);
    /* the column names are the JSON keys, not abbreviations of them */
    cr_assert_not_null(strstr(r.out, " n_nonfinite "), "%s", r.out);
    cr_assert_not_null(strstr(r.out, " block_size "), "%s", r.out);
    cr_assert_null(strstr(r.out, "K1"), "%s", r.out);
    run_free(&r);
}

Test(estimate, help_documents_every_k_rule_form)
{
    run_result r = run_htga((const char *[]){"estimate", "--help", NULL}, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.out, "--k-rule sqrt|frac:F|auto|N"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "K1"), "the help explains the block_size column");
    run_free(&r);
    r = run_htga((const char *[]){"--help", NULL}, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.out, "3 the daemon did not take part"), "%s", r.out);
    run_free(&r);
}

/* Runs args expecting status 2, an empty stdout and one line on stderr. */
static void expect_usage_error(const char *const *args, const char *stdin_text, const char *want)
{
    run_result r = run_htga(args, stdin_text);
    const char *nl = strchr(r.err, '\n');

    cr_assert_eq(r.status, 2, "exit %d for '%s'; stderr: %s", r.status, want, r.err);
    cr_assert_str_empty(r.out, "stdout: %s", r.out);
    cr_assert(nl != NULL && nl[1] == '\0', "not one line: '%s'", r.err);
    cr_assert_eq(strncmp(r.err, "htga", 4), 0, "%s", r.err);
    cr_assert_not_null(strstr(r.err, want), "'%s' lacks '%s'", r.err, want);
    run_free(&r);
}

Test(errors, bad_files_exit_2)
{
    expect_usage_error((const char *[]){"estimate", "/nonexistent/x.npy", NULL}, NULL,
                       "No such file");
    char empty[] = "/tmp/htga-empty-XXXXXX.npy";
    int fd = mkstemps(empty, 4);
    cr_assert_geq(fd, 0);
    close(fd);
    expect_usage_error((const char *[]){"estimate", empty, NULL}, NULL,
                       "npy: empty file (0 bytes)");
    unlink(empty);
    expect_usage_error((const char *[]){"estimate", data_path("int32.npy"), NULL}, NULL,
                       "'<i4' is not float32 or float64");
    expect_usage_error((const char *[]){"estimate", data_path("fortran_f4.npy"), NULL}, NULL,
                       "fortran_order");
    expect_usage_error((const char *[]){"estimate", "--json", "-", NULL}, "1 2\n3 zz\n",
                       "<stdin>:2:3: expected a number");
    expect_usage_error((const char *[]){"estimate", "-", "-", NULL}, "1\n", "more than once");
    /* any other extension is read as text: a Markdown file is not numbers */
    expect_usage_error((const char *[]){"estimate", data_path("README.md"), NULL}, NULL,
                       "README.md:1:1: expected a number");
}

/* A byte stream with no end: text reading stops at the first NUL byte and
 * says where it is (before, /dev/zero was read until memory ran out). */
Test(errors, endless_nul_stream_refused_at_once, .timeout = 20)
{
    expect_usage_error((const char *[]){"estimate", "/dev/zero", NULL}, NULL,
                       "/dev/zero:1:1: expected a number, found byte 0x00");
}

/* A .npy that is an endless stream: bytes that are no .npy at all
 * (/dev/zero behind a .npy name), and a valid file followed by endless
 * bytes through a FIFO. Reading stops as soon as the bytes cannot be the
 * file; before, both were read until memory ran out. */
static void *feed_fifo(void *path)
{
    static const char dict[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }";
    unsigned char head[128] = "\x93NUMPY\x01\x00";
    size_t hlen = sizeof head - 10;
    char zeros[4096] = {0};
    int fd = open(path, O_WRONLY);

    memset(head + 10, ' ', hlen);
    memcpy(head + 10, dict, sizeof dict - 1);
    head[8] = (unsigned char)hlen;
    head[127] = '\n';
    if (fd < 0 || write(fd, head, sizeof head) != (ssize_t)sizeof head)
        return NULL;
    while (write(fd, zeros, sizeof zeros) > 0) /* until the reader closes */
        ;
    close(fd);
    return NULL;
}

Test(errors, endless_npy_stream_refused_at_once, .timeout = 20)
{
    char dir[] = "/tmp/htga-npy-XXXXXX", link[64], fifo[64];
    pthread_t th;

    signal(SIGPIPE, SIG_IGN);
    cr_assert_not_null(mkdtemp(dir));
    snprintf(link, sizeof link, "%s/zero.npy", dir);
    cr_assert_eq(symlink("/dev/zero", link), 0);
    expect_usage_error((const char *[]){"estimate", link, NULL}, NULL, "npy: bad magic");
    snprintf(fifo, sizeof fifo, "%s/stream.npy", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    cr_assert_eq(pthread_create(&th, NULL, feed_fifo, fifo), 0);
    expect_usage_error((const char *[]){"estimate", fifo, NULL}, NULL,
                       "unexpected bytes after the 4 values the header describes");
    pthread_join(th, NULL);
    unlink(link);
    unlink(fifo);
    rmdir(dir);
}

Test(errors, bad_options_exit_2)
{
    const char *f = data_path("hand.txt");

    expect_usage_error((const char *[]){"estimate", "--k", "0", f, NULL}, NULL, "--k");
    expect_usage_error((const char *[]){"estimate", "--k", "-3", f, NULL}, NULL, "--k");
    expect_usage_error((const char *[]){"estimate", "--k", "2x", f, NULL}, NULL, "--k");
    expect_usage_error((const char *[]){"estimate", "--block", "0", f, NULL}, NULL, "--block");
    expect_usage_error((const char *[]){"estimate", "--block", "", f, NULL}, NULL, "--block");
    expect_usage_error((const char *[]){"estimate", "--block", NULL}, NULL, "needs a value");
    expect_usage_error((const char *[]){"estimate", "--k-rule", "cubic", f, NULL}, NULL,
                       "--k-rule");
    expect_usage_error((const char *[]){"estimate", "--k-rule", "frac:1.5", f, NULL}, NULL,
                       "--k-rule");
    expect_usage_error((const char *[]){"estimate", "--k", "3", "--k-rule", "sqrt", f, NULL}, NULL,
                       "not both");
    expect_usage_error((const char *[]){"estimate", "--frobnicate", f, NULL}, NULL,
                       "unknown option '--frobnicate'");
    expect_usage_error((const char *[]){"estimate", "-x", f, NULL}, NULL, "unknown option");
    expect_usage_error((const char *[]){"estimate", "--json", NULL}, NULL, "no FILE");
    expect_usage_error((const char *[]){"frobnicate", NULL}, NULL, "unknown command");
}

Test(errors, help_and_version_exit_0)
{
    run_result r = run_htga((const char *[]){"--help", NULL}, NULL);

    cr_assert_eq(r.status, 0);
    cr_assert_not_null(strstr(r.out, "estimate"));
    run_free(&r);
    r = run_htga((const char *[]){"estimate", "--help", NULL}, NULL);
    cr_assert_eq(r.status, 0);
    cr_assert_eq(strncmp(r.out, "usage: htga estimate", 20), 0, "%s", r.out);
    run_free(&r);
    r = run_htga((const char *[]){"--version", NULL}, NULL);
    cr_assert_eq(r.status, 0);
    cr_assert_eq(strncmp(r.out, "htga ", 5), 0);
    run_free(&r);
    r = run_htga((const char *[]){NULL}, NULL);
    cr_assert_eq(r.status, 2);
    run_free(&r);
}
