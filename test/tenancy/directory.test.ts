// The directory cache on its own, against a real control plane: TTL, shared misses, invalidation
// racing a slow query, and a bound on memory however many unknown slugs are asked for.
import t from 'tap';
import pg from 'pg';
import { Kysely, PostgresDialect, type KyselyPlugin } from 'kysely';
import type { ControlDatabase } from '../../src/infra/db.ts';
import { createTenantDirectory } from '../../src/tenancy/directory.ts';
import { migrateControl } from '../../src/tenancy/migrations.ts';
import { createTestDatabase } from '../helpers/db.ts';

/** A migrated control plane of its own, with a counter of the queries sent through it. */
async function controlPlane(t: { teardown(fn: () => unknown): void }) {
  const url = await createTestDatabase(t);
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  // The database is dropped (with force) at teardown, maybe before this pool is closed: its idle
  // clients then hear "terminating connection", which must not crash the test process.
  pool.on('error', () => {});
  let queries = 0;
  // While held, results of queries wait before reaching the directory (a slow answer whose data was
  // read before whatever happens meanwhile). A Kysely plugin: the queries themselves are real.
  let gate: Promise<void> | null = null;
  let reached: () => void = () => {};
  const selects = new WeakSet<object>();
  const slowAnswers: KyselyPlugin = {
    transformQuery: (args) => {
      if (args.node.kind === 'SelectQueryNode') selects.add(args.queryId);
      return args.node;
    },
    transformResult: async (args) => {
      if (gate && selects.has(args.queryId)) {
        reached();
        await gate;
      }
      return args.result;
    },
  };
  const control = new Kysely<ControlDatabase>({
    dialect: new PostgresDialect({ pool }),
    plugins: [slowAnswers],
    log: (event) => void (event.level === 'query' && queries++),
  });
  t.teardown(() => control.destroy());
  await migrateControl(control);
  await control.insertInto('control.regions').values({ id: 'local' }).execute();
  const addClinic = async (slug: string, status: 'active' | 'suspended' = 'active') => {
    const id = String(1000 + Math.floor(Math.random() * 1e6));
    await control.insertInto('control.tenants').values({ id, slug, display_name: slug, region_id: 'local', schema_name: `t_${id}`, status }).execute();
  };
  const setStatus = (slug: string, status: 'active' | 'suspended') => control.updateTable('control.tenants').set({ status }).where('slug', '=', slug).execute();
  /** Holds back the answers of selects; `reached` resolves once one is waiting. */
  const hold = () => {
    let release = () => {};
    gate = new Promise((resolve) => (release = resolve));
    const waiting = new Promise<void>((resolve) => (reached = resolve));
    return {
      reached: waiting,
      release() {
        gate = null;
        release();
      },
    };
  };
  return { control, addClinic, setStatus, hold, queries: () => queries };
}

t.test('hits are served from memory until the TTL passes', async (t) => {
  const db = await controlPlane(t);
  await db.addClinic('acme');
  let now = 1_000;
  const directory = createTenantDirectory({ control: db.control, ttlMs: 5_000, max: 100, now: () => now });
  const before = db.queries();
  t.equal((await directory.lookup('acme'))?.status, 'active');
  await db.setStatus('acme', 'suspended'); // without NOTIFY: only the TTL brings it in
  t.equal((await directory.lookup('acme'))?.status, 'active', 'second look-up from cache');
  t.equal(db.queries() - before, 2, 'one look-up query (plus the update)');
  now += 5_001;
  t.equal((await directory.lookup('acme'))?.status, 'suspended', 'expired entry is reloaded');
  t.equal(db.queries() - before, 3);
});

t.test('misses are cached too, and concurrent look-ups share one query', async (t) => {
  const db = await controlPlane(t);
  const directory = createTenantDirectory({ control: db.control, ttlMs: 5_000, max: 100 });
  const before = db.queries();
  const many = await Promise.all(Array.from({ length: 10 }, () => directory.lookup('ghost')));
  t.same(many, Array(10).fill(null));
  t.equal(await directory.lookup('ghost'), null);
  t.equal(db.queries() - before, 1);
});

t.test('TTL 0: nothing is cached', async (t) => {
  const db = await controlPlane(t);
  await db.addClinic('acme');
  const directory = createTenantDirectory({ control: db.control, ttlMs: 0, max: 100 });
  const before = db.queries();
  await directory.lookup('acme');
  await directory.lookup('acme');
  t.equal(db.queries() - before, 2);
  t.equal(directory.size, 0);
});

t.test('an invalidation during a slow query is not undone by its stale answer', async (t) => {
  const db = await controlPlane(t);
  await db.addClinic('acme');
  const directory = createTenantDirectory({ control: db.control, ttlMs: 60_000, max: 100 });
  const held = db.hold();
  const started = db.queries();
  const slow = directory.lookup('acme');
  await held.reached; // it has read 'active'; the answer is on its way
  // The clinic changes meanwhile: the change commits, then its NOTIFY invalidates the entry.
  await db.setStatus('acme', 'suspended');
  directory.invalidate('acme');
  held.release();
  t.equal((await slow)?.status, 'suspended', 'the waiting caller gets the state after the change');
  const afterSlow = db.queries();
  t.equal((await directory.lookup('acme'))?.status, 'suspended', 'and that is what is cached');
  t.equal(db.queries(), afterSlow, 'served from the cache');
  t.ok(afterSlow - started >= 3, 'the stale read, the update and a fresh read');
});

t.test('20,000 look-ups of distinct unknown slugs leave the cache at its maximum', async (t) => {
  const db = await controlPlane(t);
  const max = 500;
  const directory = createTenantDirectory({ control: db.control, ttlMs: 60_000, max });
  const total = 20_000;
  let next = 0;
  let found = 0;
  const worker = async () => {
    while (next < total) {
      if ((await directory.lookup(`nobody-${next++}`)) !== null) found++;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  t.equal(found, 0);
  t.equal(directory.size, max, 'bounded by max, not by the number of slugs asked for');
  t.equal(directory.max, max);
});
