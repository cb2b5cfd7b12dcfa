/// <reference lib="dom" />
/**
 * The dashboard in headless Chromium against the real app on an ephemeral port: sign in,
 * panel, patient charts, add and delete a reading, units, key scope, read-only keys,
 * aggregates for long periods, keyboard use. Screenshots go to test-results/screenshots/.
 */
import { mkdirSync } from 'node:fs';
import { and, count, eq, gte, lt, sql } from 'drizzle-orm';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../src/db/database.js';
import { apiKeys, biometrics, patients } from '../src/db/schema.js';
import { hashKey } from '../src/modules/keys/keys.service.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { CHROMIUM_PATH, hasChromium, launchChromium } from './helpers/browser.js';
import { type SeededPatient, seedDashboard } from './helpers/dashboard-seed.js';
import { TEST_DB } from './helpers/database.js';

const SCREENSHOTS = 'test-results/screenshots';
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

if (!hasChromium && TEST_DB === 'pglite') {
  console.log(`dashboard browser tests skipped: no Chromium at ${CHROMIUM_PATH} (apt-get install chromium)`);
}

// The browser drives the UI; the SQL behind it is tested on both databases by the route
// tests, so the (slow) browser run happens once, on the embedded database.
describe.skipIf(!hasChromium || TEST_DB !== 'pglite')('dashboard in Chromium', () => {
  let t: TestApp;
  let browser: Browser;
  let base = '';
  let seeded: SeededPatient[] = [];
  const byName = (name: string) => {
    const p = seeded.find((s) => s.name === name);
    if (!p) throw new Error(`no seeded patient ${name}`);
    return p;
  };
  const pageErrors: string[] = [];

  beforeAll(async () => {
    t = await createTestApp();
    seeded = await seedDashboard(t.database.db, new Date());
    // Enough patients without readings for a second page of the panel.
    await t.database.db.insert(patients).values(
      Array.from({ length: 18 }, (_, i) => ({
        name: `Zoe Filler ${String(i + 1).padStart(2, '0')}`,
        dob: '1990-01-01',
        gender: 'female',
        email: `filler.${i}.${process.pid}@example.org`,
      })),
    );
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const address = t.app.server.address();
    if (!address || typeof address === 'string') throw new Error('no port');
    base = `http://127.0.0.1:${address.port}`;
    browser = await launchChromium();
    mkdirSync(SCREENSHOTS, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  async function open(viewport = DESKTOP): Promise<Page> {
    const context = await browser.newContext({ viewport, timezoneId: 'America/New_York', locale: 'en-US' });
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${base}/`);
    return page;
  }

  async function signIn(page: Page, key: string): Promise<void> {
    await page.getByLabel('API key').fill(key);
    await page.getByLabel('API key').press('Enter');
    await page.locator('#session:not([hidden])').waitFor();
  }

  async function openPatient(page: Page, id: number): Promise<void> {
    await page.evaluate((pid) => {
      location.hash = `#/patients/${pid}`;
    }, id);
    await page.locator('#charts[aria-busy="false"]').waitFor();
    await page.locator('#readings-table:not([aria-busy]) tbody tr').first().waitFor();
  }

  /** Saves a screenshot (the viewport, or the whole page) once the last announcement has faded. */
  async function screenshot(page: Page, name: string, fullPage = false): Promise<void> {
    await page.waitForFunction(() => !document.querySelector('.toast-visible'), undefined, { timeout: 8000 });
    await page.waitForTimeout(250); // the fade-out
    await page.screenshot({ path: `${SCREENSHOTS}/${name}.png`, fullPage });
  }

  /** Values the glucose chart draws as reading dots, keyed by epoch seconds. */
  function chartReadings(page: Page, chart: string, metric = 0): Promise<Record<string, number>> {
    return page.evaluate(
      ([id, m]) => {
        const u = (document.querySelector(`#chart-${id} .chart`) as unknown as { uplot: { data: number[][] } }).uplot;
        const raw = u.data[1 + Number(m) * 4 + 3] as (number | undefined)[];
        const out: Record<string, number> = {};
        raw.forEach((v, i) => {
          if (v !== undefined) out[String(u.data[0]?.[i])] = v;
        });
        return out;
      },
      [chart, metric] as const,
    );
  }

  async function chartRange(page: Page): Promise<{ from: Date; to: Date }> {
    const [from, to] = await page.evaluate(() => {
      const el = document.getElementById('charts') as HTMLElement;
      return [Number(el.dataset.from), Number(el.dataset.to)];
    });
    return { from: new Date(from ?? 0), to: new Date(to ?? 0) };
  }

  async function storedGlucose(patientId: number, from: Date, to: Date) {
    return t.database.db
      .select({ value: biometrics.value, timestamp: biometrics.timestamp })
      .from(biometrics)
      .where(
        and(
          eq(biometrics.patientId, patientId),
          eq(biometrics.type, 'glucose'),
          gte(biometrics.timestamp, from),
          lt(biometrics.timestamp, to),
        ),
      );
  }

  it('signs in with the API key field, refuses a wrong key, and lists patients who need attention first', async () => {
    const page = await open();
    const field = page.getByLabel('API key');
    expect(await field.getAttribute('type')).toBe('password');
    await field.fill('pp_this_is_not_a_key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').first().textContent()).toContain('was not accepted');

    await field.fill(t.adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('tr[data-patient-id]').first().waitFor();
    expect(await page.locator('#session-role').textContent()).toBe('Admin · all patients');
    expect(page.url()).toBe(`${base}/`);
    expect(page.url()).not.toContain(t.adminKey);
    expect(await page.evaluate(() => Object.values(sessionStorage))).toEqual([t.adminKey]);
    expect(await page.evaluate(() => JSON.stringify(localStorage))).not.toContain(t.adminKey);

    // The panel shows the API's attention order, one row (and one link) per patient.
    const api = await t.call(t.adminKey, { method: 'GET', url: '/api/v1/patients/summary?sort=attention&size=20' });
    const expected = api.json().items.map((i: { patient: { id: number } }) => String(i.patient.id));
    const rows = await page
      .locator('tr[data-patient-id]')
      .evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.patientId));
    expect(rows).toEqual(expected);
    expect(rows.slice(0, 2).sort()).toEqual(
      [String(byName('Dmitri Volkov').id), String(byName('Chioma Okafor').id)].sort(),
    );
    const dmitri = page.locator(`tr[data-patient-id="${byName('Dmitri Volkov').id}"]`);
    expect(await dmitri.textContent()).toContain('Crisis');
    expect(await dmitri.locator(`a[data-patient-id="${byName('Dmitri Volkov').id}"]`).textContent()).toBe(
      'Dmitri Volkov',
    );
    expect(await page.locator('#panel-status').textContent()).toBe('24 patients');
    await screenshot(page, 'panel-desktop');
    await page.context().close();
  });

  it('searches, sorts and pages the panel', async () => {
    const page = await open();
    await signIn(page, t.adminKey);
    await page.locator('tr[data-patient-id]').first().waitFor();

    await page.getByRole('button', { name: 'Next' }).click();
    await expect.poll(() => page.locator('.pager .muted').first().textContent()).toBe('21–24 of 24');
    expect(await page.locator('tr[data-patient-id]').count()).toBe(4);

    await page.getByLabel('Search patients').fill('OKAFOR');
    await expect.poll(() => page.locator('#panel-status').textContent()).toBe('1 patient matching “OKAFOR”');
    const ids = await page
      .locator('tr[data-patient-id]')
      .evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.patientId));
    expect(ids).toEqual([String(byName('Chioma Okafor').id)]);

    await page.getByLabel('Search patients').fill('');
    await page.getByLabel('Sort by').selectOption('name');
    await expect.poll(() => page.locator('#panel-status').textContent()).toBe('24 patients');
    expect(await page.locator('tbody tr a.patient-link').first().textContent()).toBe('Ana Souza');
    await page.context().close();
  });

  it("opens a patient: the charts draw the patient's readings and hourly analytics, hover shows values and times", async () => {
    const ana = byName('Ana Souza');
    const page = await open();
    await signIn(page, t.adminKey);
    await page.locator(`a[data-patient-id="${ana.id}"]`).click();
    await page.locator('#charts[aria-busy="false"]').waitFor();
    expect(await page.locator('h1').textContent()).toBe('Ana Souza');

    // Every stored glucose reading of the period, and nothing else, is a dot on the chart.
    const { from, to } = await chartRange(page);
    expect(to.getTime() - from.getTime()).toBe(7 * 86_400_000);
    const stored = await storedGlucose(ana.id, from, to);
    expect(stored.length).toBeGreaterThan(30);
    const drawn = await chartReadings(page, 'glucose');
    expect(drawn).toEqual(Object.fromEntries(stored.map((r) => [String(r.timestamp.getTime() / 1000), r.value])));

    // The hourly analytics are drawn as the average line.
    const [analyticsCount] = await queryRows(
      t.database.db,
      sql`select count(*)::int8 as n from analytics where patient_id = ${ana.id} and type = 'glucose'
          and bucket_start >= date_trunc('hour', ${from.toISOString()}::timestamptz, 'UTC')
          and bucket_start < ${to.toISOString()}::timestamptz`,
    );
    const avgPoints = await page.evaluate(() => {
      const u = (document.querySelector('#chart-glucose .chart') as unknown as { uplot: { data: unknown[][] } }).uplot;
      return (u.data[3] ?? []).filter((v) => v !== undefined).length;
    });
    expect(avgPoints).toBe(Number(analyticsCount?.n));

    // Both blood-pressure series share one chart.
    const sys = await chartReadings(page, 'bp', 0);
    const dia = await chartReadings(page, 'bp', 1);
    expect(Object.keys(sys).length).toBeGreaterThan(10);
    expect(Object.keys(dia)).toEqual(Object.keys(sys));

    await screenshot(page, 'patient-desktop', true);
    await page.screenshot({
      path: `${SCREENSHOTS}/patient-desktop-top.png`,
      fullPage: true,
      clip: { x: 0, y: 0, width: 1280, height: 1240 },
    });

    // Text alternative: a caption and the numbers as a table.
    expect(await page.locator('#chart-glucose figcaption').textContent()).toContain(
      `Glucose: ${stored.length} readings`,
    );
    await page.locator('#chart-glucose summary').click();
    const tableRows = page.locator('#chart-glucose details table').first().locator('tbody tr');
    // The table may be filled after the click returns (seen on a loaded machine): wait for its rows.
    await tableRows.nth(stored.length - 1).waitFor();
    expect(await tableRows.count()).toBe(stored.length);
    expect(await page.locator('#chart-glucose details table').first().locator('thead').textContent()).toMatch(
      /Time \((EST|EDT)\)/,
    );

    // Hover over the newest reading: its exact value and local time, with the zone named.
    const newest = stored.reduce((a, b) => (a.timestamp > b.timestamp ? a : b));
    await page.locator('#chart-glucose').scrollIntoViewIfNeeded();
    const pos = await page.evaluate((ts) => {
      const u = (
        document.querySelector('#chart-glucose .chart') as unknown as {
          uplot: { valToPos(v: number, s: string): number; over: HTMLElement };
        }
      ).uplot;
      const r = u.over.getBoundingClientRect();
      return { x: r.left + u.valToPos(ts, 'x'), y: r.top + r.height / 2 };
    }, newest.timestamp.getTime() / 1000);
    await page.mouse.move(pos.x, pos.y);
    const tip = page.locator('#chart-glucose .chart-tip');
    await tip.waitFor({ state: 'visible' });
    const expectedTime = new Intl.DateTimeFormat('en-US', {
      timeZone: 'America/New_York',
      year: 'numeric',
      month: 'short',
      day: 'numeric',
      hour: 'numeric',
      minute: '2-digit',
      timeZoneName: 'short',
    }).format(newest.timestamp);
    const tipText = await tip.textContent();
    expect(tipText).toContain(`Glucose ${Math.round(newest.value)} mg/dL`);
    expect(tipText).toContain(expectedTime);
    await page.mouse.move(0, 0);
    await page.context().close();
  });

  it('adds a reading (showing the API validation messages first), then deletes it after confirmation', async () => {
    const elif = byName('Elif Yilmaz');
    const page = await open();
    await signIn(page, t.adminKey);
    await openPatient(page, elif.id);
    const before = await t.database.db.select({ n: count() }).from(biometrics).where(eq(biometrics.patientId, elif.id));

    // The API's own message, next to the field it names.
    await page.getByLabel('Type').selectOption('glucose');
    await page.getByLabel('Value').fill('5000');
    await page.getByRole('button', { name: 'Add reading' }).click();
    await page.locator('#reading-value-error:not([hidden])').waitFor();
    expect(await page.locator('#reading-value-error').textContent()).toBe('glucose must be between 10 and 1500 mg/dL');
    expect(await page.getByLabel('Value').getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator('#reading-form-message').textContent()).toContain('The reading was not saved.');
    await page.getByLabel('Value').fill('');
    await page.getByRole('button', { name: 'Add reading' }).click();
    await expect.poll(() => page.locator('#reading-value-error').textContent()).toBe('must be number');
    const after = await t.database.db.select({ n: count() }).from(biometrics).where(eq(biometrics.patientId, elif.id));
    expect(after).toEqual(before);

    // A valid reading at a minute no other reading uses.
    let when = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 3 * 3_600_000);
    for (;;) {
      const clash = await t.database.db
        .select({ n: count() })
        .from(biometrics)
        .where(and(eq(biometrics.patientId, elif.id), eq(biometrics.timestamp, when)));
      if (Number(clash[0]?.n) === 0) break;
      when = new Date(when.getTime() + 60_000);
    }
    const local = await page.evaluate((ms) => {
      const d = new Date(ms);
      const p = (n: number) => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
    }, when.getTime());
    await page.getByLabel('Value').fill('123.4');
    await page.getByLabel('Time', { exact: true }).fill(local);
    await page.getByRole('button', { name: 'Add reading' }).click();
    await expect.poll(() => page.locator('#reading-form-message').textContent()).toBe('Reading added.');

    const [stored] = await t.database.db
      .select()
      .from(biometrics)
      .where(and(eq(biometrics.patientId, elif.id), eq(biometrics.timestamp, when)));
    expect(stored).toMatchObject({ type: 'glucose', value: 123.4, unit: 'mg/dL' });
    const row = page.locator(`#readings-table tr[data-reading-id="${stored?.id}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain('123.4 mg/dL');
    await page.locator('#charts[aria-busy="false"]').waitFor();
    await expect.poll(async () => (await chartReadings(page, 'glucose'))[String(when.getTime() / 1000)]).toBe(123.4);

    // Cancel keeps it; confirming deletes it from the table, the chart and the database.
    await row.getByRole('button', { name: /^Delete glucose reading/ }).click();
    const dialog = page.getByRole('dialog');
    expect(await dialog.textContent()).toContain('123.4 mg/dL');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect(await row.count()).toBe(1);
    await row.getByRole('button', { name: /^Delete glucose reading/ }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete reading' }).click();
    await row.waitFor({ state: 'detached' });
    await expect
      .poll(async () => (await chartReadings(page, 'glucose'))[String(when.getTime() / 1000)])
      .toBeUndefined();
    expect(
      await t.database.db
        .select()
        .from(biometrics)
        .where(eq(biometrics.id, stored?.id ?? 0)),
    ).toEqual([]);
    await page.context().close();
  });

  it('switches glucose to mmol/L and weight to lb everywhere, and remembers the choice', async () => {
    const bruno = byName('Bruno Keller');
    const page = await open();
    await signIn(page, t.adminKey);
    await openPatient(page, bruno.id);
    const summary = (await t.call(t.adminKey, { method: 'GET', url: `/api/v1/patients/${bruno.id}/summary` })).json();
    const mgdl = summary.latest.glucose.value as number;
    const kg = summary.latest.weight.value as number;
    const before = await chartReadings(page, 'glucose');

    await page.getByRole('radio', { name: 'mmol/L' }).check();
    await page.getByRole('radio', { name: 'lb' }).check();
    const glucoseCard = page.locator('.stat', { hasText: 'Latest glucose' });
    const oneDecimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });
    await expect.poll(() => glucoseCard.textContent()).toContain(`${oneDecimal.format(mgdl / 18.01559)} mmol/L`);
    expect(await page.locator('.stat', { hasText: 'Weight' }).textContent()).toContain(
      `${oneDecimal.format(kg / 0.45359237)} lb`,
    );
    const after = await chartReadings(page, 'glucose');
    expect(Object.keys(after)).toEqual(Object.keys(before));
    for (const [x, v] of Object.entries(before)) expect(after[x]).toBeCloseTo(v / 18.01559, 9);
    const axisLabel = await page.evaluate(
      () =>
        (document.querySelector('#chart-glucose .chart') as unknown as { uplot: { axes: { label?: string }[] } }).uplot
          .axes[1]?.label,
    );
    expect(axisLabel).toBe('mmol/L');
    expect(await page.locator('#readings-table').textContent()).toMatch(/\d mmol\/L/);
    expect(await page.getByLabel('Unit').inputValue()).toBe('mmol/L');

    await page.reload();
    await page.locator('#charts[aria-busy="false"]').waitFor();
    await expect.poll(() => page.locator('.stat', { hasText: 'Latest glucose' }).textContent()).toContain('mmol/L');
    await page.getByRole('radio', { name: 'mg/dL' }).check();
    await page.getByRole('radio', { name: 'kg' }).check();
    expect(await page.evaluate(() => localStorage.getItem('patientpulse.units'))).toBe(
      JSON.stringify({ glucose: 'mg/dL', weight: 'kg' }),
    );
    await page.context().close();
  });

  it('does not show a patient to a key limited to another patient', async () => {
    const ana = byName('Ana Souza');
    const elif = byName('Elif Yilmaz');
    const page = await open();
    await signIn(page, await t.key('clinician', [elif.id]));
    await page.locator('tr[data-patient-id]').first().waitFor();
    expect(await page.locator('#session-role').textContent()).toBe('Clinician · 1 patient');
    const ids = await page
      .locator('tr[data-patient-id]')
      .evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.patientId));
    expect(ids).toEqual([String(elif.id)]);

    await page.evaluate((id) => {
      location.hash = `#/patients/${id}`;
    }, ana.id);
    await page.locator('#patient-not-found').waitFor();
    expect(await page.locator('h1').textContent()).toBe('Patient not found');
    const text = await page.locator('main').textContent();
    expect(text).not.toContain('Ana Souza');
    expect(text).not.toContain(ana.email);
    expect(await page.locator('.chart, #readings-table').count()).toBe(0);
    await page.context().close();
  });

  it('shows no add or delete controls to a read-only key', async () => {
    const page = await open();
    await signIn(page, await t.key('reader'));
    await openPatient(page, byName('Bruno Keller').id);
    expect(await page.locator('#reading-form').count()).toBe(0);
    expect(await page.getByRole('button', { name: /^Delete/ }).count()).toBe(0);
    expect(await page.locator('.readings-card').textContent()).toContain(
      'can view readings but not add or delete them',
    );
    await page.context().close();
  });

  it('refuses device keys and signs out when the key is revoked', async () => {
    const page = await open();
    await page.getByLabel('API key').fill(await t.key('device'));
    await page.getByLabel('API key').press('Enter');
    await expect.poll(() => page.getByRole('alert').first().textContent()).toContain('cannot view patient data');

    const key = await t.key('clinician');
    await signIn(page, key);
    await page.locator('tr[data-patient-id]').first().waitFor();
    // Revoked through the API, as an admin would: that also clears the key cache.
    const [row] = await t.database.db
      .select()
      .from(apiKeys)
      .where(eq(apiKeys.keyHash, hashKey(key)));
    const revoked = await t.call(t.adminKey, { method: 'DELETE', url: `/api/v1/keys/${row?.id}` });
    expect(revoked.statusCode).toBe(200);
    await page.locator(`a[data-patient-id="${byName('Ana Souza').id}"]`).click();
    await page.getByLabel('API key').waitFor();
    expect(await page.locator('main').textContent()).toContain('no longer accepted');
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);

    await signIn(page, t.adminKey);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await page.context().close();
  });

  it('draws long periods from server-side daily aggregates instead of raw readings', async () => {
    const ana = byName('Ana Souza');
    const page = await open();
    await signIn(page, t.adminKey);
    await openPatient(page, ana.id);
    const requests: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/api/v1/')) requests.push(r.url().slice(base.length));
    });
    await page.getByLabel('90 d').check();
    await page.locator('#charts[aria-busy="false"]').waitFor();
    await expect.poll(() => page.locator('#chart-glucose figcaption').textContent()).toContain('daily aggregates');

    expect(requests.filter((u) => u.startsWith('/api/v1/biometrics/series'))).toHaveLength(1);
    expect(requests[0]).toMatch(/bucket=day/);
    expect(requests[0]).toContain('tz=America%2FNew_York');
    expect(requests.filter((u) => u.startsWith('/api/v1/biometrics?') || u.startsWith('/api/v1/analytics'))).toEqual(
      [],
    );
    expect(await chartReadings(page, 'glucose')).toEqual({});
    const days = await page.evaluate(() => {
      const u = (document.querySelector('#chart-glucose .chart') as unknown as { uplot: { data: unknown[][] } }).uplot;
      return (u.data[3] ?? []).filter((v) => v !== undefined).length;
    });
    expect(days).toBeGreaterThanOrEqual(30);
    expect(days).toBeLessThanOrEqual(32);

    // A custom range of whole local days; 20 days are drawn from hourly aggregates.
    requests.length = 0;
    await page.getByLabel('Custom').check();
    await page.getByLabel('From').fill('2026-01-01');
    await page.getByLabel('To (inclusive)').fill('2026-01-20');
    await page.getByRole('button', { name: 'Show' }).click();
    await expect.poll(() => requests.filter((u) => u.startsWith('/api/v1/biometrics/series')).length).toBe(1);
    await page.locator('#charts[aria-busy="false"]').waitFor();
    expect(requests[0]).toMatch(/bucket=hour/);
    const { from, to } = await chartRange(page);
    // Midnight in New York (EST, UTC-5) at both ends.
    expect([from.toISOString(), to.toISOString()]).toEqual(['2026-01-01T05:00:00.000Z', '2026-01-21T05:00:00.000Z']);
    await page.context().close();
  });

  it('works with the keyboard alone', async () => {
    const page = await open();
    await page.keyboard.type(t.adminKey); // the key field has focus on load
    await page.keyboard.press('Enter');
    await page.locator('tr[data-patient-id]').first().waitFor();
    let focused: string | undefined;
    for (let i = 0; i < 12 && !focused; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.patientId);
    }
    expect(focused).toBeDefined();
    await page.keyboard.press('Enter');
    await page.locator('#charts[aria-busy="false"]').waitFor();
    expect(page.url()).toBe(`${base}/#/patients/${focused}`);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('patient-name');
    // The period choice is a radio group: arrow keys move through it.
    await page.getByLabel('7 d').focus();
    await page.keyboard.press('ArrowRight');
    await page.locator('#charts[aria-busy="false"]').waitFor();
    expect(await page.getByLabel('14 d').isChecked()).toBe(true);
    const { from, to } = await chartRange(page);
    expect(to.getTime() - from.getTime()).toBe(14 * 86_400_000);
    await page.context().close();
  });

  it('fits a phone screen', async () => {
    const page = await open(PHONE);
    await signIn(page, t.adminKey);
    await page.locator('tr[data-patient-id]').first().waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    await screenshot(page, 'panel-phone');
    await openPatient(page, byName('Chioma Okafor').id);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    expect(Object.keys(await chartReadings(page, 'glucose')).length).toBeGreaterThan(0);
    await screenshot(page, 'patient-phone', true);
    await page.context().close();
  });

  it('raised no script errors', () => {
    expect(pageErrors).toEqual([]);
  });
});
