/*
 * routes_health: GET /api/v1/health, /health/live and /health/ready, as
 * the daemon's cfg.health callback reports it (always ok without one).
 */
#include <time.h>

#include "htga_config.h"
#include "internal.h"

/* /health and /health/ready: 200 when live and ready, else 503; /health/live:
 * 200 when live (a readiness reason alone keeps it 200). The reasons are
 * listed either way. */
int handle_health(const struct request *r, struct reply *rep)
{
    struct http_health h = {.live = 1, .ready = 1};
    const struct http_server *s = r->srv;
    if (s->cfg.health)
        s->cfg.health(s->cfg.health_ud, &h);
    int ok = r->route->id == ROUTE_HEALTH_LIVE ? h.live : h.live && h.ready;
    hbuf b = {0};
    hbuf_printf(&b, "{\"status\":\"%s\",\"live\":%s,\"ready\":%s,\"reasons\":[",
                ok ? "ok" : "failing", h.live ? "true" : "false", h.ready ? "true" : "false");
    for (unsigned i = 0; i < h.nreasons && i < HTTP_HEALTH_REASONS; i++) {
        if (i)
            hbuf_put(&b, ",", 1);
        h.reasons[i][sizeof h.reasons[i] - 1] = '\0';
        hbuf_json_str(&b, h.reasons[i]);
    }
    hbuf_printf(&b, "],\"version\":\"%s\",\"uptime_s\":%lld}\n", HTGA_VERSION_STRING,
                (long long)(time(NULL) - s->started));
    reply_buf(rep, &b, "application/json");
    if (rep->status == 200 && !ok)
        rep->status = 503;
    return 0;
}
