/*
 * auth.h - CURVE security on htgad's ZeroMQ port.
 *
 * DESIGN: off unless --curve-secret-key is set. Then the ingest ROUTER is a
 * CURVE server (every connection encrypted and authenticated) and a ZAP
 * handler thread, bound to inproc://zeromq.zap.01 in htgad's context,
 * admits a client only when its public key is on the --curve-clients list
 * (or any key with "any"), and names it by that key (the message property
 * "User-Id", which admit.h uses as the peer). The same thread reads the
 * ROUTER's monitor and counts every handshake that failed (a client with
 * no CURVE, a wrong server key, a key not on the list) in auth_refused.
 * The ingest thread owns the ROUTER: it calls auth_router() on it before
 * binding. See docs/security.md.
 */
#ifndef HTGAD_AUTH_H
#define HTGAD_AUTH_H

#include "config.h"

typedef struct auth auth;

/* With CURVE configured, checks the keys, reads the allow-list and starts
 * the ZAP thread in zmq context ctx: 0 with *out set. Without CURVE: 0 with
 * *out NULL (and a warning when --listen is not a loopback address).
 * -1 (logged, naming the setting or file) on a bad key or list. */
int auth_start(void *ctx, const htgad_config *cfg, auth **out);

/* Makes router a CURVE server watched by a (may be NULL: nothing to do).
 * Called by the thread that owns router, before it binds. 0 or -1. */
int auth_router(const auth *a, void *router);

/* Stops the thread and frees a; NULLs *a. Accepts NULL. Call before the
 * context is terminated. */
void auth_stop(auth **a);

#endif /* HTGAD_AUTH_H */
