/*
 * krule.c - the rules that choose k, their text form, and their value.
 *
 * DESIGN: a rule is a small value type parsed from the same text on the
 * command line and in config files. Parsing is strict (no spaces, no signs,
 * the whole string consumed) so a typo is an error, not a silent default.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "est_internal.h"

static int parse_count(const char *s, size_t *out)
{
    if (*s < '0' || *s > '9')
        return EST_EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end != '\0' || v == 0 || v > SIZE_MAX)
        return EST_EINVAL;
    *out = (size_t)v;
    return EST_OK;
}

int est_k_rule_parse(const char *text, est_k_rule *rule)
{
    if (!text || !rule)
        return EST_EINVAL;
    est_k_rule r = {EST_K_SQRT, 0.0, 0};
    if (strcmp(text, "sqrt") == 0) {
        r.kind = EST_K_SQRT;
    } else if (strcmp(text, "auto") == 0) {
        r.kind = EST_K_AUTO;
    } else if (strncmp(text, "frac:", 5) == 0) {
        const char *s = text + 5;
        if (!((*s >= '0' && *s <= '9') || *s == '.'))
            return EST_EINVAL;
        errno = 0;
        char *end;
        double f = strtod(s, &end);
        if (errno || *end != '\0' || !(f > 0.0 && f < 1.0))
            return EST_EINVAL;
        r.kind = EST_K_FRAC;
        r.frac = f;
    } else {
        const char *s = strncmp(text, "fixed:", 6) == 0 ? text + 6 : text;
        if (parse_count(s, &r.k) != EST_OK)
            return EST_EINVAL;
        r.kind = EST_K_FIXED;
    }
    *rule = r;
    return EST_OK;
}

int est_k_rule_format(const est_k_rule *rule, char *buf, size_t len)
{
    if (!rule || !buf || len == 0)
        return EST_EINVAL;
    switch (rule->kind) {
    case EST_K_SQRT:
        snprintf(buf, len, "sqrt");
        return EST_OK;
    case EST_K_AUTO:
        snprintf(buf, len, "auto");
        return EST_OK;
    case EST_K_FIXED:
        if (rule->k == 0)
            return EST_EINVAL;
        snprintf(buf, len, "%zu", rule->k);
        return EST_OK;
    case EST_K_FRAC: {
        if (!(rule->frac > 0.0 && rule->frac < 1.0))
            return EST_EINVAL;
        /* shortest %g that reads back to the same double */
        char tmp[40];
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, rule->frac);
            if (strtod(tmp, NULL) == rule->frac)
                break;
        }
        snprintf(buf, len, "frac:%s", tmp);
        return EST_OK;
    }
    }
    return EST_EINVAL;
}

size_t est_k_from_rule(const est_k_rule *rule, size_t n_pos)
{
    if (n_pos < 3)
        return 0;
    size_t k;
    switch (rule ? rule->kind : EST_K_SQRT) {
    case EST_K_FRAC:
        k = rule->frac > 0 ? (size_t)floor(rule->frac * (double)n_pos) : 0;
        break;
    case EST_K_FIXED:
        k = rule->k;
        break;
    case EST_K_SQRT:
    case EST_K_AUTO:
    default:
        k = est_isqrt(n_pos);
        break;
    }
    if (k < 1)
        k = 1;
    if (k > n_pos - 1)
        k = n_pos - 1;
    return k;
}

int est_k_rule_valid(const est_k_rule *rule)
{
    if (!rule)
        return 1;
    switch (rule->kind) {
    case EST_K_SQRT:
    case EST_K_AUTO:
        return 1;
    case EST_K_FRAC:
        return rule->frac > 0.0 && rule->frac < 1.0;
    case EST_K_FIXED:
        return rule->k >= 1;
    }
    return 0;
}
