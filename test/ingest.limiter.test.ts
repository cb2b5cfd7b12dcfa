/** The bulk requests' semaphore: slots, arrival order, leaving the queue, closing. */
import { describe, expect, it } from 'vitest';
import { createLimiter, LimiterClosedError, type Release } from '../src/modules/ingest/ingest.limiter.js';

/** Lets pending promise callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('createLimiter', () => {
  it('grants up to the limit at once and the rest in arrival order', async () => {
    const limiter = createLimiter(2);
    const order: string[] = [];
    const take = (name: string) =>
      limiter.acquire().then((release) => {
        order.push(name);
        return release;
      });
    const a = await take('a');
    const b = await take('b');
    const c = take('c');
    const d = take('d');
    await settle();
    expect({ order, active: limiter.active, waiting: limiter.waiting }).toEqual({
      order: ['a', 'b'],
      active: 2,
      waiting: 2,
    });
    b();
    const releaseC = await c;
    expect({ order, active: limiter.active, waiting: limiter.waiting }).toEqual({
      order: ['a', 'b', 'c'],
      active: 2,
      waiting: 1,
    });
    a();
    (await d)();
    releaseC();
    expect({ order, active: limiter.active, waiting: limiter.waiting }).toEqual({
      order: ['a', 'b', 'c', 'd'],
      active: 0,
      waiting: 0,
    });
  });

  it('makes nobody wait with limit 0', async () => {
    const limiter = createLimiter(0);
    const releases = await Promise.all(Array.from({ length: 5 }, () => limiter.acquire()));
    expect({ active: limiter.active, waiting: limiter.waiting }).toEqual({ active: 5, waiting: 0 });
    for (const r of releases) r();
    expect(limiter.active).toBe(0);
  });

  it('gives a slot back once, however often release is called', async () => {
    const limiter = createLimiter(1);
    const first = await limiter.acquire();
    const second = limiter.acquire();
    first();
    first();
    const releaseSecond = await second;
    expect({ active: limiter.active, waiting: limiter.waiting }).toEqual({ active: 1, waiting: 0 });
    releaseSecond();
    expect(limiter.active).toBe(0);
  });

  it('lets an aborted waiter leave the queue without taking a slot', async () => {
    const limiter = createLimiter(1);
    const held = await limiter.acquire();
    const gone = new AbortController();
    const leaving = limiter.acquire(gone.signal);
    const staying = limiter.acquire();
    expect(limiter.waiting).toBe(2);
    gone.abort(new Error('client went away'));
    await expect(leaving).rejects.toThrow('client went away');
    expect(limiter.waiting).toBe(1);
    held();
    const release: Release = await staying;
    expect({ active: limiter.active, waiting: limiter.waiting }).toEqual({ active: 1, waiting: 0 });
    release();
    // Already aborted: refused at once, nothing queued.
    await expect(limiter.acquire(gone.signal)).rejects.toThrow('client went away');
    expect({ active: limiter.active, waiting: limiter.waiting }).toEqual({ active: 0, waiting: 0 });
  });

  it('refuses waiting and later requests once closed; slots in use stay valid', async () => {
    const limiter = createLimiter(1);
    const held = await limiter.acquire();
    const waiting = limiter.acquire();
    limiter.close();
    await expect(waiting).rejects.toBeInstanceOf(LimiterClosedError);
    await expect(limiter.acquire()).rejects.toBeInstanceOf(LimiterClosedError);
    expect({ active: limiter.active, waiting: limiter.waiting }).toEqual({ active: 1, waiting: 0 });
    held();
    expect(limiter.active).toBe(0);
  });
});
