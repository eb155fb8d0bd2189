/*
 * series: columnar time series of one (run, group), raw or downsampled into
 * min/max buckets, and their JSON and CSV renderings. Pure: no I/O.
 *
 * Design: rows arrive in block order (from an index-range query) and are
 * folded in one pass. In downsampled mode block b belongs to bucket
 * floor((b - origin) / width); each bucket keeps, per field, its minimum,
 * maximum, sum and count of finite values, so every extreme of the input
 * survives in F_min / F_max while F is the bucket's mean. A pre-aggregated
 * chunk (see series_add_summary) merges exactly like a row, which is what lets
 * the server answer from rollup rows (daemon/rollup.h). Non-finite values (SQL NULL
 * arrives as NaN) are skipped and rendered as null.
 */
#ifndef HTGA_HTTP_SERIES_H
#define HTGA_HTTP_SERIES_H

#include <stddef.h>
#include <stdint.h>

#include "hbuf.h"

#define SERIES_MAX_FIELDS 16

/* Numeric columns of the estimates view a client may ask for. */
enum series_field_id {
    SF_STEP_FIRST,
    SF_N,
    SF_N_USED,
    SF_MEDIAN,
    SF_MEAN,
    SF_VARIANCE,
    SF_KURTOSIS,
    SF_ALPHA,
    SF_ALPHA_SE,
    SF_ALPHA_LO,
    SF_ALPHA_HI,
    SF_K,
    SF_ALPHA_STABLE,
    SF_LAMBDA,
    SF_COUNT_ /* number of fields */
};

/* Name of a field as clients write it; also its column in `estimates`. */
const char *series_field_name(int id);

/* Parses a comma-separated list of field names (NULL or "" = the default
 * alpha,alpha_lo,alpha_hi,kurtosis,variance,lambda) into ids[] without
 * duplicates. Returns the count, or -1 with a message in err for an unknown
 * name or too many. */
int series_parse_fields(const char *list, int ids[SERIES_MAX_FIELDS], char *err, size_t errlen);

/* A series being built. Columns are arrays of length n. */
struct series {
    int nfields;
    int ids[SERIES_MAX_FIELDS];
    int64_t width;  /* blocks per bucket; 0 = raw, one entry per row */
    int64_t origin; /* block where bucket 0 starts */
    size_t n, cap;
    int64_t *block;      /* first block of the entry */
    int64_t *step_first; /* first step of the entry */
    int64_t *step;       /* last step of the entry */
    int64_t *count;      /* blocks folded into the entry */
    double *sum[SERIES_MAX_FIELDS];
    double *min[SERIES_MAX_FIELDS];
    double *max[SERIES_MAX_FIELDS];
    int64_t *cnt[SERIES_MAX_FIELDS]; /* finite values folded */
};

/* Prepares s for fields ids[0..nfields); width 0 keeps raw rows, width > 0
 * buckets blocks from origin. cap_hint sizes the first allocation. Returns 0,
 * or -1 when out of memory (s is then safe to series_free()). */
int series_init(struct series *s, const int *ids, int nfields, int64_t width, int64_t origin,
                size_t cap_hint);

/* Folds one row: vals[i] is field ids[i] of block `block` (NaN = NULL).
 * Rows must come in increasing block order. Returns 0 or -1 (out of memory). */
int series_add(struct series *s, int64_t block, int64_t step_first, int64_t step_last,
               const double *vals);

/* Folds a pre-aggregated run of `count` consecutive blocks starting at
 * `block`, which must lie in one bucket: per field its min, max, sum and
 * count of finite values (arrays indexed like ids). Returns 0 or -1. */
int series_add_summary(struct series *s, int64_t block, int64_t count, int64_t step_first,
                       int64_t step_last, const double *min, const double *max, const double *sum,
                       const int64_t *cnt);

/* Appends the columns as JSON object members (no braces): "block", "step",
 * and each field; downsampled series add "step_first", "count", F_min, F_max
 * and F holds the bucket mean. */
void series_json(const struct series *s, hbuf *b);

/* Appends the series as CSV with a header line, same columns as JSON. */
void series_csv(const struct series *s, hbuf *b);

/* Frees the arrays. Accepts a zeroed or failed series. */
void series_free(struct series *s);

#endif
