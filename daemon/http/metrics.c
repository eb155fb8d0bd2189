/*
 * metrics: Prometheus text format writers (see metrics.h). The server's
 * /metrics handler composes families from the daemon's counters and from the
 * latest block of each (run, group) still active.
 */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void prom_escape_label(hbuf *b, const char *s)
{
    const char *run = s;
    for (; *s; s++) {
        const char *rep = *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" : *s == '\n' ? "\\n" : NULL;
        if (!rep)
            continue;
        hbuf_put(b, run, (size_t)(s - run));
        hbuf_puts(b, rep);
        run = s + 1;
    }
    hbuf_put(b, run, (size_t)(s - run));
}

static void escape_help(hbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            hbuf_put(b, "\\\\", 2);
        else if (*s == '\n')
            hbuf_put(b, "\\n", 2);
        else
            hbuf_put(b, s, 1);
    }
}

void prom_family(hbuf *b, const char *name, const char *type, const char *help)
{
    hbuf_printf(b, "# HELP %s ", name);
    escape_help(b, help);
    hbuf_printf(b, "\n# TYPE %s %s\n", name, type);
}

void prom_value(hbuf *b, double v)
{
    if (isnan(v))
        hbuf_puts(b, "NaN");
    else if (isinf(v))
        hbuf_puts(b, v > 0 ? "+Inf" : "-Inf");
    else
        hbuf_printf(b, "%.17g", v);
}

void prom_sample(hbuf *b, const char *name, int nlabels, const char *const *keys,
                 const char *const *vals, double value)
{
    hbuf_puts(b, name);
    if (nlabels > 0) {
        hbuf_put(b, "{", 1);
        for (int i = 0; i < nlabels; i++) {
            hbuf_printf(b, "%s%s=\"", i ? "," : "", keys[i]);
            prom_escape_label(b, vals[i]);
            hbuf_put(b, "\"", 1);
        }
        hbuf_put(b, "}", 1);
    }
    hbuf_put(b, " ", 1);
    prom_value(b, value);
    hbuf_put(b, "\n", 1);
}
