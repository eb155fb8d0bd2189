/*
 * series: one-pass min/max bucketing and columnar rendering (see series.h).
 * Entries are appended or merged into the last one; arrays grow by doubling.
 */
#include "series.h"

#include "rollup.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The same table names the columns of blocks and of series_rollup. */
#define FIELD_NAME(f) #f,
static const char *const field_names[SF_COUNT_] = {ROLLUP_FIELDS(FIELD_NAME)};
_Static_assert(SF_COUNT_ == ROLLUP_NFIELDS, "series fields are the rollup's fields");

const char *series_field_name(int id)
{
    return id >= 0 && id < SF_COUNT_ ? field_names[id] : NULL;
}

static int field_lookup(const char *name, size_t len)
{
    for (int i = 0; i < SF_COUNT_; i++)
        if (strlen(field_names[i]) == len && memcmp(field_names[i], name, len) == 0)
            return i;
    return -1;
}

int series_parse_fields(const char *list, int ids[SERIES_MAX_FIELDS], char *err, size_t errlen)
{
    if (!list || !*list)
        list = "alpha,alpha_lo,alpha_hi,kurtosis,variance,lambda";
    int n = 0;
    const char *p = list;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        int id = field_lookup(p, len);
        if (id < 0) {
            snprintf(err, errlen, "unknown field '%.*s'", (int)(len > 64 ? 64 : len), p);
            return -1;
        }
        int dup = 0;
        for (int i = 0; i < n; i++)
            dup |= ids[i] == id;
        if (!dup) {
            if (n == SERIES_MAX_FIELDS) {
                snprintf(err, errlen, "too many fields");
                return -1;
            }
            ids[n++] = id;
        }
        if (!e)
            break;
        p = e + 1;
    }
    return n;
}

static void *grow(void *p, size_t cap, size_t elem, int *fail)
{
    void *q = realloc(p, cap * elem);
    if (!q)
        *fail = 1;
    return q ? q : p;
}

static int reserve(struct series *s, size_t want)
{
    if (want <= s->cap)
        return 0;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < want)
        cap *= 2;
    int fail = 0;
    s->block = grow(s->block, cap, sizeof(int64_t), &fail);
    s->step_first = grow(s->step_first, cap, sizeof(int64_t), &fail);
    s->step = grow(s->step, cap, sizeof(int64_t), &fail);
    s->count = grow(s->count, cap, sizeof(int64_t), &fail);
    for (int f = 0; f < s->nfields; f++) {
        s->sum[f] = grow(s->sum[f], cap, sizeof(double), &fail);
        s->cnt[f] = grow(s->cnt[f], cap, sizeof(int64_t), &fail);
        if (s->width > 0) {
            s->min[f] = grow(s->min[f], cap, sizeof(double), &fail);
            s->max[f] = grow(s->max[f], cap, sizeof(double), &fail);
        }
    }
    if (fail)
        return -1; /* arrays that grew keep working; cap stays old */
    s->cap = cap;
    return 0;
}

int series_init(struct series *s, const int *ids, int nfields, int64_t width, int64_t origin,
                size_t cap_hint)
{
    memset(s, 0, sizeof *s);
    if (nfields < 0 || nfields > SERIES_MAX_FIELDS || width < 0)
        return -1;
    s->nfields = nfields;
    memcpy(s->ids, ids, (size_t)nfields * sizeof ids[0]);
    s->width = width;
    s->origin = origin;
    return reserve(s, cap_hint ? cap_hint : 64);
}

/* Returns the index of the entry that `block` folds into, opening one when
 * needed, or -1 when out of memory. */
static long entry_for(struct series *s, int64_t block, int64_t step_first)
{
    if (s->width > 0 && s->n > 0) {
        int64_t cur = (s->block[s->n - 1] - s->origin) / s->width;
        if ((block - s->origin) / s->width == cur)
            return (long)s->n - 1;
    }
    if (reserve(s, s->n + 1) != 0)
        return -1;
    size_t i = s->n++;
    s->block[i] = block;
    s->step_first[i] = step_first;
    s->count[i] = 0;
    for (int f = 0; f < s->nfields; f++) {
        s->sum[f][i] = 0;
        s->cnt[f][i] = 0;
        if (s->width > 0) {
            s->min[f][i] = INFINITY;
            s->max[f][i] = -INFINITY;
        }
    }
    return (long)i;
}

int series_add_summary(struct series *s, int64_t block, int64_t count, int64_t step_first,
                       int64_t step_last, const double *min, const double *max, const double *sum,
                       const int64_t *cnt)
{
    long i = entry_for(s, block, step_first);
    if (i < 0)
        return -1;
    s->step[i] = step_last;
    s->count[i] += count;
    for (int f = 0; f < s->nfields; f++) {
        if (cnt[f] == 0)
            continue;
        s->sum[f][i] += sum[f];
        s->cnt[f][i] += cnt[f];
        if (s->width > 0) {
            if (min[f] < s->min[f][i])
                s->min[f][i] = min[f];
            if (max[f] > s->max[f][i])
                s->max[f][i] = max[f];
        }
    }
    return 0;
}

int series_add(struct series *s, int64_t block, int64_t step_first, int64_t step_last,
               const double *vals)
{
    int64_t cnt[SERIES_MAX_FIELDS];
    double v[SERIES_MAX_FIELDS];
    for (int f = 0; f < s->nfields; f++) {
        cnt[f] = isfinite(vals[f]) ? 1 : 0;
        v[f] = cnt[f] ? vals[f] : 0;
    }
    return series_add_summary(s, block, 1, step_first, step_last, v, v, v, cnt);
}

static double mean_of(const struct series *s, int f, size_t i)
{
    return s->cnt[f][i] ? s->sum[f][i] / (double)s->cnt[f][i] : NAN;
}

static double min_of(const struct series *s, int f, size_t i)
{
    return s->cnt[f][i] ? s->min[f][i] : NAN;
}

static double max_of(const struct series *s, int f, size_t i)
{
    return s->cnt[f][i] ? s->max[f][i] : NAN;
}

/* Room per array element: a comma and the longest number (hbuf_fmt_num,
 * hbuf_fmt_int), plus the scratch bytes those may write past it. */
#define ELEM_MAX 25
#define ELEM_PAD 48

/* Arrays are written straight into the buffer's room for all their
 * elements: one reservation per array, not one per number. */
static void json_ints(hbuf *b, const char *name, const int64_t *v, size_t n)
{
    hbuf_printf(b, "\"%s\":[", name);
    char *p = hbuf_room(b, n * ELEM_MAX + ELEM_PAD), *o = p;
    if (!p)
        return;
    for (size_t i = 0; i < n; i++) {
        *o = ',';
        o += i != 0;
        o += hbuf_fmt_int(o, v[i]);
    }
    *o++ = ']';
    hbuf_commit(b, (size_t)(o - p));
}

enum agg { AGG_MEAN, AGG_MIN, AGG_MAX };

static void json_nums(hbuf *b, const struct series *s, int f, enum agg agg)
{
    static const char *const suffix[] = {"", "_min", "_max"};
    hbuf_printf(b, ",\"%s%s\":[", series_field_name(s->ids[f]), suffix[agg]);
    char *p = hbuf_room(b, s->n * ELEM_MAX + ELEM_PAD), *o = p;
    if (!p)
        return;
    for (size_t i = 0; i < s->n; i++) {
        double v = agg == AGG_MEAN  ? mean_of(s, f, i)
                   : agg == AGG_MIN ? min_of(s, f, i)
                                    : max_of(s, f, i);
        *o = ',';
        o += i != 0;
        if (isfinite(v)) {
            o += hbuf_fmt_num(o, v);
        } else {
            memcpy(o, "null", 4); /* JSON has neither NaN nor infinities */
            o += 4;
        }
    }
    *o++ = ']';
    hbuf_commit(b, (size_t)(o - p));
}

/* Whether field f has a mean column. Downsampled, the bucket's own
 * "step_first" (its first block's first step) already takes that name, and
 * equals step_first_min, so the field's bucket mean is left out rather than
 * written under the same key twice. */
static int has_mean(const struct series *s, int f)
{
    return s->width == 0 || s->ids[f] != SF_STEP_FIRST;
}

void series_json(const struct series *s, hbuf *b)
{
    json_ints(b, "block", s->block, s->n);
    hbuf_put(b, ",", 1);
    json_ints(b, "step", s->step, s->n);
    if (s->width > 0) {
        hbuf_put(b, ",", 1);
        json_ints(b, "step_first", s->step_first, s->n);
        hbuf_put(b, ",", 1);
        json_ints(b, "count", s->count, s->n);
    }
    for (int f = 0; f < s->nfields; f++) {
        if (has_mean(s, f))
            json_nums(b, s, f, AGG_MEAN);
        if (s->width > 0) {
            json_nums(b, s, f, AGG_MIN);
            json_nums(b, s, f, AGG_MAX);
        }
    }
}

static void csv_num(hbuf *b, double v)
{
    char tmp[48];
    if (isfinite(v)) {
        tmp[0] = ',';
        hbuf_put(b, tmp, (size_t)hbuf_fmt_num(tmp + 1, v) + 1);
    } else
        hbuf_put(b, ",", 1); /* empty cell for NULL */
}

void series_csv(const struct series *s, hbuf *b)
{
    hbuf_puts(b, s->width > 0 ? "block,step,step_first,count" : "block,step");
    for (int f = 0; f < s->nfields; f++) {
        const char *nm = series_field_name(s->ids[f]);
        if (!has_mean(s, f))
            hbuf_printf(b, ",%s_min,%s_max", nm, nm);
        else if (s->width > 0)
            hbuf_printf(b, ",%s,%s_min,%s_max", nm, nm, nm);
        else
            hbuf_printf(b, ",%s", nm);
    }
    hbuf_put(b, "\r\n", 2);
    for (size_t i = 0; i < s->n; i++) {
        hbuf_int(b, s->block[i]);
        hbuf_put(b, ",", 1);
        hbuf_int(b, s->step[i]);
        if (s->width > 0) {
            hbuf_put(b, ",", 1);
            hbuf_int(b, s->step_first[i]);
            hbuf_put(b, ",", 1);
            hbuf_int(b, s->count[i]);
        }
        for (int f = 0; f < s->nfields; f++) {
            if (has_mean(s, f))
                csv_num(b, mean_of(s, f, i));
            if (s->width > 0) {
                csv_num(b, min_of(s, f, i));
                csv_num(b, max_of(s, f, i));
            }
        }
        hbuf_put(b, "\r\n", 2);
    }
}

void series_free(struct series *s)
{
    free(s->block);
    free(s->step_first);
    free(s->step);
    free(s->count);
    for (int f = 0; f < SERIES_MAX_FIELDS; f++) {
        free(s->sum[f]);
        free(s->min[f]);
        free(s->max[f]);
        free(s->cnt[f]);
    }
    memset(s, 0, sizeof *s);
}
