/* Tests of series.c: raw and min/max-bucket series, a kept spike, nulls,
 * chunk summaries folding like rows, CSV, and the Hill plot convention. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "series.h"

static int ids2[2] = {SF_ALPHA, SF_KURTOSIS};

Test(series, parse_fields)
{
    int ids[SERIES_MAX_FIELDS];
    char err[128];
    cr_assert_eq(series_parse_fields("alpha,kurtosis,alpha", ids, err, sizeof err), 2);
    cr_assert_eq(ids[0], SF_ALPHA);
    cr_assert_eq(ids[1], SF_KURTOSIS);
    cr_assert_eq(series_parse_fields(NULL, ids, err, sizeof err), 6);
    cr_assert_eq(series_parse_fields("alpha,bogus", ids, err, sizeof err), -1);
    cr_assert(strstr(err, "bogus"));
    cr_assert_eq(series_parse_fields("alpha;drop table", ids, err, sizeof err), -1);
    cr_assert_eq(series_parse_fields("", ids, err, sizeof err), 6);
}

Test(series, raw_rows)
{
    struct series s;
    cr_assert_eq(series_init(&s, ids2, 2, 0, 0, 1), 0);
    for (int b = 0; b < 100; b++) {
        double v[2] = {b, b == 5 ? NAN : 2.0 * b};
        cr_assert_eq(series_add(&s, b, b * 10, b * 10 + 9, v), 0);
    }
    cr_assert_eq(s.n, 100);
    hbuf j = {0};
    series_json(&s, &j);
    cr_assert(strstr(j.data, "\"step\":[9,19,"));
    cr_assert(strstr(j.data, "\"kurtosis\":[0,2,4,6,8,null,12"));
    cr_assert_null(strstr(j.data, "_min"));
    hbuf_free(&j);
    series_free(&s);
}

Test(series, downsample_keeps_spike)
{
    /* 10000 rows of alpha = 2 with one spike of 50 and one dip of -3 */
    struct series s;
    int64_t width = 100;
    cr_assert_eq(series_init(&s, ids2, 2, width, 0, 8), 0);
    for (int b = 0; b < 10000; b++) {
        double v[2] = {b == 4321 ? 50.0 : b == 777 ? -3.0 : 2.0, 1.0};
        cr_assert_eq(series_add(&s, b, b, b, v), 0);
    }
    cr_assert_eq(s.n, 100);
    cr_assert_eq(s.count[43], 100);
    cr_assert_eq(s.max[0][43], 50.0);
    cr_assert_eq(s.min[0][7], -3.0);
    cr_assert_eq(s.block[43], 4300);
    cr_assert_eq(s.step_first[43], 4300);
    cr_assert_eq(s.step[43], 4399);
    hbuf j = {0};
    series_json(&s, &j);
    cr_assert(strstr(j.data, "\"alpha_max\":["));
    cr_assert(strstr(j.data, ",50,"), "the spike survives downsampling");
    cr_assert(strstr(j.data, ",-3,"), "the dip survives downsampling");
    hbuf_free(&j);
    series_free(&s);
}

Test(series, summaries_fold_like_rows)
{
    struct series a, b;
    cr_assert_eq(series_init(&a, ids2, 2, 256, 0, 4), 0);
    cr_assert_eq(series_init(&b, ids2, 2, 256, 0, 4), 0);
    for (int c = 0; c < 8; c++) {
        double mn[2] = {INFINITY, INFINITY}, mx[2] = {-INFINITY, -INFINITY}, sm[2] = {0, 0};
        int64_t cn[2] = {0, 0};
        for (int i = 0; i < 128; i++) {
            int blk = c * 128 + i;
            double v[2] = {sin(blk), blk % 7 == 0 ? NAN : cos(blk)};
            series_add(&a, blk, blk, blk, v);
            for (int f = 0; f < 2; f++)
                if (isfinite(v[f])) {
                    mn[f] = fmin(mn[f], v[f]);
                    mx[f] = fmax(mx[f], v[f]);
                    sm[f] += v[f];
                    cn[f]++;
                }
        }
        series_add_summary(&b, c * 128, 128, c * 128, c * 128 + 127, mn, mx, sm, cn);
    }
    cr_assert_eq(a.n, 4);
    cr_assert_eq(b.n, 4);
    for (size_t i = 0; i < 4; i++)
        for (int f = 0; f < 2; f++) {
            cr_assert_eq(a.min[f][i], b.min[f][i]);
            cr_assert_eq(a.max[f][i], b.max[f][i]);
            cr_assert_eq(a.cnt[f][i], b.cnt[f][i]);
            cr_assert_float_eq(a.sum[f][i], b.sum[f][i], 1e-9);
        }
    series_free(&a);
    series_free(&b);
}

Test(series, csv)
{
    struct series s;
    cr_assert_eq(series_init(&s, ids2, 2, 2, 0, 1), 0);
    double v0[2] = {1, 5}, v1[2] = {3, NAN}, v2[2] = {NAN, NAN};
    series_add(&s, 0, 0, 9, v0);
    series_add(&s, 1, 10, 19, v1);
    series_add(&s, 2, 20, 29, v2);
    hbuf c = {0};
    series_csv(&s, &c);
    cr_assert_str_eq(c.data, "block,step,step_first,count,alpha,alpha_min,alpha_max,"
                             "kurtosis,kurtosis_min,kurtosis_max\r\n"
                             "0,19,0,2,2,1,3,5,5,5\r\n"
                             "2,29,20,1,,,,,,\r\n");
    hbuf_free(&c);
    series_free(&s);
}

Test(series, fast_number_format_matches_printf)
{
    char fast[48], ref[48];
    const double fixed[] = {1,
                            -1,
                            0.5,
                            2.49381640625,
                            1e-5,
                            9.99999999999e14,
                            0.1,
                            123456789012.4,
                            1e14,
                            -0.00123,
                            99.99999999999,
                            1e300,
                            1e-300,
                            3e-7,
                            0.0001,
                            1234567,
                            5e-5};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        hbuf_fmt_num(fast, fixed[i]);
        snprintf(ref, sizeof ref, "%.12g", fixed[i]);
        cr_assert_float_eq(strtod(fast, NULL), strtod(ref, NULL), fabs(fixed[i]) * 1e-12,
                           "%s vs %s", fast, ref);
    }
    unsigned s = 12345;
    for (int i = 0; i < 200000; i++) {
        s = s * 1103515245u + 12345u;
        double v = ldexp((double)(s >> 8), (int)(s % 80) - 50) * ((s & 1) ? -1 : 1);
        hbuf_fmt_num(fast, v);
        snprintf(ref, sizeof ref, "%.12g", v);
        double a = strtod(fast, NULL), r = strtod(ref, NULL);
        cr_assert(fabs(a - r) <= fabs(r) * 1e-11,
                  /* at most one unit in the 12th digit */ "%.17g: %s vs %s", v, fast, ref);
    }
    hbuf_fmt_num(fast, 2.5);
    cr_assert_str_eq(fast, "2.5");
    hbuf_fmt_num(fast, 100);
    cr_assert_str_eq(fast, "100");
    hbuf_fmt_num(fast, 0.01);
    cr_assert_str_eq(fast, "0.01");
    hbuf_fmt_num(fast, -3);
    cr_assert_str_eq(fast, "-3");
}

Test(series, downsampled_step_first_field_named_once)
{
    /* the bucket's step_first and the field step_first must not share a key */
    static int ids[2] = {SF_STEP_FIRST, SF_ALPHA};
    struct series s;
    cr_assert_eq(series_init(&s, ids, 2, 2, 0, 1), 0);
    double v0[2] = {0, 1}, v1[2] = {10, 3};
    series_add(&s, 0, 0, 9, v0);
    series_add(&s, 1, 10, 19, v1);
    hbuf j = {0}, c = {0};
    series_json(&s, &j);
    const char *first = strstr(j.data, "\"step_first\":");
    cr_assert_not_null(first);
    cr_assert_null(strstr(first + 1, "\"step_first\":"), "%s", j.data);
    cr_assert(strstr(j.data, "\"step_first\":[0]"), "%s", j.data);
    cr_assert(strstr(j.data, "\"step_first_min\":[0],\"step_first_max\":[10]"), "%s", j.data);
    series_csv(&s, &c);
    cr_assert_str_eq(c.data, "block,step,step_first,count,step_first_min,step_first_max,"
                             "alpha,alpha_min,alpha_max\r\n"
                             "0,19,0,2,0,10,2,1,3\r\n");
    hbuf_free(&j);
    hbuf_free(&c);
    series_free(&s);
}
