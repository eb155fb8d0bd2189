-- 002_rollup.sql: min/max summaries of each group's series, for charts.
-- One row per group and bucket of 64 consecutive blocks (bucket = block / 64)
-- with the bucket's step range and the minimum and maximum of every charted
-- field. A series downsampled to max_points (issue 4) over 1,000,000 blocks
-- reads 15,625 of these rows instead of 1e6 block rows, and keeps every
-- extreme: the min/max of a set of buckets is the min/max of their blocks.
-- Partial buckets at the edges of a requested step range are read from
-- `blocks`. Maintained by htgad's writer in the same transaction as the
-- block rows; NULL fields (no estimate) are ignored by the min/max.

CREATE TABLE block_rollup (
    group_id    INTEGER NOT NULL REFERENCES groups(id),
    bucket      INTEGER NOT NULL,   -- block / 64
    n_blocks    INTEGER NOT NULL,
    block_first INTEGER NOT NULL,
    block_last  INTEGER NOT NULL,
    step_first  INTEGER NOT NULL,
    step_last   INTEGER NOT NULL,
    median_min REAL,
    median_max REAL,
    mean_min REAL,
    mean_max REAL,
    variance_min REAL,
    variance_max REAL,
    kurtosis_min REAL,
    kurtosis_max REAL,
    alpha_min REAL,
    alpha_max REAL,
    alpha_lo_min REAL,
    alpha_lo_max REAL,
    alpha_hi_min REAL,
    alpha_hi_max REAL,
    alpha_stable_min REAL,
    alpha_stable_max REAL,
    lambda_min REAL,
    lambda_max REAL,
    PRIMARY KEY (group_id, bucket)
) WITHOUT ROWID;

INSERT INTO block_rollup
SELECT group_id, block / 64, count(*), min(block), max(block), min(step_first), max(step_last),
       min(median), max(median),
       min(mean), max(mean),
       min(variance), max(variance),
       min(kurtosis), max(kurtosis),
       min(alpha), max(alpha),
       min(alpha_lo), max(alpha_lo),
       min(alpha_hi), max(alpha_hi),
       min(alpha_stable), max(alpha_stable),
       min(lambda), max(lambda)
FROM blocks GROUP BY group_id, block / 64;
