/*
 * krule_test.c - parsing, formatting and evaluating k rules.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "est.h"

Test(krule, parses_valid_rules)
{
    est_k_rule r;
    cr_assert_eq(est_k_rule_parse("sqrt", &r), EST_OK);
    cr_assert_eq(r.kind, EST_K_SQRT);
    cr_assert_eq(est_k_rule_parse("auto", &r), EST_OK);
    cr_assert_eq(r.kind, EST_K_AUTO);
    cr_assert_eq(est_k_rule_parse("frac:0.05", &r), EST_OK);
    cr_assert_eq(r.kind, EST_K_FRAC);
    cr_assert_eq(r.frac, 0.05);
    cr_assert_eq(est_k_rule_parse("frac:.5", &r), EST_OK);
    cr_assert_eq(r.frac, 0.5);
    cr_assert_eq(est_k_rule_parse("frac:1e-3", &r), EST_OK);
    cr_assert_eq(r.frac, 1e-3);
    cr_assert_eq(est_k_rule_parse("100", &r), EST_OK);
    cr_assert_eq(r.kind, EST_K_FIXED);
    cr_assert_eq(r.k, 100);
    cr_assert_eq(est_k_rule_parse("fixed:7", &r), EST_OK);
    cr_assert_eq(r.kind, EST_K_FIXED);
    cr_assert_eq(r.k, 7);
}

Test(krule, rejects_invalid_rules_and_keeps_rule)
{
    static const char *bad[] = {"",
                                "Sqrt",
                                "sqrt ",
                                " sqrt",
                                "0",
                                "-3",
                                "+3",
                                "1.5",
                                "10x",
                                "frac:",
                                "frac:0",
                                "frac:1",
                                "frac:-0.1",
                                "frac:1.5",
                                "frac:abc",
                                "frac:nan",
                                "frac:inf",
                                "frac:0.1 ",
                                "fixed:",
                                "fixed:0",
                                "fixed:-1",
                                "auto:3",
                                "99999999999999999999999999",
                                "frac"};
    est_k_rule r = {EST_K_FIXED, 0.0, 42};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(est_k_rule_parse(bad[i], &r), EST_EINVAL, "accepted \"%s\"", bad[i]);
        cr_assert_eq(r.kind, EST_K_FIXED);
        cr_assert_eq(r.k, 42);
    }
    cr_assert_eq(est_k_rule_parse(NULL, &r), EST_EINVAL);
    cr_assert_eq(est_k_rule_parse("sqrt", NULL), EST_EINVAL);
}

Test(krule, formats_canonically_and_round_trips)
{
    static const char *texts[] = {"sqrt", "auto", "frac:0.05", "frac:0.1", "100", "1"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        est_k_rule r;
        char buf[64];
        cr_assert_eq(est_k_rule_parse(texts[i], &r), EST_OK);
        cr_assert_eq(est_k_rule_format(&r, buf, sizeof buf), EST_OK);
        cr_assert_str_eq(buf, texts[i]);
    }
    est_k_rule r = {EST_K_FIXED, 0, 7}, back;
    char buf[64];
    est_k_rule_parse("fixed:7", &back);
    cr_assert_eq(est_k_rule_format(&back, buf, sizeof buf), EST_OK);
    cr_assert_str_eq(buf, "7");
    r.kind = EST_K_FRAC;
    r.frac = 1.0 / 3.0;
    cr_assert_eq(est_k_rule_format(&r, buf, sizeof buf), EST_OK);
    cr_assert_eq(est_k_rule_parse(buf, &back), EST_OK);
    cr_assert_eq(back.frac, r.frac);
    char small[4];
    cr_assert_eq(est_k_rule_format(&r, small, sizeof small), EST_OK);
    cr_assert_str_eq(small, "fra");
    cr_assert_eq(est_k_rule_format(&r, buf, 0), EST_EINVAL);
    r.frac = 2.0;
    cr_assert_eq(est_k_rule_format(&r, buf, sizeof buf), EST_EINVAL);
}

Test(krule, k_from_rule_and_clamping)
{
    est_k_rule sq = {EST_K_SQRT, 0, 0}, fr = {EST_K_FRAC, 0.1, 0}, fx = {EST_K_FIXED, 0, 50};
    cr_assert_eq(est_k_from_rule(NULL, 100), 10);
    cr_assert_eq(est_k_from_rule(&sq, 99), 9);
    cr_assert_eq(est_k_from_rule(&sq, 1000000), 1000);
    cr_assert_eq(est_k_from_rule(&sq, 999999), 999);
    cr_assert_eq(est_k_from_rule(&fr, 1000), 100);
    cr_assert_eq(est_k_from_rule(&fr, 5), 1); /* floor(0.5) = 0, clamped to 1 */
    cr_assert_eq(est_k_from_rule(&fx, 1000), 50);
    cr_assert_eq(est_k_from_rule(&fx, 20), 19); /* clamped to n_pos - 1 */
    cr_assert_eq(est_k_from_rule(&fx, 3), 2);
    cr_assert_eq(est_k_from_rule(&sq, 3), 1);
    cr_assert_eq(est_k_from_rule(&sq, 2), 0);
    cr_assert_eq(est_k_from_rule(&fx, 0), 0);
    /* floor(sqrt) exact on perfect squares and just below them */
    for (size_t r = 2; r < 100000; r += 997) {
        cr_assert_eq(est_k_from_rule(&sq, r * r), r);
        cr_assert_eq(est_k_from_rule(&sq, r * r - 1), r - 1);
    }
}
