/*
 * samples_io_test.c - the .npy, .f32 and text readers of cli/samples_io.c.
 *
 * Each decoder is fed buffers built here byte by byte (a valid file, then the
 * same file with one thing wrong), and sio_read_file() is run on temporary
 * files and on the committed fixtures in tests/data (HTGA_TEST_DATA).
 */
#include "samples_io.h"
#include "samples_io_internal.h" /* sio_parse_number */

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const float hand[6] = {1, -1, 2, -4, 8, -16};

/* A .npy file in memory: header dict padded like numpy, then the payload. */
typedef struct npy_buf {
    unsigned char bytes[1024];
    size_t len;
} npy_buf;

static void make_npy_header(npy_buf *b, int major, const char *dict)
{
    size_t pre = major == 1 ? 10 : 12, dlen = strlen(dict);
    size_t hlen = dlen + 1, pad = (64 - (pre + hlen) % 64) % 64;

    hlen += pad;
    cr_assert(pre + hlen < sizeof b->bytes);
    memcpy(b->bytes, "\x93NUMPY", 6);
    b->bytes[6] = (unsigned char)major;
    b->bytes[7] = 0;
    b->bytes[8] = (unsigned char)(hlen & 0xff);
    b->bytes[9] = (unsigned char)(hlen >> 8);
    if (major != 1) {
        b->bytes[10] = 0;
        b->bytes[11] = 0;
    }
    memcpy(b->bytes + pre, dict, dlen);
    memset(b->bytes + pre + dlen, ' ', pad);
    b->bytes[pre + hlen - 1] = '\n';
    b->len = pre + hlen;
}

static void append(npy_buf *b, const void *data, size_t len)
{
    cr_assert(b->len + len <= sizeof b->bytes);
    if (len == 0)
        return;
    memcpy(b->bytes + b->len, data, len);
    b->len += len;
}

static void make_npy(npy_buf *b, const char *dict, const void *data, size_t len)
{
    make_npy_header(b, 1, dict);
    append(b, data, len);
}

/* Decodes b and expects an error whose text contains want. */
static void expect_npy_error(const npy_buf *b, const char *want)
{
    float *v = NULL;
    size_t n = 12345;
    sio_error err;
    int rc = sio_decode_npy(b->bytes, b->len, &v, &n, &err);

    cr_assert_eq(rc, SIO_EFORMAT, "expected an error containing '%s'", want);
    cr_assert_null(v);
    cr_assert_eq(n, 12345);
    cr_assert_not_null(strstr(err.text, want), "error '%s' lacks '%s'", err.text, want);
    cr_assert_eq(err.line, 0);
}

#define F4_DICT "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }"

Test(npy, float32_1d)
{
    npy_buf b;
    float *v = NULL;
    size_t n = 0;
    sio_error err;

    make_npy(&b, F4_DICT, hand, sizeof hand);
    cr_assert_eq(b.len % 64, 24); /* 64-byte header + 24 bytes of data */
    cr_assert_eq(sio_decode_npy(b.bytes, b.len, &v, &n, &err), SIO_OK, "%s", err.text);
    cr_assert_eq(n, 6);
    cr_assert_arr_eq(v, hand, sizeof hand);
    free(v);
}

Test(npy, float64_2d_flattened_and_rounded)
{
    const double d[6] = {1, -1, 2, -4, 8, 0.1};
    npy_buf b;
    float *v = NULL;
    size_t n = 0;
    sio_error err;

    make_npy(&b, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", d, sizeof d);
    cr_assert_eq(sio_decode_npy(b.bytes, b.len, &v, &n, &err), SIO_OK, "%s", err.text);
    cr_assert_eq(n, 6);
    for (size_t i = 0; i < 6; i++)
        cr_assert_eq(v[i], (float)d[i]);
    free(v);
}

Test(npy, float64_beyond_float_range_becomes_inf)
{
    const double d[2] = {1e300, -1e300};
    npy_buf b;
    float *v = NULL;
    size_t n = 0;
    sio_error err;

    make_npy(&b, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", d, sizeof d);
    cr_assert_eq(sio_decode_npy(b.bytes, b.len, &v, &n, &err), SIO_OK);
    cr_assert(isinf(v[0]) && v[0] > 0 && isinf(v[1]) && v[1] < 0);
    free(v);
}

Test(npy, version2_header_keys_in_any_order_double_quotes)
{
    npy_buf b;
    float *v = NULL;
    size_t n = 0;
    sio_error err;

    make_npy_header(&b, 2, "{\"shape\": (3, 2,), \"fortran_order\": False, \"descr\": \"<f4\"}");
    append(&b, hand, sizeof hand);
    cr_assert_eq(sio_decode_npy(b.bytes, b.len, &v, &n, &err), SIO_OK, "%s", err.text);
    cr_assert_eq(n, 6);
    cr_assert_arr_eq(v, hand, sizeof hand);
    free(v);
}

Test(npy, scalar_and_empty_shapes)
{
    npy_buf b;
    float *v = NULL;
    size_t n = 99;
    sio_error err;

    make_npy(&b, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", hand, 4);
    cr_assert_eq(sio_decode_npy(b.bytes, b.len, &v, &n, &err), SIO_OK, "%s", err.text);
    cr_assert_eq(n, 1);
    cr_assert_eq(v[0], 1.0f);
    free(v);

    make_npy(&b, "{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }", NULL, 0);
    cr_assert_eq(sio_decode_npy(b.bytes, b.len, &v, &n, &err), SIO_OK, "%s", err.text);
    cr_assert_eq(n, 0);
    free(v);
}

Test(npy, fortran_order_rejected)
{
    npy_buf b;

    make_npy(&b, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", hand, sizeof hand);
    expect_npy_error(&b, "fortran_order");
}

Test(npy, big_endian_rejected)
{
    npy_buf b;

    make_npy(&b, "{'descr': '>f4', 'fortran_order': False, 'shape': (6,), }", hand, sizeof hand);
    expect_npy_error(&b, "big-endian");
    make_npy(&b, "{'descr': '>f8', 'fortran_order': False, 'shape': (3,), }", hand, sizeof hand);
    expect_npy_error(&b, "big-endian");
}

Test(npy, int_and_other_dtypes_rejected)
{
    npy_buf b;

    make_npy(&b, "{'descr': '<i4', 'fortran_order': False, 'shape': (6,), }", hand, sizeof hand);
    expect_npy_error(&b, "dtype '<i4' is not float32 or float64");
    make_npy(&b, "{'descr': '<f2', 'fortran_order': False, 'shape': (12,), }", hand, sizeof hand);
    expect_npy_error(&b, "'<f2'");
    make_npy(&b, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }", hand,
             sizeof hand);
    expect_npy_error(&b, "structured");
}

Test(npy, truncated_data_rejected)
{
    npy_buf b;

    make_npy(&b, F4_DICT, hand, sizeof hand - 1);
    expect_npy_error(&b, "truncated data");
    make_npy(&b, "{'descr': '<f4', 'fortran_order': False, 'shape': (7,), }", hand, sizeof hand);
    expect_npy_error(&b, "truncated data");
}

Test(npy, header_lies_about_size_rejected)
{
    npy_buf b;

    /* more data than the shape says */
    make_npy(&b, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", hand, sizeof hand);
    expect_npy_error(&b, "unexpected bytes");
    /* a shape whose byte count overflows size_t */
    make_npy(&b, "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
             hand, sizeof hand);
    expect_npy_error(&b, "shape");
    /* header length beyond the end of the file */
    make_npy(&b, F4_DICT, NULL, 0);
    b.bytes[8] = 0xff;
    b.bytes[9] = 0x7f;
    expect_npy_error(&b, "truncated header");
}

Test(npy, bad_magic_and_short_files_rejected)
{
    npy_buf b;

    make_npy(&b, F4_DICT, hand, sizeof hand);
    b.bytes[1] = 'X';
    expect_npy_error(&b, "bad magic");
    b.len = 0;
    expect_npy_error(&b, "npy: empty file (0 bytes)");
    make_npy(&b, F4_DICT, hand, sizeof hand);
    b.len = 4;
    expect_npy_error(&b, "truncated magic");
    make_npy(&b, F4_DICT, hand, sizeof hand);
    b.len = 8;
    expect_npy_error(&b, "truncated header");
    make_npy(&b, F4_DICT, hand, sizeof hand);
    b.bytes[6] = 9;
    expect_npy_error(&b, "version 9.0");
}

Test(npy, malformed_headers_rejected)
{
    static const struct {
        const char *dict, *want;
    } cases[] = {
        {"{'descr': '<f4', 'shape': (6,), }", "lacks 'fortran_order'"},
        {"{'descr': '<f4', 'fortran_order': False, }", "lacks 'shape'"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", "twice"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}", "key 'x'"},
        {"{'descr': '<f4', 'fortran_order': 0, 'shape': (6,)}", "True or False"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': 6}", "not a tuple"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-6,)}", "sizes"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6,)} junk", "after the header"},
        {"['descr', '<f4']", "not a dict"},
        {"{'descr: '<f4', 'fortran_order': False, 'shape': (6,)}", "malformed"},
    };
    npy_buf b;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        make_npy(&b, cases[i].dict, hand, sizeof hand);
        expect_npy_error(&b, cases[i].want);
    }
}

Test(f32, raw_values_and_bad_size)
{
    float *v = NULL;
    size_t n = 0;
    sio_error err;

    cr_assert_eq(sio_decode_f32(hand, sizeof hand, &v, &n, &err), SIO_OK);
    cr_assert_eq(n, 6);
    cr_assert_arr_eq(v, hand, sizeof hand);
    free(v);
    v = NULL;
    cr_assert_eq(sio_decode_f32(hand, 7, &v, &n, &err), SIO_EFORMAT);
    cr_assert_null(v);
    cr_assert_not_null(strstr(err.text, "multiple of 4"), "%s", err.text);
}

/* ------------------------------------------------------------------------ */

/* Decodes text and expects exactly the given values (NaN matches NaN). */
static void expect_text(const char *text, const double *want, size_t nwant)
{
    float *v = NULL;
    size_t n = 0;
    sio_error err = {0};
    int rc = sio_decode_text(text, strlen(text), &v, &n, &err);

    cr_assert_eq(rc, SIO_OK, "'%s': %zu:%zu %s", text, err.line, err.column, err.text);
    cr_assert_eq(n, nwant, "'%s': %zu values", text, n);
    for (size_t i = 0; i < n; i++) {
        if (isnan(want[i]))
            cr_assert(isnan(v[i]), "'%s' value %zu", text, i);
        else
            cr_assert_eq(v[i], (float)want[i], "'%s' value %zu: %g", text, i, (double)v[i]);
    }
    free(v);
}

static void expect_text_error(const char *text, size_t len, size_t line, size_t col,
                              const char *want)
{
    float *v = NULL;
    size_t n = 0;
    sio_error err;
    int rc = sio_decode_text(text, len, &v, &n, &err);

    cr_assert_eq(rc, SIO_EFORMAT, "'%s' accepted", text);
    cr_assert_null(v);
    cr_assert_eq(err.line, line, "'%s': line %zu", text, err.line);
    cr_assert_eq(err.column, col, "'%s': column %zu", text, err.column);
    cr_assert_not_null(strstr(err.text, want), "'%s': '%s' lacks '%s'", text, err.text, want);
}

#define TEXT_ERROR(text, line, col, want) expect_text_error(text, strlen(text), line, col, want)

Test(text, commas_and_white_space)
{
    const double want[] = {1, 2, 3, 4, 5, 6, 7};

    expect_text("1,2,3\n4 5\t6\r\n7", want, 7);
    expect_text("  1 ,2,\t3 \n\n 4,5,6,\n7,\n", want, 7);
}

Test(text, scientific_notation_and_forms)
{
    const double want[] = {1e3, -2.5e-2, 0.5, 5, 3, 1.5e+10, -0.0, 1e-40};

    expect_text("1e3 -2.5E-2 .5 5. +3 1.5e+10 -0 1e-40", want, 8);
}

Test(text, nan_and_inf_tokens)
{
    const double want[] = {NAN, NAN, INFINITY, -INFINITY, INFINITY, -INFINITY};
    float *v = NULL;
    size_t n = 0;
    sio_error err;

    expect_text("nan NaN inf -Inf +INFINITY -infinity", want, 6);
    /* 1e999 overflows double: strtod gives HUGE_VAL, i.e. +inf */
    cr_assert_eq(sio_decode_text("1e999,-1e39", 11, &v, &n, &err), SIO_OK);
    cr_assert(isinf(v[0]) && v[0] > 0 && isinf(v[1]) && v[1] < 0);
    free(v);
}

Test(text, empty_and_blank_inputs_have_no_values)
{
    expect_text("", NULL, 0);
    expect_text(" \n\t\r\n", NULL, 0);
    expect_text("\xEF\xBB\xBF", NULL, 0);
    expect_text("\xEF\xBB\xBF"
                "1",
                (const double[]){1}, 1);
}

Test(text, garbage_rejected_with_line_and_column)
{
    TEXT_ERROR("1 2 abc", 1, 5, "expected a number, found 'a'");
    TEXT_ERROR("1\n2\n3x 4", 3, 2, "expected white space or ','");
    TEXT_ERROR("1,,2", 1, 3, "expected a number before ','");
    TEXT_ERROR(",1", 1, 1, "before ','");
    TEXT_ERROR("1e", 1, 2, "found 'e'");
    TEXT_ERROR("1e+ 2", 1, 2, "found 'e'");
    TEXT_ERROR("1.2.3", 1, 4, "found '.'");
    TEXT_ERROR("0x10", 1, 2, "found 'x'");
    TEXT_ERROR("1;2", 1, 2, "found ';'");
    TEXT_ERROR("- 1", 1, 1, "found '-'");
    TEXT_ERROR("1 . 2", 1, 3, "found '.'");
    TEXT_ERROR("nanx", 1, 4, "found 'x'");
    TEXT_ERROR("# comment\n1", 1, 1, "found '#'");
    TEXT_ERROR("1\r\n\r\n  \xc3\xa9", 3, 3, "found byte 0xc3");
    expect_text_error("1 \0 2", 5, 1, 3, "found byte 0x00");
}

/* Every number must parse to what strtod gives, bit for bit (the decoder
 * takes a fast path for short decimals and strtod for the rest). */
Test(text, numbers_equal_strtod)
{
    static const char *fmts[] = {"%.9g", "%.17g", "%.3e", "%f", "%.0f", "%.22f", "%.15g"};
    static const char *fixed[] = {"0",
                                  "-0",
                                  "0.0e5",
                                  "9007199254740993",
                                  "9007199254740992",
                                  "1e22",
                                  "1e23",
                                  "123456789012345678901234",
                                  "0.1",
                                  "1e-22",
                                  "4.9e-324",
                                  "000000000000000000000000001.5",
                                  "1.7976931348623157e308",
                                  "1.8e308",
                                  "3.4028235e38",
                                  "1e-46",
                                  ".5",
                                  "5.",
                                  "+7.25E+01"};
    uint64_t state = 88172645463325252ULL;
    char tok[600];

    for (size_t i = 0; i < 3000 + sizeof fixed / sizeof fixed[0]; i++) {
        double x, got = -1;
        if (i < sizeof fixed / sizeof fixed[0]) {
            snprintf(tok, sizeof tok, "%s", fixed[i]);
        } else {
            state ^= state << 13, state ^= state >> 7, state ^= state << 17;
            /* random bit patterns cover every exponent, scaled uniforms the usual ones */
            memcpy(&x, &state, sizeof x);
            if (!isfinite(x) || i % 3 == 0)
                x = (double)(state >> 11) * 0x1p-53 * pow(10.0, (double)(int)(state % 50) - 25);
            snprintf(tok, sizeof tok, fmts[i % 7], x);
        }
        double want = strtod(tok, NULL);
        cr_assert_eq(sio_parse_number(tok, strlen(tok), &got), SIO_OK, "'%s'", tok);
        cr_assert_eq(memcmp(&got, &want, sizeof want), 0, "'%s': %a vs strtod %a", tok, got, want);
    }
    double v = 42;
    cr_assert_eq(sio_parse_number("1 ", 2, &v), SIO_EFORMAT);
    cr_assert_eq(sio_parse_number("", 0, &v), SIO_EFORMAT);
    cr_assert_eq(sio_parse_number("0x1p3", 5, &v), SIO_EFORMAT);
    cr_assert_eq(v, 42);
    cr_assert_eq(sio_parse_number("-inf", 4, &v), SIO_OK);
    cr_assert(isinf(v) && v < 0);
}

Test(text, overlong_number_rejected)
{
    char buf[700];

    memset(buf, '1', sizeof buf - 1);
    buf[sizeof buf - 1] = '\0';
    TEXT_ERROR(buf, 1, 1, "longer than");
}

Test(text, many_values_grow_the_array)
{
    size_t count = 100000, len = 0;
    char *buf = malloc(count * 8);
    float *v = NULL;
    size_t n = 0;
    sio_error err;

    for (size_t i = 0; i < count; i++)
        len += (size_t)sprintf(buf + len, "%zu\n", i);
    cr_assert_eq(sio_decode_text(buf, len, &v, &n, &err), SIO_OK);
    cr_assert_eq(n, count);
    for (size_t i = 0; i < count; i++)
        cr_assert_eq(v[i], (float)i);
    free(v);
    free(buf);
}

/* ------------------------------------------------------------------------ */

Test(paths, format_by_extension)
{
    cr_assert_eq(sio_format_from_path("a.npy"), SIO_FORMAT_NPY);
    cr_assert_eq(sio_format_from_path("dir/A.NPY"), SIO_FORMAT_NPY);
    cr_assert_eq(sio_format_from_path("x.f32"), SIO_FORMAT_F32);
    cr_assert_eq(sio_format_from_path("x.F32"), SIO_FORMAT_F32);
    cr_assert_eq(sio_format_from_path("x.txt"), SIO_FORMAT_TEXT);
    cr_assert_eq(sio_format_from_path("x.csv"), SIO_FORMAT_TEXT);
    cr_assert_eq(sio_format_from_path("npy"), SIO_FORMAT_TEXT);
    cr_assert_eq(sio_format_from_path("d.npy/x"), SIO_FORMAT_TEXT);
    cr_assert_eq(sio_format_from_path("x.npy.gz"), SIO_FORMAT_TEXT);
    cr_assert_eq(sio_format_from_path("-"), SIO_FORMAT_TEXT);
}

/* Writes len bytes to a new temporary file named with suffix; returns its path. */
static char *temp_file(const char *suffix, const void *data, size_t len)
{
    char *path = malloc(64);

    snprintf(path, 64, "/tmp/htga-sio-XXXXXX%s", suffix);
    int fd = mkstemps(path, (int)strlen(suffix));
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
    return path;
}

Test(files, read_each_format_from_disk)
{
    npy_buf b;
    const char *text = "1 -1 2 -4 8 -16\n";
    char *paths[3];
    float *v;
    size_t n;
    sio_error err;

    make_npy(&b, F4_DICT, hand, sizeof hand);
    paths[0] = temp_file(".npy", b.bytes, b.len);
    paths[1] = temp_file(".f32", hand, sizeof hand);
    paths[2] = temp_file(".txt", text, strlen(text));
    for (int i = 0; i < 3; i++) {
        v = NULL;
        n = 0;
        cr_assert_eq(sio_read_file(paths[i], SIO_FORMAT_AUTO, &v, &n, &err), SIO_OK, "%s: %s",
                     paths[i], err.text);
        cr_assert_eq(n, 6);
        cr_assert_arr_eq(v, hand, sizeof hand);
        free(v);
        unlink(paths[i]);
        free(paths[i]);
    }
}

Test(files, empty_files)
{
    char *path = temp_file(".f32", "", 0);
    float *v = NULL;
    size_t n = 7;
    sio_error err;

    cr_assert_eq(sio_read_file(path, SIO_FORMAT_AUTO, &v, &n, &err), SIO_OK);
    cr_assert_eq(n, 0);
    free(v);
    cr_assert_eq(sio_read_file(path, SIO_FORMAT_NPY, &v, &n, &err), SIO_EFORMAT);
    cr_assert_not_null(strstr(err.text, "npy: empty file (0 bytes)"), "%s", err.text);
    unlink(path);
    free(path);
}

Test(files, missing_file_and_directory)
{
    float *v = NULL;
    size_t n = 0;
    sio_error err;
    char msg[300];

    cr_assert_eq(sio_read_file("/nonexistent/x.npy", SIO_FORMAT_AUTO, &v, &n, &err), SIO_EIO);
    cr_assert_str_eq(sio_error_string(&err, "/nonexistent/x.npy", msg, sizeof msg),
                     "/nonexistent/x.npy: cannot open: No such file or directory");
    cr_assert_eq(sio_read_file("/tmp", SIO_FORMAT_AUTO, &v, &n, &err), SIO_EIO);
    cr_assert_not_null(strstr(err.text, "directory"));
    cr_assert_null(v);
}

/* "-" reads standard input to its end: here a pipe fed by a child process
 * with more than the 64 KiB first read buffer. */
Test(files, stdin_pipe)
{
    int fds[2];
    pid_t pid;
    float *v = NULL;
    size_t n = 0, count = 50000;
    sio_error err;

    cr_assert_eq(pipe(fds), 0);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        FILE *w = fdopen(fds[1], "w");
        close(fds[0]);
        for (size_t i = 0; i < count; i++)
            fprintf(w, "%zu.5,\n", i);
        fclose(w);
        _exit(0);
    }
    close(fds[1]);
    cr_assert_eq(dup2(fds[0], STDIN_FILENO), STDIN_FILENO);
    close(fds[0]);
    cr_assert_eq(sio_read_file("-", SIO_FORMAT_AUTO, &v, &n, &err), SIO_OK, "%s", err.text);
    waitpid(pid, NULL, 0);
    cr_assert_eq(n, count);
    for (size_t i = 0; i < count; i++)
        cr_assert_eq(v[i], (float)i + 0.5f);
    free(v);
}

Test(files, error_string_names_position)
{
    sio_error err = {3, 7, "expected a number, found 'x'"};
    char msg[300];

    cr_assert_str_eq(sio_error_string(&err, "a.txt", msg, sizeof msg),
                     "a.txt:3:7: expected a number, found 'x'");
    cr_assert_str_eq(sio_error_string(&err, "-", msg, sizeof msg),
                     "<stdin>:3:7: expected a number, found 'x'");
}

/* The committed fixtures, written byte-exactly like numpy.save. */
static char *fixture(const char *name)
{
    const char *dir = getenv("HTGA_TEST_DATA");
    char *path = malloc(4096);

    cr_assert_not_null(dir, "HTGA_TEST_DATA not set");
    snprintf(path, 4096, "%s/%s", dir, name);
    return path;
}

Test(fixtures, committed_files)
{
    static const char *good[] = {"hand_f4.npy", "hand_f8_2x3.npy", "hand.f32", "hand.txt"};
    static const struct {
        const char *name, *want;
    } bad[] = {{"int32.npy", "'<i4'"}, {"fortran_f4.npy", "fortran_order"}};
    float *v;
    size_t n;
    sio_error err;

    for (size_t i = 0; i < 4; i++) {
        char *path = fixture(good[i]);
        v = NULL;
        cr_assert_eq(sio_read_file(path, SIO_FORMAT_AUTO, &v, &n, &err), SIO_OK, "%s: %s", path,
                     err.text);
        cr_assert_eq(n, 6);
        cr_assert_arr_eq(v, hand, sizeof hand, "%s", path);
        free(v);
        free(path);
    }
    for (size_t i = 0; i < 2; i++) {
        char *path = fixture(bad[i].name);
        cr_assert_eq(sio_read_file(path, SIO_FORMAT_AUTO, &v, &n, &err), SIO_EFORMAT);
        cr_assert_not_null(strstr(err.text, bad[i].want), "%s: %s", path, err.text);
        free(path);
    }
}
