/*
 * log.c - leveled, rate-limitable logging to stderr.
 *
 * DESIGN: a single fprintf per line (stdio locks the stream, so lines from
 * different threads never interleave). Timestamps are UTC with milliseconds.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int log_current_level = LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int log_level_parse(const char *text, int *level)
{
    for (int i = 0; i <= LOG_DEBUG; i++) {
        if (strcmp(text, level_names[i]) == 0) {
            *level = i;
            return 0;
        }
    }
    return -1;
}

const char *log_level_name(int level)
{
    if (level < 0 || level > LOG_DEBUG)
        return "?";
    return level_names[level];
}

void log_set_level(int level)
{
    log_current_level = level;
}

void log_write(int level, const char *fmt, ...)
{
    struct timespec ts;
    struct tm tm;
    char stamp[32];
    char line[1024];
    va_list ap;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s.%03ldZ htgad %s: %s\n", stamp, ts.tv_nsec / 1000000L, log_level_name(level),
            line);
}

int log_limit_allow(log_limit *lim, int level)
{
    struct timespec ts;

    if (level > log_current_level)
        return 0;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (ts.tv_sec != lim->second) {
        lim->second = ts.tv_sec;
        lim->used = 0;
    }
    if (lim->used >= LOG_LIMIT_PER_SEC) {
        lim->suppressed++;
        return 0;
    }
    lim->used++;
    if (lim->suppressed > 0) {
        log_write(level, "(%llu similar lines suppressed)", (unsigned long long)lim->suppressed);
        lim->suppressed = 0;
    }
    return 1;
}
