/*
 * queries: every SQL statement the HTTP server runs, in one place, so the
 * server follows the daemon's schema (the migrations in schema/) by editing this file
 * only. Every value from a request is a bound parameter (?1, ?2, ...); no
 * statement is ever assembled from request text. Column lists for series
 * come from the fixed field table in series.c, never from the request.
 */
#ifndef HTGA_HTTP_QUERIES_H
#define HTGA_HTTP_QUERIES_H

/* One row per run: name, groups, blocks, first/last step and time. */
#define Q_RUNS                                                                                     \
    "SELECT run, count(DISTINCT group_name), count(*), min(step_first), max(step_last),"           \
    " min(created_at), max(created_at) FROM estimates GROUP BY run ORDER BY run"

/* The groups of run ?1 with the same figures. */
#define Q_RUN_GROUPS                                                                               \
    "SELECT group_name, count(*), min(step_first), max(step_last), min(created_at),"               \
    " max(created_at), max(block) FROM estimates WHERE run = ?1 GROUP BY group_name"               \
    " ORDER BY group_name"

/* Whether run ?1 exists. */
#define Q_RUN_EXISTS "SELECT 1 FROM estimates WHERE run = ?1 LIMIT 1"

/* Whether group ?2 of run ?1 exists. */
#define Q_GROUP_EXISTS "SELECT 1 FROM estimates WHERE run = ?1 AND group_name = ?2 LIMIT 1"

/* The latest block of every group of run ?1, all columns of estimates. */
#define Q_LATEST                                                                                   \
    "SELECT e.* FROM estimates e WHERE e.run = ?1 AND e.block = (SELECT max(block) FROM"           \
    " estimates x WHERE x.run = ?1 AND x.group_name = e.group_name) ORDER BY e.group_name"

/* First and last block of a group (?1 run, ?2 group). */
#define Q_BLOCK_MIN "SELECT min(block) FROM estimates WHERE run = ?1 AND group_name = ?2"
#define Q_BLOCK_MAX "SELECT max(block) FROM estimates WHERE run = ?1 AND group_name = ?2"

/* First block whose last step is >= ?3; last block whose last step is <= ?3. */
#define Q_BLOCK_FROM_STEP                                                                          \
    "SELECT block FROM estimates WHERE run = ?1 AND group_name = ?2 AND step_last >= ?3"           \
    " ORDER BY step_last, block LIMIT 1"
#define Q_BLOCK_TO_STEP                                                                            \
    "SELECT block FROM estimates WHERE run = ?1 AND group_name = ?2 AND step_last <= ?3"           \
    " ORDER BY step_last DESC, block DESC LIMIT 1"

/* Rows of a group in [?3, ?4] by block; the select list is built from the
 * fixed field table: "SELECT block, step_first, step_last, <fields>". */
#define Q_SERIES_FROM  " FROM estimates WHERE run = ?1 AND group_name = ?2"
#define Q_SERIES_WHERE " AND block >= ?3 AND block <= ?4 ORDER BY block"

/* The latest policy change of run ?1. */
#define Q_POLICY                                                                                   \
    "SELECT kind, c, q, lambda_min, lambda_max, ema, changed_at FROM policy_changes"               \
    " WHERE run = ?1 ORDER BY changed_at DESC, rowid DESC LIMIT 1"

/* Top order statistics of the latest block of group ?2 of run ?1: the block
 * and the values, descending, as a blob of little-endian doubles. */
#define Q_HILL "SELECT block, top FROM latest_top WHERE run = ?1 AND group_name = ?2"

/* Latest block of every (run, group) written at or after ?1 (unix seconds),
 * for /metrics. */
#define Q_METRICS_LATEST                                                                           \
    "SELECT e.run, e.group_name, e.block, e.step_last, e.alpha, e.alpha_se, e.kurtosis,"           \
    " e.variance, e.lambda FROM estimates e WHERE e.block = (SELECT max(block) FROM estimates x"   \
    " WHERE x.run = e.run AND x.group_name = e.group_name) AND e.created_at >= ?1"

#endif
