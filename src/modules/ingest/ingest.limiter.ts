/**
 * A counting semaphore for bulk requests (BULK_CONCURRENCY): at most `limit` hold a slot
 * at once, the others wait in arrival order. A waiter can leave the queue (its client went
 * away or its request timed out), and closing the limiter refuses everyone still waiting.
 */

/** Raised to waiters when the limiter is closed (the application is shutting down). */
export class LimiterClosedError extends Error {
  constructor() {
    super('the limiter is closed');
    this.name = 'LimiterClosedError';
  }
}

/** Gives a slot back; calling it again does nothing. */
export type Release = () => void;

/** A counting semaphore with a first-in, first-out queue. */
export interface Limiter {
  /**
   * Resolves with a {@link Release} once a slot is free. Rejects with `signal.reason` when
   * the signal aborts while waiting, and with {@link LimiterClosedError} after {@link close}.
   */
  acquire(signal?: AbortSignal): Promise<Release>;
  /** Refuses waiting and later requests; slots in use stay valid until released. */
  close(): void;
  /** Slots in use. */
  readonly active: number;
  /** Requests waiting for a slot. */
  readonly waiting: number;
}

interface Waiter {
  grant(release: Release): void;
  refuse(err: unknown): void;
}

/** A limiter with `limit` slots; 0 means no limit (nobody waits). */
export function createLimiter(limit: number): Limiter {
  let active = 0;
  let closed = false;
  // A Set keeps insertion order and lets an aborted waiter leave in O(1).
  const queue = new Set<Waiter>();

  const slot = (): Release => {
    active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      active--;
      next();
    };
  };

  function next(): void {
    while (queue.size > 0 && (limit === 0 || active < limit)) {
      const first = queue.values().next().value as Waiter;
      queue.delete(first);
      first.grant(slot());
    }
  }

  return {
    acquire(signal) {
      if (closed) return Promise.reject(new LimiterClosedError());
      if (signal?.aborted) return Promise.reject(signal.reason);
      if (queue.size === 0 && (limit === 0 || active < limit)) return Promise.resolve(slot());
      return new Promise<Release>((resolve, reject) => {
        const onAbort = () => {
          queue.delete(waiter);
          reject(signal?.reason);
        };
        const waiter: Waiter = {
          grant(release) {
            signal?.removeEventListener('abort', onAbort);
            resolve(release);
          },
          refuse(err) {
            signal?.removeEventListener('abort', onAbort);
            reject(err);
          },
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        queue.add(waiter);
      });
    },
    close() {
      closed = true;
      const refused = [...queue];
      queue.clear();
      for (const w of refused) w.refuse(new LimiterClosedError());
    },
    get active() {
      return active;
    },
    get waiting() {
      return queue.size;
    },
  };
}
