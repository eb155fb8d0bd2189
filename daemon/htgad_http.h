/*
 * htgad_http: the glue between htgad (config, counters, queues) and the HTTP
 * server. Compiled into htgad only (it reads the daemon's structs), so the
 * server library itself stays independent of them.
 */
#ifndef HTGAD_HTTP_GLUE_H
#define HTGAD_HTTP_GLUE_H

#include "config.h"
#include "http.h"
#include "ingest.h"
#include "queue.h"

/* Starts the HTTP server as cfg->http says (nothing when "off"), serving
 * cfg->db read-only, with cfg->token, the daemon's counters and the depths
 * of the nest estimator queues est_qs (summed) and of row_q. A policy PUT goes to
 * ingest_set_policy(ing, ...) (source "http"): stored with its time, used from the next block,
 * lambdas re-derived and pushed. Returns 0 (*out NULL when off) or -1 (logged). */
int htgad_http_start(const htgad_config *cfg, ingest *ing, bqueue *const *est_qs, size_t nest,
                     bqueue *row_q, http_server **out);

/* The server's on_policy callback (http_policy_fn), ing being the ingest:
 * refuses a policy policy_validate() refuses with HTTP_EINVAL (400) and its
 * reason, before touching ing; else hands it to ingest_set_policy_stored()
 * (source "http") and waits up to 2 s for it to be stored: HTTP_OK once
 * stored, HTTP_PENDING when still on its way, HTTP_EINTERNAL when htgad
 * refused it (full command queue, no run slot, failed write). */
int htgad_http_policy(void *ing, const char *run, const policy *p, char *err, size_t errlen);

#endif
