/*
 * policy.c - the lambda policy (see policy.h for the pinned formulas).
 *
 * DESIGN: pure and small, so every branch is covered by hand-worked numbers
 * in tests/daemon/policy_test.c.
 */
#include "policy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

policy policy_default(void)
{
    policy p = {
        .kind = POLICY_LINEAR, .param = 1.0, .lambda_min = 0.1, .lambda_max = 10.0, .ema = 0.0};
    return p;
}

/* The rules a policy obeys, each with its message as flags and as the
 * HTTP API name the members (policy_names). */
enum rule {
    RULE_OK = -1,
    RULE_KIND,
    RULE_LINEAR,
    RULE_POWER,
    RULE_MIN,
    RULE_MAX,
    RULE_ORDER,
    RULE_EMA
};
static const char *const rule_text[][2] = {
    [RULE_KIND] = {"expected linear:C or power:Q", "kind must be \"linear\" or \"power\""},
    [RULE_LINEAR] = {"linear:C needs a finite C > 0", "linear policy needs a finite c > 0"},
    [RULE_POWER] = {"power:Q needs a finite Q > 1", "power policy needs a finite q > 1"},
    [RULE_MIN] = {"lambda-min must be finite and > 0", "lambda_min must be finite and > 0"},
    [RULE_MAX] = {"lambda-max must be finite and > 0", "lambda_max must be finite and > 0"},
    [RULE_ORDER] = {"lambda-max must be >= lambda-min", "lambda_max must be >= lambda_min"},
    [RULE_EMA] = {"ema must be in [0, 1)", "ema must be in [0, 1)"},
};

static int fail(enum rule r, policy_names names, const char **why)
{
    if (why)
        *why = rule_text[r][names == POLICY_NAMES_JSON];
    return -1;
}

/* The rule v breaks as member m of a policy of this kind, or RULE_OK. */
static enum rule check_member(policy_kind kind, policy_member m, double v)
{
    switch (m) {
    case POLICY_M_PARAM:
        if (kind == POLICY_LINEAR)
            return isfinite(v) && v > 0 ? RULE_OK : RULE_LINEAR;
        if (kind == POLICY_POWER)
            return isfinite(v) && v > 1 ? RULE_OK : RULE_POWER;
        return RULE_KIND;
    case POLICY_M_LAMBDA_MIN:
        return isfinite(v) && v > 0 ? RULE_OK : RULE_MIN;
    case POLICY_M_LAMBDA_MAX:
        return isfinite(v) && v > 0 ? RULE_OK : RULE_MAX;
    case POLICY_M_EMA:
        return v >= 0 && v < 1 ? RULE_OK : RULE_EMA;
    }
    return RULE_KIND;
}

static int parse_double(const char *s, double *out)
{
    char *end;

    if (*s == '\0')
        return -1;
    *out = strtod(s, &end);
    return *end == '\0' ? 0 : -1;
}

int policy_parse(const char *text, policy *p, const char **why)
{
    policy_kind kind;
    double v;
    enum rule r;

    if (strncmp(text, "linear:", 7) == 0)
        kind = POLICY_LINEAR;
    else if (strncmp(text, "power:", 6) == 0)
        kind = POLICY_POWER;
    else
        return fail(RULE_KIND, POLICY_NAMES_FLAGS, why);
    if (parse_double(strchr(text, ':') + 1, &v) < 0)
        v = NAN; /* not a number: refused with the kind's rule */
    if ((r = check_member(kind, POLICY_M_PARAM, v)) != RULE_OK)
        return fail(r, POLICY_NAMES_FLAGS, why);
    p->kind = kind;
    p->param = v;
    return 0;
}

const char *policy_kind_name(policy_kind kind)
{
    return kind == POLICY_LINEAR ? "linear" : kind == POLICY_POWER ? "power" : "unknown";
}

int policy_kind_of(const char *name, policy_kind *kind)
{
    if (name != NULL && strcmp(name, "linear") == 0)
        *kind = POLICY_LINEAR;
    else if (name != NULL && strcmp(name, "power") == 0)
        *kind = POLICY_POWER;
    else
        return -1;
    return 0;
}

int policy_set(policy *p, policy_member m, double v, policy_names names, const char **why)
{
    enum rule r = check_member(p->kind, m, v);

    if (r != RULE_OK)
        return fail(r, names, why);
    switch (m) {
    case POLICY_M_PARAM:
        p->param = v;
        break;
    case POLICY_M_LAMBDA_MIN:
        p->lambda_min = v;
        break;
    case POLICY_M_LAMBDA_MAX:
        p->lambda_max = v;
        break;
    case POLICY_M_EMA:
        p->ema = v;
        break;
    }
    return 0;
}

int policy_validate(const policy *p, policy_names names, const char **why)
{
    const struct {
        policy_member m;
        double v;
    } members[] = {
        {POLICY_M_PARAM, p->param},
        {POLICY_M_LAMBDA_MIN, p->lambda_min},
        {POLICY_M_LAMBDA_MAX, p->lambda_max},
        {POLICY_M_EMA, p->ema},
    };
    enum rule r;

    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++)
        if ((r = check_member(p->kind, members[i].m, members[i].v)) != RULE_OK)
            return fail(r, names, why);
    if (!(p->lambda_max >= p->lambda_min))
        return fail(RULE_ORDER, names, why);
    return 0;
}

static uint32_t reliability(const est_result *r)
{
    if (r->n_used < POLICY_MIN_USED)
        return POLICY_R_FEW_SAMPLES;
    if (r->n_pos < POLICY_MIN_POS)
        return POLICY_R_FEW_NONZERO;
    if (!r->has_hill || !isfinite(r->hill.alpha) || !(r->hill.alpha > 0))
        return POLICY_R_NO_HILL;
    if (!((r->hill.ci_hi - r->hill.ci_lo) / r->hill.alpha <= POLICY_MAX_CI_REL))
        return POLICY_R_CI_WIDE;
    return POLICY_R_OK;
}

void policy_apply(const policy *p, const est_result *r, int has_prev, double prev, policy_out *out)
{
    double raw, lam;

    out->lambda = 1.0;
    out->raw = NAN;
    out->reason = reliability(r);
    if (out->reason != POLICY_R_OK)
        return;
    if (p->kind == POLICY_POWER)
        raw = pow(r->hill.alpha, -p->param);
    else
        raw = p->param * r->hill.alpha;
    if (!isfinite(raw) || !(raw > 0)) {
        out->reason = POLICY_R_BAD_LAMBDA;
        return;
    }
    lam = raw;
    if (has_prev && p->ema > 0 && isfinite(prev))
        lam = p->ema * prev + (1.0 - p->ema) * raw;
    if (lam < p->lambda_min)
        lam = p->lambda_min;
    if (lam > p->lambda_max)
        lam = p->lambda_max;
    out->raw = raw;
    out->lambda = lam;
}

void policy_step(const policy *p, const est_result *r, policy_state *s, policy_out *out)
{
    policy_apply(p, r, s->has, s->prev, out);
    if (out->reason != POLICY_R_OK)
        return;
    s->has = 1;
    s->prev = out->lambda;
}

int policy_equal(const policy *a, const policy *b)
{
    return a->kind == b->kind && a->param == b->param && a->lambda_min == b->lambda_min &&
           a->lambda_max == b->lambda_max && a->ema == b->ema;
}
