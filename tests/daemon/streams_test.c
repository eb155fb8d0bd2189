/* Unit tests of daemon/ingest/streams.c: lookups, limits, peers. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "streams.h"

Test(streams, runs_and_streams_by_name_with_limits)
{
    streams *s = streams_new(3, 16, 0);
    policy p = policy_default();
    long r1, r2, g1;

    cr_assert_not_null(s);
    r1 = streams_run(s, "alpha", 5, &p);
    r2 = streams_run(s, "beta", 4, &p);
    cr_assert_eq(r1, 0);
    cr_assert_eq(r2, 1);
    cr_assert_eq(streams_run(s, "alpha", 5, &p), r1);
    cr_assert_eq(streams_run(s, "alph", 4, &p), 2);   /* prefix is another name */
    cr_assert_eq(streams_run(s, "gamma", 5, &p), -1); /* full */
    g1 = streams_stream(s, (uint32_t)r1, "w", 1);
    cr_assert_eq(g1, 0);
    cr_assert_eq(streams_stream(s, (uint32_t)r2, "w", 1), 1); /* same group, other run */
    cr_assert_eq(streams_stream(s, (uint32_t)r1, "w", 1), g1);
    cr_assert_eq(streams_stream(s, (uint32_t)r1, "b", 1), 2);
    cr_assert_eq(streams_stream(s, (uint32_t)r1, "c", 1), -1);
    cr_assert_eq(s->runs[r1].nstreams, 2);
    cr_assert_str_eq(s->streams[1].group, "w");
    cr_assert_eq(s->streams[1].run_slot, (uint32_t)r2);
    streams_free(&s);
    cr_assert_null(s);
}

Test(streams, peers_touch_prune_remove)
{
    streams *s = streams_new(4, 16, 0);
    policy p = policy_default();
    long r = streams_run(s, "run", 3, &p);
    uint8_t id1[5] = {0, 1, 2, 3, 4}, id2[5] = {0, 1, 2, 3, 5};

    cr_assert_eq(streams_peer_touch(s, (uint32_t)r, id1, 5, 1000), 0);
    cr_assert_eq(streams_peer_touch(s, (uint32_t)r, id2, 5, 1000), 0);
    cr_assert_eq(streams_peer_touch(s, (uint32_t)r, id1, 5, 5000), 0); /* refresh */
    cr_assert_eq(s->runs[r].npeers, 2);
    cr_assert_eq(streams_peer_touch(s, (uint32_t)r, id1, 0, 5000), -1);
    cr_assert_eq(streams_prune(s, 12000, 10000), 1); /* id2 silent since 1000 */
    cr_assert_eq(s->runs[r].npeers, 1);
    cr_assert_eq(s->runs[r].peers[0].id[4], 4);
    streams_peer_remove(s, (uint32_t)r, 0);
    cr_assert_eq(s->runs[r].npeers, 0);
    for (int i = 0; i < STREAMS_PEERS_MAX; i++) {
        uint8_t id[4] = {(uint8_t)i, (uint8_t)(i >> 8), 9, 9};
        cr_assert_eq(streams_peer_touch(s, (uint32_t)r, id, 4, 1), 0);
    }
    cr_assert_eq(streams_peer_touch(s, (uint32_t)r, id1, 5, 1), -1);
    streams_free(&s);
}

/* streams_peer_find finds by identity; a refresh keeps a peer's HELLO
 * state, a peer that comes back after being forgotten starts unanswered. */
Test(streams, peer_find_and_hello_state)
{
    streams *s = streams_new(4, 16, 0);
    policy p = policy_default();
    long r = streams_run(s, "run", 3, &p);
    uint8_t id1[3] = {7, 7, 1}, id2[3] = {7, 7, 2};
    peer *a;

    cr_assert_null(streams_peer_find(s, (uint32_t)r, id1, 3));
    cr_assert_eq(streams_peer_touch(s, (uint32_t)r, id1, 3, 1000), 0);
    cr_assert_eq(streams_peer_touch(s, (uint32_t)r, id2, 3, 1000), 0);
    a = streams_peer_find(s, (uint32_t)r, id1, 3);
    cr_assert_not_null(a);
    cr_assert_eq(a->id[2], 1);
    cr_assert_eq(a->answered, 0);
    cr_assert_eq(a->missed, 0);
    cr_assert_null(streams_peer_find(s, (uint32_t)r, id1, 2), "length is part of the identity");
    a->answered = 1;
    cr_assert_eq(streams_peer_touch(s, (uint32_t)r, id1, 3, 2000), 0);
    cr_assert_eq(streams_peer_find(s, (uint32_t)r, id1, 3)->answered, 1, "refresh keeps it");
    cr_assert_eq(streams_prune(s, 12500, 10000), 2);
    cr_assert_eq(streams_peer_touch(s, (uint32_t)r, id1, 3, 13000), 0);
    cr_assert_eq(streams_peer_find(s, (uint32_t)r, id1, 3)->answered, 0, "back: new peer");
    streams_free(&s);
}

Test(streams, freed_slots_are_reused_and_lookups_survive)
{
    streams *s = streams_new(4, 16, 0);
    policy p = policy_default();
    long r = streams_run(s, "run", 3, &p);
    char name[8];

    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "g%d", i);
        cr_assert_eq(streams_stream(s, (uint32_t)r, name, 2), i);
    }
    cr_assert_eq(streams_stream(s, (uint32_t)r, "g9", 2), -1); /* full */
    streams_stream_free(s, 1);
    cr_assert_eq(s->runs[r].nstreams, 3);
    cr_assert_eq(s->live_streams, 3);
    for (int i = 0; i < 4; i++) { /* the others are still found where they were */
        snprintf(name, sizeof name, "g%d", i);
        if (i != 1)
            cr_assert_eq(streams_stream(s, (uint32_t)r, name, 2), i);
    }
    cr_assert_eq(streams_stream(s, (uint32_t)r, "g9", 2), 1); /* the freed slot */
    cr_assert_eq(streams_run_free(s, (uint32_t)r), 0);        /* still has streams */
    for (uint32_t i = 0; i < 4; i++)
        streams_stream_free(s, i);
    cr_assert_eq(streams_run_free(s, (uint32_t)r), 1);
    cr_assert_eq(streams_run(s, "other", 5, &p), r); /* the run slot too */
    cr_assert_eq(s->live_runs, 1);
    streams_free(&s);
}

/* A departed peer's drop trace stays with its run (its successor on a new
 * connection carries on from it, ingest/shed.c), the last STREAMS_GONE_TRACES
 * of them; one a successor took over, or that never reported, does not. */
Test(streams, departed_peers_leave_their_drop_trace)
{
    streams *s = streams_new(4, 16, 0);
    policy p = policy_default();
    long r = streams_run(s, "run", 3, &p);

    for (uint8_t i = 0; i < STREAMS_GONE_TRACES + 3; i++) {
        uint8_t id[2] = {7, i};
        cr_assert_eq(streams_peer_touch(s, (uint32_t)r, id, 2, 1000), 0);
        s->runs[r].peers[0].tr = (drop_trace){.known = i != 1, .succeeded = i == 2, .rank = i};
        streams_peer_remove(s, (uint32_t)r, 0);
    }
    cr_assert_eq(s->runs[r].gone_next, STREAMS_GONE_TRACES + 1); /* 1 and 2 left none */
    for (size_t k = 0; k < STREAMS_GONE_TRACES; k++) /* the latest ones: ranks 3 .. 10 */
        cr_assert_eq(s->runs[r].gone[k].rank,
                     3 + (k + STREAMS_GONE_TRACES - 1) % STREAMS_GONE_TRACES);
    streams_free(&s);
}
