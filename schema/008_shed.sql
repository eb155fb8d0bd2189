-- 008_shed.sql: what was shed, and where, so a gap in a series is visible
-- rather than only a jump in steps. One row per shed event: `count`
-- things of `unit` lost in run `run_id` between steps `step_first` and
-- `step_last`, for one group or (group_id NULL) the whole run.
--   reason        unit      group  where
--   client_queue  messages  NULL   a client's own bounded queue shed them;
--                                  it reports a count per connection, not
--                                  which groups (one row per run a second,
--                                  the steps of its messages around them)
--   connection    messages  NULL   a client sent them on a connection that
--                                  went before they arrived (its seq went
--                                  on by more than its drops)
--   refused       values    NULL   htgad refused them: a new group over a
--                                  stream limit, no memory (a row per run a
--                                  second)
--   estimator     blocks    group  a block the estimator could not estimate
--   writer        blocks    group  a block row SQLite refused for good
-- Rows are small and rare (at most about one a second per run and reason
-- while shedding lasts); retention leaves them.

CREATE TABLE shed (
    id         INTEGER PRIMARY KEY,
    run_id     INTEGER NOT NULL REFERENCES runs(id),
    group_id   INTEGER REFERENCES groups(id),  -- NULL: the whole run
    step_first INTEGER NOT NULL,
    step_last  INTEGER NOT NULL,
    count      INTEGER NOT NULL CHECK (count > 0),
    unit       TEXT NOT NULL CHECK (unit IN ('messages', 'blocks', 'values')),
    reason     TEXT NOT NULL,
    created_at REAL NOT NULL
);
-- Range lookups: the events of a run that end at or after a step.
CREATE INDEX shed_run_step ON shed (run_id, step_last);

-- The shed events by name: group_name NULL for a run-wide one.
CREATE VIEW gaps AS
SELECT r.name AS run, g.name AS group_name, s.step_first, s.step_last, s.count, s.unit,
       s.reason, s.created_at
FROM shed AS s
JOIN runs AS r ON r.id = s.run_id
LEFT JOIN groups AS g ON g.id = s.group_id;

-- estimates gains shed_events (last, so every column before it keeps its
-- position): how many shed events of the block's group, or of its whole
-- run, overlap the block's steps (0: none; `gaps` says what they were).
-- A query that does not name the column does not compute it.
DROP VIEW estimates;
CREATE VIEW estimates AS
SELECT r.name AS run, g.name AS group_name, b.block, b.step_first, b.step_last, b.n,
       b.n_used, b.median, b.mean, b.variance, b.kurtosis, b.alpha, b.alpha_se,
       b.alpha_lo, b.alpha_hi, b.k, b.alpha_stable, b.lambda, b.created_at, b.alpha_deff,
       CASE WHEN b.alpha_stable IS NULL THEN NULL ELSE b.stable_centre END AS stable_centre,
       (SELECT count(*) FROM shed AS s
         WHERE s.run_id = g.run_id AND (s.group_id IS NULL OR s.group_id = b.group_id)
           AND s.step_last >= b.step_first AND s.step_first <= b.step_last) AS shed_events
FROM blocks AS b
JOIN groups AS g ON g.id = b.group_id
JOIN runs AS r ON r.id = g.run_id;
