// Hand-offs in the control plane: only a hash is stored, the token is bound to its tenant, it
// expires, and it is consumed exactly once even when presented many times at once.
import { createHash } from 'node:crypto';
import t from 'tap';
import { buildTestApp } from '../../../helpers/app.ts';
import { createHandoffs, type HandoffPayload } from '../../../../src/auth/sso/platform/handoffs.ts';
import { createSsoTokens } from '../../../../src/auth/sso/tokens.ts';

const payload: HandoffPayload = {
  attemptId: 'attempt-1', providerId: 'google', issuer: 'https://accounts.google.com', subject: '1234',
  email: 'a@clinic.example', emailVerified: true, name: 'A',
};

t.test('create and consume', async (t) => {
  const { runtime } = await buildTestApp(t);
  const a = await runtime.tenants.create({ slug: 'ha' });
  const b = await runtime.tenants.create({ slug: 'hb' });
  const tokens = createSsoTokens('h'.repeat(40));
  const handoffs = createHandoffs({ control: runtime.databases.control, tokens });
  const table = runtime.databases.control.withTables<{ 'control.handoffs': { id_hash: string; tenant_id: string; payload: unknown; expires_at: Date; created_at: Date; used_at: Date | null } }>();

  const token = await handoffs.create(a.id, payload);
  const rows = await table.selectFrom('control.handoffs').selectAll().execute();
  t.equal(rows.length, 1);
  const row = rows[0]!;
  t.equal(row.tenant_id, a.id);
  t.match(row.payload, payload);
  const lifetime = row.expires_at.getTime() - row.created_at.getTime();
  t.ok(lifetime > 0 && lifetime <= 60_000, `lives at most 60 s (${lifetime} ms)`);
  const jti = (await tokens.verify('handoff', token))!.jti as string;
  t.equal(row.id_hash, createHash('sha256').update(jti).digest('hex'), 'only the SHA-256 of the random id is stored');
  t.notOk(JSON.stringify(rows).includes(jti), 'the id itself is nowhere in the table');
  t.equal(Buffer.from(jti, 'base64url').length, 32, '256-bit id');

  // Presented ten times at once: exactly one wins.
  const results = await Promise.all(Array.from({ length: 10 }, () => handoffs.consume(token)));
  t.equal(results.filter((r) => r !== null).length, 1);
  t.match(results.find((r) => r !== null), { tenantId: a.id, payload });
  t.equal(await handoffs.consume(token), null, 'used');

  // Signed: a valid-looking token for an id that was never stored, or re-signed for another tenant, fails.
  t.equal(await handoffs.consume(await tokens.sign('handoff', { jti, tid: b.id }, 60)), null);
  const other = await handoffs.create(a.id, payload);
  const otherJti = (await tokens.verify('handoff', other))!.jti as string;
  t.equal(await handoffs.consume(await tokens.sign('handoff', { jti: otherJti, tid: b.id }, 60)), null, 'tenant in the token must match the stored one');
  t.equal(await handoffs.consume(other), null, '...and that attempt burnt it');
  t.equal(await handoffs.consume(await createSsoTokens('z'.repeat(40)).sign('handoff', { jti: otherJti, tid: a.id }, 60)), null, 'another key');

  // Expired in the database (the database clock decides, not the token's).
  const expiring = await handoffs.create(b.id, payload);
  await table.updateTable('control.handoffs').set({ expires_at: new Date(Date.now() - 1) }).where('tenant_id', '=', b.id).execute();
  t.equal(await handoffs.consume(expiring), null, 'expired');

  // Old rows are swept when new hand-offs are created.
  await table.updateTable('control.handoffs').set({ expires_at: new Date(Date.now() - 2 * 3600_000) }).execute();
  await handoffs.create(a.id, payload);
  t.equal((await table.selectFrom('control.handoffs').select('id_hash').execute()).length, 1);
});
