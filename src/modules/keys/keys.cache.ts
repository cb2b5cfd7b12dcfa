/**
 * A short-lived in-memory cache of verified API keys, keyed by their hash, so most
 * requests skip the key lookup. Revocation through this process clears it at once; a
 * revocation made elsewhere (another instance, the command line) is seen within the TTL.
 * Only keys that were found are cached, so a flood of bad keys cannot fill it.
 *
 * It also remembers, for longer, which keys were verified here lately (hashes only, never
 * used to authenticate): an address over its failed-authentication limit is refused before
 * any lookup, except for those keys, so clients sharing the address keep working.
 */
import type { ApiKeyRow } from './keys.repository.js';

/** How long a key counts as recently verified after its last successful authentication. */
export const RECENTLY_VERIFIED_MS = 60 * 60_000;

export class KeyCache {
  private readonly entries = new Map<string, { row: ApiKeyRow; until: number }>();
  private readonly verified = new Map<string, number>();
  private gen = 0;

  constructor(
    /** 0 disables the cache (the recently-verified memory stays on). */
    readonly ttlMs: number,
    private readonly maxEntries = 10_000,
    private readonly clock: () => number = Date.now,
  ) {}

  /**
   * Changes on every {@link clear}. Read it before a lookup and hand it to {@link set}, so
   * a lookup that raced a revocation cannot put the revoked row back.
   */
  get generation(): number {
    return this.gen;
  }

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

  /**
   * Caches a row found by a lookup that started in `generation`; ignored when the cache
   * was cleared since, because the row may predate the revocation that cleared it.
   */
  set(hash: string, row: ApiKeyRow, generation: number = this.gen): void {
    if (this.ttlMs <= 0 || generation !== this.gen) return;
    evictOldest(this.entries, this.maxEntries);
    this.entries.set(hash, { row, until: this.clock() + this.ttlMs });
  }

  /** Forgets every cached key (after a revocation). */
  clear(): void {
    this.entries.clear();
    this.gen += 1;
  }

  /** Records a successful authentication with this key. */
  markVerified(hash: string): void {
    // Re-inserted so the map stays ordered by last use and eviction drops the stalest.
    this.verified.delete(hash);
    evictOldest(this.verified, this.maxEntries);
    this.verified.set(hash, this.clock() + RECENTLY_VERIFIED_MS);
  }

  /** Forgets a key that failed authentication (revoked or expired since). */
  forgetVerified(hash: string): void {
    this.verified.delete(hash);
  }

  /** Whether this key authenticated successfully here within {@link RECENTLY_VERIFIED_MS}. */
  recentlyVerified(hash: string): boolean {
    const until = this.verified.get(hash);
    if (until === undefined) return false;
    if (until <= this.clock()) {
      this.verified.delete(hash);
      return false;
    }
    return true;
  }
}

/** Maps iterate in insertion order: drops the oldest entry when `map` is full. */
function evictOldest(map: Map<string, unknown>, max: number): void {
  if (map.size < max) return;
  const oldest = map.keys().next();
  if (!oldest.done) map.delete(oldest.value);
}
