-- 006_lambda_rederived.sql: the lambda a policy change pushed.
-- A policy change re-derives each group's lambda from its latest block and
-- pushes it to the trainers at once. That lambda is kept here (the latest
-- one per group), so /latest and /metrics report what the trainers were
-- sent: it stands for the group's lambda while it is newer than the
-- group's latest block, whose own lambda (under the new policy) wins after.
CREATE TABLE lambda_rederived (
    group_id      INTEGER PRIMARY KEY REFERENCES groups(id),
    block         INTEGER NOT NULL,  -- the block it was re-derived from
    lambda        REAL NOT NULL,
    lambda_raw    REAL,
    lambda_reason INTEGER NOT NULL REFERENCES lambda_reasons(code),
    policy_id     INTEGER REFERENCES policy_changes(id),
    created_at    REAL NOT NULL
);
