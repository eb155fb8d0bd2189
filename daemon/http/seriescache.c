/*
 * seriescache: chunk summaries per (run, group) (see seriescache.h).
 */
#include "seriescache.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct sc_entry {
    struct sc_entry *next, *prev;
    void *key;
    size_t keylen;
    struct sc_chunk *chunks; /* chunks[i] is chunk i; count 0 = no blocks in it */
    int64_t nchunks;         /* complete chunks: blocks below nchunks*SC_CHUNK are final */
    int64_t cap;
    struct sc_chunk open; /* chunk being filled during an extension */
    int64_t open_index;
};

int series_cache_init(struct series_cache *c, size_t budget)
{
    memset(c, 0, sizeof *c);
    c->budget = budget;
    return pthread_mutex_init(&c->mu, NULL) == 0 ? 0 : -1;
}

static size_t entry_bytes(const struct sc_entry *e)
{
    return sizeof *e + e->keylen + (size_t)e->cap * sizeof(struct sc_chunk);
}

static void unlink_entry(struct series_cache *c, struct sc_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    e->next = e->prev = NULL;
}

static void free_entry(struct series_cache *c, struct sc_entry *e)
{
    unlink_entry(c, e);
    c->used -= entry_bytes(e);
    free(e->chunks);
    free(e->key);
    free(e);
}

void series_cache_destroy(struct series_cache *c)
{
    while (c->head)
        free_entry(c, c->head);
    pthread_mutex_destroy(&c->mu);
}

static void chunk_reset(struct sc_chunk *k)
{
    memset(k, 0, sizeof *k);
    for (int f = 0; f < SF_COUNT_; f++) {
        k->min[f] = INFINITY;
        k->max[f] = -INFINITY;
    }
}

/* Appends the open chunk as complete chunk number open_index (filling empty
 * chunks for gaps). */
static int commit_open(struct series_cache *c, struct sc_entry *e)
{
    int64_t want = e->open_index + 1;
    if (want > e->cap) {
        int64_t cap = e->cap ? e->cap : 64;
        while (cap < want)
            cap *= 2;
        struct sc_chunk *p = realloc(e->chunks, (size_t)cap * sizeof *p);
        if (!p)
            return -1;
        c->used += (size_t)(cap - e->cap) * sizeof *p;
        e->chunks = p;
        e->cap = cap;
    }
    for (int64_t i = e->nchunks; i < e->open_index; i++)
        chunk_reset(&e->chunks[i]);
    e->chunks[e->open_index] = e->open;
    e->nchunks = want;
    return 0;
}

struct fill {
    struct series_cache *c;
    struct sc_entry *e;
    int failed;
};

static int fill_row(void *ud, int64_t block, int64_t step_first, int64_t step_last,
                    const double *vals)
{
    struct fill *fl = ud;
    struct sc_entry *e = fl->e;
    int64_t idx = block / SC_CHUNK;
    if (idx != e->open_index) {
        if (e->open.count > 0 && commit_open(fl->c, e) != 0) {
            fl->failed = 1;
            return -1;
        }
        chunk_reset(&e->open);
        e->open_index = idx;
    }
    struct sc_chunk *k = &e->open;
    if (k->count == 0) {
        k->block_first = block;
        k->step_first = step_first;
    }
    k->count++;
    k->step_last = step_last;
    for (int f = 0; f < SF_COUNT_; f++) {
        double v = vals[f];
        if (!isfinite(v))
            continue;
        k->cnt[f]++;
        k->sum[f] += v;
        if (v < k->min[f])
            k->min[f] = v;
        if (v > k->max[f])
            k->max[f] = v;
    }
    return 0;
}

static struct sc_entry *lookup(struct series_cache *c, const void *key, size_t keylen)
{
    for (struct sc_entry *e = c->head; e; e = e->next)
        if (e->keylen == keylen && memcmp(e->key, key, keylen) == 0) {
            unlink_entry(c, e);
            e->next = c->head;
            if (c->head)
                c->head->prev = e;
            c->head = e;
            return e;
        }
    struct sc_entry *e = calloc(1, sizeof *e);
    if (!e || !(e->key = malloc(keylen ? keylen : 1))) {
        free(e);
        return NULL;
    }
    memcpy(e->key, key, keylen);
    e->keylen = keylen;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    c->used += entry_bytes(e);
    return e;
}

/* Reads rows past the cached chunks; keeps the last (possibly growing) chunk
 * out of the cache so a later extension re-reads it. */
static int extend(struct series_cache *c, struct sc_entry *e, sc_reader_fn reader, void *rd)
{
    struct fill fl = {c, e, 0};
    chunk_reset(&e->open);
    e->open_index = e->nchunks;
    int rc = reader(rd, e->nchunks * SC_CHUNK, fill_row, &fl);
    if (rc != 0 || fl.failed)
        return -1;
    return 0;
}

int series_cache_fold(struct series_cache *c, const void *key, size_t keylen, sc_reader_fn reader,
                      void *rd, struct series *s, int64_t b0, int64_t b1, int64_t *next)
{
    int rc = -1;
    pthread_mutex_lock(&c->mu);
    struct sc_entry *e = lookup(c, key, keylen);
    if (!e)
        goto out_unlock;
    if (extend(c, e, reader, rd) != 0) {
        free_entry(c, e);
        goto out_unlock;
    }
    int64_t first = (*next + SC_CHUNK - 1) / SC_CHUNK;
    if (first * SC_CHUNK < b0)
        first = (b0 + SC_CHUNK - 1) / SC_CHUNK;
    int64_t ci = first;
    for (; ci < e->nchunks && (ci + 1) * SC_CHUNK - 1 <= b1; ci++) {
        const struct sc_chunk *k = &e->chunks[ci];
        if (k->count == 0)
            continue;
        double mn[SERIES_MAX_FIELDS], mx[SERIES_MAX_FIELDS], sm[SERIES_MAX_FIELDS];
        int64_t cn[SERIES_MAX_FIELDS];
        for (int f = 0; f < s->nfields; f++) {
            int id = s->ids[f];
            mn[f] = k->min[id];
            mx[f] = k->max[id];
            sm[f] = k->sum[id];
            cn[f] = k->cnt[id];
        }
        if (series_add_summary(s, k->block_first, k->count, k->step_first, k->step_last, mn, mx, sm,
                               cn) != 0)
            goto out_unlock;
    }
    if (ci > first)
        *next = ci * SC_CHUNK;
    rc = 0;
    /* keep within budget: drop least recently used entries other than e */
    while (c->used > c->budget) {
        struct sc_entry *t = c->head;
        while (t && t->next)
            t = t->next;
        if (!t || t == e)
            break;
        free_entry(c, t);
    }
out_unlock:
    pthread_mutex_unlock(&c->mu);
    return rc;
}
