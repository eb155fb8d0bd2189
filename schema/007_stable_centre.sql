-- 007_stable_centre.sql: which centre the stable estimator subtracted
-- (alpha_stable). Since issue 17 htgad centres on the block's median
-- ('median', the centre Hill uses); before, it centred on the sample mean
-- ('mean'), which does not exist for alpha <= 1 and pulled every estimate
-- below 1 towards 1 (0.98 for a true 0.8; docs/estimators.md). Rows of the
-- two conventions are not comparable for alpha below about 1.5. The
-- column's default is what every row stored before this migration used,
-- so adding it rewrites nothing; htgad writes 'median' with every row that
-- has an alpha_stable. The view shows NULL for a row without one.
-- Appended as the view's last column, as 005 did.

ALTER TABLE blocks ADD COLUMN stable_centre TEXT DEFAULT 'mean';

DROP VIEW estimates;
CREATE VIEW estimates AS
SELECT r.name AS run, g.name AS group_name, b.block, b.step_first, b.step_last, b.n,
       b.n_used, b.median, b.mean, b.variance, b.kurtosis, b.alpha, b.alpha_se,
       b.alpha_lo, b.alpha_hi, b.k, b.alpha_stable, b.lambda, b.created_at, b.alpha_deff,
       CASE WHEN b.alpha_stable IS NULL THEN NULL ELSE b.stable_centre END AS stable_centre
FROM blocks AS b
JOIN groups AS g ON g.id = b.group_id
JOIN runs AS r ON r.id = g.run_id;
