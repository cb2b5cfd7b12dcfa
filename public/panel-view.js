/**
 * The patient panel: searchable, paged, sorted so that patients who need attention come
 * first, with each patient's latest readings, blood-pressure category and time in range.
 */
import { announce, h, replace } from './dom.js';
import { ageFrom, BP_CATEGORY, fmtAgo, fmtDateTime, fmtValue, GLUCOSE_STATUS, loadUnits } from './format.js';

const PAGE_SIZE = 20;
const SORTS = [
  { id: 'attention', label: 'Needs attention first' },
  { id: 'name', label: 'Name' },
  { id: 'id', label: 'Record number' },
];

function chip(info) {
  return h('span', { class: `chip chip-${info.tone}` }, info.label);
}

function when(ts) {
  return h('time', { datetime: ts, title: fmtDateTime(ts), class: 'muted small' }, fmtAgo(ts));
}

function glucoseCell(s, units) {
  const g = s.latest.glucose;
  if (!g) return h('span', { class: 'muted' }, '—');
  return [
    h('span', { class: 'value' }, fmtValue('glucose', g.value, units)),
    ' ',
    chip(GLUCOSE_STATUS[g.status]),
    h('br'),
    when(g.timestamp),
  ];
}

function bpCell(s) {
  const bp = s.blood_pressure;
  if (!bp) return h('span', { class: 'muted' }, '—');
  return [
    h('span', { class: 'value' }, `${Math.round(bp.systolic)}/${Math.round(bp.diastolic)} mmHg`),
    ' ',
    chip(BP_CATEGORY[bp.category]),
    h('br'),
    when(bp.timestamp),
  ];
}

function tirCell(s) {
  const r = s.time_in_range;
  if (r.readings === 0) return h('span', { class: 'muted' }, 'No readings');
  const pct = r.in_range_pct ?? 0;
  const tone = pct >= 70 ? 'ok' : pct >= 50 ? 'warn' : 'danger';
  return [
    h('span', { class: 'value' }, `${pct} %`),
    h(
      'span',
      {
        class: 'tir-bar',
        role: 'img',
        'aria-label': `${r.below_pct} % below, ${r.in_range_pct} % in range, ${r.above_pct} % above`,
      },
      h('span', { class: 'tir-below', style: `width:${r.below_pct}%` }),
      h('span', { class: `tir-in tir-${tone}`, style: `width:${r.in_range_pct}%` }),
      h('span', { class: 'tir-above', style: `width:${r.above_pct}%` }),
    ),
    h('span', { class: 'muted small' }, `${r.readings} reading${r.readings === 1 ? '' : 's'}`),
  ];
}

function weightCell(s, units) {
  const w = s.latest.weight;
  if (!w) return h('span', { class: 'muted' }, '—');
  return [h('span', { class: 'value' }, fmtValue('weight', w.value, units)), h('br'), when(w.timestamp)];
}

function attentionCell(s) {
  if (s.attention.reasons.length === 0) return h('span', { class: 'muted' }, 'Nothing flagged');
  return h(
    'ul',
    { class: 'reasons' },
    s.attention.reasons.map((r) => h('li', { class: r.points >= 50 ? 'reason reason-high' : 'reason' }, r.message)),
  );
}

function row(s, units) {
  const p = s.patient;
  const sex = p.gender === 'female' ? 'F' : p.gender === 'male' ? 'M' : 'Other';
  return h(
    'tr',
    { dataset: { patientId: String(p.id) }, class: s.attention.score >= 50 ? 'row-alert' : null },
    h(
      'th',
      { scope: 'row', 'data-label': 'Patient' },
      h('a', { href: `#/patients/${p.id}`, class: 'patient-link', dataset: { patientId: String(p.id) } }, p.name),
      h('span', { class: 'muted small block' }, `${sex} · ${ageFrom(p.dob)} y · #${p.id}`),
    ),
    h('td', { 'data-label': 'Needs attention' }, attentionCell(s)),
    h('td', { 'data-label': 'Glucose' }, glucoseCell(s, units)),
    h('td', { 'data-label': 'Blood pressure' }, bpCell(s)),
    h('td', { 'data-label': 'Time in range (14 d)' }, tirCell(s)),
    h('td', { 'data-label': 'Weight' }, weightCell(s, units)),
  );
}

export function renderPanel(ctx) {
  document.title = 'Patients · PatientPulse';
  const st = ctx.state.panel;
  const units = loadUnits();
  let debounce = null;

  const search = h('input', {
    id: 'patient-search',
    type: 'search',
    value: st.search,
    placeholder: 'Name or email',
    autocomplete: 'off',
    'aria-controls': 'patient-table',
  });
  const sort = h(
    'select',
    { id: 'patient-sort', 'aria-controls': 'patient-table' },
    SORTS.map((s) => h('option', { value: s.id, selected: s.id === st.sort }, s.label)),
  );
  const status = h('p', { class: 'muted', id: 'panel-status', 'aria-live': 'polite' });
  const body = h('tbody');
  const caption = h('caption', { class: 'visually-hidden' });
  const table = h(
    'table',
    { id: 'patient-table', class: 'panel-table' },
    caption,
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        [
          'Patient',
          'Needs attention',
          'Glucose (latest)',
          'Blood pressure (latest)',
          'Time in range, 14 d',
          'Weight',
        ].map((t) => h('th', { scope: 'col' }, t)),
      ),
    ),
    body,
  );
  const prev = h('button', { type: 'button', class: 'btn', on: { click: () => go(st.page - 1) } }, 'Previous');
  const next = h('button', { type: 'button', class: 'btn', on: { click: () => go(st.page + 1) } }, 'Next');
  const pageInfo = h('span', { class: 'muted' });
  const error = h('div', { role: 'alert' });

  async function load(keepNotice = false) {
    table.setAttribute('aria-busy', 'true');
    if (!keepNotice) error.replaceChildren();
    try {
      const res = await ctx.api.get('/patients/summary', {
        page: st.page,
        size: PAGE_SIZE,
        sort: st.sort,
        search: st.search || undefined,
      });
      if (!ctx.isCurrent()) return;
      const sortLabel = SORTS.find((s) => s.id === st.sort)?.label ?? st.sort;
      caption.textContent = `Patients, sorted by ${sortLabel.toLowerCase()}`;
      if (res.items.length === 0) {
        replace(
          body,
          h(
            'tr',
            {},
            h(
              'td',
              { colspan: 6, class: 'empty' },
              st.search ? `No patients match “${st.search}”.` : 'No patients to show.',
            ),
          ),
        );
      } else {
        replace(
          body,
          res.items.map((s) => row(s, units)),
        );
      }
      const first = res.total === 0 ? 0 : (res.page - 1) * res.size + 1;
      const last = Math.min(res.total, res.page * res.size);
      pageInfo.textContent = `${first}–${last} of ${res.total}`;
      status.textContent = `${res.total} patient${res.total === 1 ? '' : 's'}${st.search ? ` matching “${st.search}”` : ''}`;
      prev.disabled = res.page <= 1;
      next.disabled = last >= res.total;
    } catch (err) {
      if (!ctx.isCurrent()) return;
      const sortError = err.status === 422 && err.errors.find((e) => e.field === 'query.sort');
      if (sortError && st.sort === 'attention') {
        // Too many patients to score at once: fall back to name order and say why.
        st.sort = 'name';
        sort.value = 'name';
        replace(
          error,
          h(
            'p',
            { class: 'notice' },
            'Showing patients by name: the list is too long to sort by attention. Search to narrow it.',
          ),
        );
        table.removeAttribute('aria-busy');
        return load(true);
      }
      replace(error, h('div', { class: 'notice notice-error' }, `Could not load patients: ${err.message}`));
    } finally {
      table.removeAttribute('aria-busy');
    }
  }

  function go(page) {
    st.page = Math.max(1, page);
    load().then(() => announce(`Page ${st.page}`));
  }

  search.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      st.search = search.value.trim();
      st.page = 1;
      load();
    }, 250);
  });
  search.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      clearTimeout(debounce);
      st.search = search.value.trim();
      st.page = 1;
      load();
    }
  });
  sort.addEventListener('change', () => {
    st.sort = sort.value;
    st.page = 1;
    load();
  });

  replace(
    ctx.main,
    h(
      'section',
      { class: 'container' },
      h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, 'Patients'), status),
      h(
        'div',
        { class: 'toolbar', role: 'search' },
        h('div', { class: 'field' }, h('label', { for: 'patient-search' }, 'Search patients'), search),
        h('div', { class: 'field' }, h('label', { for: 'patient-sort' }, 'Sort by'), sort),
      ),
      error,
      h('div', { class: 'card table-card' }, table),
      h('nav', { class: 'pager', 'aria-label': 'Patient list pages' }, prev, pageInfo, next),
    ),
  );
  load();
  return () => clearTimeout(debounce);
}
