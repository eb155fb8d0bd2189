// lib.mjs: shared harness of the dashboard's browser tests. Starts the real
// htgad on free loopback ports with a temporary database, runs the real
// libhtga through htga_web_feeder, and launches /usr/bin/chromium through
// playwright-core (never a downloaded browser). Everything it starts is
// stopped by cleanup(), also when a check fails.

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';

export class TestFailure extends Error {}

export function fail(msg) {
  console.error(`FAIL: ${msg}`);
  throw new TestFailure(msg);
}

export function need(cond, msg) {
  if (!cond) fail(msg);
}

// Paths from the environment (meson sets them); a missing one is an error.
export function env() {
  const e = {
    htgad: process.env.HTGAD,
    feeder: process.env.FEEDER,
    web: process.env.WEB_DIR,
    chromium: process.env.CHROMIUM || '/usr/bin/chromium',
  };
  for (const [k, v] of Object.entries(e)) {
    need(v && existsSync(v), `${k} not found at ${v} (set HTGAD, FEEDER, WEB_DIR, CHROMIUM; run scripts/deps.sh test for chromium and web/node_modules)`);
  }
  need(existsSync(path.join(e.web, 'node_modules/uplot/dist/uPlot.esm.js')),
    `uPlot missing under ${e.web}/node_modules: run \`npm ci\` in web/ (scripts/deps.sh test does)`);
  need(existsSync(path.join(e.web, 'node_modules/playwright-core')),
    `playwright-core missing under ${e.web}/node_modules: run \`npm ci\` in web/`);
  return e;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(what, fn, timeoutMs = 20000, everyMs = 100) {
  const t0 = Date.now();
  let last;
  while (Date.now() - t0 < timeoutMs) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      if (e instanceof TestFailure) throw e;
      last = e;
    }
    await sleep(everyMs);
  }
  fail(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

// Children still running when node exits (meson's timeout sends SIGTERM,
// a closed pipe ends node) are killed, so no htgad outlives its test.
const live = new Set();
const tmps = new Set();
process.on('exit', () => {
  for (const p of live) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  for (const d of tmps) rmSync(d, { recursive: true, force: true });
});
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => process.exit(1));

export class Harness {
  constructor(e) {
    this.e = e;
    this.procs = [];
    this.tmp = mkdtempSync(path.join(tmpdir(), 'htga-web-'));
    tmps.add(this.tmp);
    this.browser = null;
  }

  async startDaemon(extra = []) {
    this.zmqPort = await freePort();
    this.httpPort = await freePort();
    this.endpoint = `tcp://127.0.0.1:${this.zmqPort}`;
    this.base = `http://127.0.0.1:${this.httpPort}`;
    const args = ['--db', path.join(this.tmp, 'htga.db'), '--listen', this.endpoint,
      '--http', `127.0.0.1:${this.httpPort}`, '--log-level', 'warn', ...extra];
    const p = spawn(this.e.htgad, args, { cwd: this.tmp, stdio: ['ignore', 'inherit', 'inherit'] });
    this.daemon = p;
    this.procs.push(p);
    live.add(p);
    p.on('exit', (code, sig) => { p.exited = { code, sig }; });
    await waitFor('htgad /api/v1/health', async () => {
      need(!p.exited, `htgad exited early: ${JSON.stringify(p.exited)}`);
      const r = await fetch(`${this.base}/api/v1/health`);
      return r.ok;
    }, 15000);
  }

  async get(p) {
    const r = await fetch(`${this.base}${p}`);
    need(r.ok, `GET ${p}: HTTP ${r.status}`);
    return r.json();
  }

  // Starts the feeder; lines (JSON reports) go to onLine. Resolves its exit.
  feed(args, onLine = () => {}) {
    const p = spawn(this.e.feeder, ['--endpoint', this.endpoint, ...args],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    this.procs.push(p);
    live.add(p);
    readline.createInterface({ input: p.stdout }).on('line', (l) => {
      try { onLine(JSON.parse(l)); } catch { /* not a report */ }
    });
    p.done = new Promise((resolve) => p.on('exit', (code) => resolve(code)));
    return p;
  }

  async browse(width = 1400, height = 1000) {
    const require = createRequire(path.join(this.e.web, 'package.json'));
    const { chromium } = require('playwright-core');
    // A fresh profile per run (playwright passes it as --user-data-dir).
    const ctx = await chromium.launchPersistentContext(path.join(this.tmp, 'chromium-profile'), {
      executablePath: this.e.chromium,
      headless: true,
      viewport: { width, height },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    this.browser = ctx;
    const page = await ctx.newPage();
    page.errors = [];
    page.outside = [];
    const note = (m) => { page.errors.push(m); console.log(`  page ${m}`); };
    page.on('pageerror', (err) => note(`pageerror: ${err.message}`));
    page.on('console', (m) => { if (m.type() === 'error') note(`console: ${m.text()}`); });
    // Every HTTP answer >= 400 the page got (a 404 on a script, a 500 from
    // the API): the test fails on any it did not provoke on purpose.
    page.badResponses = [];
    page.on('response', (r) => {
      if (r.status() < 400) return;
      const b = { status: r.status(), method: r.request().method(), url: r.url() };
      page.badResponses.push(b);
      console.log(`  page response ${b.status} ${b.method} ${b.url}`);
    });
    page.on('requestfailed', (r) => {
      if (!r.url().startsWith(this.base)) return; // off-origin: page.outside
      note(`requestfailed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`);
    });
    // The page must load with no outside network: any request off the
    // daemon's origin is recorded and refused.
    await page.route('**/*', (route) => {
      const u = route.request().url();
      if (u.startsWith(this.base)) return route.continue();
      page.outside.push(u);
      return route.abort();
    });
    return page;
  }

  async cleanup() {
    if (this.browser) await this.browser.close().catch(() => {});
    for (const p of this.procs.reverse()) {
      if (p.exitCode === null && p.signalCode === null) {
        p.kill('SIGTERM');
        await Promise.race([new Promise((r) => p.once('exit', r)), sleep(5000)]);
        if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
      }
    }
    rmSync(this.tmp, { recursive: true, force: true });
  }
}
