// view.test.mjs: the dashboard's pure helpers (web/js/view.js) in node.
import assert from 'node:assert/strict';
import { withPendingRuns, hillYRange, latestOf } from '../../web/js/view.js';

// a run htgad holds (stats.flow) without a block in the database is listed, pending
const runs = [{ run: 'a', groups: 2, blocks: 10, last_time: 5 }];
const merged = withPendingRuns(runs, { flow: { a: { ranks: 1 }, b: { ranks: 2 } } }, 99);
assert.deepEqual(merged.map((r) => [r.run, !!r.pending]), [['a', false], ['b', true]]);
assert.equal(merged[1].last_time, 99);
assert.equal(merged[1].blocks, 0);
assert.equal(withPendingRuns(runs, {}, 1), runs, 'no flow: the list as it was');
assert.equal(withPendingRuns(runs, { flow: { a: {} } }, 1).length, 1, 'a stored run is not listed twice');

// Hill plot: k = 1 at 110 and k = 2..3 at 40 stay off the range around the chosen k = 64
const ks = Array.from({ length: 400 }, (_, i) => i + 1);
const alphas = ks.map((k) => (k === 1 ? 110 : k < 4 ? 40 : 2 + Math.sin(k / 30) * 0.3));
const h = hillYRange(ks, alphas, 64);
assert.equal(h.kFrom, 16);
assert.equal(h.kTo, 256);
assert.ok(h.range[0] > 1.5 && h.range[1] < 2.5, `range ${h.range}`);
assert.ok(h.range[0] <= Math.min(...alphas.slice(15, 256)) && h.range[1] >= Math.max(...alphas.slice(15, 256)));
assert.equal(h.off, alphas.filter((a) => a < h.range[0] || a > h.range[1]).length);
assert.ok(h.off >= 3, 'the k = 1..3 outliers are off the chart');
assert.equal(hillYRange([], [], null), null);
const flat = hillYRange([1, 2, 3, 4], [5, 3, 3, 3], null);
assert.ok(flat.range[0] < 3 && flat.range[1] > 3, `a flat line gets a visible range: ${flat.range}`);

// the tile's alpha is the latest block's, not a bucket mean
const rows = [{ group_name: 'g', alpha: 1.25, block: 7, step_last: 70 }];
assert.deepEqual(latestOf(rows, 'g'), { alpha: 1.25, block: 7, step: 70 });
assert.equal(latestOf(rows, 'x'), null);
console.log('view helpers: ok');
