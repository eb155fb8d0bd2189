/*
 * seriescache: per-(run, group) chunk summaries that let a downsampled series
 * query over a million blocks read thousands of summaries, not a million rows.
 *
 * Design: blocks of a group are append-only, so chunk c (blocks
 * [c*SC_CHUNK, (c+1)*SC_CHUNK)) never changes once a later block exists. For
 * each complete chunk the cache keeps, for every series field, min, max, sum
 * and count of finite values (the same fold series.c does). A request first
 * extends its group's entry with the rows written since (one index-range
 * query from the first uncached block), then merges the chunks inside its
 * range and reads only the partial chunks at the ends as rows. Entries are
 * A second level merges SC_FAN chunks, used where a whole super-chunk falls
 * inside one bucket (a 1e6-block query for 1000 points then folds ~1000
 * summaries, not ~8000). Entries are
 * kept in LRU order under a byte budget. Locking: the cache's mutex guards
 * the LRU list and reference counts only; each entry has its own rwlock,
 * taken for writing to extend it (only when SC_LAG or more blocks of the
 * request are uncached) and for reading to fold, so filling one group
 * (seconds for a cold million-block group) never delays queries of the
 * others, and queries of one group fold concurrently. Rows are read through a caller
 * callback so this file holds no SQL.
 */
#ifndef HTGA_HTTP_SERIESCACHE_H
#define HTGA_HTTP_SERIESCACHE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "series.h"

#define SC_CHUNK 128  /* blocks per chunk */
#define SC_FAN   8    /* chunks per super-chunk: a second level for wide buckets */
#define SC_LAG   1024 /* extend an entry only when this many blocks are uncached */

struct sc_chunk {
    int64_t block_first, count, step_first, step_last;
    double min[SF_COUNT_], max[SF_COUNT_], sum[SF_COUNT_];
    int64_t cnt[SF_COUNT_];
};

struct sc_entry;

struct series_cache {
    pthread_mutex_t mu;
    size_t budget;
    atomic_size_t used;
    struct sc_entry *head; /* most recently used first */
};

/* Calls row(ud, block, step_first, step_last, vals[SF_COUNT_]) for every
 * block of the group with block >= from, in block order. Returns 0 or -1. */
typedef int (*sc_row_fn)(void *ud, int64_t block, int64_t step_first, int64_t step_last,
                         const double *vals);
typedef int (*sc_reader_fn)(void *rd, int64_t from, sc_row_fn row, void *ud);

/* Initialises an empty cache holding at most budget bytes. Returns 0 or -1. */
int series_cache_init(struct series_cache *c, size_t budget);

/* Frees every entry and the mutex. */
void series_cache_destroy(struct series_cache *c);

/* Brings the entry for key (an opaque byte string, e.g. "run\0group") up to
 * date through reader(rd, ...) when SC_LAG or more blocks up to b1 are not
 * cached, then folds into s every complete cached
 * chunk lying wholly inside [b0, b1] and starting at or after *next, and
 * advances *next past them. The caller reads rows before and after. s must be
 * downsampled with a width that is a multiple of SC_CHUNK. Returns 0 or -1. */
int series_cache_fold(struct series_cache *c, const void *key, size_t keylen, sc_reader_fn reader,
                      void *rd, struct series *s, int64_t b0, int64_t b1, int64_t *next);

#endif
