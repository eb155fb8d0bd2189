/*
 * groups.c - libhtga: the table of a run's parameter groups.
 *
 * DESIGN: an open-addressing hash table (FNV-1a, linear probing, at most
 * half full) of pointers to entries allocated one by one, so an entry never
 * moves and queued buffers may point at it. An entry is made the first time
 * a group is sent, or named by a LAMBDA or BUDGET from the daemon, and lives
 * as long as the handle. Its lambda and budget fields are under lam_mu
 * (htga_lambda() is a lookup under that lock only); its queue fields are
 * the fair queue's, under mu (queue.c). The run-wide budget (a BUDGET
 * without a group) sits beside the table and applies to every group without
 * one of its own.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "mix.h"

static struct group **slot(struct group **t, size_t cap, const char *name, size_t len)
{
    size_t i = (size_t)htga_fnv1a(HTGA_FNV_SEED, name, len) & (cap - 1);
    while (t[i] && (t[i]->len != len || memcmp(t[i]->name, name, len) != 0))
        i = (i + 1) & (cap - 1);
    return &t[i];
}

static int grow(htga *h)
{
    size_t cap = h->gt_cap ? 2 * h->gt_cap : 16;
    struct group **t = calloc(cap, sizeof *t);
    if (!t)
        return -1;
    for (size_t i = 0; i < h->gt_cap; i++)
        if (h->gt[i])
            *slot(t, cap, h->gt[i]->name, h->gt[i]->len) = h->gt[i];
    free(h->gt);
    h->gt = t;
    h->gt_cap = cap;
    return 0;
}

struct group *groups_find(htga *h, const char *name, size_t len)
{
    return h->gt_cap ? *slot(h->gt, h->gt_cap, name, len) : NULL;
}

struct group *groups_get(htga *h, const char *name, size_t len)
{
    struct group **s, *g = groups_find(h, name, len);
    if (g)
        return g;
    if (2 * (h->gt_used + 1) > h->gt_cap && grow(h) != 0)
        return NULL;
    g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->len = len;
    memcpy(g->name, name, len);
    s = slot(h->gt, h->gt_cap, name, len);
    *s = g;
    h->gt_used++;
    return g;
}

void groups_set_lambda(htga *h, const char *name, size_t len, double lambda)
{
    struct group *g;
    pthread_mutex_lock(&h->lam_mu);
    g = groups_get(h, name, len);
    if (g) {
        g->lambda = lambda;
        g->has_lambda = 1;
    }
    pthread_mutex_unlock(&h->lam_mu);
}

/* len 0: the run-wide budget. */
void groups_set_budget(htga *h, const char *name, size_t len, uint32_t values, uint32_t every)
{
    struct group *g;
    pthread_mutex_lock(&h->lam_mu);
    if (len == 0) {
        h->has_run_budget = 1;
        h->run_values = values;
        h->run_every = every;
    } else if ((g = groups_get(h, name, len)) != NULL) {
        g->has_budget = 1;
        g->b_values = values;
        g->b_every = every;
    }
    pthread_mutex_unlock(&h->lam_mu);
}

/* The smallest and largest values-per-send of the budgets in force (each
 * group's own, and the run-wide one); 0 and 0 when none came. */
void groups_budget_range(htga *h, uint64_t *vmin, uint64_t *vmax)
{
    uint64_t lo = UINT64_MAX, hi = 0;
    pthread_mutex_lock(&h->lam_mu);
    if (h->has_run_budget)
        lo = hi = h->run_values;
    for (size_t i = 0; i < h->gt_cap; i++) {
        const struct group *g = h->gt[i];
        if (g && g->has_budget) {
            lo = g->b_values < lo ? g->b_values : lo;
            hi = g->b_values > hi ? g->b_values : hi;
        }
    }
    pthread_mutex_unlock(&h->lam_mu);
    *vmin = hi ? lo : 0;
    *vmax = hi;
}

void groups_free(htga *h)
{
    for (size_t i = 0; i < h->gt_cap; i++)
        free(h->gt[i]);
    free(h->gt);
    h->gt = NULL;
    h->gt_cap = h->gt_used = 0;
}
