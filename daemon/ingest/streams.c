/*
 * streams.c - runs, streams and peers of the ingest thread (see streams.h).
 *
 * DESIGN: FNV-1a hashes, linear probing; a freed name leaves its table by
 * backward-shift deletion (no tombstones), and its slot goes on a free
 * stack that new names take from first. Per-run arrays (streams, peers) grow by
 * doubling up to their limits.
 */
#include "streams.h"

#include <stdlib.h>
#include <string.h>

#include "mix.h"

streams *streams_new(size_t max, size_t block_samples, uint64_t window)
{
    streams *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->max = max;
    s->block_samples = block_samples;
    s->window = window;
    s->index_cap = 1;
    while (s->index_cap < 2 * max)
        s->index_cap <<= 1;
    s->runs = calloc(max, sizeof(run_entry));
    s->streams = calloc(max, sizeof(stream_entry));
    s->run_index = calloc(s->index_cap, sizeof(uint32_t));
    s->stream_index = calloc(s->index_cap, sizeof(uint32_t));
    s->free_runs = calloc(max, sizeof(uint32_t));
    s->free_streams = calloc(max, sizeof(uint32_t));
    if (s->runs == NULL || s->streams == NULL || s->run_index == NULL || s->stream_index == NULL ||
        s->free_runs == NULL || s->free_streams == NULL)
        streams_free(&s);
    return s;
}

void streams_free(streams **sp)
{
    streams *s;

    if (sp == NULL || *sp == NULL)
        return;
    s = *sp;
    for (size_t i = 0; i < s->nruns; i++) {
        free(s->runs[i].streams);
        free(s->runs[i].peers);
    }
    for (size_t i = 0; i < s->nstreams; i++)
        accum_free(&s->streams[i].acc);
    free(s->runs);
    free(s->streams);
    free(s->run_index);
    free(s->stream_index);
    free(s->free_runs);
    free(s->free_streams);
    free(s);
    *sp = NULL;
}

/* The slot of run name, or -1 with *at the free index position for it. */
static long run_lookup(const streams *s, const char *name, size_t len, size_t *at)
{
    size_t mask = s->index_cap - 1;
    size_t i = htga_fnv1a(HTGA_FNV_SEED, name, len) & mask;
    const run_entry *r;

    for (; s->run_index[i] != 0; i = (i + 1) & mask) {
        r = &s->runs[s->run_index[i] - 1];
        if (r->name_len == len && memcmp(r->name, name, len) == 0)
            return (long)(s->run_index[i] - 1);
    }
    *at = i;
    return -1;
}

long streams_run_find(const streams *s, const char *name, size_t len)
{
    size_t i;

    return len > WIRE_NAME_MAX ? -1 : run_lookup(s, name, len, &i);
}

long streams_run(streams *s, const char *name, size_t len, const policy *pol)
{
    size_t i;
    long found;
    run_entry *r;

    if (len > WIRE_NAME_MAX)
        return -1;
    if ((found = run_lookup(s, name, len, &i)) >= 0)
        return found;
    if (s->live_runs == s->max)
        return -1;
    uint32_t slot = s->nfree_runs ? s->free_runs[--s->nfree_runs] : (uint32_t)s->nruns++;
    r = &s->runs[slot];
    memcpy(r->name, name, len);
    r->name[len] = '\0';
    r->name_len = len;
    r->pol = *pol;
    r->pol_source = "default";
    r->used = 1;
    s->live_runs++;
    s->run_index[i] = slot + 1;
    return (long)slot;
}

static size_t run_hash(const streams *s, const run_entry *r)
{
    return htga_fnv1a(HTGA_FNV_SEED, r->name, r->name_len) & (s->index_cap - 1);
}

static size_t stream_hash(const streams *s, const stream_entry *st)
{
    return htga_fnv1a(htga_fnv1a(HTGA_FNV_SEED, &st->run_slot, sizeof(st->run_slot)), st->group,
                      st->group_len) &
           (s->index_cap - 1);
}

/* Removes the entry at i of an index (linear probing), moving back the
 * entries of the same cluster that would no longer be found. */
static void index_delete(const streams *s, uint32_t *index, size_t i, int runs)
{
    size_t mask = s->index_cap - 1;

    index[i] = 0;
    for (size_t j = (i + 1) & mask; index[j] != 0; j = (j + 1) & mask) {
        size_t h =
            runs ? run_hash(s, &s->runs[index[j] - 1]) : stream_hash(s, &s->streams[index[j] - 1]);
        /* j's entry may move to i when h is not cyclically within (i, j] */
        if (((j - h) & mask) >= ((j - i) & mask)) {
            index[i] = index[j];
            index[j] = 0;
            i = j;
        }
    }
}

static size_t index_find(const streams *s, const uint32_t *index, size_t start, uint32_t slot)
{
    size_t mask = s->index_cap - 1;
    size_t i = start;

    while (index[i] != slot + 1)
        i = (i + 1) & mask;
    return i;
}

void streams_stream_free(streams *s, uint32_t slot)
{
    stream_entry *st;
    run_entry *r;

    if (slot >= s->nstreams || !s->streams[slot].used)
        return;
    st = &s->streams[slot];
    r = &s->runs[st->run_slot];
    for (size_t i = 0; i < r->nstreams; i++) {
        if (r->streams[i] == slot) {
            r->streams[i] = r->streams[--r->nstreams];
            break;
        }
    }
    index_delete(s, s->stream_index, index_find(s, s->stream_index, stream_hash(s, st), slot), 0);
    accum_free(&st->acc);
    uint32_t life = st->life;
    memset(st, 0, sizeof(*st));
    st->life = life; /* the next life gets the next number */
    s->free_streams[s->nfree_streams++] = slot;
    s->live_streams--;
}

int streams_run_free(streams *s, uint32_t run_slot)
{
    run_entry *r;

    if (run_slot >= s->nruns || !s->runs[run_slot].used)
        return 0;
    r = &s->runs[run_slot];
    if (r->nstreams != 0 || r->npeers != 0)
        return 0;
    index_delete(s, s->run_index, index_find(s, s->run_index, run_hash(s, r), run_slot), 1);
    free(r->streams);
    free(r->peers);
    memset(r, 0, sizeof(*r));
    s->free_runs[s->nfree_runs++] = run_slot;
    s->live_runs--;
    return 1;
}

static int run_add_stream(run_entry *r, uint32_t slot)
{
    if (r->nstreams == r->streams_cap) {
        size_t cap = r->streams_cap ? 2 * r->streams_cap : 8;
        uint32_t *v = realloc(r->streams, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        r->streams = v;
        r->streams_cap = cap;
    }
    r->streams[r->nstreams++] = slot;
    return 0;
}

/* The slot of (run_slot, group), or -1 with *at the free index position. */
static long stream_lookup(const streams *s, uint32_t run_slot, const char *group, size_t len,
                          size_t *at)
{
    size_t mask = s->index_cap - 1;
    size_t i =
        htga_fnv1a(htga_fnv1a(HTGA_FNV_SEED, &run_slot, sizeof(run_slot)), group, len) & mask;
    const stream_entry *st;

    for (; s->stream_index[i] != 0; i = (i + 1) & mask) {
        st = &s->streams[s->stream_index[i] - 1];
        if (st->run_slot == run_slot && st->group_len == len && memcmp(st->group, group, len) == 0)
            return (long)(s->stream_index[i] - 1);
    }
    *at = i;
    return -1;
}

long streams_stream_find(const streams *s, uint32_t run_slot, const char *group, size_t len)
{
    size_t i;

    if (len > WIRE_NAME_MAX || run_slot >= s->nruns || !s->runs[run_slot].used)
        return -1;
    return stream_lookup(s, run_slot, group, len, &i);
}

long streams_stream(streams *s, uint32_t run_slot, const char *group, size_t len)
{
    size_t i;
    long found;
    stream_entry *st;

    if (len > WIRE_NAME_MAX || run_slot >= s->nruns || !s->runs[run_slot].used)
        return -1;
    if ((found = stream_lookup(s, run_slot, group, len, &i)) >= 0)
        return found;
    if (s->live_streams == s->max)
        return -1;
    uint32_t slot =
        s->nfree_streams ? s->free_streams[s->nfree_streams - 1] : (uint32_t)s->nstreams;
    if (run_add_stream(&s->runs[run_slot], slot) < 0)
        return -1;
    if (s->nfree_streams)
        s->nfree_streams--;
    else
        s->nstreams++;
    st = &s->streams[slot];
    st->life++;
    st->run_slot = run_slot;
    memcpy(st->group, group, len);
    st->group[len] = '\0';
    st->group_len = len;
    accum_init(&st->acc, s->block_samples, s->window,
               s->block_samples < ACCUM_WINDOW_MIN ? s->block_samples : ACCUM_WINDOW_MIN);
    st->used = 1;
    s->live_streams++;
    s->stream_index[i] = slot + 1;
    return (long)slot;
}

peer *streams_peer_find(streams *s, uint32_t run_slot, const void *id, size_t id_len)
{
    run_entry *r = &s->runs[run_slot];

    for (size_t i = 0; i < r->npeers; i++) {
        if (r->peers[i].id_len == id_len && memcmp(r->peers[i].id, id, id_len) == 0)
            return &r->peers[i];
    }
    return NULL;
}

int streams_peer_touch(streams *s, uint32_t run_slot, const void *id, size_t id_len, int64_t now_ms)
{
    run_entry *r = &s->runs[run_slot];
    peer *p;

    if (id_len == 0 || id_len > STREAMS_ID_MAX)
        return -1;
    p = streams_peer_find(s, run_slot, id, id_len);
    if (p != NULL) {
        p->last_seen_ms = now_ms;
        return 0;
    }
    if (r->npeers == STREAMS_PEERS_MAX)
        return -1;
    if (r->npeers == r->peers_cap) {
        size_t cap = r->peers_cap ? 2 * r->peers_cap : 4;
        peer *v = realloc(r->peers, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        r->peers = v;
        r->peers_cap = cap;
    }
    p = &r->peers[r->npeers++];
    memset(p, 0, sizeof(*p));
    memcpy(p->id, id, id_len);
    p->id_len = (uint8_t)id_len;
    p->last_seen_ms = now_ms;
    return 0;
}

void streams_peer_remove(streams *s, uint32_t run_slot, size_t i)
{
    run_entry *r = &s->runs[run_slot];

    if (i >= r->npeers)
        return;
    r->drops_gone += r->peers[i].dropped - r->peers[i].dropped_base;
    if (r->peers[i].tr.known && !r->peers[i].tr.succeeded)
        r->gone[r->gone_next++ % STREAMS_GONE_TRACES] = r->peers[i].tr;
    r->peers[i] = r->peers[--r->npeers];
}

size_t streams_prune(streams *s, int64_t now_ms, int64_t silence_ms)
{
    size_t gone = 0;

    for (size_t ri = 0; ri < s->nruns; ri++) {
        run_entry *r = &s->runs[ri];
        if (!r->used)
            continue;
        for (size_t i = r->npeers; i-- > 0;) {
            if (r->peers[i].last_seen_ms < now_ms - silence_ms) {
                streams_peer_remove(s, (uint32_t)ri, i);
                gone++;
            }
        }
    }
    return gone;
}
