/*
 * flow_bench.c - a synthetic trainer against the real htgad: what a training
 * step's burst costs in blocks, and whether overload starves any group.
 *
 * DESIGN: RANKS threads, each a data-parallel worker with its own libhtga
 * handle (its rank set), send G groups of N values (subsampled by libhtga
 * as a trainer's would be) with one htga_send_many() per step, a step every
 * PERIOD_MS (the time a training step takes: the thread sleeps until the
 * next step's deadline, or goes on at once when it is late), for STEPS
 * steps. After each step a worker looks at every group's lambda and notes
 * the steps since it last changed. At the end every worker asks for a
 * barrier (rank 0's closes the run's open blocks), so what htgad stored is
 * known exactly, not waited for with a sleep.
 *
 * It prints: blocks expected at full resolution (G x STEPS: one block per
 * group per step, pooled over the ranks), blocks stored (the database),
 * their ratio, messages the clients shed (drops_queue + drops_offline) and
 * skipped by the budget, blocks htgad lost (ACK), values it refused, the
 * min and max blocks per group and their ratio, the steps between lambda
 * updates per group (p50 and p99 over groups of each group's median), and
 * the last budget each worker was following. Not a test: it reports
 * figures; bench/run-flow.sh runs the scenarios of bench/README-flow.md.
 *
 * Usage: flow_bench ENDPOINT DB RUN GROUPS N PERIOD_MS STEPS [RANKS (1)]
 */
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "htga.h"
#include "mix.h"

typedef struct worker {
    int rank;
    const char *endpoint, *run;
    int groups, steps, period_ms;
    size_t n;
    const float *grad;
    htga_stats st;
    htga_ack ack;
    int ack_rc;
    double *gaps; /* per group: the median steps between lambda changes */
    uint32_t bud_values, bud_every;
    int64_t *last_change; /* per group: the step of the last change */
} worker;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until(int64_t t_ns)
{
    struct timespec ts = {(time_t)(t_ns / 1000000000), (long)(t_ns % 1000000000)};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    if (n == 0)
        return NAN;
    qsort(v, n, sizeof(*v), cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void *run_worker(void *arg)
{
    worker *w = arg;
    htga *h = NULL;
    char(*names)[32] = calloc((size_t)w->groups, sizeof(*names));
    const char **groups = calloc((size_t)w->groups, sizeof(*groups));
    const float **grads = calloc((size_t)w->groups, sizeof(*grads));
    size_t *ns = calloc((size_t)w->groups, sizeof(*ns));
    double *last = calloc((size_t)w->groups, sizeof(*last));
    double **gap = calloc((size_t)w->groups, sizeof(*gap));
    size_t *ngap = calloc((size_t)w->groups, sizeof(*ngap));
    int64_t t0;

    w->gaps = calloc((size_t)w->groups, sizeof(double));
    w->last_change = calloc((size_t)w->groups, sizeof(int64_t));
    if (htga_create(&h, w->endpoint, w->run) != HTGA_OK)
        return NULL;
    htga_set_int(h, HTGA_OPT_RANK, w->rank);
    for (int g = 0; g < w->groups; g++) {
        snprintf(names[g], sizeof(names[g]), "layer%03d.weight", g);
        groups[g] = names[g];
        grads[g] = w->grad;
        ns[g] = w->n;
        last[g] = 1.0;
        gap[g] = calloc((size_t)w->steps + 1, sizeof(double));
    }
    t0 = now_ns();
    for (int s = 0; s < w->steps; s++) {
        sleep_until(t0 + (int64_t)s * w->period_ms * 1000000);
        htga_send_many(h, s, (size_t)w->groups, groups, grads, ns, NULL);
        for (int g = 0; g < w->groups; g++) {
            double l = htga_lambda(h, groups[g]);
            if (l != last[g]) {
                gap[g][ngap[g]++] = (double)(s - w->last_change[g]);
                w->last_change[g] = s;
                last[g] = l;
            }
        }
    }
    w->ack_rc =
        htga_barrier(h, w->rank == 0 ? HTGA_BARRIER_CLOSE : 0, 300000, &w->ack, sizeof(w->ack));
    htga_group_budget(h, groups[0], &w->bud_values, &w->bud_every);
    htga_stats_get(h, &w->st, sizeof(w->st));
    for (int g = 0; g < w->groups; g++) {
        w->gaps[g] = ngap[g] > 1 ? median(gap[g] + 1, ngap[g] - 1) : NAN; /* after the first */
        free(gap[g]);
    }
    htga_destroy(&h);
    free(names);
    free(groups);
    free(grads);
    free(ns);
    free(last);
    free(gap);
    free(ngap);
    return NULL;
}

/* Blocks per group of run in db: min, max, total and groups seen. */
static int count_blocks(const char *db, const char *run, long *min, long *max, long *total,
                        long *groups)
{
    sqlite3 *c;
    sqlite3_stmt *st;

    *min = -1;
    *max = *total = *groups = 0;
    if (sqlite3_open_v2(db, &c, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return -1;
    sqlite3_busy_timeout(c, 5000);
    if (sqlite3_prepare_v2(c, "SELECT count(*) FROM estimates WHERE run = ?1 GROUP BY group_name",
                           -1, &st, NULL) != SQLITE_OK) {
        sqlite3_close(c);
        return -1;
    }
    sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        long v = sqlite3_column_int64(st, 0);
        *min = *min < 0 || v < *min ? v : *min;
        *max = v > *max ? v : *max;
        *total += v;
        ++*groups;
    }
    sqlite3_finalize(st);
    sqlite3_close(c);
    return 0;
}

int main(int argc, char **argv)
{
    int groups, period, steps, ranks = 1;
    size_t n;
    float *grad;
    worker *w;
    pthread_t *th;
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    long bmin, bmax, btotal, bgroups, expected;
    uint64_t shed = 0, skipped = 0, offered = 0, sent = 0, lost = 0, refused = 0;
    double *gaps;
    size_t ngaps = 0;
    int64_t t0, t1;

    if (argc < 8) {
        fprintf(stderr, "usage: flow_bench ENDPOINT DB RUN GROUPS N PERIOD_MS STEPS [RANKS]\n");
        return 2;
    }
    groups = atoi(argv[4]);
    n = (size_t)atol(argv[5]);
    period = atoi(argv[6]);
    steps = atoi(argv[7]);
    if (argc > 8)
        ranks = atoi(argv[8]);
    if (groups < 1 || n < 1 || period < 0 || steps < 1 || ranks < 1)
        return 2;
    grad = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) { /* Student-t(3): a normal over sqrt(chi-square(3) / 3) */
        double u[3], z, z2, c;
        for (int k = 0; k < 3; k++)
            u[k] = htga_uniform01(&seed);
        z = sqrt(-2 * log(u[0])) * cos(2 * M_PI * u[1]);
        z2 = sqrt(-2 * log(u[0])) * sin(2 * M_PI * u[1]);
        c = -2 * log(u[2]) + z2 * z2; /* chi-square(2) + chi-square(1) */
        grad[i] = (float)(z / sqrt(c / 3));
    }
    w = calloc((size_t)ranks, sizeof(*w));
    th = calloc((size_t)ranks, sizeof(*th));
    t0 = now_ns();
    for (int r = 0; r < ranks; r++) {
        w[r] = (worker){.rank = r,
                        .endpoint = argv[1],
                        .run = argv[3],
                        .groups = groups,
                        .steps = steps,
                        .period_ms = period,
                        .n = n,
                        .grad = grad};
        pthread_create(&th[r], NULL, run_worker, &w[r]);
    }
    for (int r = 0; r < ranks; r++)
        pthread_join(th[r], NULL);
    t1 = now_ns();
    gaps = calloc((size_t)ranks * (size_t)groups, sizeof(double));
    for (int r = 0; r < ranks; r++) {
        shed += w[r].st.drops_queue + w[r].st.drops_offline;
        skipped += w[r].st.skipped_budget;
        offered += w[r].st.offered;
        sent += w[r].st.msgs_sent;
        if (w[r].ack_rc != HTGA_OK)
            fprintf(stderr, "rank %d: barrier: %s\n", r, htga_strerror(w[r].ack_rc));
        if (w[r].ack.blocks_lost > lost)
            lost = w[r].ack.blocks_lost;
        refused += w[r].ack.values_refused;
        for (int g = 0; g < groups; g++)
            if (!isnan(w[r].gaps[g]))
                gaps[ngaps++] = w[r].gaps[g];
    }
    count_blocks(argv[2], argv[3], &bmin, &bmax, &btotal, &bgroups);
    expected = (long)groups * steps;
    printf("groups %d x %zu values, a step every %d ms, %d steps, %d rank(s): %.1f s\n", groups, n,
           period, steps, ranks, (double)(t1 - t0) / 1e9);
    printf("blocks expected %ld (one per group per step)  stored %ld  stored/expected %.3f\n",
           expected, btotal, expected ? (double)btotal / (double)expected : 0);
    printf("messages offered %llu  sent %llu  shed by clients %llu  skipped by budget %llu\n",
           (unsigned long long)offered, (unsigned long long)sent, (unsigned long long)shed,
           (unsigned long long)skipped);
    printf("htgad: blocks lost %llu  values refused %llu\n", (unsigned long long)lost,
           (unsigned long long)refused);
    printf("blocks per group: min %ld  max %ld  max/min %.2f  groups with blocks %ld of %d\n", bmin,
           bmax, bmin > 0 ? (double)bmax / (double)bmin : INFINITY, bgroups, groups);
    if (ngaps > 0) {
        qsort(gaps, ngaps, sizeof(double), cmp_d);
        printf("steps between lambda updates (per group median): p50 %.1f  p99 %.1f  over %zu "
               "groups\n",
               gaps[ngaps / 2], gaps[(size_t)(0.99 * (double)(ngaps - 1))], ngaps);
    } else {
        printf("steps between lambda updates: no group saw two updates\n");
    }
    printf("last budget of rank 0: %u values, every %u step(s)\n", w[0].bud_values, w[0].bud_every);
    printf("RESULT groups=%d period_ms=%d ranks=%d expected=%ld stored=%ld shed=%llu skipped=%llu "
           "lost=%llu min=%ld max=%ld\n",
           groups, period, ranks, expected, btotal, (unsigned long long)shed,
           (unsigned long long)skipped, (unsigned long long)lost, bmin, bmax);
    for (int r = 0; r < ranks; r++) {
        free(w[r].gaps);
        free(w[r].last_change);
    }
    free(gaps);
    free(w);
    free(th);
    free(grad);
    return 0;
}
