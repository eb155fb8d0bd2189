/*
 * harness.h - test helpers around est_block (scratch allocation, sorted
 * references).
 */
#ifndef HTGA_TEST_HARNESS_H
#define HTGA_TEST_HARNESS_H

#include <stdlib.h>

#include "est.h"

/* est_block with its own scratch; returns the est_block code. */
static inline int run_block(const float *x, size_t n, const est_k_rule *rule, double *top,
                            size_t top_len, size_t *top_n, est_result *out)
{
    size_t bytes = est_scratch_bytes(n);
    void *scratch = aligned_alloc(16, (bytes + 15) & ~(size_t)15);
    if (!scratch)
        abort();
    int rc = est_block(x, n, rule, scratch, bytes, top, top_len, top_n, out);
    free(scratch);
    return rc;
}

static inline int cmp_double_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

static inline int cmp_double_asc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static inline double rel_err(double got, double want)
{
    return got == want ? 0.0 : __builtin_fabs(got - want) / __builtin_fabs(want);
}

#endif
