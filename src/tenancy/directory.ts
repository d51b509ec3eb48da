// The tenant directory: slug -> tenant record, as every request needs it. Look-ups are cached in
// process (lru-cache: at most `max` entries, each for `ttlMs`; hits and misses alike) so the common
// path costs no database round trip, and concurrent misses for one slug share one query (the
// cache's fetchMethod). Unknown slugs are cached as misses too, so a flood of random subdomains
// costs one query each at most once per TTL, and never more memory than `max` entries.
// Changes made by any process (CLI, admin pages, another app instance) are announced with
// PostgreSQL NOTIFY on the control database and drop the entry at once; the TTL bounds staleness if
// the LISTEN connection is down.
import { EventEmitter } from 'node:events';
import { LRUCache } from 'lru-cache';
import type pg from 'pg';
import type { ControlDb, TenantStatus } from '../infra/db.ts';
import { listenOn, type Listener } from '../infra/listener.ts';

export const TENANT_CHANGED_CHANNEL = 'sidechart_tenant_changed';

export interface TenantRecord {
  id: string;
  slug: string;
  displayName: string;
  regionId: string;
  schemaName: string;
  status: TenantStatus;
  /** Since when the clinic is read-only (moving between regions); null when writable. */
  readOnlySince: Date | null;
  /** Shown to staff instead of "while it is being moved", when the operator gave one. */
  readOnlyReason: string | null;
}

/** lru-cache holds no null values: a miss is cached as an entry without a tenant. */
interface Entry {
  tenant: TenantRecord | null;
}

export interface TenantDirectoryOptions {
  control: ControlDb;
  ttlMs: number;
  /** Most slugs held at once (hits and misses); the least recently used go first. */
  max: number;
  /** Clock for the TTL (tests). */
  now?: () => number;
}

export function createTenantDirectory(options: TenantDirectoryOptions) {
  // Emits 'invalidated' (slug | undefined) after each invalidation: for tests and metrics.
  const events = new EventEmitter();
  // Bumped on every invalidation. An invalidation aborts the fetches in flight (lru-cache drops
  // what they read, so a query that started before a change cannot refill the cache with the old
  // state); their callers then ask again.
  let generation = 0;

  async function load(slug: string): Promise<TenantRecord | null> {
    const row = await options.control
      .selectFrom('control.tenants')
      .select(['id', 'slug', 'display_name', 'region_id', 'schema_name', 'status', 'read_only_since', 'read_only_reason'])
      .where('slug', '=', slug)
      .executeTakeFirst();
    if (!row) return null;
    return {
      id: row.id,
      slug: row.slug,
      displayName: row.display_name,
      regionId: row.region_id,
      schemaName: row.schema_name,
      status: row.status,
      readOnlySince: row.read_only_since,
      readOnlyReason: row.read_only_reason,
    };
  }

  const cache = new LRUCache<string, Entry>({
    max: options.max,
    // TTL 0 turns caching off (lookup() then queries every time); lru-cache would read 0 as "forever".
    ttl: Math.max(1, options.ttlMs),
    ...(options.now ? { perf: { now: options.now }, ttlResolution: 0 } : {}),
    fetchMethod: async (slug) => ({ tenant: await load(slug) }),
  });

  return {
    /** The tenant for a slug, or null if there is none. Rejects only if the database fails. */
    async lookup(slug: string): Promise<TenantRecord | null> {
      if (options.ttlMs === 0) return load(slug);
      for (let attempt = 0; ; attempt++) {
        const startedAt = generation;
        try {
          const entry = await cache.fetch(slug);
          return entry?.tenant ?? null;
        } catch (error) {
          // Aborted by an invalidation: read again (a few times at most, then report it).
          if (startedAt !== generation && attempt < 3) continue;
          throw error;
        }
      }
    },

    /** Reads the control plane now, bypassing (and not filling) the cache: operators' commands. */
    load,

    /** Forget one slug, or everything. */
    invalidate(slug?: string): void {
      generation++;
      if (slug === undefined) cache.clear();
      else cache.delete(slug);
      events.emit('invalidated', slug);
    },

    events,

    get size(): number {
      return cache.size;
    },

    get max(): number {
      return cache.max;
    },
  };
}

export type TenantDirectory = ReturnType<typeof createTenantDirectory>;

/** Announces a tenant change to every process listening (sent on commit when inside a transaction). */
export async function notifyTenantChanged(pool: pg.Pool, slug: string): Promise<void> {
  await pool.query('select pg_notify($1, $2)', [TENANT_CHANGED_CHANNEL, slug]);
}

export interface TenantListenerOptions {
  connectionString: string;
  directory: TenantDirectory;
  onError: (error: Error) => void;
  /** Delay before reconnecting after the connection drops. */
  retryMs?: number;
}

/**
 * Keeps one connection LISTENing for tenant changes (infra/listener.ts); clears the whole cache
 * whenever it (re)connects, since notifications may have been missed meanwhile. While it is down
 * the TTL bounds staleness.
 */
export function listenForTenantChanges(options: TenantListenerOptions): Listener {
  return listenOn({
    connectionString: options.connectionString,
    channel: TENANT_CHANGED_CHANNEL,
    applicationName: 'sidechart-listener',
    onNotification: (slug) => {
      if (slug !== '') options.directory.invalidate(slug);
    },
    onConnected: () => options.directory.invalidate(),
    onLost: () => {},
    onError: options.onError,
    ...(options.retryMs !== undefined ? { retryMs: options.retryMs } : {}),
  });
}
