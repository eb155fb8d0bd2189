/*
 * policy.c - the lambda policy (see policy.h for the pinned formulas).
 *
 * DESIGN: pure and small, so every branch is covered by hand-worked numbers
 * in tests/daemon/policy_test.c.
 */
#include "policy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const reason_names[POLICY_R__COUNT] = {
    "ok", "few_samples", "few_nonzero", "no_hill", "ci_wide", "bad_lambda",
};

policy policy_default(void)
{
    policy p = {
        .kind = POLICY_LINEAR, .param = 1.0, .lambda_min = 0.1, .lambda_max = 10.0, .ema = 0.0};
    return p;
}

static int parse_double(const char *s, double *out)
{
    char *end;

    if (*s == '\0')
        return -1;
    *out = strtod(s, &end);
    if (*end != '\0' || !isfinite(*out))
        return -1;
    return 0;
}

int policy_parse(const char *text, policy *p, const char **why)
{
    double v;

    if (strncmp(text, "linear:", 7) == 0) {
        if (parse_double(text + 7, &v) < 0 || !(v > 0)) {
            *why = "linear:C needs a finite C > 0";
            return -1;
        }
        p->kind = POLICY_LINEAR;
    } else if (strncmp(text, "power:", 6) == 0) {
        if (parse_double(text + 6, &v) < 0 || !(v > 1)) {
            *why = "power:Q needs a finite Q > 1";
            return -1;
        }
        p->kind = POLICY_POWER;
    } else {
        *why = "expected linear:C or power:Q";
        return -1;
    }
    p->param = v;
    return 0;
}

void policy_format(const policy *p, char *buf, size_t len)
{
    snprintf(buf, len, "%s:%.17g", p->kind == POLICY_POWER ? "power" : "linear", p->param);
}

int policy_validate(const policy *p, const char **why)
{
    if (p->kind == POLICY_LINEAR && !(isfinite(p->param) && p->param > 0)) {
        *why = "linear:C needs a finite C > 0";
        return -1;
    }
    if (p->kind == POLICY_POWER && !(isfinite(p->param) && p->param > 1)) {
        *why = "power:Q needs a finite Q > 1";
        return -1;
    }
    if (p->kind != POLICY_LINEAR && p->kind != POLICY_POWER) {
        *why = "unknown policy kind";
        return -1;
    }
    if (!(isfinite(p->lambda_min) && p->lambda_min > 0)) {
        *why = "lambda-min must be finite and > 0";
        return -1;
    }
    if (!(isfinite(p->lambda_max) && p->lambda_max >= p->lambda_min)) {
        *why = "lambda-max must be finite and >= lambda-min";
        return -1;
    }
    if (!(p->ema >= 0 && p->ema < 1)) {
        *why = "ema must be in [0, 1)";
        return -1;
    }
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

const char *policy_reason_name(uint32_t reason)
{
    if (reason >= POLICY_R__COUNT)
        return "unknown";
    return reason_names[reason];
}

int policy_equal(const policy *a, const policy *b)
{
    return a->kind == b->kind && a->param == b->param && a->lambda_min == b->lambda_min &&
           a->lambda_max == b->lambda_max && a->ema == b->ema;
}
