/*
 * stats.c - the counters and their text form (see stats.h).
 */
#include "stats.h"

#include <stdio.h>
#include <string.h>

#include "health.h"
#include "queue.h"

htgad_stats g_stats;

static const char *const drop_names[DROP__COUNT] = {
    "stream_limit", "est_queue",   "nomem",        "peer_limit",
    "lambda_send",  "lambda_pipe", "peer_streams", "peer_runs",
};

const char *drop_reason_name(int reason)
{
    if (reason < 0 || reason >= DROP__COUNT)
        return "unknown";
    return drop_names[reason];
}

#define PRINT(name) fprintf(out, #name " %llu\n", (unsigned long long)STAT_GET(name))

void stats_write(FILE *out, const stats_queues *qs)
{
    PRINT(msgs);
    PRINT(msgs_hello);
    PRINT(msgs_samples);
    PRINT(samples);
    PRINT(bytes);
    for (int i = 1; i < WIRE_E__COUNT; i++)
        fprintf(out, "decode_error_%s %llu\n", wire_err_name((wire_err)i),
                (unsigned long long)atomic_load(&g_stats.decode_errors[i]));
    for (int i = 0; i < DROP__COUNT; i++)
        fprintf(out, "drop_%s %llu\n", drop_names[i],
                (unsigned long long)atomic_load(&g_stats.drops[i]));
    PRINT(streams);
    PRINT(runs);
    PRINT(streams_expired);
    PRINT(auth_refused);
    PRINT(blocks_closed);
    PRINT(blocks_zero_copy);
    PRINT(blocks_estimated);
    PRINT(blocks_fallback);
    PRINT(lambdas_sent);
    PRINT(ingest_naps);
    PRINT(rows_written);
    PRINT(transactions);
    PRINT(write_errors);
    PRINT(policy_changes);
    PRINT(est_bytes);
    PRINT(est_bytes_max);
    PRINT(backpressure_ms);
    PRINT(backpressure_events);
    PRINT(est_busy_ns);
    PRINT(est_values);
    PRINT(blocks_lost);
    PRINT(barriers);
    PRINT(acks_sent);
    PRINT(budgets_sent);
    PRINT(budget_ppm);
    PRINT(client_drops);
    PRINT(rows_lost);
    PRINT(writer_failing);
    PRINT(writer_queue_full);
    PRINT(wal_checkpoints);
    if (qs != NULL && qs->est != NULL) {
        size_t depth = 0, high = 0;
        for (size_t i = 0; i < qs->nest; i++) {
            depth += bqueue_depth(qs->est[i]);
            if (bqueue_high_water(qs->est[i]) > high)
                high = bqueue_high_water(qs->est[i]);
        }
        fprintf(out, "queue_est_depth %zu\nqueue_est_high %zu\n", depth, high);
    }
    if (qs != NULL && qs->writer != NULL)
        fprintf(out, "queue_writer_depth %zu\nqueue_writer_high %zu\n", bqueue_depth(qs->writer),
                bqueue_high_water(qs->writer));
    health_report h;
    health_check(&h);
    fprintf(out, "health_live %d\nhealth_ready %d\n", h.live, h.ready);
}

int stats_write_file(const char *path, const stats_queues *qs, const char *listen)
{
    char tmp[4200];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (f == NULL)
        return -1;
    if (listen != NULL)
        fprintf(f, "listen %s\n", listen);
    stats_write(f, qs);
    if (fclose(f) != 0)
        return -1;
    return rename(tmp, path);
}
