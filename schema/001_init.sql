-- 001_init.sql: runs, groups, one row per estimated block, the latest
-- block's top order statistics (Hill plot), lambda policy changes, and the
-- stable `estimates` view. Times are Unix seconds (REAL, UTC, ms precision).
-- Applied by htgad inside one transaction; PRAGMA user_version becomes 1.

CREATE TABLE runs (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL
);

CREATE TABLE groups (
    id         INTEGER PRIMARY KEY,
    run_id     INTEGER NOT NULL REFERENCES runs(id),
    name       TEXT NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (run_id, name)
);

-- Clustered by (group, block): a group's series is one contiguous range of
-- the table's b-tree, so a series query reads only that group's pages.
CREATE TABLE blocks (
    group_id      INTEGER NOT NULL REFERENCES groups(id),
    block         INTEGER NOT NULL,  -- 0, 1, 2, ... per group, kept across restarts
    step_first    INTEGER NOT NULL,
    step_last     INTEGER NOT NULL,
    n             INTEGER NOT NULL,  -- values in the block
    n_used        INTEGER NOT NULL,  -- finite values
    n_nonfinite   INTEGER NOT NULL,
    n_zero        INTEGER NOT NULL,  -- finite values equal to the median
    median        REAL,
    mean          REAL,
    variance      REAL,
    kurtosis      REAL,              -- excess kurtosis
    alpha         REAL,              -- Hill tail index (NULL: no estimate)
    alpha_se      REAL,
    alpha_lo      REAL,              -- 95% interval
    alpha_hi      REAL,
    k             INTEGER,
    alpha_stable  REAL,              -- Mohammadi et al. block estimator
    lambda        REAL NOT NULL,     -- the scale pushed to the trainers
    lambda_raw    REAL,              -- before EMA and clamp (NULL on fallback)
    lambda_reason INTEGER NOT NULL REFERENCES lambda_reasons(code),
    policy_id     INTEGER REFERENCES policy_changes(id),
    created_at    REAL NOT NULL,
    PRIMARY KEY (group_id, block)
) WITHOUT ROWID;

CREATE INDEX blocks_group_step ON blocks (group_id, step_last);

-- The reason codes of blocks.lambda_reason (0 = the estimate was used).
CREATE TABLE lambda_reasons (
    code INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    text TEXT NOT NULL
);
INSERT INTO lambda_reasons (code, name, text) VALUES
    (0, 'ok', 'the estimate was used'),
    (1, 'few_samples', 'fewer than 256 finite values in the block'),
    (2, 'few_nonzero', 'fewer than 128 values differ from the median'),
    (3, 'no_hill', 'no Hill estimate, or alpha not finite and positive'),
    (4, 'ci_wide', 'the 95% interval of alpha is wider than alpha itself'),
    (5, 'bad_lambda', 'the policy gave a lambda that is not finite and positive');

-- The largest |x - median| values of each group's latest block, descending,
-- as little-endian float64 (8*m bytes): est_hill_plot() turns them into the
-- Hill plot alpha_k, k = 1..m-1.
CREATE TABLE latest_top (
    group_id   INTEGER PRIMARY KEY REFERENCES groups(id),
    block      INTEGER NOT NULL,
    n_pos      INTEGER NOT NULL,   -- positive values in the block
    m          INTEGER NOT NULL,   -- values stored
    y          BLOB NOT NULL,
    created_at REAL NOT NULL
);

-- Every lambda policy a run has had; the latest row is the current one.
-- source: 'default' (from the daemon's flags when the run appeared),
-- 'flags' (flags changed across a restart), 'http' (set over the REST API).
CREATE TABLE policy_changes (
    id         INTEGER PRIMARY KEY,
    run_id     INTEGER NOT NULL REFERENCES runs(id),
    kind       TEXT NOT NULL CHECK (kind IN ('linear', 'power')),
    param      REAL NOT NULL,      -- c (linear) or q (power)
    lambda_min REAL NOT NULL,
    lambda_max REAL NOT NULL,
    ema        REAL NOT NULL,
    source     TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX policy_changes_run ON policy_changes (run_id, id);

CREATE VIEW estimates AS
SELECT r.name AS run, g.name AS group_name, b.block, b.step_first, b.step_last, b.n,
       b.n_used, b.median, b.mean, b.variance, b.kurtosis, b.alpha, b.alpha_se,
       b.alpha_lo, b.alpha_hi, b.k, b.alpha_stable, b.lambda, b.created_at
FROM blocks AS b
JOIN groups AS g ON g.id = b.group_id
JOIN runs AS r ON r.id = g.run_id;
