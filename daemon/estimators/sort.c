/*
 * sort.c - selection and sorting of doubles, descending (the Hill
 * candidates): a three-way quickselect and an introsort, both falling back
 * to heapsort after too many rounds, so the worst case stays O(n log n).
 * No allocation.
 */
#include "est_internal.h"

#define SMALL 24 /* below, insertion sort */

static void swap_d(double *a, double *b)
{
    double t = *a;
    *a = *b;
    *b = t;
}

static void insertion_sort_desc(double *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        double t = v[i];
        size_t j = i;
        for (; j > 0 && v[j - 1] < t; j--)
            v[j] = v[j - 1];
        v[j] = t;
    }
}

static void sift_down_min(double *v, size_t start, size_t n)
{
    size_t root = start;
    for (;;) {
        size_t c = 2 * root + 1;
        if (c >= n)
            return;
        if (c + 1 < n && v[c + 1] < v[c])
            c++;
        if (v[root] <= v[c])
            return;
        swap_d(&v[root], &v[c]);
        root = c;
    }
}

/* Descending heapsort: a min-heap whose minimum goes to the end. */
static void heapsort_desc(double *v, size_t n)
{
    if (n < 2)
        return;
    for (size_t s = n / 2; s-- > 0;)
        sift_down_min(v, s, n);
    for (size_t end = n - 1; end > 0; end--) {
        swap_d(&v[0], &v[end]);
        sift_down_min(v, 0, end);
    }
}

static double median3(double a, double b, double c)
{
    if (a < b) {
        if (b < c)
            return b;
        return a < c ? c : a;
    }
    if (a < c)
        return a;
    return b < c ? c : b;
}

/* Three-way partition for descending order around p:
 * [0, *lt) > p, [*lt, *gt) == p, [*gt, n) < p. */
static void partition3(double *v, size_t n, double p, size_t *lt, size_t *gt)
{
    size_t a = 0, i = 0, b = n;
    while (i < b) {
        if (v[i] > p)
            swap_d(&v[a++], &v[i++]);
        else if (v[i] < p)
            swap_d(&v[i], &v[--b]);
        else
            i++;
    }
    *lt = a;
    *gt = b;
}

static size_t depth_limit(size_t n)
{
    size_t d = 0;
    while (n > 1) {
        n >>= 1;
        d += 2;
    }
    return d + 8;
}

static void introsort_desc(double *v, size_t n, size_t depth)
{
    while (n > SMALL) {
        if (depth-- == 0) {
            heapsort_desc(v, n);
            return;
        }
        double p = median3(v[0], v[n / 2], v[n - 1]);
        size_t lt, gt;
        partition3(v, n, p, &lt, &gt);
        if (lt < n - gt) {
            introsort_desc(v, lt, depth);
            v += gt;
            n -= gt;
        } else {
            introsort_desc(v + gt, n - gt, depth);
            n = lt;
        }
    }
    insertion_sort_desc(v, n);
}

void est_sort_desc_f64(double *v, size_t n)
{
    introsort_desc(v, n, depth_limit(n));
}

/* Moves the values of v[0..n) for which (v > p), or (v == p) when eq, to
 * the front; returns how many. Branch-free (Lomuto with an unconditional
 * swap): on the Hill candidates, which fall either side of p at random, a
 * branch per value mispredicts half the time. */
static size_t partition_front(double *v, size_t n, double p, int eq)
{
    size_t store = 0;
    for (size_t i = 0; i < n; i++) {
        double x = v[i];
        v[i] = v[store];
        v[store] = x;
        store += eq ? x == p : x > p;
    }
    return store;
}

void est_nth_desc_f64(double *v, size_t n, size_t pos)
{
    if (pos >= n)
        return;
    size_t depth = depth_limit(n);
    while (n > SMALL) {
        if (depth-- == 0) {
            heapsort_desc(v, n);
            return;
        }
        double p = median3(v[0], v[n / 2], v[n - 1]);
        size_t lt = partition_front(v, n, p, 0), gt = lt;
        if (pos >= lt) /* [lt, gt): the values equal to p */
            gt = lt + partition_front(v + lt, n - lt, p, 1);
        if (pos < lt) {
            n = lt;
        } else if (pos < gt) {
            return;
        } else {
            v += gt;
            n -= gt;
            pos -= gt;
        }
    }
    insertion_sort_desc(v, n);
}
