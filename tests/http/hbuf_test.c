/* Tests of hbuf.c's number formatting: hbuf_fmt_num is byte-identical to its
 * first version (kept below as ref_fmt_num: responses must not change when
 * the formatter gets faster) over random doubles of every exponent, powers
 * of ten and their neighbours, subnormals, negative zero; NaN and infinities
 * are JSON null; integers match printf; hbuf_room/hbuf_commit; and
 * series_json renders a fixture exactly as the first version did. */
#include <criterion/criterion.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hbuf.h"
#include "series.h"

/* ---- the first version of hbuf_fmt_num, the reference ------------------ */

static const double ref_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static double ref_scaled(double a, int sh)
{
    return (double)(int64_t)((sh >= 0 ? a * ref_pow10[sh] : a / ref_pow10[-sh]) + 0.5);
}

static int ref_fmt_num(char *out, double v)
{
    double a = fabs(v);
    if (!(a >= 1e-5 && a < 1e15)) {
        if (a == 0) {
            strcpy(out, "0");
            return 1;
        }
        return snprintf(out, 40, "%.12g", v);
    }
    int e2;
    frexp(a, &e2);
    int e = (int)floor((e2 - 1) * 0.30102999566398120);
    if (e + 1 >= 0 && e + 1 <= 22 && a >= ref_pow10[e + 1])
        e++;
    int sh = 11 - e;
    double m = ref_scaled(a, sh);
    if (m >= 1e12) {
        e++;
        sh--;
        m = ref_scaled(a, sh);
    } else if (m < 1e11) {
        e--;
        sh++;
        m = ref_scaled(a, sh);
    }
    char d[32];
    int nd = snprintf(d, sizeof d, "%" PRIu64, (uint64_t)m);
    while (nd > 1 && d[nd - 1] == '0' && nd > e + 1)
        nd--;
    int o = 0;
    if (v < 0)
        out[o++] = '-';
    if (e >= 0) {
        for (int i = 0; i <= e; i++)
            out[o++] = i < nd ? d[i] : '0';
        if (nd > e + 1) {
            out[o++] = '.';
            for (int i = e + 1; i < nd; i++)
                out[o++] = d[i];
        }
    } else {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -e - 1; i++)
            out[o++] = '0';
        for (int i = 0; i < nd; i++)
            out[o++] = d[i];
    }
    out[o] = '\0';
    return o;
}

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t next64(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double from_bits(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void check_same(double v)
{
    char got[64], want[64];
    memset(got, 'x', sizeof got);
    int n = hbuf_fmt_num(got, v);
    int m = ref_fmt_num(want, v);
    cr_assert_eq(n, m, "%a: length %d vs %d (%s vs %s)", v, n, m, got, want);
    cr_assert_str_eq(got, want, "%a (%.17g)", v, v);
    cr_assert(n <= 24, "%a: %d bytes", v, n);
}

/* ---- tests -------------------------------------------------------------- */

Test(hbuf, fmt_num_identical_over_random_bit_patterns)
{
    for (int i = 0; i < 2000000; i++) {
        double v = from_bits(next64());
        if (!isnan(v) && !isinf(v))
            check_same(v);
    }
}

Test(hbuf, fmt_num_identical_in_every_decade)
{
    /* the plain-notation range and past both ends, densely */
    for (int dec = -8; dec <= 17; dec++)
        for (int i = 0; i < 100000; i++) {
            double mant = 1 + (double)(next64() >> 11) * 0x1p-53 * 9; /* [1, 10) */
            double v = mant * pow(10, dec);
            check_same(v);
            check_same(-v);
        }
}

Test(hbuf, fmt_num_identical_at_powers_of_ten_and_rounding_edges)
{
    for (int dec = -7; dec <= 16; dec++) {
        double p = pow(10, dec);
        for (int k = -3; k <= 3; k++) {
            /* p and its neighbours a few ulps away, and 0.99999999999950 p,
             * where the 12th digit rounds up into a new decade */
            double v = p;
            for (int j = 0; j < abs(k); j++)
                v = nextafter(v, k < 0 ? 0 : INFINITY);
            check_same(v);
            check_same(-v);
            double w = p * (1 - 5e-13) + k * p * 1e-14;
            check_same(w);
            check_same(nextafter(w, 0));
            check_same(nextafter(w, INFINITY));
        }
    }
    for (int64_t i = -100000; i <= 100000; i++)
        check_same((double)i); /* integers, all trailing-zero shapes */
    for (int i = 1; i < 100000; i++)
        check_same(i / 1000.0); /* short decimals: 0.001 .. 99.999 */
    static const double special[] = {1e-5,
                                     9.99999999999e14,
                                     999999999999999.9,
                                     1e15,
                                     0.1,
                                     0.2,
                                     0.3,
                                     2.5,
                                     1.8,
                                     1.7,
                                     2.2,
                                     99.99999999999,
                                     123456789012.4,
                                     5e-5,
                                     3e-7,
                                     1e300,
                                     1e-300,
                                     DBL_MAX,
                                     DBL_MIN,
                                     DBL_TRUE_MIN,
                                     DBL_EPSILON,
                                     4503599627370496.0,
                                     9007199254740993.0};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) {
        check_same(special[i]);
        check_same(-special[i]);
    }
}

Test(hbuf, fmt_num_every_six_digit_half)
{
    /* every value of the low and of the high 6 digits of the 12 */
    for (uint32_t x = 0; x < 1000000; x++) {
        check_same(1.0 + x * 1e-11);     /* 1.00000xxxxxx */
        check_same((x + 100000) * 1e-6); /* 0.1 .. 1.1: xxxxxx000000-ish */
    }
}

Test(hbuf, fmt_num_zero_subnormals_and_shapes)
{
    char out[64];
    cr_assert_eq(hbuf_fmt_num(out, 0.0), 1);
    cr_assert_str_eq(out, "0");
    cr_assert_eq(hbuf_fmt_num(out, -0.0), 1);
    cr_assert_str_eq(out, "0", "negative zero is 0, as before");
    for (int i = 0; i < 100000; i++) {
        double v = from_bits(next64() & 0x000fffffffffffffu); /* subnormal */
        check_same(v);
        check_same(-v);
    }
    hbuf_fmt_num(out, 2.5);
    cr_assert_str_eq(out, "2.5");
    hbuf_fmt_num(out, 100);
    cr_assert_str_eq(out, "100");
    hbuf_fmt_num(out, 0.01);
    cr_assert_str_eq(out, "0.01");
    hbuf_fmt_num(out, -3);
    cr_assert_str_eq(out, "-3");
    hbuf_fmt_num(out, 1.0 / 3);
    cr_assert_str_eq(out, "0.333333333333");
    hbuf_fmt_num(out, 1e-5);
    cr_assert_str_eq(out, "0.00001");
    hbuf_fmt_num(out, 123456789012345.0);
    cr_assert_str_eq(out, "123456789012000", "12 significant digits, then zeros");
    hbuf_fmt_num(out, 1e15);
    cr_assert_str_eq(out, "1e+15");
}

Test(hbuf, fmt_num_round_trips_to_12_digits)
{
    /* the contract clients rely on: within one unit of the 12th digit */
    char out[64];
    for (int i = 0; i < 500000; i++) {
        double v = from_bits(next64());
        if (isnan(v) || isinf(v) || v == 0)
            continue;
        hbuf_fmt_num(out, v);
        double r = strtod(out, NULL);
        cr_assert(fabs(r - v) <= fabs(v) * 1e-11, "%a: %s", v, out);
    }
}

Test(hbuf, json_num_nonfinite_is_null)
{
    hbuf b = {0};
    hbuf_json_num(&b, NAN);
    hbuf_put(&b, ",", 1);
    hbuf_json_num(&b, -NAN);
    hbuf_put(&b, ",", 1);
    hbuf_json_num(&b, INFINITY);
    hbuf_put(&b, ",", 1);
    hbuf_json_num(&b, -INFINITY);
    hbuf_put(&b, ",", 1);
    hbuf_json_num(&b, -0.0);
    hbuf_put(&b, ",", 1);
    hbuf_json_num(&b, 0.25);
    cr_assert_str_eq(b.data, "null,null,null,null,0,0.25");
    hbuf_free(&b);
}

Test(hbuf, fmt_int_matches_printf)
{
    char got[64], want[32];
    static const int64_t fixed[] = {0,
                                    1,
                                    -1,
                                    9,
                                    10,
                                    99,
                                    100,
                                    101,
                                    INT64_MAX,
                                    INT64_MIN,
                                    INT64_MIN + 1,
                                    1000000000000,
                                    -999999999999};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        snprintf(want, sizeof want, "%" PRId64, fixed[i]);
        cr_assert_eq(hbuf_fmt_int(got, fixed[i]), (int)strlen(want));
        cr_assert_str_eq(got, want);
    }
    for (int i = 0; i < 200000; i++) {
        int64_t v = (int64_t)next64() >> (next64() % 64);
        snprintf(want, sizeof want, "%" PRId64, v);
        cr_assert_eq(hbuf_fmt_int(got, v), (int)strlen(want));
        cr_assert_str_eq(got, want);
    }
    hbuf b = {0};
    hbuf_int(&b, -42);
    hbuf_int(&b, INT64_MIN);
    cr_assert_str_eq(b.data, "-42-9223372036854775808");
    hbuf_free(&b);
}

Test(hbuf, room_and_commit)
{
    hbuf b = {0};
    hbuf_puts(&b, "ab");
    char *p = hbuf_room(&b, 1000);
    cr_assert_not_null(p);
    cr_assert_eq(p, b.data + 2);
    cr_assert_geq(b.cap, 1003);
    memcpy(p, "cdefgh", 6);
    hbuf_commit(&b, 3);
    cr_assert_eq(b.len, 5);
    cr_assert_str_eq(b.data, "abcde");
    b.failed = 1;
    cr_assert_null(hbuf_room(&b, 1), "a failed buffer has no room");
    hbuf_free(&b);
}

/* ---- series_json as its first version wrote it -------------------------- */

static void ref_num(hbuf *b, double v)
{
    char tmp[64];
    if (!isfinite(v)) {
        hbuf_puts(b, "null");
        return;
    }
    hbuf_put(b, tmp, (size_t)ref_fmt_num(tmp, v));
}

static void ref_ints(hbuf *b, const char *name, const int64_t *v, size_t n)
{
    hbuf_printf(b, "\"%s\":[", name);
    for (size_t i = 0; i < n; i++)
        hbuf_printf(b, "%s%" PRId64, i ? "," : "", v[i]);
    hbuf_puts(b, "]");
}

static void ref_series_json(const struct series *s, hbuf *b)
{
    ref_ints(b, "block", s->block, s->n);
    hbuf_puts(b, ",");
    ref_ints(b, "step", s->step, s->n);
    if (s->width > 0) {
        hbuf_puts(b, ",");
        ref_ints(b, "step_first", s->step_first, s->n);
        hbuf_puts(b, ",");
        ref_ints(b, "count", s->count, s->n);
    }
    for (int f = 0; f < s->nfields; f++) {
        const char *nm = series_field_name(s->ids[f]);
        for (int k = 0; k < 3; k++) {
            if (k == 0 && s->width > 0 && s->ids[f] == SF_STEP_FIRST)
                continue;
            if (k > 0 && s->width == 0)
                break;
            hbuf_printf(b, ",\"%s%s\":[", nm, k == 0 ? "" : k == 1 ? "_min" : "_max");
            for (size_t i = 0; i < s->n; i++) {
                if (i)
                    hbuf_puts(b, ",");
                double v = !s->cnt[f][i] ? NAN
                           : k == 0      ? s->sum[f][i] / (double)s->cnt[f][i]
                           : k == 1      ? s->min[f][i]
                                         : s->max[f][i];
                ref_num(b, v);
            }
            hbuf_puts(b, "]");
        }
    }
}

static void check_series_json(int64_t width)
{
    static const int ids[] = {SF_STEP_FIRST, SF_ALPHA, SF_KURTOSIS, SF_VARIANCE,
                              SF_LAMBDA,     SF_K,     SF_MEDIAN};
    const int nf = (int)(sizeof ids / sizeof ids[0]);
    struct series s;
    cr_assert_eq(series_init(&s, ids, nf, width, 0, 1), 0);
    for (int64_t blk = 0; blk < 5000; blk++) {
        double v[7] = {(double)blk * 10,
                       blk == 4321 ? 50.0 : 1.5 + sin((double)blk) * 0.7,
                       blk % 13 == 0 ? NAN : 3 + cos((double)blk) * 1e-7,
                       from_bits(next64() >> 2) * 1e-250,
                       blk % 100 < 40 ? NAN : 1,
                       256,
                       blk % 3 ? -0.0 : 1e15 + (double)blk};
        cr_assert_eq(series_add(&s, blk, blk * 10, blk * 10 + 9, v), 0);
    }
    hbuf got = {0}, want = {0};
    series_json(&s, &got);
    ref_series_json(&s, &want);
    cr_assert_not(hbuf_failed(&got));
    cr_assert_eq(got.len, want.len, "width %lld", (long long)width);
    cr_assert_str_eq(got.data, want.data, "width %lld", (long long)width);
    hbuf_free(&got);
    hbuf_free(&want);
    series_free(&s);
}

Test(hbuf, series_json_identical_to_first_version)
{
    check_series_json(0);
    check_series_json(7);
    check_series_json(64);
    check_series_json(1024);
}
