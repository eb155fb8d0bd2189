-- 005_alpha_deff.sql: the design effect behind a block's alpha_se,
-- alpha_lo and alpha_hi. A block whose values came in runs of correlated
-- neighbours (client run sampling, the wire's cluster field) has its
-- interval widened by a cluster-robust variance: alpha_se = alpha /
-- sqrt(k / alpha_deff), the interval taken at k / alpha_deff
-- (docs/estimators.md, "Runs"). 1 for a block without runs (or whose runs
-- measured no more spread than independent values); NULL without a Hill
-- estimate, and for blocks stored before this migration. Appended as the
-- view's last column: the issue's columns keep their positions for readers
-- that index them (pandas iloc, SELECT * by position).

ALTER TABLE blocks ADD COLUMN alpha_deff REAL;

DROP VIEW estimates;
CREATE VIEW estimates AS
SELECT r.name AS run, g.name AS group_name, b.block, b.step_first, b.step_last, b.n,
       b.n_used, b.median, b.mean, b.variance, b.kurtosis, b.alpha, b.alpha_se,
       b.alpha_lo, b.alpha_hi, b.k, b.alpha_stable, b.lambda, b.created_at, b.alpha_deff
FROM blocks AS b
JOIN groups AS g ON g.id = b.group_id
JOIN runs AS r ON r.id = g.run_id;
