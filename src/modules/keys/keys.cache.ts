/**
 * A short-lived in-memory cache of verified API keys, keyed by their hash, so most
 * requests skip the key lookup. Revocation through this process clears it at once; a
 * revocation made elsewhere (another instance, the command line) is seen within the TTL.
 * Only keys that were found are cached, so a flood of bad keys cannot fill it.
 */
import type { ApiKeyRow } from './keys.repository.js';

export class KeyCache {
  private readonly entries = new Map<string, { row: ApiKeyRow; until: number }>();

  constructor(
    /** 0 disables the cache. */
    readonly ttlMs: number,
    private readonly maxEntries = 10_000,
    private readonly clock: () => number = Date.now,
  ) {}

  get(hash: string): ApiKeyRow | undefined {
    if (this.ttlMs <= 0) return undefined;
    const e = this.entries.get(hash);
    if (!e) return undefined;
    if (e.until <= this.clock()) {
      this.entries.delete(hash);
      return undefined;
    }
    return e.row;
  }

  set(hash: string, row: ApiKeyRow): void {
    if (this.ttlMs <= 0) return;
    if (this.entries.size >= this.maxEntries) {
      // Maps iterate in insertion order: drop the oldest entry.
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(hash, { row, until: this.clock() + this.ttlMs });
  }

  /** Forgets every cached key (after a revocation). */
  clear(): void {
    this.entries.clear();
  }
}
