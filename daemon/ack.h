/*
 * ack.h - a waiter for work that crosses threads to be stored.
 *
 * DESIGN: a PUT of a lambda policy must not answer before its change is in
 * the database (read-your-writes). The HTTP thread makes an ack of `parts`
 * parts (one per estimator that handles the change), hands it along with the
 * change (ingest command, estimator job, writer item) and waits; each part
 * ends when the writer has committed the transaction holding that part's
 * rows (ack_done(a, 1)) or when it is dropped on the way (ack_done(a, 0)).
 * Reference counted: the waiter may give up at its deadline and the parts
 * still end later; the last reference frees it.
 */
#ifndef HTGAD_ACK_H
#define HTGAD_ACK_H

typedef struct ack ack;

/* An ack of parts parts, held by the caller (the waiter). NULL on out of
 * memory. */
ack *ack_new(int parts);

/* Ends one part: ok 1 when its rows are committed, 0 when they were not. */
void ack_done(ack *a, int ok);

/* Waits up to timeout_ms for every part, then lets go of the caller's
 * reference. Returns 1 when all parts were stored, 0 when one was not,
 * -1 at the deadline (the parts may still end). */
int ack_wait(ack *a, int timeout_ms);

#endif /* HTGAD_ACK_H */
