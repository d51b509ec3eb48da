// migrations/tenant/0008: the trail accepts every action the code names (the admin area's and
// every other migration's), refuses others, and 0008 added and removes only its own two.
import t from 'tap';
import type { Kysely } from 'kysely';
import { buildTestApp } from '../helpers/app.ts';
import { openClinic } from '../helpers/fixtures.ts';
import { AUDIT_ACTIONS } from '../../src/admin/audit-filters.ts';
import { down, up } from '../../migrations/tenant/0008_admin_audit_actions.ts';

t.test('every named action is accepted, an unknown one refused; down and up again', async (t) => {
  const { runtime } = await buildTestApp(t);
  await runtime.tenants.create({ slug: 'acme' });
  const { db } = await openClinic(runtime, 'acme');
  const insert = (action: string) =>
    (db as unknown as Kysely<any>)
      .insertInto('audit_events')
      .values({ action, outcome: 'ok', user_id: null, patient_id: null, client_ip: null, user_agent: null, sec_fetch_site: null, referrer: null })
      .execute();
  const accepts = async (action: string) => insert(action).then(() => true, (error: { code?: string }) => (error.code === '23514' ? false : Promise.reject(error)));

  // Down first, on a trail with no admin events yet (afterwards it could not narrow: append-only).
  await (db as unknown as Kysely<any>).transaction().execute((trx) => down(trx));
  t.notOk(await accepts('audit_viewed'), 'down: the admin actions are gone');
  t.ok(await accepts('view'), 'down: the others stay');
  const others = AUDIT_ACTIONS.filter((a) => a !== 'audit_viewed' && a !== 'audit_exported');
  for (const action of others) t.ok(await accepts(action), `down keeps ${action}`);
  await (db as unknown as Kysely<any>).transaction().execute((trx) => up(trx));
  for (const action of AUDIT_ACTIONS) t.ok(await accepts(action), `accepted: ${action}`);
  t.notOk(await accepts('deleted_everything'), 'an unknown action is refused');
});
