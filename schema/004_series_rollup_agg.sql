-- 004_series_rollup_agg.sql: every series_rollup row also holds its
-- columns packed into one BLOB, `agg`, right after the key and the step
-- columns, so the HTTP series query reads 1 column a row instead of 4 per
-- field plus 4 (issue 4: p99 under full-rate ingest; the column reads of a
-- ~1000-row answer were half its CPU, most of it SQLite parsing a
-- 63-column record header to reach the late fields).
--
-- agg, all little-endian: block_first, n_blocks, step_first, step_last as
-- signed 64-bit integers, then ROLLUP_NFIELDS (14) fields in the order of
-- daemon/rollup.h, each F_min, F_max, F_sum as IEEE-754 doubles and F_cnt
-- as a signed 64-bit integer: 480 bytes. F_min and F_max are 0 where F_cnt
-- is 0 (the columns hold NULL). The columns stay: they are what sqlite3,
-- pandas or another process read, and agg always equals them.
--
-- SQL cannot pack doubles, so rows written by SQL (this migration's copy,
-- 003's statements run by hand or by a benchmark) have agg NULL: htgad packs
-- them when it opens the database (store_open, through the partial index
-- below, empty once done), its writer packs every row it writes, and the
-- HTTP query reads the columns of any row it still finds unpacked.
--
-- The table is rebuilt, not altered: ADD COLUMN would put agg after the 63
-- columns, behind the header parse this is meant to save.

CREATE TABLE series_rollup_new (
    group_id    INTEGER NOT NULL REFERENCES groups(id),
    level       INTEGER NOT NULL,  -- blocks per chunk
    chunk       INTEGER NOT NULL,  -- block / level
    block_first INTEGER NOT NULL,  -- first block stored in the chunk
    n_blocks    INTEGER NOT NULL,  -- blocks stored in the chunk
    step_first  INTEGER NOT NULL,  -- step_first of the first block
    step_last   INTEGER NOT NULL,  -- step_last of the last block
    agg         BLOB,              -- the aggregates below, packed (daemon/rollup.h); NULL = not yet
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

INSERT INTO series_rollup_new (group_id, level, chunk, block_first, n_blocks, step_first, step_last,
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
SELECT group_id, level, chunk, block_first, n_blocks, step_first, step_last,
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
    lambda_min, lambda_max, lambda_sum, lambda_cnt
FROM series_rollup;

DROP TABLE series_rollup;
ALTER TABLE series_rollup_new RENAME TO series_rollup;

-- The rows htgad has yet to pack (empty in steady state).
CREATE INDEX series_rollup_unpacked ON series_rollup (group_id, level, chunk) WHERE agg IS NULL;
