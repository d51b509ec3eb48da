// One dedicated PostgreSQL connection LISTENing on a channel: how caches hear that another process
// (another instance, the CLI, a trigger) changed what they hold. Notifications are fire-and-forget,
// so whoever listens must also be told when it may have missed some: `onConnected` runs after every
// (re)connection is in place, `onLost` as soon as the connection fails. Between the two, a cache
// must not trust what it holds. Reconnects after `retryMs`.
//
// LISTEN needs a session of its own: through PgBouncer in transaction mode it would not stick, so
// the connection string should point at the server (or a session-mode pool).
import pg from 'pg';

export interface ListenerOptions {
  connectionString: string;
  channel: string;
  /** Shown in pg_stat_activity. */
  applicationName: string;
  onNotification: (payload: string) => void;
  onConnected: () => void;
  onLost: () => void;
  onError: (error: Error) => void;
  retryMs?: number;
}

export interface Listener {
  /** Resolves once the first LISTEN is in place. */
  ready: Promise<void>;
  /** True while a LISTEN connection is up. */
  readonly connected: boolean;
  close(): Promise<void>;
}

const CHANNEL = /^[a-z_][a-z0-9_]{0,62}$/;

export function listenOn(options: ListenerOptions): Listener {
  if (!CHANNEL.test(options.channel)) throw new Error(`not a channel name: ${options.channel}`);
  let client: pg.Client | null = null;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  let readyResolve: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    readyResolve = resolve;
  });

  const connect = async (): Promise<void> => {
    if (closed) return;
    const next = new pg.Client({ connectionString: options.connectionString, application_name: options.applicationName, keepAlive: true });
    next.on('notification', (message) => {
      if (message.channel === options.channel && message.payload !== undefined) options.onNotification(message.payload);
    });
    next.on('error', (error) => {
      options.onError(error);
      lost(next);
    });
    next.on('end', () => lost(next));
    try {
      await next.connect();
      await next.query(`listen ${options.channel}`);
      if (closed) {
        await next.end().catch(() => {});
        return;
      }
      client = next;
      options.onConnected();
      readyResolve();
    } catch (error) {
      options.onError(error as Error);
      lost(next);
    }
  };

  const lost = (failed: pg.Client): void => {
    if (client === failed) {
      client = null;
      options.onLost();
    }
    if (closed || retry) return;
    failed.end().catch(() => {});
    retry = setTimeout(() => {
      retry = undefined;
      void connect();
    }, options.retryMs ?? 1000);
    retry.unref();
  };

  void connect();

  return {
    ready,
    get connected() {
      return client !== null;
    },
    async close(): Promise<void> {
      closed = true;
      clearTimeout(retry);
      const current = client;
      client = null;
      await current?.end().catch(() => {});
    },
  };
}
