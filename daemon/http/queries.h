/*
 * queries: every SQL statement the HTTP server runs, in one place, written
 * against the daemon's schema (schema/001_init.sql). Every value from a
 * request is a bound parameter; no statement is assembled from request text
 * (series column lists come from the fixed field table in series.c).
 *
 * Shape: names are resolved to ids once (runs.name and groups(run_id, name)
 * are UNIQUE), then everything reads blocks by its primary key
 * (group_id, block) or the index (group_id, step_last). Blocks are numbered
 * 0, 1, 2, ... per group without gaps, so a group's block count, first and
 * last rows come from min(block) / max(block), which SQLite answers from the
 * b-tree ends: listing runs never scans blocks.
 */
#ifndef HTGA_HTTP_QUERIES_H
#define HTGA_HTTP_QUERIES_H

/* Id of run ?1. */
#define Q_RUN_ID "SELECT id FROM runs WHERE name = ?1"

/* Id of group ?2 of run id ?1. */
#define Q_GROUP_ID "SELECT id FROM groups WHERE run_id = ?1 AND name = ?2"

/* Per group: first and last block with their steps and times. Used by the
 * runs list (all groups) and a run (?1 = run id). */
#define Q_GROUP_SPANS_CTE                                                                          \
    "WITH gr AS (SELECT g.id AS gid, g.run_id, g.name,"                                            \
    " (SELECT min(block) FROM blocks WHERE group_id = g.id) AS b0,"                                \
    " (SELECT max(block) FROM blocks WHERE group_id = g.id) AS b1 FROM groups g) "
#define Q_GROUP_SPANS_JOIN                                                                         \
    " LEFT JOIN blocks f ON f.group_id = gr.gid AND f.block = gr.b0"                               \
    " LEFT JOIN blocks l ON l.group_id = gr.gid AND l.block = gr.b1"

/* One row per run: name, groups, blocks, first/last step, first/last time. */
#define Q_RUNS                                                                                     \
    Q_GROUP_SPANS_CTE "SELECT r.name AS run, count(gr.gid) AS \"groups\","                         \
                      " coalesce(sum(gr.b1 - gr.b0 + 1), 0) AS blocks,"                            \
                      " min(f.step_first) AS first_step, max(l.step_last) AS last_step,"           \
                      " coalesce(min(f.created_at), r.created_at) AS first_time,"                  \
                      " max(l.created_at) AS last_time FROM runs r"                                \
                      " LEFT JOIN gr ON gr.run_id = r.id" Q_GROUP_SPANS_JOIN                       \
                      " GROUP BY r.id ORDER BY r.name"

/* The groups of run id ?1 with the same figures and the last block.
 * Column names are the JSON keys of the answers (sql_rows_json). */
#define Q_RUN_GROUPS                                                                               \
    Q_GROUP_SPANS_CTE "SELECT gr.name AS \"group\", coalesce(gr.b1 - gr.b0 + 1, 0) AS blocks,"     \
                      " f.step_first AS first_step, l.step_last AS last_step,"                     \
                      " f.created_at AS first_time, l.created_at AS last_time,"                    \
                      " gr.b1 AS last_block FROM gr" Q_GROUP_SPANS_JOIN                            \
                      " WHERE gr.run_id = ?1 ORDER BY gr.name"

/* The lambda of the latest block b of a group: the one a policy change
 * re-derived from it (lambda_rederived u, LEFT JOINed), which is what the
 * trainers were pushed, else the block's own (schema/006). */
#define Q_LAMBDA_NOW "CASE WHEN u.block = b.block THEN u.lambda ELSE b.lambda END"
#define Q_REASON_NOW "CASE WHEN u.block = b.block THEN u.lambda_reason ELSE b.lambda_reason END"

/* Columns of the estimates view, from blocks b, groups g, runs r, with
 * lambda as Q_LAMBDA_NOW. */
#define Q_ESTIMATE_COLS                                                                            \
    "r.name AS run, g.name AS group_name, b.block, b.step_first, b.step_last, b.n, b.n_used,"      \
    " b.median, b.mean, b.variance, b.kurtosis, b.alpha, b.alpha_se, b.alpha_lo, b.alpha_hi,"      \
    " b.k, b.alpha_stable, " Q_LAMBDA_NOW " AS lambda, b.created_at, b.alpha_deff"

/* The latest block of every group of run id ?1, as the estimates view has
 * it, plus why lambda fell back (lambda_reason). */
#define Q_LATEST                                                                                   \
    "SELECT " Q_ESTIMATE_COLS ", lr.name AS lambda_reason FROM groups g"                           \
    " CROSS JOIN runs r ON r.id = g.run_id"                                                        \
    " CROSS JOIN blocks b ON b.group_id = g.id AND b.block ="                                      \
    " (SELECT max(block) FROM blocks WHERE group_id = g.id)"                                       \
    " LEFT JOIN lambda_rederived u ON u.group_id = g.id"                                           \
    " LEFT JOIN lambda_reasons lr ON lr.code = " Q_REASON_NOW                                      \
    " WHERE g.run_id = ?1 ORDER BY g.name"

/* First and last block of group id ?1. Retention (daemon/retention.h) may
 * have dropped whole 64-block chunks below the first stored block, whose
 * level-64 rollup rows remain: the first block is then the first of those
 * (Q_ROW_MIN: the first one stored as a row). */
#define Q_ROW_MIN "SELECT min(block) FROM blocks WHERE group_id = ?1"
#define Q_PRUNED_CHUNKS                                                                            \
    " FROM series_rollup WHERE group_id = ?1 AND level = 64"                                       \
    " AND chunk < (SELECT min(block) FROM blocks WHERE group_id = ?1) / 64"
#define Q_BLOCK_MIN                                                                                \
    "SELECT coalesce((SELECT block_first" Q_PRUNED_CHUNKS " ORDER BY chunk LIMIT 1),"              \
    " (SELECT min(block) FROM blocks WHERE group_id = ?1))"
#define Q_BLOCK_MAX "SELECT max(block) FROM blocks WHERE group_id = ?1"

/* First block whose last step is >= ?2 (a dropped chunk's first block when
 * that chunk ends at or after ?2); last block whose last step is <= ?2
 * (index blocks_group_step). */
#define Q_BLOCK_FROM_STEP                                                                          \
    "SELECT coalesce((SELECT block_first" Q_PRUNED_CHUNKS " AND step_last >= ?2"                   \
    " ORDER BY chunk LIMIT 1), (SELECT block FROM blocks WHERE group_id = ?1 AND step_last >= ?2"  \
    " ORDER BY step_last, block LIMIT 1))"
#define Q_BLOCK_TO_STEP                                                                            \
    "SELECT coalesce((SELECT block FROM blocks WHERE group_id = ?1 AND step_last <= ?2"            \
    " ORDER BY step_last DESC, block DESC LIMIT 1), (SELECT chunk * 64 + 63" Q_PRUNED_CHUNKS       \
    " AND step_last <= ?2 ORDER BY chunk DESC LIMIT 1))"

/* Rows of group id ?1 with block in [?2, ?3]; the select list is
 * "SELECT block, step_first, step_last, <fields>" from the field table. */
#define Q_SERIES_TAIL                                                                              \
    " FROM blocks WHERE group_id = ?1 AND block >= ?2 AND block <= ?3 ORDER BY block"

/* The shed events (schema/008_shed.sql) of run id ?1 for group id ?2 or
 * the whole run whose steps overlap [?3, ?4], in step order, at most ?5:
 * the index (run_id, step_last) gives the events ending at or after ?3. */
#define Q_SERIES_SHED                                                                              \
    "SELECT step_first, step_last, count, unit, reason, group_id IS NULL FROM shed"                \
    " WHERE run_id = ?1 AND (group_id = ?2 OR group_id IS NULL) AND step_last >= ?3"               \
    " AND step_first <= ?4 ORDER BY step_first, id LIMIT ?5"

/* Rollup rows of group id ?1, level ?2, chunks [?3, ?4] (daemon/rollup.h);
 * the select list is "SELECT block_first, n_blocks, step_first, step_last,
 * <F_min, F_max, F_sum, F_cnt per field>" from the field table (the columns,
 * read where a row of the range is not packed yet). */
#define Q_ROLLUP_TAIL                                                                              \
    " FROM series_rollup WHERE group_id = ?1 AND level = ?2 AND chunk >= ?3 AND chunk <= ?4"       \
    " ORDER BY chunk"

/* The same rows packed, from the narrow table (schema/004_series_rollup_agg.sql). */
#define Q_ROLLUP_AGG                                                                               \
    "SELECT agg FROM series_rollup_agg WHERE group_id = ?1 AND level = ?2 AND chunk >= ?3"         \
    " AND chunk <= ?4 ORDER BY chunk"

/* 1 when a row of the same range is not packed yet, else 0. */
#define Q_ROLLUP_UNPACKED                                                                          \
    "SELECT EXISTS (SELECT 1 FROM series_rollup_unpacked WHERE group_id = ?1 AND level = ?2"       \
    " AND chunk >= ?3 AND chunk <= ?4)"

/* The policy history of run id ?1, latest first (at most 100 rows). */
#define Q_POLICY                                                                                   \
    "SELECT kind, param, lambda_min, lambda_max, ema, source, created_at FROM policy_changes"      \
    " WHERE run_id = ?1 ORDER BY id DESC LIMIT 100"

/* Top order statistics of group id ?1's latest block (little-endian doubles,
 * descending). */
#define Q_HILL "SELECT block, m, n_pos, y FROM latest_top WHERE group_id = ?1"

/* Latest block of every (run, group) written at or after ?1 (Unix seconds),
 * for /metrics: run, group, block, step_last, alpha, alpha_se, kurtosis,
 * variance, lambda. CROSS JOIN pins the loop order (groups outside, one
 * primary-key probe into blocks each): left to itself the planner scans
 * blocks by created_at, which grows with the table (bench/README-http.md). */
#define Q_METRICS_LATEST                                                                           \
    "SELECT r.name, g.name, b.block, b.step_last, b.alpha, b.alpha_se, b.kurtosis, b.variance,"    \
    " " Q_LAMBDA_NOW ", p.lambda_min, p.lambda_max FROM groups g"                                  \
    " CROSS JOIN runs r ON r.id = g.run_id"                                                        \
    " CROSS JOIN blocks b ON b.group_id = g.id AND b.block ="                                      \
    " (SELECT max(block) FROM blocks WHERE group_id = g.id)"                                       \
    " LEFT JOIN policy_changes p ON p.id = b.policy_id"                                            \
    " LEFT JOIN lambda_rederived u ON u.group_id = g.id"                                           \
    " WHERE max(b.created_at, coalesce(u.created_at, 0)) >= ?1 ORDER BY r.name, g.name"

#endif
