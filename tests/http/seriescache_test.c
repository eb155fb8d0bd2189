/*
 * Tests of seriescache.c: folding cached chunk summaries (with the
 * super-chunk level) plus raw head and tail rows gives exactly the buckets
 * of a one-pass fold over every row, with gaps in block numbers, a growing
 * group (extension), unaligned ranges and a budget that forces eviction.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "seriescache.h"

static int64_t nrows; /* rows currently "in the database" */

static int exists(int64_t b)
{
    return !(b >= 300 && b < 420) && !(b >= 5000 && b < 5003); /* gaps */
}

static double val(int64_t b, int f)
{
    if (f == SF_KURTOSIS && b % 13 == 0)
        return NAN; /* NULLs */
    return sin((double)b * 0.37 + f) * (b == 7777 ? 100 : 1);
}

static int emit(int64_t from, int64_t to, sc_row_fn row, void *ud)
{
    double v[SF_COUNT_];
    for (int64_t b = from; b <= to && b < nrows; b++) {
        if (!exists(b))
            continue;
        for (int f = 0; f < SF_COUNT_; f++)
            v[f] = val(b, f);
        if (row(ud, b, b * 10, b * 10 + 9, v) != 0)
            return -1;
    }
    return 0;
}

static int reader(void *rd, int64_t from, sc_row_fn row, void *ud)
{
    (void)rd;
    return emit(from, INT64_MAX, row, ud);
}

struct sel {
    struct series *s;
    const int *ids;
    int n;
};

static int add_sel(void *ud, int64_t b, int64_t sf, int64_t sl, const double *all)
{
    struct sel *x = ud;
    double v[SERIES_MAX_FIELDS];
    for (int f = 0; f < x->n; f++)
        v[f] = all[x->ids[f]];
    return series_add(x->s, b, sf, sl, v);
}

static void check(struct series_cache *c, int64_t b0, int64_t b1, int64_t width)
{
    static const int ids[3] = {SF_ALPHA, SF_KURTOSIS, SF_LAMBDA};
    struct series ref, got;
    cr_assert_eq(series_init(&ref, ids, 3, width, 0, 8), 0);
    cr_assert_eq(series_init(&got, ids, 3, width, 0, 8), 0);
    struct sel r = {&ref, ids, 3}, g = {&got, ids, 3};
    emit(b0, b1, add_sel, &r);
    int64_t head_end = (b0 + SC_CHUNK - 1) / SC_CHUNK * SC_CHUNK - 1;
    if (head_end > b1)
        head_end = b1;
    emit(b0, head_end, add_sel, &g);
    int64_t next = head_end + 1;
    cr_assert_eq(series_cache_fold(c, "k", 1, reader, NULL, &got, b0, b1, &next), 0);
    emit(next, b1, add_sel, &g);
    cr_assert_eq(got.n, ref.n, "[%lld, %lld] w %lld", (long long)b0, (long long)b1,
                 (long long)width);
    for (size_t i = 0; i < ref.n; i++) {
        cr_assert_eq(got.block[i], ref.block[i]);
        cr_assert_eq(got.count[i], ref.count[i]);
        cr_assert_eq(got.step[i], ref.step[i]);
        cr_assert_eq(got.step_first[i], ref.step_first[i]);
        for (int f = 0; f < 3; f++) {
            cr_assert_eq(got.cnt[f][i], ref.cnt[f][i]);
            if (ref.cnt[f][i]) {
                cr_assert_eq(got.min[f][i], ref.min[f][i]);
                cr_assert_eq(got.max[f][i], ref.max[f][i]);
                cr_assert_float_eq(got.sum[f][i], ref.sum[f][i], 1e-9);
            }
        }
    }
    series_free(&ref);
    series_free(&got);
}

Test(seriescache, matches_one_pass_fold)
{
    struct series_cache c;
    cr_assert_eq(series_cache_init(&c, 64u << 20), 0);
    nrows = 20000;
    check(&c, 0, nrows - 1, 1024);
    check(&c, 0, nrows - 1, 1024); /* warm */
    check(&c, 100, 14999, 1664);   /* unaligned ends, super-chunks straddling buckets */
    check(&c, 250, 5100, 256);     /* gaps */
    nrows = 30000;                 /* the group grew */
    check(&c, 0, nrows - 1, 2048);
    check(&c, 19990, 29999, 128);
    series_cache_destroy(&c);
}

Test(seriescache, tiny_budget_still_correct)
{
    struct series_cache c;
    cr_assert_eq(series_cache_init(&c, 1), 0);
    nrows = 10000;
    check(&c, 0, nrows - 1, 512);
    check(&c, 3, 9000, 640);
    series_cache_destroy(&c);
}
