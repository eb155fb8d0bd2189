/*
 * opts_test.c - the small programs' `--key value` parser (proto/opts.c):
 * values of each type, defaults kept, and every bad command line refused
 * with its reason.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "opts.h"

typedef struct cfg {
    const char *name;
    long n;
    double x;
    uint64_t seed;
} cfg;

static int parse(cfg *c, char *err, int argc, char **argv)
{
    const opt_spec specs[] = {
        {"--name", OPT_STR, &c->name, 0, -1, NULL},
        {"--n", OPT_LONG, &c->n, 1, 100, NULL},
        {"--x", OPT_DOUBLE, &c->x, 0, 1, NULL},
        {"--seed", OPT_U64, &c->seed, 0, -1, NULL},
    };
    *c = (cfg){"default", 5, 0.5, 7};
    return opts_parse(argc, argv, specs, sizeof specs / sizeof specs[0], err, 160);
}

#define ARGV(...)                                                                                  \
    (char *[])                                                                                     \
    {                                                                                              \
        "prog", __VA_ARGS__, NULL                                                                  \
    }
#define ARGC(...)          ((int)(sizeof((char *[]){"prog", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(c, err, ...) parse(c, err, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

Test(opts, values_of_each_type_and_defaults_kept)
{
    cfg c;
    char err[160] = "";

    cr_assert_eq(PARSE(&c, err, "--n", "42", "--seed", "18446744073709551615"), 0, "%s", err);
    cr_assert_eq(c.n, 42);
    cr_assert_eq(c.seed, UINT64_MAX);
    cr_assert_str_eq(c.name, "default");
    cr_assert_eq(c.x, 0.5);
    cr_assert_eq(PARSE(&c, err, "--name", "r1", "--x", "0.25", "--x", "1"), 0, "%s", err);
    cr_assert_str_eq(c.name, "r1");
    cr_assert_eq(c.x, 1.0, "the last of a repeated option wins");
    cr_assert_eq(parse(&c, err, 1, (char *[]){"prog", NULL}), 0);
    cr_assert_eq(c.n, 5);
}

Test(opts, help_is_not_an_error)
{
    cfg c;
    char err[160];

    cr_assert_eq(PARSE(&c, err, "--help"), 1);
    cr_assert_eq(PARSE(&c, err, "--n", "3", "-h"), 1);
}

Test(opts, bad_command_lines_say_why)
{
    static const struct {
        char *k, *v;
        const char *why;
    } bad[] = {
        {"--nope", "1", "unknown option '--nope'"},
        {"--n", "12abc", "--n: '12abc' is not a whole number"},
        {"--n", "", "--n: '' is not a whole number"},
        {"--n", "0", "--n: 0 is out of range [1, 100]"},
        {"--n", "99999999999999999999", "--n: '99999999999999999999' is not a whole number"},
        {"--x", "nan", "--x: 'nan' is not a finite number"},
        {"--x", "1e999", "--x: '1e999' is not a finite number"},
        {"--x", "1.5", "--x: 1.5 is out of range [0, 1]"},
        {"--seed", "-1", "--seed: '-1' is not a whole number"},
    };
    cfg c;
    char err[160];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        cr_assert_eq(PARSE(&c, err, bad[i].k, bad[i].v), -1, "%s %s", bad[i].k, bad[i].v);
        cr_assert_str_eq(err, bad[i].why);
    }
    cr_assert_eq(PARSE(&c, err, "--n"), -1);
    cr_assert_str_eq(err, "--n needs a value");
    cr_assert_eq(c.n, 5, "a refused value is not stored");
}
