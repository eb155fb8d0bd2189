/*
 * seriescache: chunk summaries per (run, group) (see seriescache.h).
 */
#include "seriescache.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct sc_entry {
    struct sc_entry *next, *prev; /* LRU list, under the cache's mutex */
    int refs;                     /* requests using the entry, under the cache's mutex */
    pthread_rwlock_t lock;        /* guards everything below: write to extend, read to fold */
    void *key;
    size_t keylen;
    struct sc_chunk *chunks; /* chunks[i] is chunk i; count 0 = no blocks in it */
    int64_t nchunks;         /* complete chunks: blocks below nchunks*SC_CHUNK are final */
    int64_t cap;
    struct sc_chunk *big; /* big[j] merges chunks [SC_FAN*j, SC_FAN*(j+1)) */
    int64_t nbig, bigcap;
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
    return sizeof *e + e->keylen + (size_t)(e->cap + e->bigcap) * sizeof(struct sc_chunk);
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
    atomic_fetch_sub(&c->used, entry_bytes(e));
    pthread_rwlock_destroy(&e->lock);
    free(e->chunks);
    free(e->big);
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
        atomic_fetch_add(&c->used, (size_t)(cap - e->cap) * sizeof *p);
        e->chunks = p;
        e->cap = cap;
    }
    for (int64_t i = e->nchunks; i < e->open_index; i++)
        chunk_reset(&e->chunks[i]);
    e->chunks[e->open_index] = e->open;
    e->nchunks = want;
    return 0;
}

/* Folds chunk k into acc (both in block order). */
static void chunk_merge(struct sc_chunk *acc, const struct sc_chunk *k)
{
    if (k->count == 0)
        return;
    if (acc->count == 0) {
        acc->block_first = k->block_first;
        acc->step_first = k->step_first;
    }
    acc->count += k->count;
    acc->step_last = k->step_last;
    for (int f = 0; f < SF_COUNT_; f++) {
        acc->cnt[f] += k->cnt[f];
        acc->sum[f] += k->sum[f];
        if (k->min[f] < acc->min[f])
            acc->min[f] = k->min[f];
        if (k->max[f] > acc->max[f])
            acc->max[f] = k->max[f];
    }
}

/* Builds the super-chunks that the complete chunks now fill. */
static int build_big(struct series_cache *c, struct sc_entry *e)
{
    int64_t want = e->nchunks / SC_FAN;
    if (want > e->bigcap) {
        int64_t cap = e->bigcap ? e->bigcap : 16;
        while (cap < want)
            cap *= 2;
        struct sc_chunk *p = realloc(e->big, (size_t)cap * sizeof *p);
        if (!p)
            return -1;
        atomic_fetch_add(&c->used, (size_t)(cap - e->bigcap) * sizeof *p);
        e->big = p;
        e->bigcap = cap;
    }
    for (; e->nbig < want; e->nbig++) {
        struct sc_chunk *b = &e->big[e->nbig];
        chunk_reset(b);
        for (int64_t i = 0; i < SC_FAN; i++)
            chunk_merge(b, &e->chunks[e->nbig * SC_FAN + i]);
    }
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
    if (pthread_rwlock_init(&e->lock, NULL) != 0) {
        free(e->key);
        free(e);
        return NULL;
    }
    memcpy(e->key, key, keylen);
    e->keylen = keylen;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    atomic_fetch_add(&c->used, entry_bytes(e));
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
    return build_big(c, e);
}

int series_cache_fold(struct series_cache *c, const void *key, size_t keylen, sc_reader_fn reader,
                      void *rd, struct series *s, int64_t b0, int64_t b1, int64_t *next)
{
    int rc = -1;
    pthread_mutex_lock(&c->mu);
    struct sc_entry *e = lookup(c, key, keylen);
    if (e)
        e->refs++;
    pthread_mutex_unlock(&c->mu);
    if (!e)
        return -1;

    /* Only requests for this group wait while it is filled or extended, and
     * it is extended only when more than SC_LAG blocks of the range are not
     * cached yet; otherwise requests fold concurrently under the read lock
     * and the caller reads the few uncached blocks as rows. */
    pthread_rwlock_rdlock(&e->lock);
    if (b1 - e->nchunks * SC_CHUNK >= SC_LAG) {
        pthread_rwlock_unlock(&e->lock);
        pthread_rwlock_wrlock(&e->lock);
        int bad = b1 - e->nchunks * SC_CHUNK >= SC_LAG && extend(c, e, reader, rd) != 0;
        if (bad)
            e->nchunks = e->nbig = 0; /* start over next time */
        pthread_rwlock_unlock(&e->lock);
        if (bad)
            goto out_release;
        pthread_rwlock_rdlock(&e->lock);
    }
    int64_t first = (*next + SC_CHUNK - 1) / SC_CHUNK;
    if (first * SC_CHUNK < b0)
        first = (b0 + SC_CHUNK - 1) / SC_CHUNK;
    int64_t ci = first;
    while (ci < e->nchunks && (ci + 1) * SC_CHUNK - 1 <= b1) {
        const struct sc_chunk *k = &e->chunks[ci];
        int64_t step = 1;
        int64_t last = (ci + SC_FAN) * SC_CHUNK - 1; /* last block of ci's super-chunk */
        if (ci % SC_FAN == 0 && ci / SC_FAN < e->nbig && last <= b1 &&
            (ci * SC_CHUNK - s->origin) / s->width == (last - s->origin) / s->width) {
            k = &e->big[ci / SC_FAN]; /* whole super-chunk inside one bucket */
            step = SC_FAN;
        }
        ci += step;
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
            goto out_unlock_entry;
    }
    if (ci > first)
        *next = ci * SC_CHUNK;
    rc = 0;
out_unlock_entry:
    pthread_rwlock_unlock(&e->lock);
out_release:

    /* keep within budget: drop least recently used entries nobody is using */
    pthread_mutex_lock(&c->mu);
    e->refs--;
    struct sc_entry *t = c->head;
    while (t && t->next)
        t = t->next;
    while (t && atomic_load(&c->used) > c->budget) {
        struct sc_entry *prev = t->prev;
        if (t != e && t->refs == 0)
            free_entry(c, t);
        t = prev;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}
