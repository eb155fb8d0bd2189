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

#endif /* HTGAD_ROLLUP_H */
