// The tenant directory: slug -> tenant record, as every request needs it. Look-ups are cached in
// process for a short TTL (hits and misses alike) so the common path costs no database round trip;
// concurrent misses for one slug share one query. Changes made by any process (CLI, admin pages,
// another app instance) are announced with PostgreSQL NOTIFY on the control database and drop the
// entry at once; the TTL bounds staleness if the LISTEN connection is down.
import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { ControlDb, TenantStatus } from '../infra/db.ts';

export const TENANT_CHANGED_CHANNEL = 'sidechart_tenant_changed';

export interface TenantRecord {
  id: string;
  slug: string;
  displayName: string;
  regionId: string;
  schemaName: string;
  status: TenantStatus;
}

interface Entry {
  value: TenantRecord | null;
  expiresAt: number;
}

export interface TenantDirectoryOptions {
  control: ControlDb;
  ttlMs: number;
  now?: () => number;
}

export function createTenantDirectory(options: TenantDirectoryOptions) {
  const now = options.now ?? Date.now;
  const cache = new Map<string, Entry>();
  const inflight = new Map<string, Promise<TenantRecord | null>>();
  // Bumped on every invalidation so a query that started before it cannot refill the cache with
  // what it read before the change.
  let generation = 0;
  // Emits 'invalidated' (slug | undefined) after each invalidation: for tests and metrics.
  const events = new EventEmitter();

  async function load(slug: string): Promise<TenantRecord | null> {
    const row = await options.control
      .selectFrom('control.tenants')
      .select(['id', 'slug', 'display_name', 'region_id', 'schema_name', 'status'])
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
    };
  }

  return {
    /** The tenant for a slug, or null if there is none. Rejects only if the database fails. */
    async lookup(slug: string): Promise<TenantRecord | null> {
      const hit = cache.get(slug);
      if (hit && hit.expiresAt > now()) return hit.value;
      const pending = inflight.get(slug);
      if (pending) return pending;
      const startedAt = generation;
      const query = load(slug)
        .then((value) => {
          if (startedAt === generation && options.ttlMs > 0) cache.set(slug, { value, expiresAt: now() + options.ttlMs });
          return value;
        })
        .finally(() => inflight.delete(slug));
      inflight.set(slug, query);
      return query;
    },

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
  };
}

export type TenantDirectory = ReturnType<typeof createTenantDirectory>;

/** Announces a tenant change to every process listening (sent on commit when inside a transaction). */
export async function notifyTenantChanged(pool: pg.Pool, slug: string): Promise<void> {
  await pool.query('select pg_notify($1, $2)', [TENANT_CHANGED_CHANNEL, slug]);
}

export interface ListenerOptions {
  connectionString: string;
  directory: TenantDirectory;
  onError: (error: Error) => void;
  /** Delay before reconnecting after the connection drops. */
  retryMs?: number;
}

/**
 * Keeps one dedicated connection LISTENing for tenant changes; reconnects after failures and
 * clears the whole cache whenever it (re)connects, since notifications may have been missed.
 */
export function listenForTenantChanges(options: ListenerOptions) {
  let client: pg.Client | null = null;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  let readyResolve: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    readyResolve = resolve;
  });

  const connect = async (): Promise<void> => {
    if (closed) return;
    const next = new pg.Client({ connectionString: options.connectionString, application_name: 'sidechart-listener' });
    next.on('notification', (message) => {
      if (message.channel === TENANT_CHANGED_CHANNEL && message.payload) options.directory.invalidate(message.payload);
    });
    next.on('error', (error) => {
      options.onError(error);
      scheduleReconnect(next);
    });
    next.on('end', () => scheduleReconnect(next));
    try {
      await next.connect();
      await next.query(`listen ${TENANT_CHANGED_CHANNEL}`);
      client = next;
      options.directory.invalidate();
      readyResolve();
    } catch (error) {
      options.onError(error as Error);
      scheduleReconnect(next);
    }
  };

  const scheduleReconnect = (failed: pg.Client): void => {
    if (closed || retry) return;
    if (client === failed) client = null;
    failed.end().catch(() => {});
    retry = setTimeout(() => {
      retry = undefined;
      void connect();
    }, options.retryMs ?? 1000);
    retry.unref();
  };

  void connect();

  return {
    /** Resolves once the first LISTEN is in place (tests wait on it). */
    ready,
    async close(): Promise<void> {
      closed = true;
      clearTimeout(retry);
      await client?.end().catch(() => {});
      client = null;
    },
  };
}
