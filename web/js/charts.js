// charts.js: the dashboard's charts. Time series, overlays and the Hill
// plot are uPlot charts (made for large series: 1e5 points draw in a few
// ms); the heat map of alpha by group and step is a canvas of cells, one
// per (group, step bin). Nothing here fetches: callers pass columnar data.

import uPlot from '../node_modules/uplot/dist/uPlot.esm.js';

export { uPlot };

export const PALETTE = [
  '#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2',
  '#ca8a04', '#db2777', '#4b5563', '#65a30d', '#7c3aed', '#0d9488',
];

// Trailing moving average over `w` points, skipping nulls (a window of
// only nulls stays null). w <= 1 returns the input unchanged.
export function movingAverage(ys, w) {
  if (!(w > 1)) return ys;
  const out = new Array(ys.length);
  let sum = 0, cnt = 0;
  for (let i = 0; i < ys.length; i++) {
    const v = ys[i];
    if (v !== null && Number.isFinite(v)) { sum += v; cnt++; }
    const j = i - w;
    if (j >= 0) {
      const o = ys[j];
      if (o !== null && Number.isFinite(o)) { sum -= o; cnt--; }
    }
    out[i] = cnt > 0 ? sum / cnt : null;
  }
  return out;
}

function fmt(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(3);
  return (+v.toPrecision(4)).toString();
}

export const fmtNum = fmt;

function widthOf(el, fallback = 600) {
  return Math.max(200, Math.floor(el.clientWidth || fallback));
}

// A chart is rebuilt when its shape (series list, scales) changes and only
// given new data otherwise, so live updates keep zoom and cost a redraw.
export class SeriesChart {
  constructor(el, { height = 220, small = false } = {}) {
    this.el = el;
    this.height = height;
    this.small = small;
    this.plot = null;
    this.key = '';
  }

  // spec: {title, yDistr, series: [{label, color, width, dash, fill}],
  //        bands: [[upperIdx, lowerIdx, fill]]}; data: [xs, ys1, ...].
  set(spec, data) {
    const key = JSON.stringify(spec);
    if (this.plot && key === this.key) {
      this.plot.setData(data);
      return this.plot;
    }
    this.destroy();
    this.key = key;
    // log axes: compact decade labels (1e-5, 0.01, 100), nothing between
    // (uPlot's log axes pass null for the splits they leave unlabelled)
    const yVals = spec.yDistr === 3
      ? (u, vals) => vals.map((v) => {
        if (v === null || !(v > 0)) return '';
        const e = Math.round(Math.log10(v));
        if (Math.abs(Math.log10(v) - e) > 1e-9) return '';
        return e >= -2 && e <= 4 ? String(10 ** e >= 1 ? 10 ** e : +(10 ** e).toFixed(-e)) : `1e${e}`;
      })
      : (u, vals) => vals.map(fmt);
    const opts = {
      ...(spec.title && !this.small ? { title: spec.title } : {}),
      // room above the plot for the top y label, which is centred on its
      // tick and was cut in half at the plot's upper edge
      padding: this.small ? [6, null, null, null] : [14, null, null, null],
      width: widthOf(this.el),
      height: this.height,
      legend: { show: !this.small },
      cursor: this.small ? { show: false } : { drag: { x: true, y: false } },
      scales: {
        x: spec.xDistr ? { time: false, distr: spec.xDistr, log: 10, range: (u, mn, mx) => [mn, mx] } : { time: false },
        y: spec.yDistr ? { distr: spec.yDistr, log: 10, asinh: 1 }
          : spec.yRange ? { range: () => spec.yRange } : {},
      },
      axes: [
        this.small
          ? { size: 24, font: '10px system-ui', ticks: { size: 4 } }
          : { label: spec.xLabel || 'step', size: 40 },
        this.small
          ? { size: 36, font: '10px system-ui', values: yVals, ticks: { size: 4 } }
          : { size: 60, values: yVals },
      ],
      series: [
        { label: spec.xLabel || 'step' },
        ...spec.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: s.width ?? 1.5,
          dash: s.dash,
          fill: s.fill,
          spanGaps: true,
          points: { show: false },
          value: (u, v) => fmt(v),
        })),
      ],
      bands: (spec.bands || []).map(([a, b, fill]) => ({ series: [a, b], fill })),
      plugins: spec.plugins || [],
    };
    this.el.textContent = '';
    this.plot = new uPlot(opts, data, this.el);
    return this.plot;
  }

  resize() {
    if (this.plot) this.plot.setSize({ width: widthOf(this.el), height: this.height });
  }

  destroy() {
    if (this.plot) this.plot.destroy();
    this.plot = null;
    this.key = '';
  }
}

// A uPlot plugin drawing a vertical marker at x = at() with a caption.
export function markerPlugin(at, caption, color = '#dc2626') {
  return {
    hooks: {
      draw: (u) => {
        const x0 = at();
        if (x0 === null || x0 === undefined) return;
        const x = u.valToPos(x0, 'x', true);
        if (!(x >= u.bbox.left && x <= u.bbox.left + u.bbox.width)) return;
        const { ctx } = u;
        ctx.save();
        ctx.strokeStyle = color;
        ctx.fillStyle = color;
        ctx.lineWidth = 2 * devicePixelRatio;
        ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
        ctx.beginPath();
        ctx.moveTo(x, u.bbox.top);
        ctx.lineTo(x, u.bbox.top + u.bbox.height);
        ctx.stroke();
        ctx.font = `${12 * devicePixelRatio}px system-ui, sans-serif`;
        ctx.fillText(caption(), x + 4 * devicePixelRatio, u.bbox.top + 14 * devicePixelRatio);
        ctx.restore();
      },
    },
  };
}

// What a shed event says, in words: "12 messages shed (client_queue, whole
// run) at steps 100–140".
export function gapText(e) {
  const steps = e.step_first === e.step_last ? `step ${e.step_first}` : `steps ${e.step_first}–${e.step_last}`;
  return `${e.count} ${e.count === 1 ? e.unit.replace(/s$/, '') : e.unit} shed (${e.reason}, ${e.scope === 'run' ? 'whole run' : 'this group'}) at ${steps}`;
}

// A uPlot plugin shading the steps of the shed events gaps() returns (the
// series API's "shed": [{step_first, step_last, count, unit, reason,
// scope}]) as bands at least 3 px wide, with their words as the tooltip
// where the cursor is. u.gapsDrawn counts the bands the last draw showed.
export function gapsPlugin(gaps, color = 'rgba(220,38,38,0.16)') {
  const within = (u, e) => {
    const x0 = u.valToPos(e.step_first - 0.5, 'x', true), x1 = u.valToPos(e.step_last + 0.5, 'x', true);
    const l = Math.max(u.bbox.left, Math.min(x0, x1)), r = Math.min(u.bbox.left + u.bbox.width, Math.max(x0, x1));
    return r < l ? null : [l, Math.max(r, l + 3 * devicePixelRatio)];
  };
  return {
    hooks: {
      draw: (u) => {
        u.gapsDrawn = 0;
        const list = gaps() || [];
        const { ctx } = u;
        ctx.save();
        ctx.fillStyle = color;
        for (const e of list) {
          const lr = within(u, e);
          if (!lr) continue;
          ctx.fillRect(lr[0], u.bbox.top, lr[1] - lr[0], u.bbox.height);
          u.gapsDrawn++;
        }
        ctx.restore();
      },
      setCursor: (u) => {
        const left = u.cursor.left;
        if (left === undefined || left === null || left < 0) { u.over.title = ''; return; }
        const x = left * devicePixelRatio + u.bbox.left;
        const hit = (gaps() || []).filter((e) => { const lr = within(u, e); return lr && x >= lr[0] && x <= lr[1]; });
        u.over.title = hit.map(gapText).join('\n');
      },
    },
  };
}

// Colour of alpha for the heat map: heavy tails (small alpha) warm, light
// tails cool, over [lo, hi].
export function alphaColor(a, lo = 0.5, hi = 4) {
  if (a === null || !Number.isFinite(a)) return '#e5e7eb';
  const t = Math.min(1, Math.max(0, (a - lo) / (hi - lo)));
  // four stops: red (heavy) -> yellow -> green -> blue (light)
  const stops = [[220, 38, 38], [250, 204, 21], [34, 197, 94], [37, 99, 235]];
  const x = t * (stops.length - 1);
  const s = Math.min(stops.length - 2, Math.floor(x));
  const f = x - s;
  const c = stops[s].map((v, i) => Math.round(v + (stops[s + 1][i] - v) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

// Heat map of alpha: rows = groups, columns = `bins` equal step ranges over
// [stepMin, stepMax]; a cell holds the mean alpha of the points in it.
// rows: [{group, step: [...], alpha: [...]}]. Returns the cell matrix (for
// tests and tooltips).
export function drawHeatmap(canvas, rows, { maxBins = 160, lo = 0.5, hi = 4, onPick } = {}) {
  // no more columns than the longest row has points, so no empty stripes
  const bins = Math.max(1, Math.min(maxBins, ...rows.map((r) => r.step.length)));
  let smin = Infinity, smax = -Infinity;
  for (const r of rows) {
    for (const s of r.step) { if (s < smin) smin = s; if (s > smax) smax = s; }
  }
  const labelW = 150, top = 4, rowH = Math.max(8, Math.min(22, Math.floor(360 / Math.max(1, rows.length))));
  const width = Math.max(300, canvas.parentElement.clientWidth || 600);
  const height = top + rows.length * rowH + 28;
  const dpr = devicePixelRatio || 1;
  canvas.width = width * dpr;
  canvas.height = height * dpr;
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext('2d');
  ctx.scale(dpr, dpr);
  ctx.clearRect(0, 0, width, height);
  const plotW = width - labelW - 8;
  const span = smax > smin ? smax - smin : 1;
  const cells = rows.map((r) => {
    const sum = new Float64Array(bins), cnt = new Uint32Array(bins);
    for (let i = 0; i < r.step.length; i++) {
      const a = r.alpha[i];
      if (a === null || !Number.isFinite(a)) continue;
      const b = Math.min(bins - 1, Math.floor(((r.step[i] - smin) / span) * bins));
      sum[b] += a; cnt[b]++;
    }
    return Array.from(sum, (v, b) => (cnt[b] ? v / cnt[b] : null));
  });
  // labels no taller than a row; with thin rows, every n-th row only
  const fontPx = Math.min(11, rowH);
  const labelEvery = Math.ceil(10 / rowH);
  ctx.font = `${fontPx}px system-ui, sans-serif`;
  ctx.textBaseline = 'middle';
  const cw = plotW / bins;
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    ctx.fillStyle = '#111827';
    const name = r.group.length > 22 ? `…${r.group.slice(-21)}` : r.group;
    if (i % labelEvery === 0) ctx.fillText(name, 6, y + rowH / 2);
    cells[i].forEach((a, b) => {
      ctx.fillStyle = alphaColor(a, lo, hi);
      ctx.fillRect(labelW + b * cw, y, Math.ceil(cw), rowH - 1);
    });
  });
  const yAxis = top + rows.length * rowH + 12;
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = '#374151';
  if (Number.isFinite(smin)) {
    ctx.fillText(`step ${smin}`, labelW, yAxis);
    const t = `step ${smax}`;
    ctx.fillText(t, labelW + plotW - ctx.measureText(t).width, yAxis);
  }
  canvas.onclick = (ev) => {
    const rect = canvas.getBoundingClientRect();
    const i = Math.floor((ev.clientY - rect.top - top) / rowH);
    if (onPick && i >= 0 && i < rows.length) onPick(rows[i].group);
  };
  canvas.onmousemove = (ev) => {
    const rect = canvas.getBoundingClientRect();
    const i = Math.floor((ev.clientY - rect.top - top) / rowH);
    const b = Math.floor((ev.clientX - rect.left - labelW) / cw);
    if (i >= 0 && i < rows.length && b >= 0 && b < bins) {
      const s0 = Math.round(smin + (b / bins) * span), s1 = Math.round(smin + ((b + 1) / bins) * span);
      canvas.title = `${rows[i].group}, steps ${s0}–${s1}: alpha ${fmt(cells[i][b])}`;
    }
  };
  return { cells, stepMin: smin, stepMax: smax };
}
