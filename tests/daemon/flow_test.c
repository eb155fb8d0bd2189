/*
 * flow_test.c - the budget arithmetic and the controller (daemon/flow.c),
 * on counters made up by hand: no daemon, no clock.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "flow.h"

static void budget(double f, uint64_t block, uint32_t ranks, uint32_t want_values,
                   uint32_t want_every)
{
    uint32_t v, e;
    flow_budget(f, block, ranks, &v, &e);
    cr_assert_eq(v, want_values, "f=%g ranks=%u: values %u, want %u", f, ranks, v, want_values);
    cr_assert_eq(e, want_every, "f=%g ranks=%u: every %u, want %u", f, ranks, e, want_every);
}

Test(flow, budget_shares_a_block_among_ranks)
{
    budget(1, 65536, 1, 65536, 1);
    budget(1, 65536, 0, 65536, 1); /* no rank known yet: one */
    budget(1, 65536, 16, 4096, 1); /* 16 ranks together fill one block a step */
    budget(1, 65536, 3, 21846, 1); /* ceil(65536 / 3) */
    budget(1, 65536, 1000, 66, 1); /* a small share at full resolution is not thinned */
    budget(2, 65536, 1, 65536, 1); /* f is clamped to 1 */
}

Test(flow, budget_lowers_resolution_then_rate)
{
    budget(0.5, 65536, 1, 32768, 1);
    budget(0.1, 65536, 1, 6554, 1);    /* ceil(6553.6) */
    budget(0.1, 65536, 16, 1024, 3);   /* 409.6 per send: 1024 every ceil(2.5) steps */
    budget(0.01, 65536, 1, 1024, 2);   /* 655.36 a step: 1024 every 2 steps */
    budget(1e-4, 65536, 1, 1024, 157); /* 6.55 a step: ceil(156.25) */
    budget(1e-12, 65536, 1, 1024, WIRE_EVERY_MAX);
    budget(1, 64, 1, 64, 1); /* a block smaller than the floor */
    budget(0.5, 64, 1, 64, 2);
    budget(0.25, 64, 1, 64, 4);
}

static flow_sample sample(int64_t ms, uint64_t in, uint64_t busy_ms, uint64_t est, uint64_t bp)
{
    flow_sample s = {ms, in, busy_ms * 1000000u, est, bp, 1};
    return s;
}

Test(flow, controller_meets_capacity)
{
    flow_ctl c;
    flow_init(&c);
    cr_assert_float_eq(c.f, 1.0, 0);
    cr_assert_eq(flow_tick(&c, &(flow_sample){0}), 0); /* the first tick only records */
    /* 0.5 s: 50M values in, the estimator busy 250 ms for 25M values: it
     * takes 100M values per busy second; 100M values/s arrive */
    flow_sample s = sample(500, 50000000, 250, 25000000, 0);
    cr_assert_eq(flow_tick(&c, &s), 1);
    cr_assert_float_eq(c.capacity, 1e8, 1);
    cr_assert_float_eq(c.f, FLOW_TARGET, 1e-9); /* 0.7 of capacity: 70M of 100M */
    /* at f = 0.7, 70M values/s arrive; the estimator takes them in 0.7 s a
     * second: f stays */
    s = sample(1000, 50000000 + 35000000, 250 + 350, 25000000 + 35000000, 0);
    flow_tick(&c, &s);
    cr_assert_float_eq(c.f, FLOW_TARGET, 1e-9);
}

Test(flow, controller_backs_off_under_pushback_and_recovers_when_idle)
{
    flow_ctl c;
    flow_init(&c);
    flow_tick(&c, &(flow_sample){0});
    /* a burst: pushed back 100 ms of a 500 ms tick: not an overload */
    flow_sample s = sample(500, 1000, 0, 0, 100);
    flow_tick(&c, &s);
    cr_assert_float_eq(c.f, 1.0, 1e-9);
    /* no timing yet (no block estimated), but ingest pushed back 400 ms of 500 */
    s = sample(1000, 2000, 0, 0, 500);
    flow_tick(&c, &s);
    cr_assert_float_eq(c.f, FLOW_DECREASE, 1e-9);
    s = sample(1500, 3000, 0, 0, 900);
    flow_tick(&c, &s);
    cr_assert_float_eq(c.f, FLOW_DECREASE * FLOW_DECREASE, 1e-9);
    /* idle: nothing in, no push-back: f climbs back, capped at 1 */
    for (int i = 0; i < 10; i++) {
        s = sample(2000 + 500 * i, 3000, 0, 0, 900);
        flow_tick(&c, &s);
    }
    cr_assert_float_eq(c.f, 1.0, 0);
}

Test(flow, controller_never_leaves_its_range)
{
    flow_ctl c;
    flow_init(&c);
    flow_tick(&c, &(flow_sample){0});
    /* an absurd overload: 1e12 values/s against 1e6 a busy second */
    flow_sample s = sample(500, 500000000000ull, 500, 500000, 500);
    flow_tick(&c, &s);
    cr_assert_geq(c.f, FLOW_F_MIN);
    cr_assert_leq(c.f, 1);
    s = sample(500, 0, 0, 0, 0); /* time did not move: nothing changes */
    cr_assert_eq(flow_tick(&c, &s), 0);
}

Test(flow, view_is_a_copy)
{
    flow_run r[2];
    flow_run *v;
    size_t n;
    memset(r, 0, sizeof(r));
    strcpy(r[0].run, "a");
    r[0].budget_values = 4096;
    strcpy(r[1].run, "b");
    r[1].client_drops = 7;
    cr_assert_eq(flow_publish(r, 2), 0);
    r[0].budget_values = 1;
    cr_assert_eq(flow_view(&v, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(v[0].run, "a");
    cr_assert_eq(v[0].budget_values, 4096);
    cr_assert_eq(v[1].client_drops, 7);
    free(v);
    cr_assert_eq(flow_publish(NULL, 0), 0);
    cr_assert_eq(flow_view(&v, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_null(v);
    flow_view_free();
}
