/**
 * Trend charts with uPlot: raw readings as dots, the hourly (or daily) average as a line
 * over a min–max band, and an optional target band. Every chart has a text alternative:
 * a caption that summarises it and a data table with the numbers it draws.
 */
import uPlot from '/vendor/uplot/uPlot.esm.js';
import { h } from './dom.js';
import { fmtDate, fmtDateTime, fmtDateTimeShort, fmtTime, zoneAbbreviation } from './format.js';

/**
 * @typedef {{t: number, v: number}} Point  t in epoch ms, v in display units
 * @typedef {{t0: number, t1: number, min: number, max: number, avg: number, count: number}} Bucket
 * @typedef {{key: string, label: string, color: string, readings: Point[], buckets: Bucket[]}} Metric
 * @typedef {{
 *   id: string, title: string, unit: string, fmt: (v: number) => string,
 *   mode: 'raw' | 'hour' | 'day', from: number, to: number,
 *   target: [number, number] | null, softRange: [number, number], minSpan?: number, metrics: Metric[],
 * }} ChartSpec
 */

const BUCKET_NAMES = { raw: 'hourly', hour: 'hourly', day: 'daily' };

function alpha(hex, a) {
  const n = Number.parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
}

/**
 * Aligns every track on one x axis (seconds). Missing values are `undefined`, which
 * uPlot draws across and skips when hovering.
 */
function align(spec) {
  const xs = new Set();
  for (const m of spec.metrics) {
    for (const p of m.readings) xs.add(p.t / 1000);
    for (const b of m.buckets) xs.add((b.t0 + b.t1) / 2000);
  }
  const x = [...xs].sort((a, b) => a - b);
  const at = new Map(x.map((v, i) => [v, i]));
  const data = [x];
  const layout = [];
  for (const m of spec.metrics) {
    const min = new Array(x.length).fill(undefined);
    const max = new Array(x.length).fill(undefined);
    const avg = new Array(x.length).fill(undefined);
    const count = new Array(x.length).fill(undefined);
    const raw = new Array(x.length).fill(undefined);
    for (const b of m.buckets) {
      const i = at.get((b.t0 + b.t1) / 2000);
      min[i] = b.min;
      max[i] = b.max;
      avg[i] = b.avg;
      count[i] = b.count;
    }
    for (const p of m.readings) raw[at.get(p.t / 1000)] = p.v;
    const base = data.length;
    data.push(min, max, avg, raw);
    layout.push({ metric: m, min: base, max: base + 1, avg: base + 2, raw: base + 3, count });
  }
  return { data, layout };
}

function seriesFor(spec, layout) {
  const bucketName = BUCKET_NAMES[spec.mode];
  const series = [{}];
  const bands = [];
  for (const l of layout) {
    const { label, color } = l.metric;
    const hidden = { stroke: 'transparent', width: 0, points: { show: false } };
    series.push({ label: `${label} ${bucketName} min`, ...hidden });
    series.push({ label: `${label} ${bucketName} max`, ...hidden });
    series.push({
      label: `${label} ${bucketName} average`,
      stroke: alpha(color, spec.mode === 'raw' ? 0.75 : 1),
      width: spec.mode === 'raw' ? 1.5 : 2,
      points: { show: spec.mode !== 'raw', size: 4, fill: color, stroke: color },
    });
    series.push({
      label: `${label} reading`,
      stroke: color,
      width: 0,
      paths: () => null,
      points: { show: true, size: 6, width: 1, stroke: '#ffffff', fill: color },
    });
    bands.push({ series: [l.max, l.min], fill: alpha(color, 0.16) });
  }
  return { series, bands };
}

/** Shades the target range behind the data and marks its edges. */
function targetPlugin(target) {
  return {
    hooks: {
      drawClear: [
        (u) => {
          if (!target) return;
          const { ctx, bbox } = u;
          const top = Math.max(bbox.top, u.valToPos(target[1], 'y', true));
          const bottom = Math.min(bbox.top + bbox.height, u.valToPos(target[0], 'y', true));
          if (bottom <= top) return;
          ctx.save();
          ctx.fillStyle = 'rgba(22, 163, 74, 0.09)';
          ctx.fillRect(bbox.left, top, bbox.width, bottom - top);
          ctx.strokeStyle = 'rgba(22, 163, 74, 0.55)';
          ctx.lineWidth = Math.max(1, devicePixelRatio);
          ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
          for (const y of [top, bottom]) {
            ctx.beginPath();
            ctx.moveTo(bbox.left, y);
            ctx.lineTo(bbox.left + bbox.width, y);
            ctx.stroke();
          }
          ctx.restore();
        },
      ],
    },
  };
}

/** "Nov 8, 2026" for a day; "Nov 23, 2026, 2:00 PM – 3:00 PM EST" for an hour. */
function bucketTime(mode, b) {
  if (mode === 'day') return fmtDate(b.t0);
  return `${fmtDateTimeShort(b.t0)} – ${fmtTime(b.t1)} ${zoneAbbreviation(new Date(b.t0))}`;
}

/** A tooltip with the exact value and time of the nearest points under the cursor. */
function tooltipPlugin(spec, layout) {
  let tip;
  const bucketName = BUCKET_NAMES[spec.mode];
  return {
    hooks: {
      init: [
        (u) => {
          tip = h('div', { class: 'chart-tip', hidden: true, 'aria-hidden': 'true' });
          u.over.append(tip);
          u.over.addEventListener('mouseleave', () => {
            tip.hidden = true;
          });
        },
      ],
      setCursor: [
        (u) => {
          const { left, top, idxs } = u.cursor;
          if (left === undefined || left < 0 || !idxs) {
            tip.hidden = true;
            return;
          }
          const rows = [];
          for (const l of layout) {
            const ri = idxs[l.raw];
            if (ri !== null && ri !== undefined && u.data[l.raw][ri] !== undefined) {
              rows.push(
                h(
                  'div',
                  { class: 'chart-tip-row' },
                  h('span', { class: 'swatch', style: `background:${l.metric.color}` }),
                  h('strong', {}, `${l.metric.label} ${spec.fmt(u.data[l.raw][ri])} ${spec.unit}`),
                  h('span', { class: 'chart-tip-time' }, fmtDateTime(u.data[0][ri] * 1000)),
                ),
              );
            }
            const ai = idxs[l.avg];
            if (ai !== null && ai !== undefined && u.data[l.avg][ai] !== undefined) {
              const bucket = l.metric.buckets.find((b) => (b.t0 + b.t1) / 2000 === u.data[0][ai]);
              rows.push(
                h(
                  'div',
                  { class: 'chart-tip-row chart-tip-agg' },
                  h('span', { class: 'swatch swatch-band', style: `background:${alpha(l.metric.color, 0.35)}` }),
                  h(
                    'span',
                    {},
                    `${l.metric.label} ${bucketName} average ${spec.fmt(u.data[l.avg][ai])} ${spec.unit}`,
                    l.count[ai] > 1 ? ` (${spec.fmt(u.data[l.min][ai])}–${spec.fmt(u.data[l.max][ai])})` : '',
                    `, ${l.count[ai]} reading${l.count[ai] === 1 ? '' : 's'}`,
                  ),
                  bucket ? h('span', { class: 'chart-tip-time' }, bucketTime(spec.mode, bucket)) : null,
                ),
              );
            }
          }
          if (rows.length === 0) {
            tip.hidden = true;
            return;
          }
          tip.replaceChildren(...rows);
          tip.hidden = false;
          const w = u.over.clientWidth;
          const tipW = tip.offsetWidth;
          const x = left + 14 + tipW > w ? Math.max(0, left - tipW - 14) : left + 14;
          tip.style.transform = `translate(${x}px, ${Math.max(0, top - 10)}px)`;
        },
      ],
    },
  };
}

/**
 * Draws `spec` into `container` and keeps it sized to the container. Returns the uPlot
 * instance (also reachable as `container.uplot`, for debugging and tests).
 */
export function renderChart(container, spec) {
  const { data, layout } = align(spec);
  const { series, bands } = seriesFor(spec, layout);
  const hoverable = new Set(layout.flatMap((l) => [l.avg, l.raw]));
  const height = () => (container.clientWidth < 500 ? 220 : 280);
  const opts = {
    width: Math.max(280, container.clientWidth),
    height: height(),
    series,
    bands,
    legend: { show: false },
    cursor: {
      drag: { x: false, y: false },
      hover: { prox: 32 },
      points: {
        show: (_u, si) => {
          if (!hoverable.has(si)) return null;
          const el = document.createElement('div');
          Object.assign(el.style, { width: '10px', height: '10px', marginLeft: '-5px', marginTop: '-5px' });
          el.style.borderWidth = '2px';
          return el;
        },
      },
    },
    scales: {
      x: { time: true, range: () => [spec.from / 1000, spec.to / 1000] },
      y: {
        range: (_u, min, max) => {
          let lo = Math.min(min ?? spec.softRange[0], spec.softRange[0]);
          let hi = Math.max(max ?? spec.softRange[1], spec.softRange[1]);
          // Keep small changes (a kilogram of weight) from filling the whole height.
          const short = (spec.minSpan ?? 1) - (hi - lo);
          if (short > 0) {
            lo -= short / 2;
            hi += short / 2;
          }
          const pad = (hi - lo) * 0.06;
          return [lo - pad, hi + pad];
        },
      },
    },
    axes: [
      { stroke: '#52606d', grid: { stroke: '#e4e7eb', width: 1 }, ticks: { stroke: '#cbd2d9', width: 1 } },
      {
        stroke: '#52606d',
        label: spec.unit,
        labelSize: 18,
        size: 48,
        grid: { stroke: '#e4e7eb', width: 1 },
        ticks: { stroke: '#cbd2d9', width: 1 },
      },
    ],
    plugins: [targetPlugin(spec.target), tooltipPlugin(spec, layout)],
  };
  container.replaceChildren();
  const u = new uPlot(opts, data, container);
  container.uplot = u;
  let lastWidth = container.clientWidth;
  const ro = new ResizeObserver(() => {
    const w = container.clientWidth;
    if (w === lastWidth || w === 0) return;
    lastWidth = w;
    u.setSize({ width: Math.max(280, w), height: height() });
  });
  ro.observe(container);
  u.hooks.destroy = [...(u.hooks.destroy ?? []), () => ro.disconnect()];
  return u;
}

/** A visible key for the chart's marks (the canvas itself is hidden from assistive tech). */
export function chartKey(spec) {
  const bucketName = BUCKET_NAMES[spec.mode];
  const items = [];
  for (const m of spec.metrics) {
    if (spec.mode === 'raw') {
      items.push(h('li', {}, h('span', { class: 'key-dot', style: `background:${m.color}` }), `${m.label} readings`));
    }
    items.push(
      h(
        'li',
        {},
        h('span', { class: 'key-line', style: `background:${m.color}` }),
        `${m.label} ${bucketName} average`,
        h('span', { class: 'key-band', style: `background:${alpha(m.color, 0.25)}` }),
        'min–max',
      ),
    );
  }
  if (spec.target) {
    items.push(
      h(
        'li',
        {},
        h('span', { class: 'key-target' }),
        `Target ${spec.fmt(spec.target[0])}–${spec.fmt(spec.target[1])} ${spec.unit}`,
      ),
    );
  }
  return h('ul', { class: 'chart-key' }, items);
}

function th(text, scope = 'col') {
  return h('th', { scope }, text);
}

/**
 * The numbers a chart draws, as tables: the readings (paired by time when the chart
 * has several metrics) and the hourly or daily aggregates.
 */
export function dataTables(spec) {
  const zone = zoneAbbreviation(new Date(spec.to));
  const out = [];
  if (spec.mode === 'raw') {
    const byTime = new Map();
    for (const [i, m] of spec.metrics.entries()) {
      for (const p of m.readings) {
        if (!byTime.has(p.t)) byTime.set(p.t, new Array(spec.metrics.length).fill(null));
        byTime.get(p.t)[i] = p.v;
      }
    }
    const times = [...byTime.keys()].sort((a, b) => b - a);
    out.push(
      h(
        'div',
        { class: 'table-scroll' },
        h(
          'table',
          { class: 'data-table' },
          h('caption', {}, `${spec.title} readings (${spec.unit}), newest first`),
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              th(`Time (${zone})`),
              spec.metrics.map((m) => th(m.label)),
            ),
          ),
          h(
            'tbody',
            {},
            times.map((t) =>
              h(
                'tr',
                {},
                th(fmtDateTimeShort(t), 'row'),
                byTime.get(t).map((v) => h('td', { class: 'num' }, v === null ? '—' : spec.fmt(v))),
              ),
            ),
          ),
        ),
      ),
    );
  }
  const bucketName = BUCKET_NAMES[spec.mode];
  const starts = new Map();
  for (const [i, m] of spec.metrics.entries()) {
    for (const b of m.buckets) {
      if (!starts.has(b.t0)) starts.set(b.t0, { t1: b.t1, values: new Array(spec.metrics.length).fill(null) });
      starts.get(b.t0).values[i] = b;
    }
  }
  const keys = [...starts.keys()].sort((a, b) => b - a);
  const cell = (b, f) => h('td', { class: 'num' }, b ? f(b) : '—');
  out.push(
    h(
      'div',
      { class: 'table-scroll' },
      h(
        'table',
        { class: 'data-table' },
        h('caption', {}, `${spec.title}, ${bucketName} aggregates (${spec.unit}), newest first`),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            th(`${spec.mode === 'day' ? 'Day' : 'Hour'} starting (${zone})`),
            spec.metrics.map((m) => [th(`${m.label} avg`), th(`${m.label} min`), th(`${m.label} max`), th('Readings')]),
          ),
        ),
        h(
          'tbody',
          {},
          keys.length === 0
            ? h('tr', {}, h('td', { colspan: 1 + 4 * spec.metrics.length }, 'No aggregates in this period yet.'))
            : keys.map((t0) =>
                h(
                  'tr',
                  {},
                  th(fmtDateTimeShort(t0), 'row'),
                  starts
                    .get(t0)
                    .values.map((b) => [
                      cell(b, (x) => spec.fmt(x.avg)),
                      cell(b, (x) => spec.fmt(x.min)),
                      cell(b, (x) => spec.fmt(x.max)),
                      cell(b, (x) => String(x.count)),
                    ]),
                ),
              ),
        ),
      ),
    ),
  );
  return out;
}
