// app.js: the dashboard. One state object, one polling loop (live updates
// without reload: every tick refetches the runs, the counters and the
// selected run's downsampled series, and hands new data to existing charts),
// and renderers per section. Window.htgaDash exposes the state and the
// uPlot instances for tests and for poking at from the console.

import * as api from './api.js';
import {
  SeriesChart, PALETTE, movingAverage, markerPlugin, gapsPlugin, gapText, drawHeatmap, fmtNum, uPlot,
} from './charts.js';
import { withPendingRuns, hillYRange, latestOf } from './view.js';

const $ = (id) => document.getElementById(id);

const FIELDS = ['alpha', 'alpha_lo', 'alpha_hi', 'alpha_stable', 'kurtosis', 'variance', 'lambda'];
const GRID_POINTS = 200;
const LIVE_WINDOW_S = 15; // or its last_time moved since the previous poll
const GRID_MAX = 64;

const state = {
  runs: [],
  lastTimes: new Map(), // run -> last_time at the previous poll
  liveRuns: new Set(),
  run: null,
  group: null,
  runInfo: null,
  latest: [],
  compare: new Set(),
  search: '',
  gridFilter: '',
  maxPoints: 1000,
  smooth: 0,
  live: true,
  intervalMs: 2000,
  tick: 0,
  prevStats: null,
  policyFilledFor: null,
  lastSeries: null,
  grid: new Map(), // group -> {el, chart}
  gridData: new Map(),
  heat: null,
  hill: null,
};

const charts = {
  alpha: null, kurtosis: null, variance: null, lambda: null, hill: null, compare: null,
};

window.htgaDash = { state, charts, ready: false, ticks: 0, refresh: () => tick() };

function showError(msg) {
  const e = $('error');
  e.hidden = !msg;
  e.textContent = msg || '';
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function ago(t) {
  if (t === null || t === undefined) return '–';
  const d = Math.max(0, Date.now() / 1000 - t);
  if (d < 90) return `${Math.round(d)} s ago`;
  if (d < 5400) return `${Math.round(d / 60)} min ago`;
  if (d < 172800) return `${Math.round(d / 3600)} h ago`;
  return new Date(t * 1000).toISOString().slice(0, 16).replace('T', ' ');
}

const naturalCmp = new Intl.Collator(undefined, { numeric: true }).compare;

// ---- URL hash: #run=..&group=..&compare=a,b -------------------------------

function readHash() {
  const h = new URLSearchParams(location.hash.slice(1));
  if (h.get('run')) state.run = h.get('run');
  if (h.get('group')) state.group = h.get('group');
  if (h.get('compare')) h.get('compare').split(',').filter(Boolean).forEach((r) => state.compare.add(r));
}

function writeHash() {
  const h = new URLSearchParams();
  if (state.run) h.set('run', state.run);
  if (state.group) h.set('group', state.group);
  if (state.compare.size) h.set('compare', [...state.compare].join(','));
  history.replaceState(null, '', `#${h}`);
}

// ---- ingest health --------------------------------------------------------

function sumObj(o) {
  return o ? Object.values(o).reduce((a, b) => a + (typeof b === 'number' ? b : 0), 0) : 0;
}

function renderStats(s) {
  const now = performance.now();
  const prev = state.prevStats;
  const rate = (k) => {
    if (!prev || now <= prev.t) return null;
    return ((s[k] ?? 0) - (prev.s[k] ?? 0)) / ((now - prev.t) / 1000);
  };
  state.prevStats = { s, t: now };
  const drops = sumObj(s.drops), dec = sumObj(s.ingest_decode_errors);
  const nz = (o) => Object.entries(o || {}).filter(([, v]) => v).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none';
  const mr = rate('ingest_messages'), sr = rate('ingest_samples'), br = rate('ingest_received_bytes');
  const bp = rate('backpressure_seconds');
  const flow = Object.entries(s.flow || {});
  const shed = flow.reduce((a, [, f]) => a + f.client_drops, 0) + (s.blocks_lost ?? 0);
  const shedWhere = flow.filter(([, f]) => f.client_drops || f.blocks_lost || f.values_refused)
    .map(([r, f]) => `${r}: ${f.client_drops} client drops, ${f.blocks_lost} blocks lost, ${f.values_refused} values refused`)
    .join('; ') || 'none';
  const budgets = flow.map(([r, f]) => `${r}: ${f.budget_values} values${f.budget_every > 1 ? ` every ${f.budget_every} steps` : ''} x ${f.ranks} ranks`).join('; ');
  const factor = s.budget_factor ?? 1;
  const items = [
    ['msgs/s', mr === null ? '…' : fmtNum(Math.round(mr)), 'stat-msg-rate'],
    ['samples/s', sr === null ? '…' : fmtNum(Math.round(sr)), 'stat-sample-rate'],
    ['MB/s', br === null ? '…' : (br / 1e6).toFixed(2), 'stat-byte-rate'],
    ['messages', s.ingest_messages, 'stat-msgs'],
    ['blocks', s.blocks_estimated, 'stat-blocks'],
    ['fallback', s.blocks_fallback, 'stat-fallback'],
    ['drops', drops, 'stat-drops', drops > 0, nz(s.drops)],
    ['decode errors', dec, 'stat-decode', dec > 0, nz(s.ingest_decode_errors)],
    ['write errors', s.write_errors, 'stat-werr', s.write_errors > 0],
    ['shed', shed, 'stat-shed', shed > 0, `what was shed, per run (the client's queue, htgad): ${shedWhere}`],
    ['budget', `${Math.round(factor * 100)}%`, 'stat-budget', factor < 1,
      factor < 1 ? `htgad is overloaded and asks for fewer values per send (${budgets}); more --estimators, a larger --block-samples interval or fewer groups help`
        : `full resolution (${budgets || 'no run'})`],
    ['push-back', bp === null ? '…' : `${Math.round(Math.min(1, bp) * 100)}%`, 'stat-pushback', bp > 0.05,
      'share of time htgad stopped reading because its queues (--queue-bytes) were full; clients queue meanwhile'],
    ['rows lost', s.rows_lost, 'stat-rows-lost', s.rows_lost > 0],
    ['queues', `${s.queue_depth?.estimator ?? '–'}/${s.queue_depth?.writer ?? '–'}`, 'stat-queues', false,
      'estimator / writer queue depth'],
  ];
  $('ingest').innerHTML = items.map(([k, v, id, bad, title]) =>
    `<span class="kv${bad ? ' bad' : ''}" id="${id}"${title ? ` title="${esc(title)}"` : ''}>${esc(k)} <b>${esc(v ?? '–')}</b></span>`).join('');
}

// ---- runs list --------------------------------------------------------------

function updateLive(runs) {
  const now = Date.now() / 1000;
  state.liveRuns = new Set();
  for (const r of runs) {
    const prev = state.lastTimes.get(r.run);
    if ((prev !== undefined && r.last_time > prev) || now - r.last_time < LIVE_WINDOW_S) state.liveRuns.add(r.run);
    state.lastTimes.set(r.run, r.last_time);
  }
}

function renderRuns() {
  const q = state.search.toLowerCase();
  const shown = state.runs.filter((r) => !q || r.run.toLowerCase().includes(q));
  shown.sort((a, b) => (b.last_time ?? 0) - (a.last_time ?? 0));
  $('run-count').textContent = `${shown.length} of ${state.runs.length} runs, ${state.liveRuns.size} live`;
  const ul = $('run-list');
  ul.innerHTML = shown.map((r) => {
    const live = state.liveRuns.has(r.run);
    const title = r.pending ? `${r.run}: samples arriving, no block closed yet`
      : `${r.run}: ${r.groups} groups, ${r.blocks} blocks, steps ${r.first_step}–${r.last_step}, last ${ago(r.last_time)}`;
    return `<li data-run="${esc(r.run)}" class="${r.run === state.run ? 'sel' : ''}" title="${esc(title)}">
      <input type="checkbox" class="cmp" aria-label="compare ${esc(r.run)}" ${state.compare.has(r.run) ? 'checked' : ''}>
      <span class="dot${live ? ' live' : ''}"></span><span class="name">${esc(r.run)}</span>
      ${r.pending ? '<span class="badge pending">no block yet</span>' : live ? '<span class="badge live">live</span>' : ''}</li>`;
  }).join('');
}

function onRunListClick(ev) {
  const li = ev.target.closest('li[data-run]');
  if (!li) return;
  const r = li.dataset.run;
  if (ev.target.classList.contains('cmp')) {
    if (ev.target.checked) state.compare.add(r); else state.compare.delete(r);
    writeHash();
    refreshCompare().catch((e) => showError(e.message));
    return;
  }
  selectRun(r);
}

function selectRun(r) {
  if (r === state.run) return;
  state.run = r;
  state.group = null;
  state.runInfo = null;
  state.policyFilledFor = null;
  for (const { chart } of state.grid.values()) chart.destroy();
  state.grid.clear();
  state.gridData.clear();
  $('grid').textContent = '';
  writeHash();
  renderRuns();
  tick();
}

// ---- one run ------------------------------------------------------------------

function renderRunHead() {
  const info = state.runInfo;
  const live = state.liveRuns.has(state.run);
  const groups = info.groups;
  const blocks = groups.reduce((a, g) => a + g.blocks, 0);
  const last = groups.length ? Math.max(...groups.map((g) => g.last_step ?? 0)) : '–';
  const lastT = groups.length ? Math.max(...groups.map((g) => g.last_time ?? 0)) : null;
  $('run-head').innerHTML = `<h2 id="run-title">${esc(state.run)} <span class="badge${live ? ' live' : ''}" id="run-live">${live ? 'live' : 'idle'}</span></h2>
    <div class="small muted">${groups.length} groups · ${blocks} blocks · last step ${last} · last block ${ago(lastT)}</div>`;
}

function renderGroupSelect() {
  const sel = $('group');
  const names = state.runInfo.groups.map((g) => g.group).sort(naturalCmp);
  if (!state.group || !names.includes(state.group)) state.group = names[0] ?? null;
  const cur = [...sel.options].map((o) => o.value).join('\n');
  if (cur !== names.join('\n')) sel.innerHTML = names.map((n) => `<option>${esc(n)}</option>`).join('');
  sel.value = state.group ?? '';
}

// Builds the four detail charts from one series answer.
function renderDetail(s) {
  state.lastSeries = s;
  const ds = s.downsampled;
  const w = state.smooth;
  const sm = (ys) => movingAverage(ys, w);
  const tag = w > 1 ? ` · moving avg ${w}` : '';
  const x = s.step;
  $('ds-note').textContent = ds
    ? `${s.blocks} blocks shown as ${s.points} buckets of ${s.downsampling.bucket_blocks} blocks (server min/max downsampling): lines are bucket means, dashed lines / light bands the bucket min and max.`
    : `${s.points} blocks, every block shown (no downsampling).`;
  const nullArr = () => new Array(x.length).fill(null);
  renderGaps(s);
  const gaps = () => state.lastSeries?.shed;
  // alpha: Hill with its 95% band, stable, and bucket extremes when downsampled
  const aSeries = [
    { label: `alpha (Hill)${tag}`, color: PALETTE[0], width: 2 },
    { label: '95% lo', color: 'rgba(37,99,235,0.35)', width: 1 },
    { label: '95% hi', color: 'rgba(37,99,235,0.35)', width: 1 },
    { label: `alpha (stable)${tag}`, color: PALETTE[2], width: 1.5 },
  ];
  const aData = [x, sm(s.alpha), s.alpha_lo, s.alpha_hi, sm(s.alpha_stable)];
  if (ds) {
    aSeries.push({ label: 'Hill bucket min', color: '#1e3a8a', width: 1, dash: [4, 4] },
      { label: 'Hill bucket max', color: '#1e3a8a', width: 1, dash: [4, 4] });
    aData.push(s.alpha_min ?? nullArr(), s.alpha_max ?? nullArr());
  }
  charts.alpha.set({ title: 'alpha: tail index (Hill, 95% band) and alpha-stable', series: aSeries,
    bands: [[3, 2, 'rgba(37,99,235,0.12)']], plugins: [gapsPlugin(gaps)] }, aData);
  const one = (chart, field, title, color, yDistr) => {
    const ser = [{ label: `${field}${tag}`, color, width: 1.5 }];
    const data = [x, sm(s[field])];
    const bands = [];
    if (ds) {
      ser.push({ label: 'bucket min', color: 'rgba(0,0,0,0.15)', width: 1 },
        { label: 'bucket max', color: 'rgba(0,0,0,0.15)', width: 1 });
      data.push(s[`${field}_min`] ?? nullArr(), s[`${field}_max`] ?? nullArr());
      bands.push([3, 2, 'rgba(0,0,0,0.07)']);
    }
    chart.set({ title, series: ser, bands, yDistr, plugins: [gapsPlugin(gaps)] }, data);
  };
  one(charts.kurtosis, 'kurtosis', 'excess kurtosis (asinh scale)', PALETTE[3], 4);
  one(charts.variance, 'variance', 'variance (log scale)', PALETTE[4], 3);
  one(charts.lambda, 'lambda', 'lambda: gradient scale sent to the trainer', PALETTE[1]);
}

// The shed events of the group's series (its own and its run's), listed
// under the charts, which shade their steps.
function renderGaps(s) {
  const list = s.shed || [];
  const el = $('gaps-note');
  el.className = list.length ? 'small bad-text' : 'small muted';
  if (!list.length) {
    el.textContent = 'Nothing shed in these steps (no gaps).';
    return;
  }
  const shown = list.slice(0, 8);
  el.innerHTML = `<b>Gaps</b> (shaded red on the charts): ${shown.map((e) => `<span class="gap" title="${esc(gapText(e))}">${esc(gapText(e))}</span>`).join('; ')}` +
    (list.length > shown.length || s.shed_truncated ? `; and ${s.shed_truncated ? 'more' : list.length - shown.length} more` : '');
}

async function refreshHill() {
  const g = state.group;
  let h;
  try {
    h = await api.hill(state.run, g);
  } catch (e) {
    if (e.status === 404) {
      $('hill-note').textContent = `no Hill data yet for ${g}`;
      charts.hill.destroy();
      return;
    }
    throw e;
  }
  const row = state.latest.find((r) => r.group_name === g);
  const chosen = row ? row.k : null;
  const atK = chosen !== null ? h.alpha[h.k.indexOf(chosen)] : null;
  state.hill = { ...h, chosen };
  const yr = hillYRange(h.k, h.alpha, chosen);
  state.hill.yRange = yr;
  $('hill-note').textContent = `block ${h.block}, ${h.n_pos} non-zero values; daemon chose k = ${chosen ?? '?'}` +
    (atK !== undefined && atK !== null ? `, alpha = ${fmtNum(atK)}` : '') + ` (block ${row ? row.block : '?'})` +
    (yr ? `. y-axis: alpha over k = ${yr.kFrom}–${yr.kTo}${chosen ? ' around the chosen k' : ''}` +
      (yr.off ? `; ${yr.off} points outside it (the smallest k rest on a few extreme values)` : '') : '');
  charts.hill.set({
    title: undefined, xLabel: 'k (log scale)', yDistr: undefined, yRange: yr ? yr.range : undefined,
    series: [{ label: 'alpha(k)', color: PALETTE[0], width: 1.5 }],
    plugins: [markerPlugin(() => state.hill?.chosen ?? null, () => `chosen k = ${state.hill?.chosen}`)],
    xDistr: 3,
  }, [h.k, h.alpha]);
}

function fillPolicyForm(p) {
  const f = $('policy-form');
  f.kind.value = p.kind;
  f.param.value = p.kind === 'power' ? p.q : p.c;
  f.lambda_min.value = p.lambda_min;
  f.lambda_max.value = p.lambda_max;
  f.ema.value = p.ema;
  $('param-name').textContent = p.kind === 'power' ? 'q' : 'c';
}

function policyText(p) {
  const rule = p.kind === 'power' ? `lambda = alpha^-${fmtNum(p.q)}` : `lambda = ${fmtNum(p.c)} · alpha`;
  return `${rule}, clamped to [${fmtNum(p.lambda_min)}, ${fmtNum(p.lambda_max)}], ema ${fmtNum(p.ema)}`;
}

function renderPolicy(p) {
  $('policy-cur').innerHTML = `<div id="policy-rule"><b>${esc(policyText(p))}</b></div>
    <div class="muted">source ${esc(p.source)}, since ${esc(ago(p.changed_at))}</div>`;
  $('policy-hist').innerHTML = (p.history || []).slice(-10).reverse()
    .map((h) => `<li>${esc(ago(h.changed_at))}: ${esc(policyText(h))} (${esc(h.source)})</li>`).join('');
  if (state.policyFilledFor !== state.run) {
    fillPolicyForm(p);
    state.policyFilledFor = state.run;
  }
}

async function onPolicySubmit(ev) {
  ev.preventDefault();
  const f = ev.target;
  const msg = $('policy-msg');
  const body = {
    kind: f.kind.value,
    lambda_min: Number(f.lambda_min.value),
    lambda_max: Number(f.lambda_max.value),
    ema: Number(f.ema.value),
  };
  body[f.kind.value === 'power' ? 'q' : 'c'] = Number(f.param.value);
  msg.className = 'small';
  msg.textContent = 'sending…';
  try {
    const r = await api.putPolicy(state.run, body, f.token.value.trim());
    msg.className = 'small ok';
    msg.textContent = `applied ${r.applies || ''}: ${policyText(r.policy)}`;
    renderPolicy(await api.policy(state.run));
  } catch (e) {
    msg.className = 'small err';
    msg.textContent = `refused (${e.status || 'network'}): ${e.message}`;
  }
}

// ---- grid of small charts + heat map --------------------------------------------

async function pool(items, n, fn) {
  const out = new Array(items.length);
  let i = 0;
  const worker = async () => {
    while (i < items.length) {
      const j = i++;
      out[j] = await fn(items[j]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

async function refreshGroups() {
  const names = state.runInfo.groups.map((g) => g.group).sort(naturalCmp);
  const run = state.run;
  const data = await pool(names, 4, (g) =>
    api.series(run, g, ['alpha', 'alpha_lo', 'alpha_hi'], { maxPoints: GRID_POINTS }).catch(() => null));
  if (run !== state.run) return;
  names.forEach((g, i) => { if (data[i]) state.gridData.set(g, data[i]); });
  renderGrid(names);
  renderHeat(names);
}

function renderGrid(names) {
  const q = state.gridFilter.toLowerCase();
  const shown = names.filter((g) => !q || g.toLowerCase().includes(q)).slice(0, GRID_MAX);
  const grid = $('grid');
  for (const [g, cell] of state.grid) {
    if (!shown.includes(g)) { cell.chart.destroy(); cell.el.remove(); state.grid.delete(g); }
  }
  for (const g of shown) {
    let cell = state.grid.get(g);
    if (!cell) {
      const el = document.createElement('div');
      el.className = 'cell';
      el.dataset.group = g;
      el.innerHTML = '<div class="t"><span></span><span class="v"></span></div><div class="c"></div>';
      el.querySelector('.t span').textContent = g;
      grid.appendChild(el);
      cell = { el, chart: new SeriesChart(el.querySelector('.c'), { height: 110, small: true }) };
      state.grid.set(g, cell);
    }
    grid.appendChild(cell.el); // keeps sorted order
    const s = state.gridData.get(g);
    if (!s) continue;
    // the latest block's alpha, not the last point (a bucket mean when downsampled)
    const last = latestOf(state.latest, g);
    const v = cell.el.querySelector('.v');
    v.textContent = `alpha ${fmtNum(last ? last.alpha : null)}`;
    v.title = last ? `latest block ${last.block} (step ${last.step}); the chart shows ${s.downsampled ? `bucket means of ${s.downsampling.bucket_blocks} blocks` : 'every block'}` : '';
    cell.chart.set({ series: [
      { label: 'alpha', color: PALETTE[0], width: 1.2 },
      { label: 'lo', color: 'rgba(37,99,235,0.25)', width: 1 },
      { label: 'hi', color: 'rgba(37,99,235,0.25)', width: 1 },
    ], bands: [[3, 2, 'rgba(37,99,235,0.12)']], plugins: [gapsPlugin(() => state.gridData.get(g)?.shed)] },
    [s.step, s.alpha, s.alpha_lo, s.alpha_hi]);
  }
  const more = names.length - shown.length;
  $('grid-sec').querySelector('h2 .muted').textContent = more > 0 && !q
    ? `click a chart to open its group; first ${GRID_MAX} of ${names.length} groups (filter to see others)`
    : 'click a chart to open its group';
}

function renderHeat(names) {
  const rows = names.map((g) => state.gridData.get(g)).filter(Boolean)
    .map((s) => ({ group: s.group, step: s.step, alpha: s.alpha }));
  state.heat = drawHeatmap($('heat'), rows, { onPick: selectGroup });
}

function selectGroup(g) {
  state.group = g;
  $('group').value = g;
  writeHash();
  refreshRunDetail().catch((e) => showError(e.message));
  $('detail-sec').scrollIntoView({ behavior: 'smooth', block: 'start' });
}

// ---- compare runs -------------------------------------------------------------

async function refreshCompare() {
  const runs = [...state.compare].filter((r) => state.runs.some((x) => x.run === r));
  const note = $('cmp-note');
  if (!runs.length) {
    note.textContent = 'Tick runs in the list to overlay them.';
    charts.compare.destroy();
    return;
  }
  const infos = await pool(runs, 4, (r) => api.run(r).catch(() => null));
  const groupSet = new Set();
  infos.forEach((i) => i && i.groups.forEach((g) => groupSet.add(g.group)));
  const groups = [...groupSet].sort(naturalCmp);
  const gsel = $('cmp-group');
  const want = gsel.value || state.group;
  if ([...gsel.options].map((o) => o.value).join('\n') !== groups.join('\n')) {
    gsel.innerHTML = groups.map((g) => `<option>${esc(g)}</option>`).join('');
  }
  gsel.value = groups.includes(want) ? want : groups[0] ?? '';
  const group = gsel.value;
  const field = $('cmp-field').value;
  const got = await pool(runs, 4, (r) =>
    api.series(r, group, [field], { maxPoints: state.maxPoints }).catch(() => null));
  const tables = [], series = [];
  got.forEach((s, i) => {
    if (!s) return;
    tables.push([s.step, movingAverage(s[field], state.smooth)]);
    series.push({ label: runs[i], color: PALETTE[i % PALETTE.length], width: 1.5 });
  });
  const missing = runs.filter((r, i) => !got[i]);
  note.textContent = `${field} of ${group} in ${series.length} runs` +
    (state.smooth > 1 ? ` (moving avg ${state.smooth})` : '') +
    (missing.length ? `; no such group in ${missing.join(', ')}` : '');
  if (!tables.length) { charts.compare.destroy(); return; }
  const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
  charts.compare.set({ title: `${field}: ${group}`, series,
    yDistr: field === 'variance' ? 3 : field === 'kurtosis' ? 4 : undefined }, data);
}

// ---- the loop -----------------------------------------------------------------

async function refreshRunDetail() {
  if (!state.run || !state.group) return;
  const t0 = performance.now();
  const s = await api.series(state.run, state.group, FIELDS, { maxPoints: state.maxPoints });
  if (s.group !== state.group || s.run !== state.run) return;
  const t1 = performance.now();
  renderDetail(s);
  await new Promise((r) => setTimeout(r, 0)); // uPlot draws in a microtask
  const t2 = performance.now();
  state.timing = { fetchMs: t1 - t0, drawMs: t2 - t1, points: s.points };
  $('ds-note').textContent += ` Fetched in ${Math.round(t1 - t0)} ms, drawn in ${Math.round(t2 - t1)} ms.`;
  await refreshHill();
}

async function refreshRun() {
  if (!state.run) return;
  const run = state.run;
  const listed = state.runs.find((r) => r.run === run);
  if (listed && listed.pending) {
    for (const id of ['detail-sec', 'grid-sec', 'heat-sec']) $(id).hidden = true;
    $('run-head').innerHTML = `<h2 id="run-title">${esc(run)} <span class="badge pending">no block yet</span></h2>
      <div class="small muted">htgad is taking this run's samples; its charts appear when the first block closes (every --block-samples values of a group).</div>`;
    return;
  }
  let info;
  try {
    info = await api.run(run);
  } catch (e) {
    if (e.status === 404) { $('run-head').innerHTML = `<p class="err">run ${esc(run)} not found</p>`; return; }
    throw e;
  }
  if (run !== state.run) return;
  state.runInfo = info;
  state.latest = await api.latest(run);
  for (const id of ['detail-sec', 'grid-sec', 'heat-sec']) $(id).hidden = false;
  renderRunHead();
  renderGroupSelect();
  renderPolicy(info.policy.history ? info.policy : await api.policy(run));
  await refreshRunDetail();
  if (state.tick % 2 === 0 || state.grid.size === 0) await refreshGroups();
}

let timer = null;
let running = false;

async function tick() {
  clearTimeout(timer);
  if (running) { timer = setTimeout(tick, 100); return; }
  running = true;
  try {
    const [runs, st, h] = await Promise.all([api.runs(), api.stats(), api.health()]);
    $('health').textContent = h.status === 'ok' ? `htgad ${h.version}, up ${h.uptime_s} s`
      : `htgad ${h.version} not ready: ${(h.reasons || []).join('; ')}`;
    $('health').className = h.status === 'ok' ? 'muted' : 'bad';
    state.runs = withPendingRuns(runs, st, Date.now() / 1000);
    updateLive(state.runs);
    if (!state.run && runs.length) {
      state.run = [...runs].sort((a, b) => (b.last_time ?? 0) - (a.last_time ?? 0))[0].run;
      writeHash();
    }
    renderRuns();
    renderStats(st);
    await refreshRun();
    await refreshCompare();
    showError('');
  } catch (e) {
    showError(`update failed: ${e.message}`);
    console.error(e);
  } finally {
    running = false;
    state.tick++;
    window.htgaDash.ticks = state.tick;
    window.htgaDash.ready = true;
    if (state.live) timer = setTimeout(tick, state.intervalMs);
  }
}

function resizeAll() {
  for (const c of Object.values(charts)) c.resize();
  for (const { chart } of state.grid.values()) chart.resize();
  if (state.runInfo) renderHeat(state.runInfo.groups.map((g) => g.group).sort(naturalCmp));
}

function init() {
  charts.alpha = new SeriesChart($('ch-alpha'), { height: 240 });
  charts.kurtosis = new SeriesChart($('ch-kurtosis'), { height: 170 });
  charts.variance = new SeriesChart($('ch-variance'), { height: 170 });
  charts.lambda = new SeriesChart($('ch-lambda'), { height: 170 });
  charts.hill = new SeriesChart($('ch-hill'), { height: 220 });
  charts.compare = new SeriesChart($('ch-compare'), { height: 260 });
  readHash();
  $('run-list').addEventListener('click', onRunListClick);
  $('run-search').addEventListener('input', (e) => { state.search = e.target.value; renderRuns(); });
  $('grid-filter').addEventListener('input', (e) => {
    state.gridFilter = e.target.value;
    if (state.runInfo) renderGrid(state.runInfo.groups.map((g) => g.group).sort(naturalCmp));
  });
  $('group').addEventListener('change', (e) => selectGroup(e.target.value));
  $('max-points').addEventListener('change', (e) => { state.maxPoints = Number(e.target.value); tick(); });
  $('smooth').addEventListener('change', (e) => {
    state.smooth = Number(e.target.value);
    if (state.lastSeries) renderDetail(state.lastSeries);
    refreshCompare().catch((err) => showError(err.message));
  });
  $('live').addEventListener('change', (e) => { state.live = e.target.checked; if (state.live) tick(); else clearTimeout(timer); });
  $('interval').addEventListener('change', (e) => { state.intervalMs = Number(e.target.value); });
  $('cmp-field').addEventListener('change', () => refreshCompare().catch((e) => showError(e.message)));
  $('cmp-group').addEventListener('change', () => refreshCompare().catch((e) => showError(e.message)));
  $('policy-form').addEventListener('submit', onPolicySubmit);
  $('policy-form').kind.addEventListener('change', (e) => {
    $('param-name').textContent = e.target.value === 'power' ? 'q' : 'c';
  });
  let rt = null;
  window.addEventListener('resize', () => { clearTimeout(rt); rt = setTimeout(resizeAll, 150); });
  tick();
}

init();
