/*
 * ack.h - a waiter for a change that crosses threads to be stored.
 *
 * DESIGN: a PUT of a lambda policy must not answer before its change is in
 * the database (read-your-writes). The HTTP thread makes an ack, hands it
 * along with the change (an ingest command) and waits. The ingest thread
 * applies the change (POLICY jobs down every estimator queue) and sends a
 * barrier behind it, the same marker a client's BARRIER sends (ingest.h):
 * once the writer has committed everything before the barrier, its note
 * comes back to ingest, which ends the ack (ack_done(a, 1)); a change
 * refused or lost on the way ends it with ack_done(a, 0). One mechanism
 * marks "stored up to here" for clients, idle streams and PUTs alike.
 * Reference counted: the waiter may give up at its deadline and the ack
 * still ends later; the last reference frees it.
 */
#ifndef HTGAD_ACK_H
#define HTGAD_ACK_H

typedef struct ack ack;

/* How a change ended (ack_done's outcome, ack_wait's answer). */
#define ACK_FAILED 0 /* taken, but not stored (a write failed, htgad stopping) */
#define ACK_STORED 1 /* committed */
#define ACK_BUSY   2 /* not taken: no room now (run slots, barriers); may be retried */

/* An ack, held by the caller (the waiter) and by whoever will end it.
 * NULL on out of memory. */
ack *ack_new(void);

/* Ends it (once) with outcome ACK_STORED, ACK_FAILED or ACK_BUSY. Accepts
 * NULL. */
void ack_done(ack *a, int outcome);

/* Waits up to timeout_ms for the end, then lets go of the caller's
 * reference. Returns its outcome, or -1 at the deadline (it may still
 * end). */
int ack_wait(ack *a, int timeout_ms);

#endif /* HTGAD_ACK_H */
