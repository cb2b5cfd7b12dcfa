/**
 * Recent readings of one patient: a paged table with delete (after confirmation) and a
 * form to add a reading. Validation is the API's: its problem+json messages are shown
 * next to the fields they name.
 */
import { ApiError } from './api.js';
import { announce, h, replace } from './dom.js';
import {
  fmtDateTime,
  fmtDateTimeShort,
  fmtValue,
  TYPE_LABELS,
  timeZone,
  toLocalInput,
  zoneAbbreviation,
} from './format.js';

const PAGE_SIZE = 20;
const UNIT_CHOICES = { glucose: ['mg/dL', 'mmol/L'], systolic: ['mmHg'], diastolic: ['mmHg'], weight: ['kg', 'lb'] };
const FIELD_FOR = { 'body.type': 'type', 'body.value': 'value', 'body.unit': 'unit', 'body.timestamp': 'time' };
const FIELD_LABELS = { type: 'Type', value: 'Value', unit: 'Unit', time: 'Time' };

/** Asks for confirmation in a modal dialog; resolves true when the user confirms. */
function confirmDialog(title, text, confirmLabel) {
  return new Promise((resolve) => {
    const cancel = h('button', { type: 'button', class: 'btn', value: 'cancel' }, 'Cancel');
    const ok = h('button', { type: 'button', class: 'btn btn-danger', value: 'ok' }, confirmLabel);
    const dialog = h(
      'dialog',
      { class: 'dialog', 'aria-labelledby': 'confirm-title', 'aria-describedby': 'confirm-text' },
      h('h2', { id: 'confirm-title' }, title),
      h('p', { id: 'confirm-text' }, text),
      h('div', { class: 'dialog-actions' }, cancel, ok),
    );
    const done = (result) => {
      dialog.close();
      dialog.remove();
      resolve(result);
    };
    cancel.addEventListener('click', () => done(false));
    ok.addEventListener('click', () => done(true));
    dialog.addEventListener('cancel', (e) => {
      e.preventDefault();
      done(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

/**
 * @param ctx view context
 * @param {number} patientId
 * @param {{ units: () => object, onChange: () => void }} hooks onChange after an add or delete
 */
export function createReadingsSection(ctx, patientId, hooks) {
  let page = 1;
  let lastItems = [];
  const canWrite = ctx.canWrite();

  const body = h('tbody');
  const zoneHead = h('th', { scope: 'col' }, 'Time');
  const table = h(
    'table',
    { class: 'data-table readings-table', id: 'readings-table' },
    h('caption', { class: 'visually-hidden' }, 'Recent readings, newest first'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        zoneHead,
        h('th', { scope: 'col' }, 'Type'),
        h('th', { scope: 'col', class: 'num' }, 'Value'),
        canWrite ? h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')) : null,
      ),
    ),
    body,
  );
  const prev = h('button', { type: 'button', class: 'btn', on: { click: () => load(page - 1) } }, 'Newer');
  const next = h('button', { type: 'button', class: 'btn', on: { click: () => load(page + 1) } }, 'Older');
  const pageInfo = h('span', { class: 'muted' });
  const tableError = h('div', { role: 'alert' });

  function renderRows() {
    const units = hooks.units();
    if (lastItems.length === 0) {
      replace(body, h('tr', {}, h('td', { colspan: canWrite ? 4 : 3, class: 'empty' }, 'No readings yet.')));
      return;
    }
    replace(
      body,
      lastItems.map((r) =>
        h(
          'tr',
          { dataset: { readingId: String(r.id) } },
          h(
            'td',
            {},
            h('time', { datetime: r.timestamp, title: fmtDateTime(r.timestamp) }, fmtDateTimeShort(r.timestamp)),
          ),
          h('td', {}, TYPE_LABELS[r.type]),
          h('td', { class: 'num' }, fmtValue(r.type, r.value, units, 1)),
          canWrite
            ? h(
                'td',
                { class: 'actions' },
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'btn btn-small btn-danger-ghost',
                    'aria-label': `Delete ${TYPE_LABELS[r.type].toLowerCase()} reading of ${fmtDateTime(r.timestamp)}`,
                    on: { click: () => remove(r) },
                  },
                  'Delete',
                ),
              )
            : null,
        ),
      ),
    );
  }

  async function load(p = page) {
    page = Math.max(1, p);
    table.setAttribute('aria-busy', 'true');
    tableError.replaceChildren();
    try {
      const res = await ctx.api.get('/biometrics', { patient_id: patientId, page, size: PAGE_SIZE });
      if (!ctx.isCurrent()) return;
      if (res.items.length === 0 && page > 1 && res.total > 0) return load(Math.ceil(res.total / PAGE_SIZE));
      lastItems = res.items;
      zoneHead.textContent = `Time (${zoneAbbreviation()})`;
      renderRows();
      const first = res.total === 0 ? 0 : (page - 1) * PAGE_SIZE + 1;
      const last = Math.min(res.total, page * PAGE_SIZE);
      pageInfo.textContent = `${first}–${last} of ${res.total}`;
      prev.disabled = page <= 1;
      next.disabled = last >= res.total;
    } catch (err) {
      if (!ctx.isCurrent()) return;
      replace(tableError, h('div', { class: 'notice notice-error' }, `Could not load readings: ${err.message}`));
    } finally {
      table.removeAttribute('aria-busy');
    }
  }

  async function remove(r) {
    const units = hooks.units();
    const what = `${TYPE_LABELS[r.type]} ${fmtValue(r.type, r.value, units, 1)} at ${fmtDateTime(r.timestamp)}`;
    const ok = await confirmDialog('Delete this reading?', `${what}. This cannot be undone.`, 'Delete reading');
    if (!ok) return;
    try {
      await ctx.api.del(`/biometrics/${r.id}`);
      announce('Reading deleted');
    } catch (err) {
      const text =
        err instanceof ApiError && err.status === 404
          ? 'This reading no longer exists.'
          : err instanceof ApiError && err.status === 403
            ? 'This API key is not allowed to delete readings.'
            : `Could not delete the reading: ${err.message}`;
      replace(tableError, h('div', { class: 'notice notice-error' }, text));
    }
    await load();
    hooks.onChange();
  }

  // The add form.
  const fields = {
    type: h(
      'select',
      { id: 'reading-type', name: 'type' },
      Object.entries(TYPE_LABELS).map(([v, label]) => h('option', { value: v }, label)),
    ),
    value: h('input', { id: 'reading-value', name: 'value', type: 'number', step: 'any', inputmode: 'decimal' }),
    unit: h('select', { id: 'reading-unit', name: 'unit' }),
    time: h('input', { id: 'reading-time', name: 'time', type: 'datetime-local', step: '60' }),
  };
  const fieldErrors = Object.fromEntries(
    Object.keys(fields).map((k) => [k, h('p', { class: 'field-error', id: `reading-${k}-error`, hidden: true })]),
  );
  const formMessage = h('div', { class: 'form-message', role: 'alert', id: 'reading-form-message' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Add reading');

  function syncUnits() {
    const type = fields.type.value;
    const units = hooks.units();
    const preferred = type === 'glucose' ? units.glucose : type === 'weight' ? units.weight : 'mmHg';
    replace(
      fields.unit,
      UNIT_CHOICES[type].map((u) => h('option', { value: u, selected: u === preferred }, u)),
    );
    fields.unit.value = preferred;
  }
  fields.type.addEventListener('change', syncUnits);

  function clearErrors() {
    formMessage.replaceChildren();
    for (const [k, el] of Object.entries(fields)) {
      el.removeAttribute('aria-invalid');
      if (k === 'time') el.setAttribute('aria-describedby', 'reading-time-hint');
      else el.removeAttribute('aria-describedby');
      fieldErrors[k].hidden = true;
      fieldErrors[k].textContent = '';
    }
  }

  function showErrors(err) {
    const general = [];
    const list = err.errors.length ? err.errors : [{ field: '', message: err.message }];
    for (const e of list) {
      const k = FIELD_FOR[e.field];
      if (k) {
        fields[k].setAttribute('aria-invalid', 'true');
        fields[k].setAttribute('aria-describedby', `reading-${k}-error`);
        fieldErrors[k].hidden = false;
        fieldErrors[k].textContent = fieldErrors[k].textContent
          ? `${fieldErrors[k].textContent}; ${e.message}`
          : e.message;
      }
      general.push(k ? `${FIELD_LABELS[k]}: ${e.message}` : e.message);
    }
    replace(
      formMessage,
      h(
        'div',
        { class: 'notice notice-error' },
        h('strong', {}, 'The reading was not saved.'),
        h(
          'ul',
          {},
          general.map((m) => h('li', {}, m)),
        ),
      ),
    );
    const firstBad = Object.keys(fields).find((k) => fields[k].getAttribute('aria-invalid') === 'true');
    if (firstBad) fields[firstBad].focus();
  }

  const form = h(
    'form',
    {
      class: 'reading-form',
      id: 'reading-form',
      novalidate: true,
      'aria-labelledby': 'add-reading-title',
      on: {
        submit: async (e) => {
          e.preventDefault();
          clearErrors();
          const raw = fields.value.value.trim();
          const local = fields.time.value;
          const body = {
            patient_id: patientId,
            type: fields.type.value,
            // Sent as typed: the API decides and explains what is wrong.
            value: raw === '' || Number.isNaN(Number(raw)) ? null : Number(raw),
            unit: fields.unit.value,
            timestamp: local ? new Date(local).toISOString() : '',
          };
          submit.disabled = true;
          try {
            await ctx.api.post('/biometrics', body);
            announce('Reading added');
            replace(formMessage, h('p', { class: 'notice notice-ok' }, 'Reading added.'));
            fields.value.value = '';
            fields.time.value = toLocalInput(new Date());
            await load(1);
            hooks.onChange();
          } catch (err) {
            if (err instanceof ApiError && err.status === 403) {
              replace(
                formMessage,
                h('div', { class: 'notice notice-error' }, 'This API key is not allowed to add readings.'),
              );
            } else if (err instanceof ApiError && err.status === 404) {
              replace(
                formMessage,
                h('div', { class: 'notice notice-error' }, 'This patient no longer exists or is not accessible.'),
              );
            } else showErrors(err);
          } finally {
            submit.disabled = false;
          }
        },
      },
    },
    h('h3', { id: 'add-reading-title' }, 'Add a reading'),
    formMessage,
    h(
      'div',
      { class: 'form-grid' },
      h('div', { class: 'field' }, h('label', { for: 'reading-type' }, 'Type'), fields.type, fieldErrors.type),
      h('div', { class: 'field' }, h('label', { for: 'reading-value' }, 'Value'), fields.value, fieldErrors.value),
      h('div', { class: 'field' }, h('label', { for: 'reading-unit' }, 'Unit'), fields.unit, fieldErrors.unit),
      h(
        'div',
        { class: 'field field-wide' },
        h('label', { for: 'reading-time' }, 'Time'),
        fields.time,
        h('p', { class: 'hint', id: 'reading-time-hint' }, `Your local time (${timeZone})`),
        fieldErrors.time,
      ),
    ),
    submit,
  );

  const section = h(
    'section',
    { class: 'card readings-card', 'aria-labelledby': 'readings-title' },
    h('h2', { id: 'readings-title' }, 'Recent readings'),
    canWrite ? form : h('p', { class: 'notice' }, 'This API key can view readings but not add or delete them.'),
    tableError,
    h('div', { class: 'table-scroll' }, table),
    h('nav', { class: 'pager', 'aria-label': 'Reading pages' }, prev, pageInfo, next),
  );

  syncUnits();
  fields.time.value = toLocalInput(new Date());
  clearErrors();
  load(1);

  return {
    element: section,
    /** Re-renders values after a unit switch (no refetch). */
    refreshUnits() {
      renderRows();
      syncUnits();
    },
  };
}
