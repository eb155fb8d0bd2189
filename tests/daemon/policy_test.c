/* Unit tests of daemon/policy.c with hand-worked numbers. */
#include <criterion/criterion.h>
#include <math.h>

#include "policy.h"

/* A reliable estimate: 10000 values, alpha with a narrow interval. */
static est_result good(double alpha)
{
    est_result r;

    memset(&r, 0, sizeof(r));
    r.n = r.n_used = r.n_pos = 10000;
    r.has_hill = 1;
    r.hill.alpha = alpha;
    r.hill.k = 100;
    r.hill.ci_lo = alpha * 0.8;
    r.hill.ci_hi = alpha * 1.25;
    return r;
}

static policy pol(policy_kind kind, double param, double lo, double hi, double ema)
{
    policy p = {kind, param, lo, hi, ema};
    return p;
}

Test(policy, linear_is_c_times_alpha)
{
    policy p = pol(POLICY_LINEAR, 2.0, 0.1, 10.0, 0.0);
    est_result r = good(1.5);
    policy_out o;

    policy_apply(&p, &r, 0, 0, &o);
    cr_assert_eq(o.reason, POLICY_R_OK);
    cr_assert_float_eq(o.lambda, 3.0, 1e-12);
    cr_assert_float_eq(o.raw, 3.0, 1e-12);
}

Test(policy, power_is_alpha_to_minus_q)
{
    policy p = pol(POLICY_POWER, 2.0, 0.1, 10.0, 0.0);
    est_result r = good(2.0);
    policy_out o;

    policy_apply(&p, &r, 0, 0, &o);
    cr_assert_eq(o.reason, POLICY_R_OK);
    cr_assert_float_eq(o.lambda, 0.25, 1e-12);
    r = good(0.5); /* 0.5^-1.5 = 2.828427... */
    p.param = 1.5;
    policy_apply(&p, &r, 0, 0, &o);
    cr_assert_float_eq(o.lambda, 2.8284271247461903, 1e-12);
}

Test(policy, ema_keeps_beta_of_previous)
{
    policy p = pol(POLICY_LINEAR, 2.0, 0.1, 10.0, 0.5);
    est_result r = good(1.5); /* raw 3 */
    policy_out o;

    policy_apply(&p, &r, 1, 1.0, &o); /* 0.5*1 + 0.5*3 = 2 */
    cr_assert_float_eq(o.lambda, 2.0, 1e-12);
    cr_assert_float_eq(o.raw, 3.0, 1e-12);
    p.ema = 0.9; /* 0.9*2 + 0.1*3 = 2.1 */
    policy_apply(&p, &r, 1, 2.0, &o);
    cr_assert_float_eq(o.lambda, 2.1, 1e-12);
    policy_apply(&p, &r, 0, 2.0, &o); /* no previous lambda: raw */
    cr_assert_float_eq(o.lambda, 3.0, 1e-12);
}

Test(policy, clamp_after_ema)
{
    policy p = pol(POLICY_LINEAR, 10.0, 0.1, 10.0, 0.0);
    est_result r = good(3.0); /* raw 30 */
    policy_out o;

    policy_apply(&p, &r, 0, 0, &o);
    cr_assert_float_eq(o.lambda, 10.0, 1e-12);
    cr_assert_float_eq(o.raw, 30.0, 1e-12);
    p.ema = 0.5; /* 0.5*1 + 0.5*30 = 15.5 -> 10 */
    policy_apply(&p, &r, 1, 1.0, &o);
    cr_assert_float_eq(o.lambda, 10.0, 1e-12);
    p = pol(POLICY_POWER, 4.0, 0.1, 10.0, 0.0); /* 3^-4 = 0.0123 -> 0.1 */
    policy_apply(&p, &r, 0, 0, &o);
    cr_assert_float_eq(o.lambda, 0.1, 1e-12);
    p.ema = 0.5; /* 0.5*0.3 + 0.5*0.0123 = 0.156 stays */
    policy_apply(&p, &r, 1, 0.3, &o);
    cr_assert_float_eq(o.lambda, 0.5 * 0.3 + 0.5 / 81.0, 1e-12);
}

Test(policy, fallbacks_give_exactly_one_with_a_reason)
{
    policy p = pol(POLICY_LINEAR, 1.0, 2.0, 10.0, 0.5); /* min 2: fallback is not clamped */
    est_result r;
    policy_out o;

    r = good(1.5);
    r.n_used = POLICY_MIN_USED - 1;
    policy_apply(&p, &r, 1, 5.0, &o);
    cr_assert_eq(o.reason, POLICY_R_FEW_SAMPLES);
    cr_assert_eq(o.lambda, 1.0);
    cr_assert(isnan(o.raw));

    r = good(1.5);
    r.n_pos = POLICY_MIN_POS - 1;
    policy_apply(&p, &r, 1, 5.0, &o);
    cr_assert_eq(o.reason, POLICY_R_FEW_NONZERO);
    cr_assert_eq(o.lambda, 1.0);

    r = good(1.5);
    r.has_hill = 0;
    policy_apply(&p, &r, 1, 5.0, &o);
    cr_assert_eq(o.reason, POLICY_R_NO_HILL);

    r = good(INFINITY);
    policy_apply(&p, &r, 1, 5.0, &o);
    cr_assert_eq(o.reason, POLICY_R_NO_HILL);

    r = good(1.5); /* (3 - 0.5) / 1.5 = 1.67 > 1 */
    r.hill.ci_lo = 0.5;
    r.hill.ci_hi = 3.0;
    policy_apply(&p, &r, 1, 5.0, &o);
    cr_assert_eq(o.reason, POLICY_R_CI_WIDE);
    cr_assert_eq(o.lambda, 1.0);

    r = good(1.5); /* exactly 1.0 relative width is still reliable */
    r.hill.ci_lo = 1.0;
    r.hill.ci_hi = 2.5;
    policy_apply(&p, &r, 0, 0, &o);
    cr_assert_eq(o.reason, POLICY_R_OK);
    cr_assert_float_eq(o.lambda, 2.0, 1e-12); /* 1.5 clamped up to 2 */
}

/* A fallback pushes 1 but the EMA goes on from the last reliable lambda:
 * linear:2, ema 0.5: alpha 1 -> 2; fallback -> 1 (state stays 2);
 * alpha 2 (raw 4) -> 0.5*2 + 0.5*4 = 3, not 0.5*1 + 0.5*4 = 2.5. */
Test(policy, ema_skips_fallback_blocks)
{
    policy p = pol(POLICY_LINEAR, 2.0, 0.1, 10.0, 0.5);
    policy_state s = {0, 0.0};
    est_result r = good(1.0);
    policy_out o;

    policy_step(&p, &r, &s, &o);
    cr_assert_float_eq(o.lambda, 2.0, 1e-12);
    cr_assert(s.has);
    cr_assert_float_eq(s.prev, 2.0, 1e-12);

    r.n_used = POLICY_MIN_USED - 1;
    policy_step(&p, &r, &s, &o);
    cr_assert_eq(o.reason, POLICY_R_FEW_SAMPLES);
    cr_assert_eq(o.lambda, 1.0);
    cr_assert_float_eq(s.prev, 2.0, 1e-12, "a fallback leaves the EMA state alone");

    r = good(2.0);
    policy_step(&p, &r, &s, &o);
    cr_assert_eq(o.reason, POLICY_R_OK);
    cr_assert_float_eq(o.lambda, 3.0, 1e-12);
    cr_assert_float_eq(s.prev, 3.0, 1e-12);
}

/* A fallback as the very first block leaves no state: the next reliable
 * block is not smoothed. */
Test(policy, first_block_fallback_leaves_no_state)
{
    policy p = pol(POLICY_LINEAR, 2.0, 0.1, 10.0, 0.5);
    policy_state s = {0, 0.0};
    est_result r = good(1.5);
    policy_out o;

    r.has_hill = 0;
    policy_step(&p, &r, &s, &o);
    cr_assert_eq(o.reason, POLICY_R_NO_HILL);
    cr_assert_eq(s.has, 0);
    r = good(1.5);
    policy_step(&p, &r, &s, &o);
    cr_assert_float_eq(o.lambda, 3.0, 1e-12);
}

Test(policy, parse_and_validate)
{
    policy p = policy_default();
    const char *why = NULL;

    cr_assert_eq(policy_parse("linear:2.5", &p, &why), 0);
    cr_assert_eq(p.kind, POLICY_LINEAR);
    cr_assert_float_eq(p.param, 2.5, 0);
    cr_assert_eq(policy_parse("power:1.5", &p, &why), 0);
    cr_assert_eq(p.kind, POLICY_POWER);
    cr_assert_float_eq(p.param, 1.5, 0);
    cr_assert_eq(policy_parse("power:1", &p, &why), -1);
    cr_assert_not_null(why);
    cr_assert_eq(policy_parse("linear:0", &p, &why), -1);
    cr_assert_eq(policy_parse("linear:-1", &p, &why), -1);
    cr_assert_eq(policy_parse("linear:", &p, &why), -1);
    cr_assert_eq(policy_parse("linear:1x", &p, &why), -1);
    cr_assert_eq(policy_parse("linear:nan", &p, &why), -1);
    cr_assert_eq(policy_parse("quadratic:2", &p, &why), -1);
    p = policy_default();
    cr_assert_eq(policy_validate(&p, POLICY_NAMES_FLAGS, &why), 0);
    cr_assert_eq(policy_validate(&p, POLICY_NAMES_JSON, NULL), 0);
    p.lambda_min = 5;
    p.lambda_max = 4;
    cr_assert_eq(policy_validate(&p, POLICY_NAMES_FLAGS, &why), -1);
    cr_assert_str_eq(why, "lambda-max must be >= lambda-min");
    cr_assert_eq(policy_validate(&p, POLICY_NAMES_JSON, &why), -1);
    cr_assert_str_eq(why, "lambda_max must be >= lambda_min");
    p = policy_default();
    p.ema = 1.0;
    cr_assert_eq(policy_validate(&p, POLICY_NAMES_FLAGS, &why), -1);
    cr_assert_str_eq(why, "ema must be in [0, 1)");
    p = policy_default();
    p.kind = POLICY_POWER; /* param 1 is a valid c, not a valid q */
    cr_assert_eq(policy_validate(&p, POLICY_NAMES_JSON, &why), -1);
    cr_assert_str_eq(why, "power policy needs a finite q > 1");
    p.kind = (policy_kind)7;
    cr_assert_eq(policy_validate(&p, POLICY_NAMES_JSON, &why), -1);
    cr_assert_str_eq(why, "kind must be \"linear\" or \"power\"");
    p = policy_default();
    p.lambda_max = INFINITY;
    cr_assert_eq(policy_validate(&p, POLICY_NAMES_FLAGS, &why), -1);
    cr_assert_str_eq(why, "lambda-max must be finite and > 0");
}

/* policy_set checks one member against the rule policy_validate applies to
 * it, and leaves the policy alone when it refuses. */
Test(policy, set_member)
{
    policy p = policy_default();
    const char *why = NULL;

    cr_assert_eq(policy_set(&p, POLICY_M_LAMBDA_MIN, 0.5, POLICY_NAMES_FLAGS, &why), 0);
    cr_assert_float_eq(p.lambda_min, 0.5, 0);
    cr_assert_eq(policy_set(&p, POLICY_M_LAMBDA_MIN, 0, POLICY_NAMES_FLAGS, &why), -1);
    cr_assert_str_eq(why, "lambda-min must be finite and > 0");
    cr_assert_float_eq(p.lambda_min, 0.5, 0, "a refused value leaves the member");
    cr_assert_eq(policy_set(&p, POLICY_M_LAMBDA_MAX, NAN, POLICY_NAMES_JSON, &why), -1);
    cr_assert_str_eq(why, "lambda_max must be finite and > 0");
    cr_assert_eq(policy_set(&p, POLICY_M_EMA, -0.1, POLICY_NAMES_JSON, &why), -1);
    cr_assert_eq(policy_set(&p, POLICY_M_EMA, 0.9, POLICY_NAMES_JSON, &why), 0);
    cr_assert_float_eq(p.ema, 0.9, 0);
    cr_assert_eq(policy_set(&p, POLICY_M_PARAM, 1.0, POLICY_NAMES_JSON, &why), 0, "c = 1");
    p.kind = POLICY_POWER;
    cr_assert_eq(policy_set(&p, POLICY_M_PARAM, 1.0, POLICY_NAMES_JSON, &why), -1, "q = 1");
    cr_assert_str_eq(why, "power policy needs a finite q > 1");
    /* lambda_max below lambda_min passes policy_set (one member at a time)
     * and fails policy_validate */
    p = policy_default();
    cr_assert_eq(policy_set(&p, POLICY_M_LAMBDA_MAX, 0.05, POLICY_NAMES_JSON, &why), 0);
    cr_assert_eq(policy_validate(&p, POLICY_NAMES_JSON, &why), -1);
}

Test(policy, kind_names)
{
    policy_kind k = POLICY_LINEAR;

    cr_assert_str_eq(policy_kind_name(POLICY_LINEAR), "linear");
    cr_assert_str_eq(policy_kind_name(POLICY_POWER), "power");
    cr_assert_eq(policy_kind_of("power", &k), 0);
    cr_assert_eq(k, POLICY_POWER);
    cr_assert_eq(policy_kind_of("Power", &k), -1);
    cr_assert_eq(policy_kind_of(NULL, &k), -1);
    cr_assert_eq(k, POLICY_POWER, "a refused name leaves *kind");
}
