// A clinic's data for the tests that copy, archive or move it: real rows in every table (with
// the text COPY must escape), and every row of every table read back for comparison.
import pg from 'pg';
import { sql } from 'kysely';
import type { Runtime } from '../../src/runtime.ts';
import { apiKeyAad } from '../../src/cliniko/connection.ts';
import { clientSecretAad } from '../../src/auth/sso/settings.ts';
import { readLayout } from '../../src/tenancy/snapshot.ts';
import type { TenantDb } from '../../src/tenancy/tenant-database.ts';
import { addUser, openClinic } from './fixtures.ts';

/** Real rows in every table of a clinic, with the text COPY must escape (tabs, newlines, backslashes, quotes, non-ASCII). */
export async function seedClinic(runtime: Runtime, slug: string, auditRows: number): Promise<void> {
  const clinic = await openClinic(runtime, slug);
  const db: TenantDb = clinic.db;
  const box = runtime.secrets.box;
  const admin = await addUser(runtime, slug, { email: `admin@${slug}.example`, role: 'admin', name: 'Ada \\ "Admin"' });
  const staff = await addUser(runtime, slug, { email: `staff@${slug}.example`, name: 'Zoë\tStaff' });
  const gone = await addUser(runtime, slug, { email: `gone@${slug}.example`, name: 'Removed later' });
  await db.deleteFrom('users').where('id', '=', gone.id).execute();
  await db.insertInto('user_identities').values({ user_id: staff.id, issuer: 'https://idp.example', subject: 'sub-1', email: `staff@${slug}.example` }).execute();
  await db.updateTable('auth_settings').set({
    oidc_issuer: 'https://idp.example', oidc_client_id: 'client', oidc_admit: 'domain', allowed_email_domains: [`${slug}.example`, 'b.example'],
    oidc_client_secret_sealed: box.seal('oidc-secret', clientSecretAad(clinic.schemaName)),
  }).where('id', '=', true).execute();
  await db.insertInto('sessions').values({ id: `local.${clinic.schemaName}.abc`, data: JSON.stringify({ userId: admin.id, seenAt: 1 }), expires_at: new Date(Date.now() + 3_600_000) }).execute();
  for (const [i, name] of ['Plain', 'Tab\there', 'Line\nbreak', 'Back\\slash', 'Ünïcødé 病人', '\\N not null'].entries()) {
    await db.insertInto('patients').values({
      cliniko_id: String(1000 + i), first_name: name, last_name: `Last${i}`, data: JSON.stringify({ id: 1000 + i, notes: name, nested: { n: [1, 2.5, null] } }),
      date_of_birth: i % 2 ? '1980-02-29' : null, fetched_at: new Date(Date.UTC(2024, 1, 29, 12, 0, 0, 123)),
    }).execute();
    await db.insertInto('patient_notes').values({ patient_id: String(1000 + i), author_user_id: i % 2 ? staff.id : null, author_name: 'Ada', body: `Note ${i}: ${name}` }).execute();
  }
  await sql`insert into ${sql.id(clinic.schemaName, 'audit_events')} (user_id, patient_id, action, outcome, detail, client_ip, occurred_at)
            select ${admin.id}::bigint, 1000 + g % 6, 'view', 'ok', 'row ' || g, '127.0.0.1', now() - g * interval '1 minute'
              from generate_series(1, ${auditRows}) g`.execute(db);
  await db.insertInto('cliniko_connection').values({
    api_key_sealed: box.seal('MS0xLTE-au1', apiKeyAad(clinic.schemaName)), shard: 'au1', account_id: '42', connected_by: 'test',
  }).execute();
  await db.insertInto('invitations').values({
    email: `new@${slug}.example`, role: 'staff', token_hash: `hash-${slug}`, invited_by_user_id: admin.id, invited_by_name: 'Ada', expires_at: new Date(Date.now() + 86_400_000),
  }).execute();
}

/** Every row of every table, as JSON, sorted: what "the same rows" means. */
export async function allRows(pool: pg.Pool, schema: string): Promise<Record<string, string[]>> {
  const client = await pool.connect();
  try {
    const out: Record<string, string[]> = {};
    for (const table of await readLayout(client, schema)) {
      const { rows } = await client.query<{ r: string }>(`select to_jsonb(t)::text as r from ${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table.name)} t`);
      out[table.name] = rows.map((row) => row.r).sort();
    }
    return out;
  } finally {
    client.release();
  }
}
