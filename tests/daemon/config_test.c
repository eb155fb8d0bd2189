/* Unit tests of daemon/config.c: defaults, flags, file, precedence, errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static int parse(htgad_config *cfg, config_error *err, int argc, char **argv)
{
    FILE *out = fopen("/dev/null", "w");
    int rc = config_parse_args(cfg, argc, argv, out, err);

    fclose(out);
    return rc;
}

static char *write_file(const char *text)
{
    static char path[64];
    int fd;

    strcpy(path, "/tmp/htgad-cfg-XXXXXX");
    fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

Test(config, defaults)
{
    htgad_config c;
    config_error e;
    char *argv[] = {"htgad"};

    cr_assert_eq(parse(&c, &e, 1, argv), CONFIG_RUN);
    cr_assert_str_eq(c.db, "htga.db");
    cr_assert_str_eq(c.listen, "tcp://127.0.0.1:5555");
    cr_assert_eq(c.block_samples, 65536);
    cr_assert_eq(c.window_steps, 32);
    cr_assert_eq(c.queue_bytes, 64u << 20);
    cr_assert_geq(c.estimators, 1); /* auto: the processors less one */
    cr_assert_leq(c.estimators, 64);
    cr_assert_eq(c.test_estimate_delay_us, 0);
    cr_assert_eq(c.k_rule.kind, EST_K_SQRT);
    cr_assert_eq(c.policy.kind, POLICY_LINEAR);
    cr_assert_float_eq(c.policy.param, 1.0, 0);
    cr_assert_float_eq(c.policy.ema, 0.0, 0);
    cr_assert_str_eq(c.http, "127.0.0.1:8080");
    cr_assert_eq(c.max_streams, 1024);
    cr_assert_eq(c.stream_idle_s, 600);
    cr_assert_eq(c.metrics_expire_s, 3600);
    cr_assert_eq(c.background_nice, 0);
    cr_assert_str_eq(c.web_root, ""); /* the installed copy, else ./web */
}

Test(config, flags_both_forms)
{
    htgad_config c;
    config_error e;
    char *argv[] = {"htgad",        "--db",         "/tmp/x.db",      "--block-samples=1000",
                    "--policy",     "power:2",      "--ema",          "0.5",
                    "--lambda-min", "0.01",         "--k-rule",       "frac:0.05",
                    "--http",       "off",          "--listen",       "tcp://127.0.0.1:*",
                    "--log-level",  "debug",        "--window-steps", "8",
                    "--web-root",   "/srv/htga/web"};

    cr_assert_eq(parse(&c, &e, (int)(sizeof(argv) / sizeof(argv[0])), argv), CONFIG_RUN, "%s",
                 e.text);
    cr_assert_str_eq(c.db, "/tmp/x.db");
    cr_assert_eq(c.block_samples, 1000);
    cr_assert_eq(c.policy.kind, POLICY_POWER);
    cr_assert_float_eq(c.policy.param, 2.0, 0);
    cr_assert_float_eq(c.policy.ema, 0.5, 0);
    cr_assert_float_eq(c.policy.lambda_min, 0.01, 0);
    cr_assert_eq(c.k_rule.kind, EST_K_FRAC);
    cr_assert_str_eq(c.http, "off");
    cr_assert_str_eq(c.listen, "tcp://127.0.0.1:*");
    cr_assert_eq(c.window_steps, 8);
    cr_assert_str_eq(c.web_root, "/srv/htga/web");
}

Test(config, file_then_flags_win)
{
    htgad_config c;
    config_error e;
    char *path = write_file("# htgad settings\n"
                            "db /tmp/file.db\n"
                            "block-samples = 2048\n"
                            "  policy   linear:3   \n"
                            "\n"
                            "lambda-max = \"20\"\n"
                            "ema 0.25\n"
                            "web-root = \"/opt/htga/share/htga/web\"\n");
    char *argv[] = {"htgad", "--block-samples", "4096", "--config", path};

    cr_assert_eq(parse(&c, &e, 5, argv), CONFIG_RUN, "%s", e.text);
    cr_assert_str_eq(c.db, "/tmp/file.db");
    cr_assert_eq(c.block_samples, 4096); /* the flag wins, wherever it is */
    cr_assert_float_eq(c.policy.param, 3.0, 0);
    cr_assert_float_eq(c.policy.lambda_max, 20.0, 0);
    cr_assert_float_eq(c.policy.ema, 0.25, 0);
    cr_assert_str_eq(c.web_root, "/opt/htga/share/htga/web");
    unlink(path);
}

Test(config, file_errors_name_the_line)
{
    htgad_config c;
    config_error e;
    char *path = write_file("db a.db\nbogus 3\n");
    char *argv[] = {"htgad", "--config", path};

    cr_assert_eq(parse(&c, &e, 3, argv), CONFIG_ERROR);
    cr_assert(strstr(e.text, ":2:") != NULL, "%s", e.text);
    cr_assert(strstr(e.text, "bogus") != NULL, "%s", e.text);
    unlink(path);
    path = write_file("block-samples 12x\n");
    argv[2] = path;
    cr_assert_eq(parse(&c, &e, 3, argv), CONFIG_ERROR);
    cr_assert(strstr(e.text, ":1:") != NULL, "%s", e.text);
    unlink(path);
    path = write_file("justakey\n");
    argv[2] = path;
    cr_assert_eq(parse(&c, &e, 3, argv), CONFIG_ERROR);
    unlink(path);
    argv[2] = "/nonexistent/htgad.conf";
    cr_assert_eq(parse(&c, &e, 3, argv), CONFIG_ERROR);
}

/* Bytes no config file holds: a NUL (said as such, not "line too long"), a
 * line longer than any setting, and an endless stream without newlines,
 * which is refused without reading it all. */
Test(config, binary_and_endless_files_refused, .timeout = 20)
{
    htgad_config c;
    config_error e;
    char path[] = "/tmp/htgad-cfg-XXXXXX";
    char *argv[] = {"htgad", "--config", path};
    int fd = mkstemp(path);

    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, "db a.db\nlisten x\0y\n", 20), 20);
    close(fd);
    cr_assert_eq(parse(&c, &e, 3, argv), CONFIG_ERROR);
    cr_assert(strstr(e.text, ":2: NUL byte") != NULL, "%s", e.text);
    unlink(path);

    char *long_line = malloc(10000);
    memset(long_line, 'x', 9998);
    memcpy(long_line, "db ", 3);
    long_line[9998] = '\n';
    long_line[9999] = '\0';
    argv[2] = write_file(long_line);
    free(long_line);
    cr_assert_eq(parse(&c, &e, 3, argv), CONFIG_ERROR);
    cr_assert(strstr(e.text, ":1: line too long") != NULL, "%s", e.text);
    unlink(argv[2]);

    argv[2] = "/dev/zero";
    cr_assert_eq(parse(&c, &e, 3, argv), CONFIG_ERROR);
    cr_assert(strstr(e.text, "/dev/zero:1: NUL byte") != NULL, "%s", e.text);
}

static void expect_bad(const char *key, const char *value)
{
    htgad_config c;
    config_error e;
    char flag[64];
    char *argv[3];

    snprintf(flag, sizeof(flag), "--%s", key);
    argv[0] = "htgad";
    argv[1] = flag;
    argv[2] = (char *)value;
    cr_assert_eq(parse(&c, &e, 3, argv), CONFIG_ERROR, "--%s %s accepted", key, value);
    cr_assert(strlen(e.text) > 0);
}

Test(config, bad_values_are_refused)
{
    expect_bad("block-samples", "0");
    expect_bad("block-samples", "-5");
    expect_bad("block-samples", "abc");
    expect_bad("block-samples", "99999999999999999999999");
    expect_bad("window-steps", "-1");
    expect_bad("k-rule", "cubic");
    expect_bad("policy", "linear:0");
    expect_bad("policy", "power:1");
    expect_bad("policy", "quadratic:2");
    expect_bad("lambda-min", "0");
    expect_bad("lambda-min", "nan");
    expect_bad("lambda-max", "inf");
    expect_bad("ema", "1");
    expect_bad("ema", "-0.1");
    expect_bad("max-streams", "0");
    expect_bad("stream-idle-s", "0");
    expect_bad("stream-idle-s", "1.5");
    expect_bad("metrics-expire-s", "0");
    expect_bad("metrics-expire-s", "99999999999");
    expect_bad("background-nice", "20");
    expect_bad("background-nice", "-1");
    expect_bad("estimators", "0");
    expect_bad("estimators", "65");
    expect_bad("estimators", "many");
    expect_bad("queue-bytes", "1000"); /* under 1M */
    expect_bad("queue-bytes", "65G");  /* over 64G */
    expect_bad("queue-bytes", "12Q");
    expect_bad("queue-bytes", "M");
    expect_bad("queue-bytes", "99999999999999999999");
    expect_bad("test-estimate-delay-us", "-1");
    expect_bad("log-level", "loud");
    expect_bad("listen", "http://127.0.0.1:80");
    expect_bad("listen", "tcp://127.0.0.1:0");
    expect_bad("listen", "tcp://127.0.0.1:70000");
    expect_bad("http", "localhost");
    expect_bad("http", "127.0.0.1:0");
    expect_bad("db", "");
    expect_bad("token", "has space");
    expect_bad("peer-runs-per-s", "0");
    expect_bad("peer-runs-burst", "0");
    expect_bad("curve-secret-key", "short");
    expect_bad("curve-secret-key", "0123456789012345678901234567890123456789~"); /* 41 */
    expect_bad("curve-public-key", "012345678901234567890123456789012345678~");  /* not Z85 */
    expect_bad("curve-key-file", "/nonexistent/server.key");
    expect_bad("http-per-ip", "0");
    expect_bad("http-max-connections", "3");
    expect_bad("http-request-timeout-s", "0");
    expect_bad("nosuchflag", "1");
    static char long_path[CONFIG_PATH_MAX + 1];
    memset(long_path, 'w', CONFIG_PATH_MAX);
    expect_bad("web-root", long_path);
}

Test(config, sizes_and_auto)
{
    htgad_config c;
    config_error e;
    char *a1[] = {"htgad", "--queue-bytes", "256M", "--estimators", "3"};
    char *a2[] = {"htgad", "--queue-bytes", "2097152", "--estimators", "auto"};
    char *a3[] = {"htgad", "--queue-bytes", "1G", "--queue-blocks", "64"};

    cr_assert_eq(parse(&c, &e, 5, a1), CONFIG_RUN, "%s", e.text);
    cr_assert_eq(c.queue_bytes, 256u << 20);
    cr_assert_eq(c.estimators, 3);
    cr_assert_eq(parse(&c, &e, 5, a2), CONFIG_RUN, "%s", e.text);
    cr_assert_eq(c.queue_bytes, 2097152);
    cr_assert_geq(c.estimators, 1);
    cr_assert_eq(parse(&c, &e, 5, a3), CONFIG_RUN, "%s", e.text);
    cr_assert_eq(c.queue_bytes, 1ull << 30);
    cr_assert_eq(c.queue_blocks_old, 64); /* still accepted (main warns it is ignored) */
    expect_bad("queue-blocks", "0x10");
}

Test(config, cross_checks_and_syntax)
{
    htgad_config c;
    config_error e;
    char *a1[] = {"htgad", "--lambda-min", "5", "--lambda-max", "2"};
    char *a2[] = {"htgad", "--db"};
    char *a3[] = {"htgad", "stray"};
    char *a4[] = {"htgad", "--help"};
    char *a5[] = {"htgad", "--version"};

    cr_assert_eq(parse(&c, &e, 5, a1), CONFIG_ERROR);
    cr_assert(strstr(e.text, "lambda-max") != NULL, "%s", e.text);
    cr_assert_eq(parse(&c, &e, 2, a2), CONFIG_ERROR);
    cr_assert_eq(parse(&c, &e, 2, a3), CONFIG_ERROR);
    cr_assert_eq(parse(&c, &e, 2, a4), CONFIG_EXIT);
    cr_assert_eq(parse(&c, &e, 2, a5), CONFIG_EXIT);
}
