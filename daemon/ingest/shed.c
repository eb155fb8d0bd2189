/*
 * shed.c - shed events (schema/008_shed.sql): what clients report they
 * dropped, values refused and messages lost with a connection, gathered per
 * run and reason and handed to the writer at most once a second.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "stats.h"

/* ---------- shed events (schema/008_shed.sql) ---------- */

/* Adds count things shed between steps lo and hi to a. */
void ig_shed_note(shed_acc *a, uint64_t count, int64_t lo, int64_t hi, int64_t now)
{
    if (count == 0)
        return;
    if (lo > hi) {
        int64_t t = lo;
        lo = hi;
        hi = t;
    }
    if (a->count == 0) {
        a->first = lo;
        a->last = hi;
        a->since_ms = now;
    }
    a->first = lo < a->first ? lo : a->first;
    a->last = hi > a->last ? hi : a->last;
    a->count += count;
}

/* Widens an event being gathered to step (a later message of its run). */
static void shed_extend(shed_acc *a, int64_t step)
{
    if (a->count > 0 && step > a->last)
        a->last = step;
}

/* Hands a, gathered for INGEST_SHED_MS (or at once with force), to the
 * writer as one shed event of run_slot, through the run's estimator queue
 * (ingest never touches SQLite). A full queue keeps it for a later turn,
 * except while flushing at shutdown, when the push waits. */
static void shed_flush(ingest *g, uint32_t run_slot, shed_acc *a, const char *unit,
                       const char *reason, int64_t now, int force)
{
    const run_entry *run = &g->reg->runs[run_slot];
    bqueue *q = g->est_qs[run_slot % g->nest];
    est_job *job;

    if (a->count == 0 || (!force && now - a->since_ms < INGEST_SHED_MS))
        return;
    job = calloc(1, sizeof(*job));
    if (job == NULL)
        return;
    job->kind = EST_JOB_SHED;
    job->run_slot = run_slot;
    memcpy(job->run, run->name, run->name_len + 1);
    job->step_first = a->first;
    job->step_last = a->last;
    job->shed_count = a->count;
    job->shed_unit = unit;
    job->shed_reason = reason;
    if (g->flushing)
        bqueue_push(q, job);
    else if (bqueue_try_push(q, job) < 0) {
        free(job);
        return;
    }
    memset(a, 0, sizeof(*a));
}

void ig_shed_flush_run(ingest *g, uint32_t run_slot, int64_t now, int force)
{
    run_entry *run = &g->reg->runs[run_slot];

    shed_flush(g, run_slot, &run->client_shed, "messages", "client_queue", now, force);
    shed_flush(g, run_slot, &run->refused_shed, "values", "refused", now, force);
    shed_flush(g, run_slot, &run->conn_shed, "messages", "connection", now, force);
}

/* Whether trace q is of the same client as m, the first message of a new
 * connection: the same rank, and m's seq past q's next by at least the
 * drops in between (seq goes on across reconnects, and a message the
 * client dropped takes one too; the rest were lost with the old
 * connection). */
static int continues(const drop_trace *q, const wire_msg *m)
{
    return q->known && !q->succeeded && q->rank == m->rank && m->dropped >= q->dropped &&
           m->seq >= q->next_seq && m->seq - q->next_seq >= m->dropped - q->dropped;
}

/* The drop trace of the same client's earlier connection in run_slot (a
 * peer still held, else the latest one gone), which m, the first message
 * of the connection of p, carries on from; NULL when there is none. */
static drop_trace *earlier_connection(ingest *g, uint32_t run_slot, const peer *p,
                                      const wire_msg *m)
{
    run_entry *run = &g->reg->runs[run_slot];

    for (size_t i = 0; i < run->npeers; i++)
        if (&run->peers[i] != p && continues(&run->peers[i].tr, m))
            return &run->peers[i].tr;
    for (size_t i = 1; i <= STREAMS_GONE_TRACES && i <= run->gone_next; i++) {
        drop_trace *q = &run->gone[(run->gone_next - i) % STREAMS_GONE_TRACES];
        if (continues(q, m))
            return q;
    }
    return NULL;
}

/* What a client's header says it dropped since its last report becomes a
 * shed event of its run (the wire says how many, not which groups). Its
 * steps start at the client's previous SAMPLES (what it shed left its queue
 * after that one) and grow with every later SAMPLES of the run until the
 * event is handed on: a client sheds the oldest message of its fullest
 * group, or the one it is offered, which may be newer than the message
 * that reports it. Drops reported in a HELLO or a BARRIER start at the
 * client's previous SAMPLES (or, before its first one, wait for it). A
 * connection's first report carries on from the same client's earlier
 * connection (earlier_connection), and what was sent on that one but never
 * arrived is a "connection" event. Without one, a client whose every
 * numbered message before this one was a drop (seq == dropped: nothing it
 * numbered ever left it) shed them before its first delivery, on no
 * connection anyone recorded: they are an event at and before its first
 * step. Otherwise it is the baseline: those drops came before it (htgad
 * away or restarted, a connection long gone), maybe recorded by an
 * earlier htgad, so they are in client_drops but leave no row. */
void ig_note_client_drops(ingest *g, uint32_t run_slot, peer *p, const wire_msg *m)
{
    run_entry *run = &g->reg->runs[run_slot];
    drop_trace *t = &p->tr, *q = t->known ? NULL : earlier_connection(g, run_slot, p, m);
    uint64_t d = t->known && m->dropped > t->dropped ? m->dropped - t->dropped : 0;
    int64_t lo, hi;

    if (q != NULL) {
        d = m->dropped - q->dropped;
        p->dropped_base = q->dropped; /* counted with the earlier connection */
        *t = *q;
        t->unplaced_lost += (m->seq - q->next_seq) - d;
        q->succeeded = 1;
    } else if (!t->known && m->seq == m->dropped) {
        d = m->dropped; /* shed before its first delivery */
    }
    t->known = 1;
    t->succeeded = 0;
    if (m->kind != WIRE_BARRIER) /* the rank its SAMPLES and HELLOs say */
        t->rank = m->rank;
    t->dropped = m->dropped;
    t->next_seq = m->kind == WIRE_SAMPLES ? m->seq + 1 : m->seq;
    t->unplaced += d;
    if (m->kind != WIRE_SAMPLES && !t->has_step)
        return;
    lo = t->has_step ? t->last_step : m->step;
    hi = m->kind == WIRE_SAMPLES ? m->step : lo;
    ig_shed_note(&run->client_shed, t->unplaced, lo, hi, now_ms());
    ig_shed_note(&run->conn_shed, t->unplaced_lost, lo, hi, now_ms());
    t->unplaced = t->unplaced_lost = 0;
    if (m->kind != WIRE_SAMPLES)
        return;
    shed_extend(&run->client_shed, m->step); /* later messages bound the steps of what */
    shed_extend(&run->conn_shed, m->step);   /* was shed, or lost, before them */
    t->last_step = m->step;
    t->has_step = 1;
}
