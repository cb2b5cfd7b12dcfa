import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp, uniqueEmail } from './helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

describe('GET /api/v1/me', () => {
  it('describes an admin key', async () => {
    const res = await t.call(t.adminKey, { method: 'GET', url: '/api/v1/me' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      key_id: expect.any(Number),
      role: 'admin',
      permissions: [
        'patients:read',
        'patients:write',
        'readings:read',
        'readings:write',
        'analytics:read',
        'analytics:run',
        'keys:manage',
        'audit:read',
        'metrics:read',
      ],
      patient_ids: null,
    });
  });

  it('describes a read-only key limited to some patients', async () => {
    const ids: number[] = [];
    for (const name of ['Scope One', 'Scope Two']) {
      const created = await t.call(t.adminKey, {
        method: 'POST',
        url: '/api/v1/patients',
        payload: { name, dob: '1970-01-01', gender: 'other', email: uniqueEmail('me') },
      });
      ids.push(created.json().id);
    }
    const res = await t.call(await t.key('reader', ids), { method: 'GET', url: '/api/v1/me' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      role: 'reader',
      permissions: ['patients:read', 'readings:read', 'analytics:read'],
      patient_ids: ids,
    });
  });

  it('answers 401 without a valid key and 403 to keys that cannot read patients', async () => {
    expect((await t.call(null, { method: 'GET', url: '/api/v1/me' })).statusCode).toBe(401);
    expect((await t.call('pp_not_a_key', { method: 'GET', url: '/api/v1/me' })).statusCode).toBe(401);
    expect((await t.call(await t.key('device'), { method: 'GET', url: '/api/v1/me' })).statusCode).toBe(403);
    expect((await t.call(await t.key('metrics'), { method: 'GET', url: '/api/v1/me' })).statusCode).toBe(403);
  });
});
