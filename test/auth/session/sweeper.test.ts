// Expired sessions are swept by a bounded periodic job (src/auth/session/sweeper.ts), not only at
// sign-in: each tick visits a bounded number of clinics, round the list, and deletes only what has
// expired.
import { sql } from 'kysely';
import t from 'tap';
import { createSessionSweeper } from '../../../src/auth/session/sweeper.ts';
import { buildTestApp } from '../../helpers/app.ts';
import { tenantDb } from '../../helpers/fixtures.ts';

t.test('expired sessions of every clinic go, a bounded batch at a time; live ones stay', async (t) => {
  const { runtime } = await buildTestApp(t);
  const slugs = ['one', 'two', 'three'];
  for (const slug of slugs) {
    await runtime.tenants.create({ slug, displayName: slug });
    const db = await tenantDb(runtime, slug);
    for (let i = 0; i < 5; i++) {
      await db.insertInto('sessions').values({ id: `local.x.expired-${i}`, data: '{}', expires_at: sql<Date>`now() - interval '1 minute'` as unknown as Date }).execute();
    }
    await db.insertInto('sessions').values({ id: 'local.x.live', data: '{}', expires_at: sql<Date>`now() + interval '1 hour'` as unknown as Date }).execute();
  }
  const count = async (slug: string) => (await (await tenantDb(runtime, slug)).selectFrom('sessions').select('id').execute()).map((r) => r.id).sort();
  const warnings: object[] = [];
  const sweeper = createSessionSweeper({
    control: runtime.databases.control,
    clinics: runtime.clinics,
    log: { warn: (details) => warnings.push(details) },
    intervalMs: 60_000,
    clinicsPerTick: 2,
    rowsPerClinic: 3,
  });

  t.same(await sweeper.tick(), { clinics: 2, deleted: 6 }, 'first tick: two clinics, at most three rows each');
  t.equal((await count('one')).length, 3, 'one: 2 expired left and the live one');
  t.equal((await count('three')).length, 6, 'three: not visited yet');
  t.same(await sweeper.tick(), { clinics: 1, deleted: 3 }, 'second tick: the rest of the list');
  t.same(await sweeper.tick(), { clinics: 2, deleted: 4 }, 'third tick: round again from the first clinic');
  await sweeper.tick();
  for (const slug of slugs) t.same(await count(slug), ['local.x.live'], `${slug}: only the live session is left`);
  t.same(warnings, []);
  const [a, b] = [sweeper.tick(), sweeper.tick()];
  t.equal(a, b, 'ticks never overlap: a second call joins the running one');
  await a;
});

t.test('a read-only clinic (moving between regions) is skipped until it is writable again', async (t) => {
  const { runtime } = await buildTestApp(t);
  for (const slug of ['moving', 'staying']) {
    await runtime.tenants.create({ slug, displayName: slug });
    const db = await tenantDb(runtime, slug);
    await db.insertInto('sessions').values({ id: 'local.x.expired', data: '{}', expires_at: sql<Date>`now() - interval '1 minute'` as unknown as Date }).execute();
  }
  await runtime.tenants.setReadOnly('moving', true);
  const sweeper = createSessionSweeper({
    control: runtime.databases.control,
    clinics: runtime.clinics,
    log: { warn: () => t.fail('no warning') },
    intervalMs: 60_000,
    clinicsPerTick: 10,
    rowsPerClinic: 10,
  });
  t.same(await sweeper.tick(), { clinics: 1, deleted: 1 }, 'only the writable clinic is swept');
  await runtime.tenants.setReadOnly('moving', false);
  t.same(await sweeper.tick(), { clinics: 2, deleted: 1 }, 'then the other one too');
});
