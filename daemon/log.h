/*
 * log.h - leveled logging for htgad.
 *
 * DESIGN: one process-wide level; the LOG macro tests it before any
 * formatting, so a debug line costs a compare when debug is off. Lines go to
 * stderr with a UTC timestamp and the level. Rate-limited logging for bad
 * input from the network: each call site owns a log_limit that lets a few
 * lines a second through and reports how many it swallowed.
 */
#ifndef HTGAD_LOG_H
#define HTGAD_LOG_H

#include <stdint.h>

typedef enum log_level {
    LOG_ERROR = 0,
    LOG_WARN = 1,
    LOG_INFO = 2,
    LOG_DEBUG = 3,
} log_level;

extern int log_current_level;

/* Parses "error", "warn", "info" or "debug"; returns 0 or -1. */
int log_level_parse(const char *text, int *level);
const char *log_level_name(int level);
void log_set_level(int level);

void log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG(level, ...)                                                                            \
    do {                                                                                           \
        if ((level) <= log_current_level)                                                          \
            log_write((level), __VA_ARGS__);                                                       \
    } while (0)

/* A per-call-site budget: at most LOG_LIMIT_PER_SEC lines a second. */
#define LOG_LIMIT_PER_SEC 5
typedef struct log_limit {
    int64_t second;      /* the second the budget applies to */
    uint32_t used;       /* lines written in that second */
    uint64_t suppressed; /* lines swallowed since the last one written */
} log_limit;

/* Returns 1 when the caller may log now (and logs a "suppressed N" note
 * first if lines were swallowed), 0 when the line must be dropped. Not
 * thread-safe: a log_limit belongs to one thread. */
int log_limit_allow(log_limit *lim, int level);

#endif /* HTGAD_LOG_H */
