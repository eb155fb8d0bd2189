// view.js: pure helpers of the dashboard (no DOM, no fetch), so that
// tests/web/view.test.mjs can check them in node.

// The runs list: the runs the database has, plus the runs htgad is taking
// samples for that have no closed block yet (GET /api/v1/stats "flow" names
// every run it holds), marked pending, so a run shows up as soon as it sends.
export function withPendingRuns(runs, stats, now) {
  const have = new Set(runs.map((r) => r.run));
  const pending = Object.keys((stats && stats.flow) || {}).filter((r) => !have.has(r))
    .map((run) => ({ run, groups: 0, blocks: 0, first_step: null, last_step: null,
      first_time: null, last_time: now, pending: true }));
  return pending.length ? runs.concat(pending) : runs;
}

// The y-range of a Hill plot that shows the chosen k's neighbourhood: alpha
// over k in [chosen / 4, 4 * chosen] (all k when none was chosen, from k = 2
// on), padded by a tenth of its span. alpha(k) at the smallest k rests on a
// few extreme values and swings far away (47 or 110 at k = 1), which would
// squash the part that matters to a flat line. Returns {range, kFrom, kTo,
// off} (off: points outside the range), or null when there is nothing to
// scale.
export function hillYRange(ks, alphas, chosen) {
  const kMax = ks.length ? ks[ks.length - 1] : 0;
  const kFrom = chosen ? Math.max(2, Math.floor(chosen / 4)) : 2;
  const kTo = chosen ? Math.min(kMax, 4 * chosen) : kMax;
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < ks.length; i++) {
    const a = alphas[i];
    if (ks[i] < kFrom || ks[i] > kTo || a === null || !Number.isFinite(a)) continue;
    if (a < lo) lo = a;
    if (a > hi) hi = a;
  }
  if (!(hi >= lo)) return null;
  const pad = Math.max((hi - lo) / 10, Math.abs(hi + lo) / 40, 1e-6);
  const range = [lo - pad, hi + pad];
  const off = alphas.filter((a) => a !== null && Number.isFinite(a) && (a < range[0] || a > range[1])).length;
  return { range, kFrom, kTo, off };
}

// The latest block's alpha of a group, from GET /runs/{run}/latest rows:
// {alpha, block} or null.
export function latestOf(rows, group) {
  const r = (rows || []).find((x) => x.group_name === group);
  return r ? { alpha: r.alpha, block: r.block, step: r.step_last } : null;
}
