/*
 * prio.h - CPU priority of htgad's background threads.
 *
 * DESIGN: when data arrives faster than it can be estimated, ingest must
 * keep taking it (and closing blocks) while the estimator drops whole blocks
 * at its queue, counted; the estimator and the writer must not take
 * ingest's CPU. One process-wide setting, like the log level: main() sets
 * it before the threads start, and each background thread (estimators,
 * writer) applies it to itself on start (nice of its own TID, and
 * SCHED_BATCH: no root needed for either). Ingest and the HTTP threads keep
 * the process's priority.
 */
#ifndef HTGAD_PRIO_H
#define HTGAD_PRIO_H

/* How much nicer than the process the background threads run, 0..19
 * (0: same priority, same scheduling policy). */
void prio_set_background(int nice_inc);

/* Called by a background thread on start. Returns 0, or -1 (logged) when
 * the kernel refused; the thread then runs at the process's priority. */
int prio_enter_background(const char *who);

#endif /* HTGAD_PRIO_H */
