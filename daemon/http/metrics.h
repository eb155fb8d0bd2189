/*
 * metrics: Prometheus text exposition format 0.0.4 writers. Pure: no I/O.
 *
 * Design: a family is written once with "# HELP" and "# TYPE" lines and then
 * its samples; names carry the htga_ prefix, base units (seconds, bytes) and
 * counters end in _total. Label values are escaped as the format requires
 * (backslash, double quote, newline); values print as Go's strconv would
 * accept them, with NaN and +Inf/-Inf spelled as the format says.
 */
#ifndef HTGA_HTTP_METRICS_H
#define HTGA_HTTP_METRICS_H

#include "hbuf.h"

/* Content-Type of the exposition. */
#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Writes "# HELP name help" and "# TYPE name type" (type: "counter",
 * "gauge", "untyped"). help is escaped. */
void prom_family(hbuf *b, const char *name, const char *type, const char *help);

/* Writes one sample line: name, labels (nlabels pairs keys[i]=vals[i],
 * values escaped) and value. */
void prom_sample(hbuf *b, const char *name, int nlabels, const char *const *keys,
                 const char *const *vals, double value);

/* Appends v as the format spells it ("NaN", "+Inf", "-Inf", or %.17g). */
void prom_value(hbuf *b, double v);

/* Appends s escaped for a label value (\\, \", \n). */
void prom_escape_label(hbuf *b, const char *s);

#endif
