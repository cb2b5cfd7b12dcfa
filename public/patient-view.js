/**
 * One patient: summary cards, trend charts over a selectable period with a unit switch,
 * and the recent readings with add and delete.
 */
import { chartKey, dataTables, renderChart } from './charts.js';
import { announce, h, replace } from './dom.js';
import {
  ageFrom,
  BP_CATEGORY,
  fmtAgo,
  fmtDateTime,
  fmtNumber,
  fmtValue,
  GLUCOSE_STATUS,
  loadUnits,
  saveUnits,
  toDisplay,
  zoneLabel,
} from './format.js';
import { createReadingsSection } from './readings-view.js';
import { chartSpecs, describeChart, loadTrends, PERIODS } from './trends.js';

const DAY = 86_400_000;

function dateInput(d) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** [from, to) of the selected period; custom dates are whole local days, `to` inclusive. */
function periodRange(p) {
  if (p.id === 'custom') {
    const [fy, fm, fd] = p.from.split('-').map(Number);
    const [ty, tm, td] = p.to.split('-').map(Number);
    return [new Date(fy, fm - 1, fd).getTime(), new Date(ty, tm - 1, td + 1).getTime()];
  }
  // A minute of slack keeps a reading stamped "now" inside the period.
  const to = Date.now() + 60_000;
  return [to - (PERIODS.find((x) => x.id === p.id)?.ms ?? 7 * DAY), to];
}

function chip(info) {
  return h('span', { class: `chip chip-${info.tone}` }, info.label);
}

function stamp(ts) {
  return h(
    'p',
    { class: 'stat-time muted small' },
    h('span', { class: 'block' }, fmtAgo(ts)),
    h('time', { datetime: ts }, fmtDateTime(ts)),
  );
}

function summaryCards(s, units) {
  const g = s.latest.glucose;
  const bp = s.blood_pressure;
  const w = s.latest.weight;
  const r = s.time_in_range;
  const card = (title, ...content) =>
    h('div', { class: 'card stat' }, h('h2', { class: 'stat-title' }, title), ...content);
  const none = h('p', { class: 'stat-value muted' }, '—');
  return [
    card(
      'Latest glucose',
      g
        ? h('p', { class: 'stat-value' }, fmtValue('glucose', g.value, units), ' ', chip(GLUCOSE_STATUS[g.status]))
        : none,
      g ? stamp(g.timestamp) : null,
    ),
    card(
      'Blood pressure',
      bp
        ? h(
            'p',
            { class: 'stat-value' },
            `${Math.round(bp.systolic)}/${Math.round(bp.diastolic)} mmHg `,
            chip(BP_CATEGORY[bp.category]),
          )
        : none.cloneNode(true),
      bp ? stamp(bp.timestamp) : null,
    ),
    card(
      'Time in range, 14 days',
      r.readings
        ? h(
            'p',
            { class: 'stat-value' },
            `${r.in_range_pct} %`,
            h(
              'span',
              { class: 'muted small' },
              ` in ${fmtNumber(toDisplay('glucose', 70, units), units.glucose)}–${fmtValue('glucose', 180, units)}`,
            ),
          )
        : h('p', { class: 'stat-value muted' }, 'No glucose readings'),
      r.readings
        ? h('p', { class: 'muted small' }, `${r.readings} readings · ${r.below_pct} % below · ${r.above_pct} % above`)
        : null,
    ),
    card(
      'Weight',
      w ? h('p', { class: 'stat-value' }, fmtValue('weight', w.value, units)) : none.cloneNode(true),
      w ? stamp(w.timestamp) : null,
    ),
  ];
}

function radioGroup(name, legend, options, selected, onChange) {
  return h(
    'fieldset',
    { class: 'segmented' },
    h('legend', {}, legend),
    h(
      'div',
      { class: 'segmented-options' },
      options.map((o) =>
        h(
          'label',
          { class: 'segment' },
          h('input', {
            type: 'radio',
            name,
            value: o.id,
            checked: o.id === selected,
            on: { change: (e) => e.target.checked && onChange(o.id) },
          }),
          h('span', {}, o.label),
        ),
      ),
    ),
  );
}

export function renderPatient(ctx, patientId) {
  document.title = 'Patient · PatientPulse';
  if (!ctx.state.patient) {
    const today = new Date();
    ctx.state.patient = {
      period: { id: '7d', from: dateInput(new Date(today.getTime() - 30 * DAY)), to: dateInput(today) },
    };
  }
  const ps = ctx.state.patient;
  let units = loadUnits();
  let summary = null;
  let trends = null;
  let range = periodRange(ps.period);
  let charts = [];
  let loadSeq = 0;

  const heading = h('h1', { tabindex: '-1', id: 'patient-name' }, 'Loading patient…');
  const meta = h('p', { class: 'muted' });
  const attention = h('div');
  const cards = h('div', { class: 'stats', 'aria-live': 'polite' });
  const rangeText = h('p', { class: 'muted small', id: 'period-range' });
  const chartNotes = h('div');
  const chartsRegion = h('div', { class: 'charts', id: 'charts', 'aria-busy': 'true' });

  const customFrom = h('input', { type: 'date', id: 'custom-from', value: ps.period.from });
  const customTo = h('input', { type: 'date', id: 'custom-to', value: ps.period.to });
  const customError = h('p', { class: 'field-error', role: 'alert' });
  const customBox = h(
    'form',
    {
      class: 'custom-range',
      hidden: ps.period.id !== 'custom',
      on: {
        submit: (e) => {
          e.preventDefault();
          if (!customFrom.value || !customTo.value || customFrom.value > customTo.value) {
            customError.textContent = 'Choose a start date on or before the end date.';
            return;
          }
          customError.textContent = '';
          ps.period = { id: 'custom', from: customFrom.value, to: customTo.value };
          reloadTrends();
        },
      },
    },
    h('div', { class: 'field' }, h('label', { for: 'custom-from' }, 'From'), customFrom),
    h('div', { class: 'field' }, h('label', { for: 'custom-to' }, 'To (inclusive)'), customTo),
    h('button', { type: 'submit', class: 'btn' }, 'Show'),
    customError,
  );

  const readings = createReadingsSection(ctx, patientId, {
    units: () => units,
    onChange: () => {
      loadSummary();
      reloadTrends();
    },
  });

  function destroyCharts() {
    for (const u of charts) u.destroy();
    charts = [];
  }

  function periodText() {
    const p = PERIODS.find((x) => x.id === ps.period.id);
    return p && p.id !== 'custom' ? p.long : `${fmtDateTime(range[0])} to ${fmtDateTime(range[1])}`;
  }

  function drawCharts() {
    destroyCharts();
    if (!trends) return;
    const specs = chartSpecs(trends, units, range[0], range[1]);
    const figures = specs.map((spec) => {
      const hasData = spec.metrics.some((m) => m.readings.length || m.buckets.length);
      const plot = h('div', { class: 'chart', 'aria-hidden': 'true' });
      const details = h(
        'details',
        { class: 'chart-data' },
        h('summary', {}, `${spec.title}: show the numbers as a table`),
      );
      let filled = false;
      details.addEventListener('toggle', () => {
        if (details.open && !filled) {
          filled = true;
          details.append(...dataTables(spec));
        }
      });
      const fig = h(
        'figure',
        { class: 'card chart-card', id: `chart-${spec.id}`, 'aria-labelledby': `chart-${spec.id}-title` },
        h('div', { class: 'chart-head' }, h('h2', { id: `chart-${spec.id}-title` }, spec.title), chartKey(spec)),
        hasData ? plot : h('p', { class: 'chart-empty' }, `No ${spec.title.toLowerCase()} readings in this period.`),
        h('figcaption', { class: 'chart-caption' }, describeChart(spec, periodText())),
        hasData ? details : null,
      );
      return { fig, plot, spec, hasData };
    });
    replace(
      chartsRegion,
      figures.map((f) => f.fig),
    );
    for (const f of figures) if (f.hasData) charts.push(renderChart(f.plot, f.spec));
  }

  async function reloadTrends() {
    range = periodRange(ps.period);
    const seq = ++loadSeq;
    // The exact period drawn, for scripts and tests that check the charts' data.
    chartsRegion.dataset.from = String(range[0]);
    chartsRegion.dataset.to = String(range[1]);
    rangeText.textContent = `${fmtDateTime(range[0])} – ${fmtDateTime(range[1])}`;
    chartsRegion.setAttribute('aria-busy', 'true');
    chartNotes.replaceChildren();
    try {
      const t = await loadTrends(ctx.api, patientId, range[0], range[1]);
      if (!ctx.isCurrent() || seq !== loadSeq) return;
      trends = t;
      drawCharts();
      if (t.notes.length)
        replace(
          chartNotes,
          t.notes.map((n) => h('p', { class: 'notice' }, n)),
        );
    } catch (err) {
      if (!ctx.isCurrent() || seq !== loadSeq) return;
      destroyCharts();
      replace(
        chartsRegion,
        h('div', { class: 'notice notice-error', role: 'alert' }, `Could not load the charts: ${err.message}`),
      );
    } finally {
      if (ctx.isCurrent() && seq === loadSeq) chartsRegion.setAttribute('aria-busy', 'false');
    }
  }

  function renderSummary() {
    if (!summary) return;
    const p = summary.patient;
    heading.textContent = p.name;
    document.title = `${p.name} · PatientPulse`;
    const sex = p.gender.charAt(0).toUpperCase() + p.gender.slice(1);
    meta.textContent = `${sex} · ${ageFrom(p.dob)} years (born ${p.dob}) · ${p.email} · #${p.id}`;
    replace(cards, summaryCards(summary, units));
    const reasons = summary.attention.reasons;
    replace(
      attention,
      reasons.length
        ? h(
            'div',
            { class: 'notice notice-attention' },
            h('strong', {}, 'Needs attention: '),
            reasons.map((r) => r.message).join(' · '),
          )
        : null,
    );
  }

  async function loadSummary() {
    try {
      const s = await ctx.api.get(`/patients/${patientId}/summary`);
      if (!ctx.isCurrent()) return;
      summary = s;
      renderSummary();
    } catch (err) {
      if (!ctx.isCurrent()) return;
      if (err.status === 404) {
        destroyCharts();
        document.title = 'Patient not found · PatientPulse';
        replace(
          ctx.main,
          h(
            'section',
            { class: 'container' },
            h('h1', { tabindex: '-1' }, 'Patient not found'),
            h(
              'p',
              { class: 'notice notice-error', role: 'alert', id: 'patient-not-found' },
              'This patient does not exist, or this API key has no access to it.',
            ),
            h('p', {}, h('a', { href: '#/' }, 'Back to the patient list')),
          ),
        );
        ctx.main.querySelector('h1')?.focus();
        return;
      }
      replace(
        cards,
        h('div', { class: 'notice notice-error', role: 'alert' }, `Could not load the summary: ${err.message}`),
      );
    }
  }

  const periodGroup = radioGroup('period', 'Period', PERIODS, ps.period.id, (id) => {
    customBox.hidden = id !== 'custom';
    if (id === 'custom') {
      customFrom.focus();
      return;
    }
    ps.period = { ...ps.period, id };
    reloadTrends();
  });
  const onUnits = () => {
    saveUnits(units);
    renderSummary();
    drawCharts();
    readings.refreshUnits();
    announce(`Showing glucose in ${units.glucose} and weight in ${units.weight}`);
  };
  const glucoseUnits = radioGroup(
    'glucose-unit',
    'Glucose unit',
    [
      { id: 'mg/dL', label: 'mg/dL' },
      { id: 'mmol/L', label: 'mmol/L' },
    ],
    units.glucose,
    (id) => {
      units = { ...units, glucose: id };
      onUnits();
    },
  );
  const weightUnits = radioGroup(
    'weight-unit',
    'Weight unit',
    [
      { id: 'kg', label: 'kg' },
      { id: 'lb', label: 'lb' },
    ],
    units.weight,
    (id) => {
      units = { ...units, weight: id };
      onUnits();
    },
  );

  replace(
    ctx.main,
    h(
      'article',
      { class: 'container patient', dataset: { patientId: String(patientId) } },
      h('p', { class: 'crumbs' }, h('a', { href: '#/' }, '← All patients')),
      h('div', { class: 'page-head' }, heading, meta),
      attention,
      cards,
      h(
        'section',
        { class: 'card controls', 'aria-label': 'Chart options' },
        h('div', { class: 'controls-row' }, periodGroup, glucoseUnits, weightUnits),
        customBox,
        rangeText,
        h('p', { class: 'muted small' }, `Times in ${zoneLabel()}.`),
      ),
      chartNotes,
      chartsRegion,
      readings.element,
    ),
  );
  heading.focus();
  loadSummary();
  reloadTrends();
  return destroyCharts;
}
