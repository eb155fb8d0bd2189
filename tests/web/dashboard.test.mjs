// dashboard.test.mjs: the dashboard in real headless Chromium against the
// real htgad fed by the real libhtga (htga_web_feeder). Checks: the runs
// appear (a live one marked), the charts hold as many points as the API
// has blocks, the grid and heat map cover every group, the Hill plot renders
// with the daemon's k marked, the live chart grows while data arrives,
// overlaid runs share one chart, ingest health shows, gaps (table shed) are
// listed and shaded with a tooltip, and a policy change
// through the form (with the token) reaches the trainer's htga_lambda.
// With SCREENSHOT=path it also saves a screenshot of the page.
//
// Run by `meson test -C build web-dashboard` (env HTGAD, FEEDER, WEB_DIR).

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { env, Harness, need, waitFor, sleep, TestFailure } from './lib.mjs';

const TOKEN = 'web-test-token';
const G0 = 'layer.0.weight';
const t0 = Date.now();
const log = (m) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${m}`);

async function main() {
  const e = env();
  const h = new Harness(e);
  const guard = setTimeout(() => { console.error('FAIL: test over 170 s'); process.exit(1); }, 170000);
  try {
    await h.startDaemon(['--block-samples', '4096', '--token', TOKEN]);
    log(`htgad on ${h.endpoint}, ${h.base}`);

    // Two finished runs: 400 steps x 1024 samples = 100 blocks per group.
    // One after the other, paced, so the estimator queue never overflows on
    // a loaded machine. libhtga never blocks the trainer: a message meeting
    // a full pipe is dropped and counted, so a few blocks may be missing;
    // the charts must match what the daemon stored.
    let drops = 0;
    const onEnd = (l) => { drops += l.client_drops; };
    const lastLine = () => { let last = null; return [(l) => { last = l; }, () => last]; };
    for (const [run, steps, seed] of [['sgd-baseline', 400, 1], ['htga-amplified', 300, 2]]) {
      const [on, get] = lastLine();
      need(await h.feed(['--run', run, '--groups', '3', '--steps', String(steps), '--rate', '250', '--seed', String(seed)], on).done === 0, 'feeder failed');
      onEnd(get());
    }
    let prev = '';
    const stored = await waitFor('stored block counts to settle', async () => {
      const r = await h.get('/api/v1/runs/sgd-baseline');
      const now = JSON.stringify(r.groups.map((g) => g.blocks));
      const done = now === prev && r.groups.length === 3 && r.groups.every((g) => g.blocks >= 50);
      prev = now;
      return done && now;
    }, 20000, 500);
    log(`sgd-baseline blocks per group ${stored} of 100 (client drops in both runs: ${drops})`);
    log('two finished runs stored');

    // Two shed events as htgad's writer stores them (rows of table shed;
    // tests/http checks that a client's drops become such rows), put in
    // with the sqlite3 tool: one of the whole run, one of G0 alone.
    const ins = spawnSync('sqlite3', ['-cmd', '.timeout 10000', path.join(h.tmp, 'htga.db'),
      `INSERT INTO shed (run_id, group_id, step_first, step_last, count, unit, reason, created_at)
         SELECT r.id, NULL, 100, 140, 12, 'messages', 'client_queue', 0 FROM runs r WHERE r.name = 'sgd-baseline';
       INSERT INTO shed (run_id, group_id, step_first, step_last, count, unit, reason, created_at)
         SELECT r.id, g.id, 200, 203, 1, 'blocks', 'estimator', 0 FROM runs r JOIN groups g ON g.run_id = r.id
         WHERE r.name = 'sgd-baseline' AND g.name = '${G0}';`], { encoding: 'utf8' });
    need(ins.status === 0, `sqlite3 (scripts/deps.sh test installs it): ${ins.error || ins.stderr}`);

    // A live run, 40 steps/s: one block per group every 4 steps (~10/s).
    const lambdas = [];
    const live = h.feed(['--run', 'live-run', '--groups', '6', '--steps', '0', '--rate', '40',
      '--report-ms', '100', '--seed', '3'], (l) => lambdas.push({ t: Date.now(), ...l }));
    await waitFor('live-run has blocks', async () => (await h.get('/api/v1/runs')).runs.some((r) => r.run === 'live-run'));

    const page = await h.browse();
    await page.goto(`${h.base}/#run=sgd-baseline&group=${encodeURIComponent(G0)}&compare=sgd-baseline,htga-amplified`);
    await page.waitForFunction(() => window.htgaDash && window.htgaDash.ready && window.htgaDash.charts.alpha.plot,
      null, { timeout: 20000 });
    log('page loaded');

    // Runs list: all three, the live one marked live, search filters.
    const names = await page.$$eval('#run-list li', (lis) => lis.map((l) => l.dataset.run));
    need(['sgd-baseline', 'htga-amplified', 'live-run'].every((r) => names.includes(r)), `runs listed: ${names}`);
    await page.waitForSelector('#run-list li[data-run="live-run"] .badge.live', { timeout: 10000 });
    await page.fill('#run-search', 'amplif');
    const filtered = await page.$$eval('#run-list li', (lis) => lis.map((l) => l.dataset.run));
    need(filtered.length === 1 && filtered[0] === 'htga-amplified', `search: ${filtered}`);
    await page.fill('#run-search', '');

    // Points: every block of the group, in each detail chart.
    const api = await h.get(`/api/v1/runs/sgd-baseline/groups/${encodeURIComponent(G0)}/series?fields=alpha`);
    const pts = await page.evaluate(() => Object.fromEntries(['alpha', 'kurtosis', 'variance', 'lambda']
      .map((k) => [k, window.htgaDash.charts[k].plot.data.map((d) => d.length)])));
    for (const [k, lens] of Object.entries(pts)) {
      need(lens.every((n) => n === api.blocks) && api.blocks >= 50, `${k} chart holds ${lens} points, API has ${api.blocks} blocks`);
    }
    const firstAlpha = await page.evaluate(() => window.htgaDash.charts.alpha.plot.data[1][0]);
    need(Math.abs(firstAlpha - api.alpha[0]) < 1e-9, `alpha[0] on the chart ${firstAlpha} vs API ${api.alpha[0]}`);
    log(`detail charts hold ${api.blocks} points each`);

    // Gaps: the series lists both events of G0; the page says them in
    // words and shades both on every detail chart, a grid tile of another
    // group of the run only the run-wide one, and the chart's tooltip over
    // a shaded step says what was shed there.
    need(api.shed && api.shed.length === 2, `series shed: ${JSON.stringify(api.shed)}`);
    await page.waitForFunction(() => ['alpha', 'kurtosis', 'variance', 'lambda']
      .every((k) => window.htgaDash.charts[k].plot.gapsDrawn === 2), null, { timeout: 10000 });
    const gapsNote = await page.$eval('#gaps-note', (e) => e.textContent);
    need(/12 messages shed \(client_queue, whole run\) at steps 100–140/.test(gapsNote)
      && /1 block shed \(estimator, this group\) at steps 200–203/.test(gapsNote), `gaps listed: ${gapsNote}`);
    await page.waitForFunction(() => window.htgaDash.state.grid.get('layer.1.weight')?.chart.plot?.gapsDrawn === 1,
      null, { timeout: 10000 });
    const over = await page.evaluate(() => {
      const u = window.htgaDash.charts.alpha.plot;
      const r = u.over.getBoundingClientRect();
      return { x: r.left + u.valToPos(120, 'x'), y: r.top + r.height / 2 };
    });
    await page.mouse.move(over.x, over.y);
    await page.waitForFunction(() => /12 messages shed \(client_queue/.test(window.htgaDash.charts.alpha.plot.over.title),
      null, { timeout: 5000 });
    await page.mouse.move(0, 0);
    log('gaps listed, shaded on the detail charts and the grid, in the tooltip');

    // Server-side downsampling: with 20 buckets the charts hold the API's
    // buckets, draw the bucket extremes, and say so.
    const ds = await h.get(`/api/v1/runs/sgd-baseline/groups/${encodeURIComponent(G0)}/series?fields=alpha&max_points=20`);
    need(ds.downsampled, 'API did not downsample 100 blocks to 20 buckets');
    await page.evaluate(() => { window.htgaDash.state.maxPoints = 20; return window.htgaDash.refresh(); });
    await page.waitForFunction((n) => window.htgaDash.charts.alpha.plot.data[0].length === n, ds.points, { timeout: 10000 });
    const dsv = await page.evaluate(() => ({
      labels: window.htgaDash.charts.alpha.plot.series.map((s) => s.label),
      max: window.htgaDash.charts.alpha.plot.data[6],
      note: document.getElementById('ds-note').textContent,
    }));
    need(dsv.labels.includes('Hill bucket max') && /downsampling/.test(dsv.note), `downsampled view: ${JSON.stringify(dsv.labels)} ${dsv.note}`);
    need(Math.max(...dsv.max) === Math.max(...ds.alpha_max), `bucket max ${Math.max(...dsv.max)} vs API ${Math.max(...ds.alpha_max)}`);
    await page.evaluate(() => { window.htgaDash.state.maxPoints = Number(document.getElementById('max-points').value); return window.htgaDash.refresh(); });
    await page.waitForFunction((n) => window.htgaDash.charts.alpha.plot.data[0].length === n, api.blocks, { timeout: 10000 });
    log(`downsampled to ${ds.points} buckets of ${ds.downsampling.bucket_blocks} blocks, extremes drawn`);

    // Grid and heat map cover the three groups.
    await page.waitForFunction(() => window.htgaDash.state.grid.size === 3
      && [...window.htgaDash.state.grid.values()].every((c) => c.chart.plot), null, { timeout: 10000 });
    const heatRows = await page.evaluate(() => window.htgaDash.state.heat.cells.length);
    need(heatRows === 3, `heat map rows ${heatRows}`);

    // Hill plot: as many points as the API's k, the daemon's k marked.
    const hill = await h.get(`/api/v1/runs/sgd-baseline/groups/${encodeURIComponent(G0)}/hill`);
    const latest = (await h.get('/api/v1/runs/sgd-baseline/latest')).groups.find((g) => g.group_name === G0);
    await page.waitForFunction(() => window.htgaDash.charts.hill.plot, null, { timeout: 10000 });
    const hp = await page.evaluate(() => ({ n: window.htgaDash.charts.hill.plot.data[0].length, chosen: window.htgaDash.state.hill.chosen,
      note: document.getElementById('hill-note').textContent }));
    need(hp.n === hill.k.length && hp.chosen === latest.k, `Hill plot ${JSON.stringify(hp)} vs k ${hill.k.length}, chosen ${latest.k}`);
    log(`Hill plot: ${hp.n} points, chosen k ${hp.chosen}`);
    // its y-axis spans alpha around the chosen k (the k = 1 outliers of a
    // few extreme values off the chart), says so, and holds the chosen alpha
    const yr = await page.evaluate(() => {
      const u = window.htgaDash.charts.hill.plot;
      return { min: u.scales.y.min, max: u.scales.y.max, note: document.getElementById('hill-note').textContent };
    });
    const atChosen = hill.alpha[hill.k.indexOf(latest.k)];
    const around = hill.alpha.filter((a, i) => hill.k[i] >= Math.max(2, Math.floor(latest.k / 4)) && hill.k[i] <= 4 * latest.k);
    need(yr.min <= Math.min(...around) && yr.max >= Math.max(...around) && atChosen >= yr.min && atChosen <= yr.max,
      `Hill y-axis ${yr.min}..${yr.max} vs alpha around k ${latest.k}: ${Math.min(...around)}..${Math.max(...around)}`);
    need(yr.max < Math.max(...hill.alpha) || yr.min > Math.min(...hill.alpha) || /y-axis/.test(yr.note),
      `Hill y-axis not scaled: ${JSON.stringify(yr)}`);
    need(/y-axis: alpha over k = /.test(yr.note), `Hill note does not say how the axis is scaled: ${yr.note}`);
    // the grid tile of a group shows its latest block's alpha
    const tile = await page.$eval(`#grid .cell[data-group="${G0}"] .v`, (v) => v.textContent);
    need(Math.abs(Number(tile.replace('alpha ', '')) - latest.alpha) <= 5e-4 * Math.abs(latest.alpha),
      `grid tile '${tile}' vs latest alpha ${latest.alpha}`);
    // every detail chart's top y label lies inside its canvas (it was cut)
    const tops = await page.evaluate(() => ['alpha', 'kurtosis', 'variance', 'lambda'].map((k) => {
      const u = window.htgaDash.charts[k].plot;
      const ax = u.axes[1];
      const shown = (ax._splits || []).filter((v, i) => ax._values && ax._values[i]);
      return [k, u.valToPos(Math.max(...shown), 'y') + u.bbox.top / devicePixelRatio];
    }));
    for (const [k, y] of tops) need(y >= 6, `${k}: top y label centred ${y} px below the canvas edge`);

    // Overlay: both finished runs on one chart.
    await page.waitForFunction(() => window.htgaDash.charts.compare.plot
      && window.htgaDash.charts.compare.plot.series.length === 3, null, { timeout: 10000 });

    // Smoothing is off by default and visible when on.
    need(await page.$eval('#smooth', (s) => s.value) === '0', 'smoothing on by default');
    await page.selectOption('#smooth', '5');
    const lbl = await page.evaluate(() => window.htgaDash.charts.alpha.plot.series[1].label);
    need(/moving avg 5/.test(lbl), `smoothing label ${lbl}`);
    await page.selectOption('#smooth', '0');

    // Ingest health.
    const msgs = await page.$eval('#stat-msgs b', (b) => Number(b.textContent));
    need(msgs >= 400 * 3 + 300 * 3, `ingest messages shown: ${msgs}`);

    // Live: open the live run; its alpha chart grows without reload.
    await page.click('#run-list li[data-run="live-run"] .name');
    await page.waitForFunction(() => window.htgaDash.state.lastSeries && window.htgaDash.state.lastSeries.run === 'live-run',
      null, { timeout: 10000 });
    const n1 = await page.evaluate(() => window.htgaDash.charts.alpha.plot.data[0].length);
    await page.waitForFunction((n) => window.htgaDash.charts.alpha.plot.data[0].length >= n + 10, n1, { timeout: 15000 });
    const n2 = await page.evaluate(() => window.htgaDash.charts.alpha.plot.data[0].length);
    need(await page.evaluate(() => window.htgaDash.state.grid.size) === 6, 'grid of the live run has 6 groups');
    log(`live chart grew ${n1} -> ${n2} points`);

    // Policy: a wrong token is refused and shown, the right one applies,
    // and the trainer's htga_lambda follows (c = 0.01: lambda falls from
    // >= 0.1 to ~0.01-0.03).
    const before = lambdas.at(-1).lambda[G0];
    need(before >= 0.1, `lambda before the change ${before}`);
    const form = '#policy-form';
    await page.selectOption(`${form} select[name=kind]`, 'linear');
    await page.fill(`${form} input[name=param]`, '0.01');
    await page.fill(`${form} input[name=lambda_min]`, '0.001');
    await page.fill(`${form} input[name=lambda_max]`, '10');
    await page.fill(`${form} input[name=ema]`, '0');
    await page.fill(`${form} input[name=token]`, 'wrong');
    await page.click(`${form} button[type=submit]`);
    await page.waitForFunction(() => /refused \(401\)/.test(document.getElementById('policy-msg').textContent), null, { timeout: 5000 });
    await page.fill(`${form} input[name=token]`, TOKEN);
    await page.click(`${form} button[type=submit]`);
    await page.waitForFunction(() => /applied|refused/.test(document.getElementById('policy-msg').textContent)
      && !/401/.test(document.getElementById('policy-msg').textContent), null, { timeout: 5000 });
    const pmsg = await page.$eval('#policy-msg', (m) => m.textContent);
    need(/^applied/.test(pmsg), `policy form answered: ${pmsg}`);
    const tChange = Date.now();
    await waitFor('the trainer\'s htga_lambda to follow the new policy', () => {
      const l = lambdas.at(-1);
      return l.t > tChange && Object.keys(l.lambda).length === 6 && Object.values(l.lambda).every((v) => v < 0.05) && l;
    }, 15000);
    log(`policy applied through the form; trainer lambda ${before.toFixed(3)} -> ${lambdas.at(-1).lambda[G0].toFixed(4)}`);
    await page.waitForFunction(() => /0\.01 · alpha/.test(document.getElementById('policy-rule').textContent), null, { timeout: 10000 });

    if (process.env.SCREENSHOT) {
      await sleep(3000); // a few live updates after the policy change
      await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
      log(`screenshot ${process.env.SCREENSHOT}`);
    }


    need(page.outside.length === 0, `requests off the daemon: ${page.outside}`);
    // The one HTTP error the test provokes is the wrong-token policy PUT
    // (401); any other answer >= 400 (a missing script, an API 500) fails.
    const provoked = (b) => b.status === 401 && b.method === 'PUT' && /\/api\/v1\/runs\/[^/]+\/policy$/.test(new URL(b.url).pathname);
    need(page.badResponses.filter(provoked).length === 1,
      `expected exactly one 401 for the wrong-token PUT: ${JSON.stringify(page.badResponses)}`);
    const bad = page.badResponses.filter((b) => !provoked(b));
    need(bad.length === 0, `HTTP errors: ${bad.map((b) => `${b.status} ${b.method} ${b.url}`).join('; ')}`);
    // Chromium logs every answer >= 400 as "Failed to load resource: ...
    // status of N"; only the provoked 401 may appear there.
    const errs = page.errors.filter((m) => !/Failed to load resource: the server responded with a status of 401/.test(m));
    need(errs.length === 0, `page errors: ${errs.join('; ')}`);
    live.kill('SIGTERM');
    log('PASS');
  } finally {
    clearTimeout(guard);
    await h.cleanup();
  }
}

main().then(() => process.exit(0), (err) => {
  if (!(err instanceof TestFailure)) console.error(`FAIL: ${err.stack || err}`);
  process.exit(1);
});
