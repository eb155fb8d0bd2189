// perf.mjs: how the dashboard copes with a 100,000-block group. Feeds one
// group of 100k blocks (64 samples each) through the real libhtga into the
// real htgad, then in headless Chromium times the detail charts' fetch and
// draw with server-side min/max downsampling (1000 buckets) and with every
// block (100k raw points), and a redraw while zoomed. Prints figures; not a
// test. Usage: HTGAD=.. FEEDER=.. WEB_DIR=.. node tests/web/perf.mjs [blocks]

import { env, Harness, waitFor } from './lib.mjs';

const want = Number(process.argv[2] || 100000);
const h = new Harness(env());
try {
  await h.startDaemon(['--block-samples', '64', '--queue-rows', '65536']);
  const t0 = Date.now();
  await h.feed(['--run', 'big', '--groups', '1', '--samples', '64', '--steps', String(Math.ceil(want * 1.1)),
    '--rate', '8000']).done;
  const info = await waitFor('blocks stored', async () => {
    const r = await h.get('/api/v1/runs/big');
    const b = r.groups[0].blocks;
    await new Promise((res) => setTimeout(res, 500));
    const r2 = await h.get('/api/v1/runs/big');
    return r2.groups[0].blocks === b && r2;
  }, 60000, 200);
  const blocks = info.groups[0].blocks;
  console.log(`fed ${blocks} blocks in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const page = await h.browse();
  await page.goto(`${h.base}/#run=big&group=layer.0.weight`);
  await page.waitForFunction(() => window.htgaDash?.state.timing, null, { timeout: 30000 });
  await page.evaluate(() => { document.getElementById('live').click(); }); // stop polling
  for (const mp of ['1000', '4000', '0', '1000']) {
    await page.selectOption('#max-points', mp);
    const runs = [];
    for (let i = 0; i < 3; i++) {
      await page.evaluate(() => { window.htgaDash.state.timing = null; return window.htgaDash.refresh(); });
      await page.waitForFunction(() => window.htgaDash.state.timing && window.htgaDash.state.timing.points > 0, null, { timeout: 60000 });
      runs.push(await page.evaluate(() => window.htgaDash.state.timing));
    }
    const med = (k) => runs.map((r) => r[k]).sort((a, b) => a - b)[1];
    const redraw = await page.evaluate(() => {
      const u = window.htgaDash.charts.alpha.plot;
      const xs = u.data[0];
      const t = performance.now();
      for (let i = 0; i < 10; i++) u.batch(() => u.setScale('x', { min: xs[0] + (i % 2) * 10, max: xs[xs.length - 1] }));
      return (performance.now() - t) / 10;
    });
    console.log(`max_points=${mp === '0' ? 'all' : mp}: ${runs[0].points} points per series; ` +
      `fetch ${med('fetchMs').toFixed(0)} ms, setData+draw of 4 charts ${med('drawMs').toFixed(0)} ms, ` +
      `alpha chart rescale+redraw ${redraw.toFixed(1)} ms (median of 3 / mean of 10)`);
  }
  const errs = page.errors.filter((m) => !/Failed to load resource/.test(m));
  if (errs.length) console.log(`page errors: ${errs.join('; ')}`);
} finally {
  await h.cleanup();
}
