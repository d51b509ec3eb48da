// For tenant migrations that need raw SQL: the schema a migration runs in, read from how Kysely
// qualifies a table reference (the runner gives each migration a handle scoped with withSchema).
// Raw SQL is not qualified by withSchema, so functions and triggers name the schema explicitly: a
// function left in `public` would be shared by every clinic and break the self-contained-schema
// rule. Not a migration itself: it lives outside migrations/tenant/.
import type { Kysely } from 'kysely';

export function tenantSchema(db: Kysely<any>, migration: string): string {
  const node: any = db.selectFrom('patients').selectAll().compile().query;
  const schema: unknown = node?.from?.froms?.[0]?.table?.schema?.name;
  if (typeof schema !== 'string' || !/^t_[0-9]{1,19}$/.test(schema)) {
    throw new Error(`${migration} must run on a tenant schema (a handle with withSchema)`);
  }
  return schema;
}
