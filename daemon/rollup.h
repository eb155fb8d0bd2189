/*
 * rollup.h - the shape of series_rollup (schema/003_series_rollup.sql),
 * shared by the writer that fills it and the HTTP series query that reads it.
 *
 * DESIGN: per (group, level, chunk) with chunk = block / level, one row
 * summarises the chunk's blocks: their count, first block, the first block's
 * step_first and the last block's step_last, and for every series field F
 * F_min, F_max (NULL when no value), F_sum and F_cnt of its non-NULL values.
 * Levels are 64 * 2^i blocks, so a query bucketed to max_points (with a
 * width rounded to a multiple of half the largest level below it) folds 1
 * to 3 rows a bucket and gets at least 2/3 of the buckets it asked for
 * (half for buckets under 128 blocks). A
 * chunk's row exists once a later block of its group is stored ("complete": blocks
 * are append-only, so it never changes after that), and not before; a
 * complete chunk without a row held no block. The writer keeps each
 * stream's open chunks in memory and writes a row in the transaction that
 * stores the first block past the chunk.
 */
#ifndef HTGAD_ROLLUP_H
#define HTGAD_ROLLUP_H

#include <stdint.h>
#include <string.h>

#include "mix.h"

#define ROLLUP_LEVELS   11 /* 64, 128, 256, ..., 65536 blocks */
#define ROLLUP_LEVEL(i) ((int64_t)64 << (i))

/* The series fields, in the order of the HTTP API's field table (and of
 * enum series_field_id in daemon/http/series.h); each is a column of blocks. */
#define ROLLUP_FIELDS(X)                                                                           \
    X(step_first)                                                                                  \
    X(n)                                                                                           \
    X(n_used)                                                                                      \
    X(median)                                                                                      \
    X(mean)                                                                                        \
    X(variance)                                                                                    \
    X(kurtosis)                                                                                    \
    X(alpha)                                                                                       \
    X(alpha_se)                                                                                    \
    X(alpha_lo)                                                                                    \
    X(alpha_hi)                                                                                    \
    X(k)                                                                                           \
    X(alpha_stable)                                                                                \
    X(lambda)
#define ROLLUP_NFIELDS 14

/* A field's column of blocks, and its four columns of series_rollup, as
 * pieces of a select list: ROLLUP_FIELDS(ROLLUP_AGG_COLS) lists them all. */
#define ROLLUP_COL(f)      ", " #f
#define ROLLUP_AGG_COLS(f) ", " #f "_min, " #f "_max, " #f "_sum, " #f "_cnt"

/* series_rollup_agg.agg (schema/004_series_rollup_agg.sql), little-endian:
 * block_first, n_blocks, step_first, step_last (int64), then per field, in
 * the order above, F_min, F_max, F_sum (doubles) and F_cnt (int64), 32
 * bytes a field; F_min and F_max are 0 where F_cnt is 0. 480 bytes. */
#define ROLLUP_AGG_HEAD_BYTES  32
#define ROLLUP_AGG_FIELD_BYTES 32
#define ROLLUP_AGG_BYTES       (ROLLUP_AGG_HEAD_BYTES + ROLLUP_NFIELDS * ROLLUP_AGG_FIELD_BYTES)

/* Writes the row's block and step columns into agg (ROLLUP_AGG_BYTES). */
static inline void rollup_agg_put_head(unsigned char *agg, int64_t block_first, int64_t n_blocks,
                                       int64_t step_first, int64_t step_last)
{
    htga_st_le64(agg, (uint64_t)block_first);
    htga_st_le64(agg + 8, (uint64_t)n_blocks);
    htga_st_le64(agg + 16, (uint64_t)step_first);
    htga_st_le64(agg + 24, (uint64_t)step_last);
}

/* Reads the row's block and step columns from agg (ROLLUP_AGG_BYTES). */
static inline void rollup_agg_get_head(const unsigned char *agg, int64_t *block_first,
                                       int64_t *n_blocks, int64_t *step_first, int64_t *step_last)
{
    *block_first = (int64_t)htga_ld_le64(agg);
    *n_blocks = (int64_t)htga_ld_le64(agg + 8);
    *step_first = (int64_t)htga_ld_le64(agg + 16);
    *step_last = (int64_t)htga_ld_le64(agg + 24);
}

/* Writes field f's aggregates into agg (ROLLUP_AGG_BYTES). */
static inline void rollup_agg_put(unsigned char *agg, int f, double min, double max, double sum,
                                  int64_t cnt)
{
    unsigned char *p = agg + ROLLUP_AGG_HEAD_BYTES + (size_t)f * ROLLUP_AGG_FIELD_BYTES;
    /* + 0.0 turns -0 into 0, as a REAL column stores it */
    htga_st_le64(p, htga_f64_bits(cnt ? min + 0.0 : 0));
    htga_st_le64(p + 8, htga_f64_bits(cnt ? max + 0.0 : 0));
    htga_st_le64(p + 16, htga_f64_bits(sum + 0.0));
    htga_st_le64(p + 24, (uint64_t)cnt);
}

/* Reads field f's aggregates from agg (ROLLUP_AGG_BYTES). */
static inline void rollup_agg_get(const unsigned char *agg, int f, double *min, double *max,
                                  double *sum, int64_t *cnt)
{
    const unsigned char *p = agg + ROLLUP_AGG_HEAD_BYTES + (size_t)f * ROLLUP_AGG_FIELD_BYTES;
    *min = htga_bits_f64(htga_ld_le64(p));
    *max = htga_bits_f64(htga_ld_le64(p + 8));
    *sum = htga_bits_f64(htga_ld_le64(p + 16));
    *cnt = (int64_t)htga_ld_le64(p + 24);
}

#endif /* HTGAD_ROLLUP_H */
