/*
 * policy.h - the lambda policy: from a block's estimate to a gradient scale.
 *
 * DESIGN: pure functions (no I/O, no clock, no allocation). Per block:
 *
 *   raw    = c * alpha          (linear:C, C > 0)
 *          = alpha^(-q)         (power:Q, Q > 1)
 *   lambda = ema * prev + (1 - ema) * raw   when a previous lambda exists
 *                                           and ema > 0; else raw
 *   lambda = clamp(lambda, lambda_min, lambda_max)
 *
 * alpha is the block's Hill estimate. When the estimate is unreliable the
 * lambda is exactly 1 (no smoothing, no clamp) and a reason code says why;
 * the checks, in this order, are:
 *
 *   POLICY_R_FEW_SAMPLES   n_used < POLICY_MIN_USED finite values
 *   POLICY_R_FEW_NONZERO   n_pos  < POLICY_MIN_POS values differ from the median
 *   POLICY_R_NO_HILL       no Hill estimate, or alpha not finite and > 0
 *   POLICY_R_CI_WIDE       (alpha_hi - alpha_lo) / alpha > POLICY_MAX_CI_REL
 *   POLICY_R_BAD_LAMBDA    the raw lambda is not finite or not > 0
 *
 * prev is the lambda of the latest reliable block of the same (run, group)
 * (reason POLICY_R_OK). A fallback block pushes lambda = 1 with its reason
 * but leaves the EMA state alone, so one bad block does not pull the smoothed
 * lambda toward 1; stored rows still explain every lambda (prev is the
 * lambda of the latest earlier row with lambda_reason = 0).
 */
#ifndef HTGAD_POLICY_H
#define HTGAD_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "estimators/est.h"

#define POLICY_MIN_USED   256
#define POLICY_MIN_POS    128
#define POLICY_MAX_CI_REL 1.0

typedef enum policy_kind {
    POLICY_LINEAR = 1,
    POLICY_POWER = 2,
} policy_kind;

typedef struct policy {
    policy_kind kind;
    double param; /* c (linear) or q (power) */
    double lambda_min;
    double lambda_max;
    double ema; /* weight kept from the previous lambda, [0, 1); 0 = off */
} policy;

typedef enum policy_reason {
    POLICY_R_OK = 0,
    POLICY_R_FEW_SAMPLES = 1,
    POLICY_R_FEW_NONZERO = 2,
    POLICY_R_NO_HILL = 3,
    POLICY_R_CI_WIDE = 4,
    POLICY_R_BAD_LAMBDA = 5,
    POLICY_R__COUNT
} policy_reason;

typedef struct policy_out {
    double lambda; /* the scale to push */
    double raw;    /* before smoothing and clamp; NaN on fallback */
    uint32_t reason;
} policy_out;

/* How a message names a policy's members: as htgad's flags and config file
 * do ("lambda-min", "linear:C") or as the HTTP API and the database do
 * ("lambda_min", "c"). */
typedef enum policy_names {
    POLICY_NAMES_FLAGS = 0,
    POLICY_NAMES_JSON = 1,
} policy_names;

/* The numeric members of a policy, for policy_set(). */
typedef enum policy_member {
    POLICY_M_PARAM = 0,
    POLICY_M_LAMBDA_MIN,
    POLICY_M_LAMBDA_MAX,
    POLICY_M_EMA,
} policy_member;

/* The default policy: linear:1, lambda in [0.1, 10], no smoothing. */
policy policy_default(void);

/* Parses "linear:C" or "power:Q" into p->kind and p->param (other fields
 * untouched). Returns 0, or -1 with *why set to static text. */
int policy_parse(const char *text, policy *p, const char **why);

/* "linear" or "power" (static); "unknown" for another value. */
const char *policy_kind_name(policy_kind kind);

/* The kind named name ("linear", "power"): 0 with *kind set, or -1. */
int policy_kind_of(const char *name, policy_kind *kind);

/* Sets member m of p to v when v alone satisfies the member's rule (param:
 * the range of p's kind; lambda_min and lambda_max: finite and > 0; ema:
 * [0, 1)). lambda_max >= lambda_min spans two members and is left to
 * policy_validate(). Returns 0, or -1 with p untouched and *why (when why is
 * not NULL) set to static text naming the member as `names` says. */
int policy_set(policy *p, policy_member m, double v, policy_names names, const char **why);

/* The one validator of a policy, wherever it comes from (flags, config
 * file, HTTP, the database): checks every field (kind, param range, 0 <
 * lambda_min <= lambda_max finite, ema in [0, 1)). Returns 0, or -1 with *why
 * (when why is not NULL) set to static text naming the first bad member as
 * `names` says. */
int policy_validate(const policy *p, policy_names names, const char **why);

/* Applies p to the estimate r. has_prev/prev: the previous lambda of the
 * same (run, group). Fills *out. */
void policy_apply(const policy *p, const est_result *r, int has_prev, double prev, policy_out *out);

/* The EMA state of one (run, group): the lambda of its latest reliable
 * block, when it has one. */
typedef struct policy_state {
    int has;
    double prev;
} policy_state;

/* policy_apply() with s's previous lambda, then carries s on: s becomes
 * out->lambda only when the block was reliable (out->reason == POLICY_R_OK);
 * a fallback leaves s as it was. */
void policy_step(const policy *p, const est_result *r, policy_state *s, policy_out *out);

/* 1 when a and b are the same policy (all fields equal). */
int policy_equal(const policy *a, const policy *b);

#endif /* HTGAD_POLICY_H */
