-- 003_series_rollup.sql: chunk summaries for downsampled series (issue 4),
-- replacing block_rollup (002), which had no sums and 9 of the 14 fields.
--
-- One row per (group, level, chunk), chunk = block / level, level = 64,
-- 128, 256, ..., 65536 blocks (64 * 2^i, 11 levels): the chunk's block
-- count, first block, the step_first of its first block and the step_last
-- of its last, and for
-- every series field F (daemon/rollup.h) F_min, F_max (NULL when no value),
-- F_sum (total() of the values: 0 when none) and F_cnt (non-NULL values).
-- A series over 1,000,000 blocks bucketed to max_points=1000 reads ~1000
-- rows of level 1024 instead of 1e6 block rows, and the partial chunks at
-- the ends from blocks. Extremes survive: the min of chunk mins is
-- the min of their blocks.
--
-- A row exists for every complete chunk that holds a block: one with a later
-- block of its group stored (blocks are append-only, so it no longer
-- changes). htgad's writer keeps each stream's open chunks in memory and
-- writes a chunk's row in the transaction that stores the first block past
-- it. This migration summarises the complete chunks already stored: level
-- 64 from blocks, each next level from the one below.

DROP TABLE block_rollup;

CREATE TABLE series_rollup (
    group_id    INTEGER NOT NULL REFERENCES groups(id),
    level       INTEGER NOT NULL,  -- blocks per chunk
    chunk       INTEGER NOT NULL,  -- block / level
    block_first INTEGER NOT NULL,  -- first block stored in the chunk
    n_blocks    INTEGER NOT NULL,  -- blocks stored in the chunk
    step_first  INTEGER NOT NULL,  -- step_first of the first block
    step_last   INTEGER NOT NULL,  -- step_last of the last block
    step_first_min REAL,
    step_first_max REAL,
    step_first_sum REAL NOT NULL,
    step_first_cnt INTEGER NOT NULL,
    n_min REAL,
    n_max REAL,
    n_sum REAL NOT NULL,
    n_cnt INTEGER NOT NULL,
    n_used_min REAL,
    n_used_max REAL,
    n_used_sum REAL NOT NULL,
    n_used_cnt INTEGER NOT NULL,
    median_min REAL,
    median_max REAL,
    median_sum REAL NOT NULL,
    median_cnt INTEGER NOT NULL,
    mean_min REAL,
    mean_max REAL,
    mean_sum REAL NOT NULL,
    mean_cnt INTEGER NOT NULL,
    variance_min REAL,
    variance_max REAL,
    variance_sum REAL NOT NULL,
    variance_cnt INTEGER NOT NULL,
    kurtosis_min REAL,
    kurtosis_max REAL,
    kurtosis_sum REAL NOT NULL,
    kurtosis_cnt INTEGER NOT NULL,
    alpha_min REAL,
    alpha_max REAL,
    alpha_sum REAL NOT NULL,
    alpha_cnt INTEGER NOT NULL,
    alpha_se_min REAL,
    alpha_se_max REAL,
    alpha_se_sum REAL NOT NULL,
    alpha_se_cnt INTEGER NOT NULL,
    alpha_lo_min REAL,
    alpha_lo_max REAL,
    alpha_lo_sum REAL NOT NULL,
    alpha_lo_cnt INTEGER NOT NULL,
    alpha_hi_min REAL,
    alpha_hi_max REAL,
    alpha_hi_sum REAL NOT NULL,
    alpha_hi_cnt INTEGER NOT NULL,
    k_min REAL,
    k_max REAL,
    k_sum REAL NOT NULL,
    k_cnt INTEGER NOT NULL,
    alpha_stable_min REAL,
    alpha_stable_max REAL,
    alpha_stable_sum REAL NOT NULL,
    alpha_stable_cnt INTEGER NOT NULL,
    lambda_min REAL,
    lambda_max REAL,
    lambda_sum REAL NOT NULL,
    lambda_cnt INTEGER NOT NULL,
    PRIMARY KEY (group_id, level, chunk)
) WITHOUT ROWID;

-- Level 64 from blocks: complete chunks only (chunk < last block / 64).
INSERT INTO series_rollup (group_id, level, chunk, block_first, n_blocks, step_first, step_last,
    step_first_min, step_first_max, step_first_sum, step_first_cnt,
    n_min, n_max, n_sum, n_cnt,
    n_used_min, n_used_max, n_used_sum, n_used_cnt,
    median_min, median_max, median_sum, median_cnt,
    mean_min, mean_max, mean_sum, mean_cnt,
    variance_min, variance_max, variance_sum, variance_cnt,
    kurtosis_min, kurtosis_max, kurtosis_sum, kurtosis_cnt,
    alpha_min, alpha_max, alpha_sum, alpha_cnt,
    alpha_se_min, alpha_se_max, alpha_se_sum, alpha_se_cnt,
    alpha_lo_min, alpha_lo_max, alpha_lo_sum, alpha_lo_cnt,
    alpha_hi_min, alpha_hi_max, alpha_hi_sum, alpha_hi_cnt,
    k_min, k_max, k_sum, k_cnt,
    alpha_stable_min, alpha_stable_max, alpha_stable_sum, alpha_stable_cnt,
    lambda_min, lambda_max, lambda_sum, lambda_cnt)
SELECT a.group_id, 64, a.chunk, a.block_first, a.n_blocks, f.step_first, l.step_last,
    a.step_first_min, a.step_first_max, a.step_first_sum, a.step_first_cnt,
    a.n_min, a.n_max, a.n_sum, a.n_cnt,
    a.n_used_min, a.n_used_max, a.n_used_sum, a.n_used_cnt,
    a.median_min, a.median_max, a.median_sum, a.median_cnt,
    a.mean_min, a.mean_max, a.mean_sum, a.mean_cnt,
    a.variance_min, a.variance_max, a.variance_sum, a.variance_cnt,
    a.kurtosis_min, a.kurtosis_max, a.kurtosis_sum, a.kurtosis_cnt,
    a.alpha_min, a.alpha_max, a.alpha_sum, a.alpha_cnt,
    a.alpha_se_min, a.alpha_se_max, a.alpha_se_sum, a.alpha_se_cnt,
    a.alpha_lo_min, a.alpha_lo_max, a.alpha_lo_sum, a.alpha_lo_cnt,
    a.alpha_hi_min, a.alpha_hi_max, a.alpha_hi_sum, a.alpha_hi_cnt,
    a.k_min, a.k_max, a.k_sum, a.k_cnt,
    a.alpha_stable_min, a.alpha_stable_max, a.alpha_stable_sum, a.alpha_stable_cnt,
    a.lambda_min, a.lambda_max, a.lambda_sum, a.lambda_cnt
FROM (SELECT b.group_id, b.block / 64 AS chunk, min(b.block) AS block_first,
        max(b.block) AS block_last, count(*) AS n_blocks,
        min(step_first) AS step_first_min, max(step_first) AS step_first_max, total(step_first) AS step_first_sum, count(step_first) AS step_first_cnt,
        min(n) AS n_min, max(n) AS n_max, total(n) AS n_sum, count(n) AS n_cnt,
        min(n_used) AS n_used_min, max(n_used) AS n_used_max, total(n_used) AS n_used_sum, count(n_used) AS n_used_cnt,
        min(median) AS median_min, max(median) AS median_max, total(median) AS median_sum, count(median) AS median_cnt,
        min(mean) AS mean_min, max(mean) AS mean_max, total(mean) AS mean_sum, count(mean) AS mean_cnt,
        min(variance) AS variance_min, max(variance) AS variance_max, total(variance) AS variance_sum, count(variance) AS variance_cnt,
        min(kurtosis) AS kurtosis_min, max(kurtosis) AS kurtosis_max, total(kurtosis) AS kurtosis_sum, count(kurtosis) AS kurtosis_cnt,
        min(alpha) AS alpha_min, max(alpha) AS alpha_max, total(alpha) AS alpha_sum, count(alpha) AS alpha_cnt,
        min(alpha_se) AS alpha_se_min, max(alpha_se) AS alpha_se_max, total(alpha_se) AS alpha_se_sum, count(alpha_se) AS alpha_se_cnt,
        min(alpha_lo) AS alpha_lo_min, max(alpha_lo) AS alpha_lo_max, total(alpha_lo) AS alpha_lo_sum, count(alpha_lo) AS alpha_lo_cnt,
        min(alpha_hi) AS alpha_hi_min, max(alpha_hi) AS alpha_hi_max, total(alpha_hi) AS alpha_hi_sum, count(alpha_hi) AS alpha_hi_cnt,
        min(k) AS k_min, max(k) AS k_max, total(k) AS k_sum, count(k) AS k_cnt,
        min(alpha_stable) AS alpha_stable_min, max(alpha_stable) AS alpha_stable_max, total(alpha_stable) AS alpha_stable_sum, count(alpha_stable) AS alpha_stable_cnt,
        min(lambda) AS lambda_min, max(lambda) AS lambda_max, total(lambda) AS lambda_sum, count(lambda) AS lambda_cnt
    FROM blocks AS b JOIN (SELECT id AS gid, (SELECT max(block) FROM blocks WHERE group_id = groups.id) AS last FROM groups) AS gm ON gm.gid = b.group_id
    WHERE b.block / 64 < gm.last / 64
    GROUP BY b.group_id, b.block / 64) AS a
JOIN blocks AS f ON f.group_id = a.group_id AND f.block = a.block_first
JOIN blocks AS l ON l.group_id = a.group_id AND l.block = a.block_last;

-- Level 128 from level 64.
INSERT INTO series_rollup (group_id, level, chunk, block_first, n_blocks, step_first, step_last,
    step_first_min, step_first_max, step_first_sum, step_first_cnt,
    n_min, n_max, n_sum, n_cnt,
    n_used_min, n_used_max, n_used_sum, n_used_cnt,
    median_min, median_max, median_sum, median_cnt,
    mean_min, mean_max, mean_sum, mean_cnt,
    variance_min, variance_max, variance_sum, variance_cnt,
    kurtosis_min, kurtosis_max, kurtosis_sum, kurtosis_cnt,
    alpha_min, alpha_max, alpha_sum, alpha_cnt,
    alpha_se_min, alpha_se_max, alpha_se_sum, alpha_se_cnt,
    alpha_lo_min, alpha_lo_max, alpha_lo_sum, alpha_lo_cnt,
    alpha_hi_min, alpha_hi_max, alpha_hi_sum, alpha_hi_cnt,
    k_min, k_max, k_sum, k_cnt,
    alpha_stable_min, alpha_stable_max, alpha_stable_sum, alpha_stable_cnt,
    lambda_min, lambda_max, lambda_sum, lambda_cnt)
SELECT a.group_id, 128, a.chunk, a.block_first, a.n_blocks, f.step_first, l.step_last,
    a.step_first_min, a.step_first_max, a.step_first_sum, a.step_first_cnt,
    a.n_min, a.n_max, a.n_sum, a.n_cnt,
    a.n_used_min, a.n_used_max, a.n_used_sum, a.n_used_cnt,
    a.median_min, a.median_max, a.median_sum, a.median_cnt,
    a.mean_min, a.mean_max, a.mean_sum, a.mean_cnt,
    a.variance_min, a.variance_max, a.variance_sum, a.variance_cnt,
    a.kurtosis_min, a.kurtosis_max, a.kurtosis_sum, a.kurtosis_cnt,
    a.alpha_min, a.alpha_max, a.alpha_sum, a.alpha_cnt,
    a.alpha_se_min, a.alpha_se_max, a.alpha_se_sum, a.alpha_se_cnt,
    a.alpha_lo_min, a.alpha_lo_max, a.alpha_lo_sum, a.alpha_lo_cnt,
    a.alpha_hi_min, a.alpha_hi_max, a.alpha_hi_sum, a.alpha_hi_cnt,
    a.k_min, a.k_max, a.k_sum, a.k_cnt,
    a.alpha_stable_min, a.alpha_stable_max, a.alpha_stable_sum, a.alpha_stable_cnt,
    a.lambda_min, a.lambda_max, a.lambda_sum, a.lambda_cnt
FROM (SELECT r.group_id, r.chunk / 2 AS chunk, min(r.chunk) AS c0, max(r.chunk) AS c1,
        min(r.block_first) AS block_first, sum(r.n_blocks) AS n_blocks,
        min(r.step_first_min) AS step_first_min, max(r.step_first_max) AS step_first_max, total(r.step_first_sum) AS step_first_sum, sum(r.step_first_cnt) AS step_first_cnt,
        min(r.n_min) AS n_min, max(r.n_max) AS n_max, total(r.n_sum) AS n_sum, sum(r.n_cnt) AS n_cnt,
        min(r.n_used_min) AS n_used_min, max(r.n_used_max) AS n_used_max, total(r.n_used_sum) AS n_used_sum, sum(r.n_used_cnt) AS n_used_cnt,
        min(r.median_min) AS median_min, max(r.median_max) AS median_max, total(r.median_sum) AS median_sum, sum(r.median_cnt) AS median_cnt,
        min(r.mean_min) AS mean_min, max(r.mean_max) AS mean_max, total(r.mean_sum) AS mean_sum, sum(r.mean_cnt) AS mean_cnt,
        min(r.variance_min) AS variance_min, max(r.variance_max) AS variance_max, total(r.variance_sum) AS variance_sum, sum(r.variance_cnt) AS variance_cnt,
        min(r.kurtosis_min) AS kurtosis_min, max(r.kurtosis_max) AS kurtosis_max, total(r.kurtosis_sum) AS kurtosis_sum, sum(r.kurtosis_cnt) AS kurtosis_cnt,
        min(r.alpha_min) AS alpha_min, max(r.alpha_max) AS alpha_max, total(r.alpha_sum) AS alpha_sum, sum(r.alpha_cnt) AS alpha_cnt,
        min(r.alpha_se_min) AS alpha_se_min, max(r.alpha_se_max) AS alpha_se_max, total(r.alpha_se_sum) AS alpha_se_sum, sum(r.alpha_se_cnt) AS alpha_se_cnt,
        min(r.alpha_lo_min) AS alpha_lo_min, max(r.alpha_lo_max) AS alpha_lo_max, total(r.alpha_lo_sum) AS alpha_lo_sum, sum(r.alpha_lo_cnt) AS alpha_lo_cnt,
        min(r.alpha_hi_min) AS alpha_hi_min, max(r.alpha_hi_max) AS alpha_hi_max, total(r.alpha_hi_sum) AS alpha_hi_sum, sum(r.alpha_hi_cnt) AS alpha_hi_cnt,
        min(r.k_min) AS k_min, max(r.k_max) AS k_max, total(r.k_sum) AS k_sum, sum(r.k_cnt) AS k_cnt,
        min(r.alpha_stable_min) AS alpha_stable_min, max(r.alpha_stable_max) AS alpha_stable_max, total(r.alpha_stable_sum) AS alpha_stable_sum, sum(r.alpha_stable_cnt) AS alpha_stable_cnt,
        min(r.lambda_min) AS lambda_min, max(r.lambda_max) AS lambda_max, total(r.lambda_sum) AS lambda_sum, sum(r.lambda_cnt) AS lambda_cnt
    FROM series_rollup AS r JOIN (SELECT id AS gid, (SELECT max(block) FROM blocks WHERE group_id = groups.id) AS last FROM groups) AS gm ON gm.gid = r.group_id
    WHERE r.level = 64 AND r.chunk / 2 < gm.last / 128
    GROUP BY r.group_id, r.chunk / 2) AS a
JOIN series_rollup AS f ON f.group_id = a.group_id AND f.level = 64 AND f.chunk = a.c0
JOIN series_rollup AS l ON l.group_id = a.group_id AND l.level = 64 AND l.chunk = a.c1;

-- Level 256 from level 128.
INSERT INTO series_rollup (group_id, level, chunk, block_first, n_blocks, step_first, step_last,
    step_first_min, step_first_max, step_first_sum, step_first_cnt,
    n_min, n_max, n_sum, n_cnt,
    n_used_min, n_used_max, n_used_sum, n_used_cnt,
    median_min, median_max, median_sum, median_cnt,
    mean_min, mean_max, mean_sum, mean_cnt,
    variance_min, variance_max, variance_sum, variance_cnt,
    kurtosis_min, kurtosis_max, kurtosis_sum, kurtosis_cnt,
    alpha_min, alpha_max, alpha_sum, alpha_cnt,
    alpha_se_min, alpha_se_max, alpha_se_sum, alpha_se_cnt,
    alpha_lo_min, alpha_lo_max, alpha_lo_sum, alpha_lo_cnt,
    alpha_hi_min, alpha_hi_max, alpha_hi_sum, alpha_hi_cnt,
    k_min, k_max, k_sum, k_cnt,
    alpha_stable_min, alpha_stable_max, alpha_stable_sum, alpha_stable_cnt,
    lambda_min, lambda_max, lambda_sum, lambda_cnt)
SELECT a.group_id, 256, a.chunk, a.block_first, a.n_blocks, f.step_first, l.step_last,
    a.step_first_min, a.step_first_max, a.step_first_sum, a.step_first_cnt,
    a.n_min, a.n_max, a.n_sum, a.n_cnt,
    a.n_used_min, a.n_used_max, a.n_used_sum, a.n_used_cnt,
    a.median_min, a.median_max, a.median_sum, a.median_cnt,
    a.mean_min, a.mean_max, a.mean_sum, a.mean_cnt,
    a.variance_min, a.variance_max, a.variance_sum, a.variance_cnt,
    a.kurtosis_min, a.kurtosis_max, a.kurtosis_sum, a.kurtosis_cnt,
    a.alpha_min, a.alpha_max, a.alpha_sum, a.alpha_cnt,
    a.alpha_se_min, a.alpha_se_max, a.alpha_se_sum, a.alpha_se_cnt,
    a.alpha_lo_min, a.alpha_lo_max, a.alpha_lo_sum, a.alpha_lo_cnt,
    a.alpha_hi_min, a.alpha_hi_max, a.alpha_hi_sum, a.alpha_hi_cnt,
    a.k_min, a.k_max, a.k_sum, a.k_cnt,
    a.alpha_stable_min, a.alpha_stable_max, a.alpha_stable_sum, a.alpha_stable_cnt,
    a.lambda_min, a.lambda_max, a.lambda_sum, a.lambda_cnt
FROM (SELECT r.group_id, r.chunk / 2 AS chunk, min(r.chunk) AS c0, max(r.chunk) AS c1,
        min(r.block_first) AS block_first, sum(r.n_blocks) AS n_blocks,
        min(r.step_first_min) AS step_first_min, max(r.step_first_max) AS step_first_max, total(r.step_first_sum) AS step_first_sum, sum(r.step_first_cnt) AS step_first_cnt,
        min(r.n_min) AS n_min, max(r.n_max) AS n_max, total(r.n_sum) AS n_sum, sum(r.n_cnt) AS n_cnt,
        min(r.n_used_min) AS n_used_min, max(r.n_used_max) AS n_used_max, total(r.n_used_sum) AS n_used_sum, sum(r.n_used_cnt) AS n_used_cnt,
        min(r.median_min) AS median_min, max(r.median_max) AS median_max, total(r.median_sum) AS median_sum, sum(r.median_cnt) AS median_cnt,
        min(r.mean_min) AS mean_min, max(r.mean_max) AS mean_max, total(r.mean_sum) AS mean_sum, sum(r.mean_cnt) AS mean_cnt,
        min(r.variance_min) AS variance_min, max(r.variance_max) AS variance_max, total(r.variance_sum) AS variance_sum, sum(r.variance_cnt) AS variance_cnt,
        min(r.kurtosis_min) AS kurtosis_min, max(r.kurtosis_max) AS kurtosis_max, total(r.kurtosis_sum) AS kurtosis_sum, sum(r.kurtosis_cnt) AS kurtosis_cnt,
        min(r.alpha_min) AS alpha_min, max(r.alpha_max) AS alpha_max, total(r.alpha_sum) AS alpha_sum, sum(r.alpha_cnt) AS alpha_cnt,
        min(r.alpha_se_min) AS alpha_se_min, max(r.alpha_se_max) AS alpha_se_max, total(r.alpha_se_sum) AS alpha_se_sum, sum(r.alpha_se_cnt) AS alpha_se_cnt,
        min(r.alpha_lo_min) AS alpha_lo_min, max(r.alpha_lo_max) AS alpha_lo_max, total(r.alpha_lo_sum) AS alpha_lo_sum, sum(r.alpha_lo_cnt) AS alpha_lo_cnt,
        min(r.alpha_hi_min) AS alpha_hi_min, max(r.alpha_hi_max) AS alpha_hi_max, total(r.alpha_hi_sum) AS alpha_hi_sum, sum(r.alpha_hi_cnt) AS alpha_hi_cnt,
        min(r.k_min) AS k_min, max(r.k_max) AS k_max, total(r.k_sum) AS k_sum, sum(r.k_cnt) AS k_cnt,
        min(r.alpha_stable_min) AS alpha_stable_min, max(r.alpha_stable_max) AS alpha_stable_max, total(r.alpha_stable_sum) AS alpha_stable_sum, sum(r.alpha_stable_cnt) AS alpha_stable_cnt,
        min(r.lambda_min) AS lambda_min, max(r.lambda_max) AS lambda_max, total(r.lambda_sum) AS lambda_sum, sum(r.lambda_cnt) AS lambda_cnt
    FROM series_rollup AS r JOIN (SELECT id AS gid, (SELECT max(block) FROM blocks WHERE group_id = groups.id) AS last FROM groups) AS gm ON gm.gid = r.group_id
    WHERE r.level = 128 AND r.chunk / 2 < gm.last / 256
    GROUP BY r.group_id, r.chunk / 2) AS a
JOIN series_rollup AS f ON f.group_id = a.group_id AND f.level = 128 AND f.chunk = a.c0
JOIN series_rollup AS l ON l.group_id = a.group_id AND l.level = 128 AND l.chunk = a.c1;

-- Level 512 from level 256.
INSERT INTO series_rollup (group_id, level, chunk, block_first, n_blocks, step_first, step_last,
    step_first_min, step_first_max, step_first_sum, step_first_cnt,
    n_min, n_max, n_sum, n_cnt,
    n_used_min, n_used_max, n_used_sum, n_used_cnt,
    median_min, median_max, median_sum, median_cnt,
    mean_min, mean_max, mean_sum, mean_cnt,
    variance_min, variance_max, variance_sum, variance_cnt,
    kurtosis_min, kurtosis_max, kurtosis_sum, kurtosis_cnt,
    alpha_min, alpha_max, alpha_sum, alpha_cnt,
    alpha_se_min, alpha_se_max, alpha_se_sum, alpha_se_cnt,
    alpha_lo_min, alpha_lo_max, alpha_lo_sum, alpha_lo_cnt,
    alpha_hi_min, alpha_hi_max, alpha_hi_sum, alpha_hi_cnt,
    k_min, k_max, k_sum, k_cnt,
    alpha_stable_min, alpha_stable_max, alpha_stable_sum, alpha_stable_cnt,
    lambda_min, lambda_max, lambda_sum, lambda_cnt)
SELECT a.group_id, 512, a.chunk, a.block_first, a.n_blocks, f.step_first, l.step_last,
    a.step_first_min, a.step_first_max, a.step_first_sum, a.step_first_cnt,
    a.n_min, a.n_max, a.n_sum, a.n_cnt,
    a.n_used_min, a.n_used_max, a.n_used_sum, a.n_used_cnt,
    a.median_min, a.median_max, a.median_sum, a.median_cnt,
    a.mean_min, a.mean_max, a.mean_sum, a.mean_cnt,
    a.variance_min, a.variance_max, a.variance_sum, a.variance_cnt,
    a.kurtosis_min, a.kurtosis_max, a.kurtosis_sum, a.kurtosis_cnt,
    a.alpha_min, a.alpha_max, a.alpha_sum, a.alpha_cnt,
    a.alpha_se_min, a.alpha_se_max, a.alpha_se_sum, a.alpha_se_cnt,
    a.alpha_lo_min, a.alpha_lo_max, a.alpha_lo_sum, a.alpha_lo_cnt,
    a.alpha_hi_min, a.alpha_hi_max, a.alpha_hi_sum, a.alpha_hi_cnt,
    a.k_min, a.k_max, a.k_sum, a.k_cnt,
    a.alpha_stable_min, a.alpha_stable_max, a.alpha_stable_sum, a.alpha_stable_cnt,
    a.lambda_min, a.lambda_max, a.lambda_sum, a.lambda_cnt
FROM (SELECT r.group_id, r.chunk / 2 AS chunk, min(r.chunk) AS c0, max(r.chunk) AS c1,
        min(r.block_first) AS block_first, sum(r.n_blocks) AS n_blocks,
        min(r.step_first_min) AS step_first_min, max(r.step_first_max) AS step_first_max, total(r.step_first_sum) AS step_first_sum, sum(r.step_first_cnt) AS step_first_cnt,
        min(r.n_min) AS n_min, max(r.n_max) AS n_max, total(r.n_sum) AS n_sum, sum(r.n_cnt) AS n_cnt,
        min(r.n_used_min) AS n_used_min, max(r.n_used_max) AS n_used_max, total(r.n_used_sum) AS n_used_sum, sum(r.n_used_cnt) AS n_used_cnt,
        min(r.median_min) AS median_min, max(r.median_max) AS median_max, total(r.median_sum) AS median_sum, sum(r.median_cnt) AS median_cnt,
        min(r.mean_min) AS mean_min, max(r.mean_max) AS mean_max, total(r.mean_sum) AS mean_sum, sum(r.mean_cnt) AS mean_cnt,
        min(r.variance_min) AS variance_min, max(r.variance_max) AS variance_max, total(r.variance_sum) AS variance_sum, sum(r.variance_cnt) AS variance_cnt,
        min(r.kurtosis_min) AS kurtosis_min, max(r.kurtosis_max) AS kurtosis_max, total(r.kurtosis_sum) AS kurtosis_sum, sum(r.kurtosis_cnt) AS kurtosis_cnt,
        min(r.alpha_min) AS alpha_min, max(r.alpha_max) AS alpha_max, total(r.alpha_sum) AS alpha_sum, sum(r.alpha_cnt) AS alpha_cnt,
        min(r.alpha_se_min) AS alpha_se_min, max(r.alpha_se_max) AS alpha_se_max, total(r.alpha_se_sum) AS alpha_se_sum, sum(r.alpha_se_cnt) AS alpha_se_cnt,
        min(r.alpha_lo_min) AS alpha_lo_min, max(r.alpha_lo_max) AS alpha_lo_max, total(r.alpha_lo_sum) AS alpha_lo_sum, sum(r.alpha_lo_cnt) AS alpha_lo_cnt,
        min(r.alpha_hi_min) AS alpha_hi_min, max(r.alpha_hi_max) AS alpha_hi_max, total(r.alpha_hi_sum) AS alpha_hi_sum, sum(r.alpha_hi_cnt) AS alpha_hi_cnt,
        min(r.k_min) AS k_min, max(r.k_max) AS k_max, total(r.k_sum) AS k_sum, sum(r.k_cnt) AS k_cnt,
        min(r.alpha_stable_min) AS alpha_stable_min, max(r.alpha_stable_max) AS alpha_stable_max, total(r.alpha_stable_sum) AS alpha_stable_sum, sum(r.alpha_stable_cnt) AS alpha_stable_cnt,
        min(r.lambda_min) AS lambda_min, max(r.lambda_max) AS lambda_max, total(r.lambda_sum) AS lambda_sum, sum(r.lambda_cnt) AS lambda_cnt
    FROM series_rollup AS r JOIN (SELECT id AS gid, (SELECT max(block) FROM blocks WHERE group_id = groups.id) AS last FROM groups) AS gm ON gm.gid = r.group_id
    WHERE r.level = 256 AND r.chunk / 2 < gm.last / 512
    GROUP BY r.group_id, r.chunk / 2) AS a
JOIN series_rollup AS f ON f.group_id = a.group_id AND f.level = 256 AND f.chunk = a.c0
JOIN series_rollup AS l ON l.group_id = a.group_id AND l.level = 256 AND l.chunk = a.c1;

-- Level 1024 from level 512.
INSERT INTO series_rollup (group_id, level, chunk, block_first, n_blocks, step_first, step_last,
    step_first_min, step_first_max, step_first_sum, step_first_cnt,
    n_min, n_max, n_sum, n_cnt,
    n_used_min, n_used_max, n_used_sum, n_used_cnt,
    median_min, median_max, median_sum, median_cnt,
    mean_min, mean_max, mean_sum, mean_cnt,
    variance_min, variance_max, variance_sum, variance_cnt,
    kurtosis_min, kurtosis_max, kurtosis_sum, kurtosis_cnt,
    alpha_min, alpha_max, alpha_sum, alpha_cnt,
    alpha_se_min, alpha_se_max, alpha_se_sum, alpha_se_cnt,
    alpha_lo_min, alpha_lo_max, alpha_lo_sum, alpha_lo_cnt,
    alpha_hi_min, alpha_hi_max, alpha_hi_sum, alpha_hi_cnt,
    k_min, k_max, k_sum, k_cnt,
    alpha_stable_min, alpha_stable_max, alpha_stable_sum, alpha_stable_cnt,
    lambda_min, lambda_max, lambda_sum, lambda_cnt)
SELECT a.group_id, 1024, a.chunk, a.block_first, a.n_blocks, f.step_first, l.step_last,
    a.step_first_min, a.step_first_max, a.step_first_sum, a.step_first_cnt,
    a.n_min, a.n_max, a.n_sum, a.n_cnt,
    a.n_used_min, a.n_used_max, a.n_used_sum, a.n_used_cnt,
    a.median_min, a.median_max, a.median_sum, a.median_cnt,
    a.mean_min, a.mean_max, a.mean_sum, a.mean_cnt,
    a.variance_min, a.variance_max, a.variance_sum, a.variance_cnt,
    a.kurtosis_min, a.kurtosis_max, a.kurtosis_sum, a.kurtosis_cnt,
    a.alpha_min, a.alpha_max, a.alpha_sum, a.alpha_cnt,
    a.alpha_se_min, a.alpha_se_max, a.alpha_se_sum, a.alpha_se_cnt,
    a.alpha_lo_min, a.alpha_lo_max, a.alpha_lo_sum, a.alpha_lo_cnt,
    a.alpha_hi_min, a.alpha_hi_max, a.alpha_hi_sum, a.alpha_hi_cnt,
    a.k_min, a.k_max, a.k_sum, a.k_cnt,
    a.alpha_stable_min, a.alpha_stable_max, a.alpha_stable_sum, a.alpha_stable_cnt,
    a.lambda_min, a.lambda_max, a.lambda_sum, a.lambda_cnt
FROM (SELECT r.group_id, r.chunk / 2 AS chunk, min(r.chunk) AS c0, max(r.chunk) AS c1,
        min(r.block_first) AS block_first, sum(r.n_blocks) AS n_blocks,
        min(r.step_first_min) AS step_first_min, max(r.step_first_max) AS step_first_max, total(r.step_first_sum) AS step_first_sum, sum(r.step_first_cnt) AS step_first_cnt,
        min(r.n_min) AS n_min, max(r.n_max) AS n_max, total(r.n_sum) AS n_sum, sum(r.n_cnt) AS n_cnt,
        min(r.n_used_min) AS n_used_min, max(r.n_used_max) AS n_used_max, total(r.n_used_sum) AS n_used_sum, sum(r.n_used_cnt) AS n_used_cnt,
        min(r.median_min) AS median_min, max(r.median_max) AS median_max, total(r.median_sum) AS median_sum, sum(r.median_cnt) AS median_cnt,
        min(r.mean_min) AS mean_min, max(r.mean_max) AS mean_max, total(r.mean_sum) AS mean_sum, sum(r.mean_cnt) AS mean_cnt,
        min(r.variance_min) AS variance_min, max(r.variance_max) AS variance_max, total(r.variance_sum) AS variance_sum, sum(r.variance_cnt) AS variance_cnt,
        min(r.kurtosis_min) AS kurtosis_min, max(r.kurtosis_max) AS kurtosis_max, total(r.kurtosis_sum) AS kurtosis_sum, sum(r.kurtosis_cnt) AS kurtosis_cnt,
        min(r.alpha_min) AS alpha_min, max(r.alpha_max) AS alpha_max, total(r.alpha_sum) AS alpha_sum, sum(r.alpha_cnt) AS alpha_cnt,
        min(r.alpha_se_min) AS alpha_se_min, max(r.alpha_se_max) AS alpha_se_max, total(r.alpha_se_sum) AS alpha_se_sum, sum(r.alpha_se_cnt) AS alpha_se_cnt,
        min(r.alpha_lo_min) AS alpha_lo_min, max(r.alpha_lo_max) AS alpha_lo_max, total(r.alpha_lo_sum) AS alpha_lo_sum, sum(r.alpha_lo_cnt) AS alpha_lo_cnt,
        min(r.alpha_hi_min) AS alpha_hi_min, max(r.alpha_hi_max) AS alpha_hi_max, total(r.alpha_hi_sum) AS alpha_hi_sum, sum(r.alpha_hi_cnt) AS alpha_hi_cnt,
        min(r.k_min) AS k_min, max(r.k_max) AS k_max, total(r.k_sum) AS k_sum, sum(r.k_cnt) AS k_cnt,
        min(r.alpha_stable_min) AS alpha_stable_min, max(r.alpha_stable_max) AS alpha_stable_max, total(r.alpha_stable_sum) AS alpha_stable_sum, sum(r.alpha_stable_cnt) AS alpha_stable_cnt,
        min(r.lambda_min) AS lambda_min, max(r.lambda_max) AS lambda_max, total(r.lambda_sum) AS lambda_sum, sum(r.lambda_cnt) AS lambda_cnt
    FROM series_rollup AS r JOIN (SELECT id AS gid, (SELECT max(block) FROM blocks WHERE group_id = groups.id) AS last FROM groups) AS gm ON gm.gid = r.group_id
    WHERE r.level = 512 AND r.chunk / 2 < gm.last / 1024
    GROUP BY r.group_id, r.chunk / 2) AS a
JOIN series_rollup AS f ON f.group_id = a.group_id AND f.level = 512 AND f.chunk = a.c0
JOIN series_rollup AS l ON l.group_id = a.group_id AND l.level = 512 AND l.chunk = a.c1;

-- Level 2048 from level 1024.
INSERT INTO series_rollup (group_id, level, chunk, block_first, n_blocks, step_first, step_last,
    step_first_min, step_first_max, step_first_sum, step_first_cnt,
    n_min, n_max, n_sum, n_cnt,
    n_used_min, n_used_max, n_used_sum, n_used_cnt,
    median_min, median_max, median_sum, median_cnt,
    mean_min, mean_max, mean_sum, mean_cnt,
    variance_min, variance_max, variance_sum, variance_cnt,
    kurtosis_min, kurtosis_max, kurtosis_sum, kurtosis_cnt,
    alpha_min, alpha_max, alpha_sum, alpha_cnt,
    alpha_se_min, alpha_se_max, alpha_se_sum, alpha_se_cnt,
    alpha_lo_min, alpha_lo_max, alpha_lo_sum, alpha_lo_cnt,
    alpha_hi_min, alpha_hi_max, alpha_hi_sum, alpha_hi_cnt,
    k_min, k_max, k_sum, k_cnt,
    alpha_stable_min, alpha_stable_max, alpha_stable_sum, alpha_stable_cnt,
    lambda_min, lambda_max, lambda_sum, lambda_cnt)
SELECT a.group_id, 2048, a.chunk, a.block_first, a.n_blocks, f.step_first, l.step_last,
    a.step_first_min, a.step_first_max, a.step_first_sum, a.step_first_cnt,
    a.n_min, a.n_max, a.n_sum, a.n_cnt,
    a.n_used_min, a.n_used_max, a.n_used_sum, a.n_used_cnt,
    a.median_min, a.median_max, a.median_sum, a.median_cnt,
    a.mean_min, a.mean_max, a.mean_sum, a.mean_cnt,
    a.variance_min, a.variance_max, a.variance_sum, a.variance_cnt,
    a.kurtosis_min, a.kurtosis_max, a.kurtosis_sum, a.kurtosis_cnt,
    a.alpha_min, a.alpha_max, a.alpha_sum, a.alpha_cnt,
    a.alpha_se_min, a.alpha_se_max, a.alpha_se_sum, a.alpha_se_cnt,
    a.alpha_lo_min, a.alpha_lo_max, a.alpha_lo_sum, a.alpha_lo_cnt,
    a.alpha_hi_min, a.alpha_hi_max, a.alpha_hi_sum, a.alpha_hi_cnt,
    a.k_min, a.k_max, a.k_sum, a.k_cnt,
    a.alpha_stable_min, a.alpha_stable_max, a.alpha_stable_sum, a.alpha_stable_cnt,
    a.lambda_min, a.lambda_max, a.lambda_sum, a.lambda_cnt
FROM (SELECT r.group_id, r.chunk / 2 AS chunk, min(r.chunk) AS c0, max(r.chunk) AS c1,
        min(r.block_first) AS block_first, sum(r.n_blocks) AS n_blocks,
        min(r.step_first_min) AS step_first_min, max(r.step_first_max) AS step_first_max, total(r.step_first_sum) AS step_first_sum, sum(r.step_first_cnt) AS step_first_cnt,
        min(r.n_min) AS n_min, max(r.n_max) AS n_max, total(r.n_sum) AS n_sum, sum(r.n_cnt) AS n_cnt,
        min(r.n_used_min) AS n_used_min, max(r.n_used_max) AS n_used_max, total(r.n_used_sum) AS n_used_sum, sum(r.n_used_cnt) AS n_used_cnt,
        min(r.median_min) AS median_min, max(r.median_max) AS median_max, total(r.median_sum) AS median_sum, sum(r.median_cnt) AS median_cnt,
        min(r.mean_min) AS mean_min, max(r.mean_max) AS mean_max, total(r.mean_sum) AS mean_sum, sum(r.mean_cnt) AS mean_cnt,
        min(r.variance_min) AS variance_min, max(r.variance_max) AS variance_max, total(r.variance_sum) AS variance_sum, sum(r.variance_cnt) AS variance_cnt,
        min(r.kurtosis_min) AS kurtosis_min, max(r.kurtosis_max) AS kurtosis_max, total(r.kurtosis_sum) AS kurtosis_sum, sum(r.kurtosis_cnt) AS kurtosis_cnt,
        min(r.alpha_min) AS alpha_min, max(r.alpha_max) AS alpha_max, total(r.alpha_sum) AS alpha_sum, sum(r.alpha_cnt) AS alpha_cnt,
        min(r.alpha_se_min) AS alpha_se_min, max(r.alpha_se_max) AS alpha_se_max, total(r.alpha_se_sum) AS alpha_se_sum, sum(r.alpha_se_cnt) AS alpha_se_cnt,
        min(r.alpha_lo_min) AS alpha_lo_min, max(r.alpha_lo_max) AS alpha_lo_max, total(r.alpha_lo_sum) AS alpha_lo_sum, sum(r.alpha_lo_cnt) AS alpha_lo_cnt,
        min(r.alpha_hi_min) AS alpha_hi_min, max(r.alpha_hi_max) AS alpha_hi_max, total(r.alpha_hi_sum) AS alpha_hi_sum, sum(r.alpha_hi_cnt) AS alpha_hi_cnt,
        min(r.k_min) AS k_min, max(r.k_max) AS k_max, total(r.k_sum) AS k_sum, sum(r.k_cnt) AS k_cnt,
        min(r.alpha_stable_min) AS alpha_stable_min, max(r.alpha_stable_max) AS alpha_stable_max, total(r.alpha_stable_sum) AS alpha_stable_sum, sum(r.alpha_stable_cnt) AS alpha_stable_cnt,
        min(r.lambda_min) AS lambda_min, max(r.lambda_max) AS lambda_max, total(r.lambda_sum) AS lambda_sum, sum(r.lambda_cnt) AS lambda_cnt
    FROM series_rollup AS r JOIN (SELECT id AS gid, (SELECT max(block) FROM blocks WHERE group_id = groups.id) AS last FROM groups) AS gm ON gm.gid = r.group_id
    WHERE r.level = 1024 AND r.chunk / 2 < gm.last / 2048
    GROUP BY r.group_id, r.chunk / 2) AS a
JOIN series_rollup AS f ON f.group_id = a.group_id AND f.level = 1024 AND f.chunk = a.c0
JOIN series_rollup AS l ON l.group_id = a.group_id AND l.level = 1024 AND l.chunk = a.c1;

-- Level 4096 from level 2048.
INSERT INTO series_rollup (group_id, level, chunk, block_first, n_blocks, step_first, step_last,
    step_first_min, step_first_max, step_first_sum, step_first_cnt,
    n_min, n_max, n_sum, n_cnt,
    n_used_min, n_used_max, n_used_sum, n_used_cnt,
    median_min, median_max, median_sum, median_cnt,
    mean_min, mean_max, mean_sum, mean_cnt,
    variance_min, variance_max, variance_sum, variance_cnt,
    kurtosis_min, kurtosis_max, kurtosis_sum, kurtosis_cnt,
    alpha_min, alpha_max, alpha_sum, alpha_cnt,
    alpha_se_min, alpha_se_max, alpha_se_sum, alpha_se_cnt,
    alpha_lo_min, alpha_lo_max, alpha_lo_sum, alpha_lo_cnt,
    alpha_hi_min, alpha_hi_max, alpha_hi_sum, alpha_hi_cnt,
    k_min, k_max, k_sum, k_cnt,
    alpha_stable_min, alpha_stable_max, alpha_stable_sum, alpha_stable_cnt,
    lambda_min, lambda_max, lambda_sum, lambda_cnt)
SELECT a.group_id, 4096, a.chunk, a.block_first, a.n_blocks, f.step_first, l.step_last,
    a.step_first_min, a.step_first_max, a.step_first_sum, a.step_first_cnt,
    a.n_min, a.n_max, a.n_sum, a.n_cnt,
    a.n_used_min, a.n_used_max, a.n_used_sum, a.n_used_cnt,
    a.median_min, a.median_max, a.median_sum, a.median_cnt,
    a.mean_min, a.mean_max, a.mean_sum, a.mean_cnt,
    a.variance_min, a.variance_max, a.variance_sum, a.variance_cnt,
    a.kurtosis_min, a.kurtosis_max, a.kurtosis_sum, a.kurtosis_cnt,
    a.alpha_min, a.alpha_max, a.alpha_sum, a.alpha_cnt,
    a.alpha_se_min, a.alpha_se_max, a.alpha_se_sum, a.alpha_se_cnt,
    a.alpha_lo_min, a.alpha_lo_max, a.alpha_lo_sum, a.alpha_lo_cnt,
    a.alpha_hi_min, a.alpha_hi_max, a.alpha_hi_sum, a.alpha_hi_cnt,
    a.k_min, a.k_max, a.k_sum, a.k_cnt,
    a.alpha_stable_min, a.alpha_stable_max, a.alpha_stable_sum, a.alpha_stable_cnt,
    a.lambda_min, a.lambda_max, a.lambda_sum, a.lambda_cnt
FROM (SELECT r.group_id, r.chunk / 2 AS chunk, min(r.chunk) AS c0, max(r.chunk) AS c1,
        min(r.block_first) AS block_first, sum(r.n_blocks) AS n_blocks,
        min(r.step_first_min) AS step_first_min, max(r.step_first_max) AS step_first_max, total(r.step_first_sum) AS step_first_sum, sum(r.step_first_cnt) AS step_first_cnt,
        min(r.n_min) AS n_min, max(r.n_max) AS n_max, total(r.n_sum) AS n_sum, sum(r.n_cnt) AS n_cnt,
        min(r.n_used_min) AS n_used_min, max(r.n_used_max) AS n_used_max, total(r.n_used_sum) AS n_used_sum, sum(r.n_used_cnt) AS n_used_cnt,
        min(r.median_min) AS median_min, max(r.median_max) AS median_max, total(r.median_sum) AS median_sum, sum(r.median_cnt) AS median_cnt,
        min(r.mean_min) AS mean_min, max(r.mean_max) AS mean_max, total(r.mean_sum) AS mean_sum, sum(r.mean_cnt) AS mean_cnt,
        min(r.variance_min) AS variance_min, max(r.variance_max) AS variance_max, total(r.variance_sum) AS variance_sum, sum(r.variance_cnt) AS variance_cnt,
        min(r.kurtosis_min) AS kurtosis_min, max(r.kurtosis_max) AS kurtosis_max, total(r.kurtosis_sum) AS kurtosis_sum, sum(r.kurtosis_cnt) AS kurtosis_cnt,
        min(r.alpha_min) AS alpha_min, max(r.alpha_max) AS alpha_max, total(r.alpha_sum) AS alpha_sum, sum(r.alpha_cnt) AS alpha_cnt,
        min(r.alpha_se_min) AS alpha_se_min, max(r.alpha_se_max) AS alpha_se_max, total(r.alpha_se_sum) AS alpha_se_sum, sum(r.alpha_se_cnt) AS alpha_se_cnt,
        min(r.alpha_lo_min) AS alpha_lo_min, max(r.alpha_lo_max) AS alpha_lo_max, total(r.alpha_lo_sum) AS alpha_lo_sum, sum(r.alpha_lo_cnt) AS alpha_lo_cnt,
        min(r.alpha_hi_min) AS alpha_hi_min, max(r.alpha_hi_max) AS alpha_hi_max, total(r.alpha_hi_sum) AS alpha_hi_sum, sum(r.alpha_hi_cnt) AS alpha_hi_cnt,
        min(r.k_min) AS k_min, max(r.k_max) AS k_max, total(r.k_sum) AS k_sum, sum(r.k_cnt) AS k_cnt,
        min(r.alpha_stable_min) AS alpha_stable_min, max(r.alpha_stable_max) AS alpha_stable_max, total(r.alpha_stable_sum) AS alpha_stable_sum, sum(r.alpha_stable_cnt) AS alpha_stable_cnt,
        min(r.lambda_min) AS lambda_min, max(r.lambda_max) AS lambda_max, total(r.lambda_sum) AS lambda_sum, sum(r.lambda_cnt) AS lambda_cnt
    FROM series_rollup AS r JOIN (SELECT id AS gid, (SELECT max(block) FROM blocks WHERE group_id = groups.id) AS last FROM groups) AS gm ON gm.gid = r.group_id
    WHERE r.level = 2048 AND r.chunk / 2 < gm.last / 4096
    GROUP BY r.group_id, r.chunk / 2) AS a
JOIN series_rollup AS f ON f.group_id = a.group_id AND f.level = 2048 AND f.chunk = a.c0
JOIN series_rollup AS l ON l.group_id = a.group_id AND l.level = 2048 AND l.chunk = a.c1;

-- Level 8192 from level 4096.
INSERT INTO series_rollup (group_id, level, chunk, block_first, n_blocks, step_first, step_last,
    step_first_min, step_first_max, step_first_sum, step_first_cnt,
    n_min, n_max, n_sum, n_cnt,
    n_used_min, n_used_max, n_used_sum, n_used_cnt,
    median_min, median_max, median_sum, median_cnt,
    mean_min, mean_max, mean_sum, mean_cnt,
    variance_min, variance_max, variance_sum, variance_cnt,
    kurtosis_min, kurtosis_max, kurtosis_sum, kurtosis_cnt,
    alpha_min, alpha_max, alpha_sum, alpha_cnt,
    alpha_se_min, alpha_se_max, alpha_se_sum, alpha_se_cnt,
    alpha_lo_min, alpha_lo_max, alpha_lo_sum, alpha_lo_cnt,
    alpha_hi_min, alpha_hi_max, alpha_hi_sum, alpha_hi_cnt,
    k_min, k_max, k_sum, k_cnt,
    alpha_stable_min, alpha_stable_max, alpha_stable_sum, alpha_stable_cnt,
    lambda_min, lambda_max, lambda_sum, lambda_cnt)
SELECT a.group_id, 8192, a.chunk, a.block_first, a.n_blocks, f.step_first, l.step_last,
    a.step_first_min, a.step_first_max, a.step_first_sum, a.step_first_cnt,
    a.n_min, a.n_max, a.n_sum, a.n_cnt,
    a.n_used_min, a.n_used_max, a.n_used_sum, a.n_used_cnt,
    a.median_min, a.median_max, a.median_sum, a.median_cnt,
    a.mean_min, a.mean_max, a.mean_sum, a.mean_cnt,
    a.variance_min, a.variance_max, a.variance_sum, a.variance_cnt,
    a.kurtosis_min, a.kurtosis_max, a.kurtosis_sum, a.kurtosis_cnt,
    a.alpha_min, a.alpha_max, a.alpha_sum, a.alpha_cnt,
    a.alpha_se_min, a.alpha_se_max, a.alpha_se_sum, a.alpha_se_cnt,
    a.alpha_lo_min, a.alpha_lo_max, a.alpha_lo_sum, a.alpha_lo_cnt,
    a.alpha_hi_min, a.alpha_hi_max, a.alpha_hi_sum, a.alpha_hi_cnt,
    a.k_min, a.k_max, a.k_sum, a.k_cnt,
    a.alpha_stable_min, a.alpha_stable_max, a.alpha_stable_sum, a.alpha_stable_cnt,
    a.lambda_min, a.lambda_max, a.lambda_sum, a.lambda_cnt
FROM (SELECT r.group_id, r.chunk / 2 AS chunk, min(r.chunk) AS c0, max(r.chunk) AS c1,
        min(r.block_first) AS block_first, sum(r.n_blocks) AS n_blocks,
        min(r.step_first_min) AS step_first_min, max(r.step_first_max) AS step_first_max, total(r.step_first_sum) AS step_first_sum, sum(r.step_first_cnt) AS step_first_cnt,
        min(r.n_min) AS n_min, max(r.n_max) AS n_max, total(r.n_sum) AS n_sum, sum(r.n_cnt) AS n_cnt,
        min(r.n_used_min) AS n_used_min, max(r.n_used_max) AS n_used_max, total(r.n_used_sum) AS n_used_sum, sum(r.n_used_cnt) AS n_used_cnt,
        min(r.median_min) AS median_min, max(r.median_max) AS median_max, total(r.median_sum) AS median_sum, sum(r.median_cnt) AS median_cnt,
        min(r.mean_min) AS mean_min, max(r.mean_max) AS mean_max, total(r.mean_sum) AS mean_sum, sum(r.mean_cnt) AS mean_cnt,
        min(r.variance_min) AS variance_min, max(r.variance_max) AS variance_max, total(r.variance_sum) AS variance_sum, sum(r.variance_cnt) AS variance_cnt,
        min(r.kurtosis_min) AS kurtosis_min, max(r.kurtosis_max) AS kurtosis_max, total(r.kurtosis_sum) AS kurtosis_sum, sum(r.kurtosis_cnt) AS kurtosis_cnt,
        min(r.alpha_min) AS alpha_min, max(r.alpha_max) AS alpha_max, total(r.alpha_sum) AS alpha_sum, sum(r.alpha_cnt) AS alpha_cnt,
        min(r.alpha_se_min) AS alpha_se_min, max(r.alpha_se_max) AS alpha_se_max, total(r.alpha_se_sum) AS alpha_se_sum, sum(r.alpha_se_cnt) AS alpha_se_cnt,
        min(r.alpha_lo_min) AS alpha_lo_min, max(r.alpha_lo_max) AS alpha_lo_max, total(r.alpha_lo_sum) AS alpha_lo_sum, sum(r.alpha_lo_cnt) AS alpha_lo_cnt,
        min(r.alpha_hi_min) AS alpha_hi_min, max(r.alpha_hi_max) AS alpha_hi_max, total(r.alpha_hi_sum) AS alpha_hi_sum, sum(r.alpha_hi_cnt) AS alpha_hi_cnt,
        min(r.k_min) AS k_min, max(r.k_max) AS k_max, total(r.k_sum) AS k_sum, sum(r.k_cnt) AS k_cnt,
        min(r.alpha_stable_min) AS alpha_stable_min, max(r.alpha_stable_max) AS alpha_stable_max, total(r.alpha_stable_sum) AS alpha_stable_sum, sum(r.alpha_stable_cnt) AS alpha_stable_cnt,
        min(r.lambda_min) AS lambda_min, max(r.lambda_max) AS lambda_max, total(r.lambda_sum) AS lambda_sum, sum(r.lambda_cnt) AS lambda_cnt
    FROM series_rollup AS r JOIN (SELECT id AS gid, (SELECT max(block) FROM blocks WHERE group_id = groups.id) AS last FROM groups) AS gm ON gm.gid = r.group_id
    WHERE r.level = 4096 AND r.chunk / 2 < gm.last / 8192
    GROUP BY r.group_id, r.chunk / 2) AS a
JOIN series_rollup AS f ON f.group_id = a.group_id AND f.level = 4096 AND f.chunk = a.c0
JOIN series_rollup AS l ON l.group_id = a.group_id AND l.level = 4096 AND l.chunk = a.c1;

-- Level 16384 from level 8192.
INSERT INTO series_rollup (group_id, level, chunk, block_first, n_blocks, step_first, step_last,
    step_first_min, step_first_max, step_first_sum, step_first_cnt,
    n_min, n_max, n_sum, n_cnt,
    n_used_min, n_used_max, n_used_sum, n_used_cnt,
    median_min, median_max, median_sum, median_cnt,
    mean_min, mean_max, mean_sum, mean_cnt,
    variance_min, variance_max, variance_sum, variance_cnt,
    kurtosis_min, kurtosis_max, kurtosis_sum, kurtosis_cnt,
    alpha_min, alpha_max, alpha_sum, alpha_cnt,
    alpha_se_min, alpha_se_max, alpha_se_sum, alpha_se_cnt,
    alpha_lo_min, alpha_lo_max, alpha_lo_sum, alpha_lo_cnt,
    alpha_hi_min, alpha_hi_max, alpha_hi_sum, alpha_hi_cnt,
    k_min, k_max, k_sum, k_cnt,
    alpha_stable_min, alpha_stable_max, alpha_stable_sum, alpha_stable_cnt,
    lambda_min, lambda_max, lambda_sum, lambda_cnt)
SELECT a.group_id, 16384, a.chunk, a.block_first, a.n_blocks, f.step_first, l.step_last,
    a.step_first_min, a.step_first_max, a.step_first_sum, a.step_first_cnt,
    a.n_min, a.n_max, a.n_sum, a.n_cnt,
    a.n_used_min, a.n_used_max, a.n_used_sum, a.n_used_cnt,
    a.median_min, a.median_max, a.median_sum, a.median_cnt,
    a.mean_min, a.mean_max, a.mean_sum, a.mean_cnt,
    a.variance_min, a.variance_max, a.variance_sum, a.variance_cnt,
    a.kurtosis_min, a.kurtosis_max, a.kurtosis_sum, a.kurtosis_cnt,
    a.alpha_min, a.alpha_max, a.alpha_sum, a.alpha_cnt,
    a.alpha_se_min, a.alpha_se_max, a.alpha_se_sum, a.alpha_se_cnt,
    a.alpha_lo_min, a.alpha_lo_max, a.alpha_lo_sum, a.alpha_lo_cnt,
    a.alpha_hi_min, a.alpha_hi_max, a.alpha_hi_sum, a.alpha_hi_cnt,
    a.k_min, a.k_max, a.k_sum, a.k_cnt,
    a.alpha_stable_min, a.alpha_stable_max, a.alpha_stable_sum, a.alpha_stable_cnt,
    a.lambda_min, a.lambda_max, a.lambda_sum, a.lambda_cnt
FROM (SELECT r.group_id, r.chunk / 2 AS chunk, min(r.chunk) AS c0, max(r.chunk) AS c1,
        min(r.block_first) AS block_first, sum(r.n_blocks) AS n_blocks,
        min(r.step_first_min) AS step_first_min, max(r.step_first_max) AS step_first_max, total(r.step_first_sum) AS step_first_sum, sum(r.step_first_cnt) AS step_first_cnt,
        min(r.n_min) AS n_min, max(r.n_max) AS n_max, total(r.n_sum) AS n_sum, sum(r.n_cnt) AS n_cnt,
        min(r.n_used_min) AS n_used_min, max(r.n_used_max) AS n_used_max, total(r.n_used_sum) AS n_used_sum, sum(r.n_used_cnt) AS n_used_cnt,
        min(r.median_min) AS median_min, max(r.median_max) AS median_max, total(r.median_sum) AS median_sum, sum(r.median_cnt) AS median_cnt,
        min(r.mean_min) AS mean_min, max(r.mean_max) AS mean_max, total(r.mean_sum) AS mean_sum, sum(r.mean_cnt) AS mean_cnt,
        min(r.variance_min) AS variance_min, max(r.variance_max) AS variance_max, total(r.variance_sum) AS variance_sum, sum(r.variance_cnt) AS variance_cnt,
        min(r.kurtosis_min) AS kurtosis_min, max(r.kurtosis_max) AS kurtosis_max, total(r.kurtosis_sum) AS kurtosis_sum, sum(r.kurtosis_cnt) AS kurtosis_cnt,
        min(r.alpha_min) AS alpha_min, max(r.alpha_max) AS alpha_max, total(r.alpha_sum) AS alpha_sum, sum(r.alpha_cnt) AS alpha_cnt,
        min(r.alpha_se_min) AS alpha_se_min, max(r.alpha_se_max) AS alpha_se_max, total(r.alpha_se_sum) AS alpha_se_sum, sum(r.alpha_se_cnt) AS alpha_se_cnt,
        min(r.alpha_lo_min) AS alpha_lo_min, max(r.alpha_lo_max) AS alpha_lo_max, total(r.alpha_lo_sum) AS alpha_lo_sum, sum(r.alpha_lo_cnt) AS alpha_lo_cnt,
        min(r.alpha_hi_min) AS alpha_hi_min, max(r.alpha_hi_max) AS alpha_hi_max, total(r.alpha_hi_sum) AS alpha_hi_sum, sum(r.alpha_hi_cnt) AS alpha_hi_cnt,
        min(r.k_min) AS k_min, max(r.k_max) AS k_max, total(r.k_sum) AS k_sum, sum(r.k_cnt) AS k_cnt,
        min(r.alpha_stable_min) AS alpha_stable_min, max(r.alpha_stable_max) AS alpha_stable_max, total(r.alpha_stable_sum) AS alpha_stable_sum, sum(r.alpha_stable_cnt) AS alpha_stable_cnt,
        min(r.lambda_min) AS lambda_min, max(r.lambda_max) AS lambda_max, total(r.lambda_sum) AS lambda_sum, sum(r.lambda_cnt) AS lambda_cnt
    FROM series_rollup AS r JOIN (SELECT id AS gid, (SELECT max(block) FROM blocks WHERE group_id = groups.id) AS last FROM groups) AS gm ON gm.gid = r.group_id
    WHERE r.level = 8192 AND r.chunk / 2 < gm.last / 16384
    GROUP BY r.group_id, r.chunk / 2) AS a
JOIN series_rollup AS f ON f.group_id = a.group_id AND f.level = 8192 AND f.chunk = a.c0
JOIN series_rollup AS l ON l.group_id = a.group_id AND l.level = 8192 AND l.chunk = a.c1;

-- Level 32768 from level 16384.
INSERT INTO series_rollup (group_id, level, chunk, block_first, n_blocks, step_first, step_last,
    step_first_min, step_first_max, step_first_sum, step_first_cnt,
    n_min, n_max, n_sum, n_cnt,
    n_used_min, n_used_max, n_used_sum, n_used_cnt,
    median_min, median_max, median_sum, median_cnt,
    mean_min, mean_max, mean_sum, mean_cnt,
    variance_min, variance_max, variance_sum, variance_cnt,
    kurtosis_min, kurtosis_max, kurtosis_sum, kurtosis_cnt,
    alpha_min, alpha_max, alpha_sum, alpha_cnt,
    alpha_se_min, alpha_se_max, alpha_se_sum, alpha_se_cnt,
    alpha_lo_min, alpha_lo_max, alpha_lo_sum, alpha_lo_cnt,
    alpha_hi_min, alpha_hi_max, alpha_hi_sum, alpha_hi_cnt,
    k_min, k_max, k_sum, k_cnt,
    alpha_stable_min, alpha_stable_max, alpha_stable_sum, alpha_stable_cnt,
    lambda_min, lambda_max, lambda_sum, lambda_cnt)
SELECT a.group_id, 32768, a.chunk, a.block_first, a.n_blocks, f.step_first, l.step_last,
    a.step_first_min, a.step_first_max, a.step_first_sum, a.step_first_cnt,
    a.n_min, a.n_max, a.n_sum, a.n_cnt,
    a.n_used_min, a.n_used_max, a.n_used_sum, a.n_used_cnt,
    a.median_min, a.median_max, a.median_sum, a.median_cnt,
    a.mean_min, a.mean_max, a.mean_sum, a.mean_cnt,
    a.variance_min, a.variance_max, a.variance_sum, a.variance_cnt,
    a.kurtosis_min, a.kurtosis_max, a.kurtosis_sum, a.kurtosis_cnt,
    a.alpha_min, a.alpha_max, a.alpha_sum, a.alpha_cnt,
    a.alpha_se_min, a.alpha_se_max, a.alpha_se_sum, a.alpha_se_cnt,
    a.alpha_lo_min, a.alpha_lo_max, a.alpha_lo_sum, a.alpha_lo_cnt,
    a.alpha_hi_min, a.alpha_hi_max, a.alpha_hi_sum, a.alpha_hi_cnt,
    a.k_min, a.k_max, a.k_sum, a.k_cnt,
    a.alpha_stable_min, a.alpha_stable_max, a.alpha_stable_sum, a.alpha_stable_cnt,
    a.lambda_min, a.lambda_max, a.lambda_sum, a.lambda_cnt
FROM (SELECT r.group_id, r.chunk / 2 AS chunk, min(r.chunk) AS c0, max(r.chunk) AS c1,
        min(r.block_first) AS block_first, sum(r.n_blocks) AS n_blocks,
        min(r.step_first_min) AS step_first_min, max(r.step_first_max) AS step_first_max, total(r.step_first_sum) AS step_first_sum, sum(r.step_first_cnt) AS step_first_cnt,
        min(r.n_min) AS n_min, max(r.n_max) AS n_max, total(r.n_sum) AS n_sum, sum(r.n_cnt) AS n_cnt,
        min(r.n_used_min) AS n_used_min, max(r.n_used_max) AS n_used_max, total(r.n_used_sum) AS n_used_sum, sum(r.n_used_cnt) AS n_used_cnt,
        min(r.median_min) AS median_min, max(r.median_max) AS median_max, total(r.median_sum) AS median_sum, sum(r.median_cnt) AS median_cnt,
        min(r.mean_min) AS mean_min, max(r.mean_max) AS mean_max, total(r.mean_sum) AS mean_sum, sum(r.mean_cnt) AS mean_cnt,
        min(r.variance_min) AS variance_min, max(r.variance_max) AS variance_max, total(r.variance_sum) AS variance_sum, sum(r.variance_cnt) AS variance_cnt,
        min(r.kurtosis_min) AS kurtosis_min, max(r.kurtosis_max) AS kurtosis_max, total(r.kurtosis_sum) AS kurtosis_sum, sum(r.kurtosis_cnt) AS kurtosis_cnt,
        min(r.alpha_min) AS alpha_min, max(r.alpha_max) AS alpha_max, total(r.alpha_sum) AS alpha_sum, sum(r.alpha_cnt) AS alpha_cnt,
        min(r.alpha_se_min) AS alpha_se_min, max(r.alpha_se_max) AS alpha_se_max, total(r.alpha_se_sum) AS alpha_se_sum, sum(r.alpha_se_cnt) AS alpha_se_cnt,
        min(r.alpha_lo_min) AS alpha_lo_min, max(r.alpha_lo_max) AS alpha_lo_max, total(r.alpha_lo_sum) AS alpha_lo_sum, sum(r.alpha_lo_cnt) AS alpha_lo_cnt,
        min(r.alpha_hi_min) AS alpha_hi_min, max(r.alpha_hi_max) AS alpha_hi_max, total(r.alpha_hi_sum) AS alpha_hi_sum, sum(r.alpha_hi_cnt) AS alpha_hi_cnt,
        min(r.k_min) AS k_min, max(r.k_max) AS k_max, total(r.k_sum) AS k_sum, sum(r.k_cnt) AS k_cnt,
        min(r.alpha_stable_min) AS alpha_stable_min, max(r.alpha_stable_max) AS alpha_stable_max, total(r.alpha_stable_sum) AS alpha_stable_sum, sum(r.alpha_stable_cnt) AS alpha_stable_cnt,
        min(r.lambda_min) AS lambda_min, max(r.lambda_max) AS lambda_max, total(r.lambda_sum) AS lambda_sum, sum(r.lambda_cnt) AS lambda_cnt
    FROM series_rollup AS r JOIN (SELECT id AS gid, (SELECT max(block) FROM blocks WHERE group_id = groups.id) AS last FROM groups) AS gm ON gm.gid = r.group_id
    WHERE r.level = 16384 AND r.chunk / 2 < gm.last / 32768
    GROUP BY r.group_id, r.chunk / 2) AS a
JOIN series_rollup AS f ON f.group_id = a.group_id AND f.level = 16384 AND f.chunk = a.c0
JOIN series_rollup AS l ON l.group_id = a.group_id AND l.level = 16384 AND l.chunk = a.c1;

-- Level 65536 from level 32768.
INSERT INTO series_rollup (group_id, level, chunk, block_first, n_blocks, step_first, step_last,
    step_first_min, step_first_max, step_first_sum, step_first_cnt,
    n_min, n_max, n_sum, n_cnt,
    n_used_min, n_used_max, n_used_sum, n_used_cnt,
    median_min, median_max, median_sum, median_cnt,
    mean_min, mean_max, mean_sum, mean_cnt,
    variance_min, variance_max, variance_sum, variance_cnt,
    kurtosis_min, kurtosis_max, kurtosis_sum, kurtosis_cnt,
    alpha_min, alpha_max, alpha_sum, alpha_cnt,
    alpha_se_min, alpha_se_max, alpha_se_sum, alpha_se_cnt,
    alpha_lo_min, alpha_lo_max, alpha_lo_sum, alpha_lo_cnt,
    alpha_hi_min, alpha_hi_max, alpha_hi_sum, alpha_hi_cnt,
    k_min, k_max, k_sum, k_cnt,
    alpha_stable_min, alpha_stable_max, alpha_stable_sum, alpha_stable_cnt,
    lambda_min, lambda_max, lambda_sum, lambda_cnt)
SELECT a.group_id, 65536, a.chunk, a.block_first, a.n_blocks, f.step_first, l.step_last,
    a.step_first_min, a.step_first_max, a.step_first_sum, a.step_first_cnt,
    a.n_min, a.n_max, a.n_sum, a.n_cnt,
    a.n_used_min, a.n_used_max, a.n_used_sum, a.n_used_cnt,
    a.median_min, a.median_max, a.median_sum, a.median_cnt,
    a.mean_min, a.mean_max, a.mean_sum, a.mean_cnt,
    a.variance_min, a.variance_max, a.variance_sum, a.variance_cnt,
    a.kurtosis_min, a.kurtosis_max, a.kurtosis_sum, a.kurtosis_cnt,
    a.alpha_min, a.alpha_max, a.alpha_sum, a.alpha_cnt,
    a.alpha_se_min, a.alpha_se_max, a.alpha_se_sum, a.alpha_se_cnt,
    a.alpha_lo_min, a.alpha_lo_max, a.alpha_lo_sum, a.alpha_lo_cnt,
    a.alpha_hi_min, a.alpha_hi_max, a.alpha_hi_sum, a.alpha_hi_cnt,
    a.k_min, a.k_max, a.k_sum, a.k_cnt,
    a.alpha_stable_min, a.alpha_stable_max, a.alpha_stable_sum, a.alpha_stable_cnt,
    a.lambda_min, a.lambda_max, a.lambda_sum, a.lambda_cnt
FROM (SELECT r.group_id, r.chunk / 2 AS chunk, min(r.chunk) AS c0, max(r.chunk) AS c1,
        min(r.block_first) AS block_first, sum(r.n_blocks) AS n_blocks,
        min(r.step_first_min) AS step_first_min, max(r.step_first_max) AS step_first_max, total(r.step_first_sum) AS step_first_sum, sum(r.step_first_cnt) AS step_first_cnt,
        min(r.n_min) AS n_min, max(r.n_max) AS n_max, total(r.n_sum) AS n_sum, sum(r.n_cnt) AS n_cnt,
        min(r.n_used_min) AS n_used_min, max(r.n_used_max) AS n_used_max, total(r.n_used_sum) AS n_used_sum, sum(r.n_used_cnt) AS n_used_cnt,
        min(r.median_min) AS median_min, max(r.median_max) AS median_max, total(r.median_sum) AS median_sum, sum(r.median_cnt) AS median_cnt,
        min(r.mean_min) AS mean_min, max(r.mean_max) AS mean_max, total(r.mean_sum) AS mean_sum, sum(r.mean_cnt) AS mean_cnt,
        min(r.variance_min) AS variance_min, max(r.variance_max) AS variance_max, total(r.variance_sum) AS variance_sum, sum(r.variance_cnt) AS variance_cnt,
        min(r.kurtosis_min) AS kurtosis_min, max(r.kurtosis_max) AS kurtosis_max, total(r.kurtosis_sum) AS kurtosis_sum, sum(r.kurtosis_cnt) AS kurtosis_cnt,
        min(r.alpha_min) AS alpha_min, max(r.alpha_max) AS alpha_max, total(r.alpha_sum) AS alpha_sum, sum(r.alpha_cnt) AS alpha_cnt,
        min(r.alpha_se_min) AS alpha_se_min, max(r.alpha_se_max) AS alpha_se_max, total(r.alpha_se_sum) AS alpha_se_sum, sum(r.alpha_se_cnt) AS alpha_se_cnt,
        min(r.alpha_lo_min) AS alpha_lo_min, max(r.alpha_lo_max) AS alpha_lo_max, total(r.alpha_lo_sum) AS alpha_lo_sum, sum(r.alpha_lo_cnt) AS alpha_lo_cnt,
        min(r.alpha_hi_min) AS alpha_hi_min, max(r.alpha_hi_max) AS alpha_hi_max, total(r.alpha_hi_sum) AS alpha_hi_sum, sum(r.alpha_hi_cnt) AS alpha_hi_cnt,
        min(r.k_min) AS k_min, max(r.k_max) AS k_max, total(r.k_sum) AS k_sum, sum(r.k_cnt) AS k_cnt,
        min(r.alpha_stable_min) AS alpha_stable_min, max(r.alpha_stable_max) AS alpha_stable_max, total(r.alpha_stable_sum) AS alpha_stable_sum, sum(r.alpha_stable_cnt) AS alpha_stable_cnt,
        min(r.lambda_min) AS lambda_min, max(r.lambda_max) AS lambda_max, total(r.lambda_sum) AS lambda_sum, sum(r.lambda_cnt) AS lambda_cnt
    FROM series_rollup AS r JOIN (SELECT id AS gid, (SELECT max(block) FROM blocks WHERE group_id = groups.id) AS last FROM groups) AS gm ON gm.gid = r.group_id
    WHERE r.level = 32768 AND r.chunk / 2 < gm.last / 65536
    GROUP BY r.group_id, r.chunk / 2) AS a
JOIN series_rollup AS f ON f.group_id = a.group_id AND f.level = 32768 AND f.chunk = a.c0
JOIN series_rollup AS l ON l.group_id = a.group_id AND l.level = 32768 AND l.chunk = a.c1;
