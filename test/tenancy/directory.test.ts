// The directory cache on its own: TTL, shared misses, invalidation racing a slow query.
import t from 'tap';
import type { ControlDb } from '../../src/infra/db.ts';
import { createTenantDirectory } from '../../src/tenancy/directory.ts';

/** A control-plane stand-in that counts look-ups and lets the test decide when each one answers. */
function fakeControl() {
  const calls: { slug: string; answer: (status: string | null) => void }[] = [];
  const chain = {
    slug: '',
    select() {
      return chain;
    },
    where(_c: string, _op: string, slug: string) {
      chain.slug = slug;
      return chain;
    },
    executeTakeFirst() {
      const slug = chain.slug;
      return new Promise((resolve) => {
        calls.push({
          slug,
          answer: (status) => resolve(status === null ? undefined : { id: '1', slug, display_name: slug, region_id: 'local', schema_name: 't_1', status }),
        });
      });
    },
  };
  return { control: { selectFrom: () => chain } as unknown as ControlDb, calls };
}

t.test('hits are served from memory until the TTL passes', async (t) => {
  const { control, calls } = fakeControl();
  let now = 1_000;
  const directory = createTenantDirectory({ control, ttlMs: 5_000, now: () => now });
  const first = directory.lookup('acme');
  calls[0]!.answer('active');
  t.equal((await first)?.status, 'active');
  t.equal((await directory.lookup('acme'))?.status, 'active');
  t.equal(calls.length, 1, 'second look-up from cache');
  now += 5_001;
  const third = directory.lookup('acme');
  t.equal(calls.length, 2, 'expired entry is reloaded');
  calls[1]!.answer('suspended');
  t.equal((await third)?.status, 'suspended');
});

t.test('misses are cached too, and concurrent look-ups share one query', async (t) => {
  const { control, calls } = fakeControl();
  const directory = createTenantDirectory({ control, ttlMs: 5_000 });
  const many = Array.from({ length: 10 }, () => directory.lookup('ghost'));
  t.equal(calls.length, 1);
  calls[0]!.answer(null);
  t.same(await Promise.all(many), Array(10).fill(null));
  t.equal(await directory.lookup('ghost'), null);
  t.equal(calls.length, 1);
});

t.test('an invalidation during a slow query is not undone by its stale answer', async (t) => {
  const { control, calls } = fakeControl();
  const directory = createTenantDirectory({ control, ttlMs: 60_000 });
  const slow = directory.lookup('acme');
  directory.invalidate('acme'); // the clinic changed while we were reading
  calls[0]!.answer('active');
  await slow;
  const fresh = directory.lookup('acme');
  t.equal(calls.length, 2, 'the stale answer was not cached');
  calls[1]!.answer('suspended');
  t.equal((await fresh)?.status, 'suspended');
});
