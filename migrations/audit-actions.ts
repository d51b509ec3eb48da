// For tenant migrations that add audit actions: audit_events.action has a check constraint listing
// the allowed actions (0004). It is widened by union with what it allows now, never rewritten from
// a fixed list, so migrations adding actions of their own (0006 staff, 0008 the trail, 0009
// Cliniko) cannot drop each other's, whatever order they ran in. down() removes only its own.
// Not a migration itself: it lives outside migrations/tenant/.
import { sql, type Kysely } from 'kysely';

const CONSTRAINT = 'audit_events_action_check';

async function allowedActions(db: Kysely<any>, schema: string, migration: string): Promise<string[]> {
  const { rows } = await sql<{ definition: string }>`
    select pg_get_constraintdef(c.oid) as definition
    from pg_constraint c join pg_namespace n on n.oid = c.connamespace
    where n.nspname = ${schema} and c.conname = ${CONSTRAINT}`.execute(db);
  const definition = rows[0]?.definition;
  if (definition === undefined) throw new Error(`${migration}: ${schema}.${CONSTRAINT} not found`);
  // e.g. CHECK ((action = ANY (ARRAY['view'::text, 'denied'::text, 'note_added'::text])))
  return [...definition.matchAll(/'((?:[^']|'')*)'::text/g)].map((m) => m[1]!.replaceAll("''", "'"));
}

/**
 * `wider`: every row already passed the narrower check, so the new one is added NOT VALID: no scan
 * of the whole trail while the table is locked (patient views would queue behind it). New rows are
 * checked either way.
 */
async function replaceConstraint(db: Kysely<any>, schema: string, actions: string[], wider: boolean): Promise<void> {
  const table = sql.id(schema, 'audit_events');
  const list = sql.join(actions.map((a) => sql.lit(a)));
  await sql`alter table ${table} drop constraint ${sql.id(CONSTRAINT)}`.execute(db);
  await sql`alter table ${table} add constraint ${sql.id(CONSTRAINT)} check (action in (${list}))${wider ? sql` not valid` : sql``}`.execute(db);
}

export async function addAuditActions(db: Kysely<any>, schema: string, migration: string, added: readonly string[]): Promise<void> {
  const current = await allowedActions(db, schema, migration);
  await replaceConstraint(db, schema, [...new Set([...current, ...added])], true);
}

export async function removeAuditActions(db: Kysely<any>, schema: string, migration: string, removed: readonly string[]): Promise<void> {
  const current = await allowedActions(db, schema, migration);
  await replaceConstraint(db, schema, current.filter((a) => !removed.includes(a)), false);
}
