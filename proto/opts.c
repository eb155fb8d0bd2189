/*
 * opts.c - the `--key value` parser of the small programs (opts.h).
 */
#include "opts.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const opt_spec *find(const opt_spec *specs, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(specs[i].name, key) == 0)
            return &specs[i];
    }
    return NULL;
}

static int in_range(const opt_spec *s, double v)
{
    return s->min > s->max || (v >= s->min && v <= s->max);
}

/* Stores v (the text of s's value) in s->dst; 0, or -1 with err set. */
static int store(const opt_spec *s, const char *v, char *err, size_t errsize)
{
    char *end = NULL;

    errno = 0;
    switch (s->type) {
    case OPT_STR:
        *(const char **)s->dst = v;
        return 0;
    case OPT_LONG: {
        long x = strtol(v, &end, 10);
        if (*v == '\0' || *end != '\0' || errno != 0)
            break;
        if (!in_range(s, (double)x))
            goto range;
        *(long *)s->dst = x;
        return 0;
    }
    case OPT_DOUBLE: {
        double x = strtod(v, &end);
        if (*v == '\0' || *end != '\0' || errno != 0 || !isfinite(x))
            break;
        if (!in_range(s, x))
            goto range;
        *(double *)s->dst = x;
        return 0;
    }
    case OPT_U64: {
        unsigned long long x = strtoull(v, &end, 10);
        if (*v == '\0' || *end != '\0' || errno != 0 || strchr(v, '-') != NULL)
            break;
        if (!in_range(s, (double)x))
            goto range;
        *(uint64_t *)s->dst = (uint64_t)x;
        return 0;
    }
    }
    snprintf(err, errsize, "%s: '%s' is not %s", s->name, v,
             s->type == OPT_DOUBLE ? "a finite number" : "a whole number");
    return -1;
range:
    snprintf(err, errsize, "%s: %s is out of range [%.17g, %.17g]", s->name, v, s->min, s->max);
    return -1;
}

int opts_parse(int argc, char *const argv[], const opt_spec *specs, size_t n, char *err,
               size_t errsize)
{
    for (int i = 1; i < argc; i += 2) {
        const char *k = argv[i];
        const opt_spec *s;

        if (strcmp(k, "--help") == 0 || strcmp(k, "-h") == 0)
            return 1;
        s = find(specs, n, k);
        if (s == NULL) {
            snprintf(err, errsize, "unknown option '%s'", k);
            return -1;
        }
        if (i + 1 >= argc) {
            snprintf(err, errsize, "%s needs a value", k);
            return -1;
        }
        if (store(s, argv[i + 1], err, errsize) < 0)
            return -1;
    }
    return 0;
}

void opts_usage(FILE *f, const char *prog, const char *synopsis, const opt_spec *specs, size_t n)
{
    fprintf(f, "usage: %s %s\n", prog, synopsis);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "  %-18s %s\n", specs[i].name, specs[i].help ? specs[i].help : "");
}
