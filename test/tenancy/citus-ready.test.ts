// A clinic's schema must stay movable to Citus schema-based sharding (infra/citus.md): each clinic
// schema becomes a distributed schema, a single-shard group of its own that the rebalancer moves
// between workers. What would stop that, or break once it happened, is anything that ties the
// schema to another one. This reads the PostgreSQL catalog of a clinic schema built by the real
// migrations and fails on:
//   - a dependency across schemas, in either direction: a foreign key, a view or materialized view,
//     a column default (a sequence of another schema), a trigger calling another schema's function,
//     a column of another schema's type, a function whose SQL body uses another schema;
//   - a PL/pgSQL function whose source names another schema (PostgreSQL records no dependency for it);
//   - a table without a primary key (Citus moves a schema by logical replication, which needs one
//     to replicate updates and deletes while it copies);
//   - a primary-key or foreign-key column that is not bigint (the data-placement rule of
//     product.md: no key outgrows int4, and every key is of one type). Cliniko IDs are bigint here
//     (patients.cliniko_id): they are 64-bit integers, so that is the rule, not text.
// Then it builds a throwaway schema with one of each violation and checks that each is reported,
// so the check cannot pass by finding nothing.
import t from 'tap';
import { sql, type Kysely } from 'kysely';
import { buildTestApp } from '../helpers/app.ts';

interface Finding {
  rule: string;
  object: string;
  detail: string;
}

/** System schemas whose objects exist on every Citus node: depending on them ties nothing. */
const SYSTEM_SCHEMAS = ['pg_catalog', 'information_schema'];

async function crossSchemaDependencies(db: Kysely<any>, schema: string): Promise<Finding[]> {
  // Every recorded dependency between an object of `schema` and one of another (non-system)
  // schema, in either direction, named by the catalog the dependent object lives in.
  const { rows } = await sql<{ kind: string; object: string; referenced: string; inward: boolean; contype: string | null; column_dependency: boolean }>`
    with target as (select to_regnamespace(${schema})::oid as ns),
    system as (select oid from pg_namespace where nspname = any(${SYSTEM_SCHEMAS}::text[]) or nspname like 'pg\_%'),
    deps as (
      select d.classid, d.objid, d.objsubid, d.refclassid, d.refobjid,
        case d.classid
          when 'pg_class'::regclass then (select relnamespace from pg_class where oid = d.objid)
          when 'pg_rewrite'::regclass then (select c.relnamespace from pg_rewrite r join pg_class c on c.oid = r.ev_class where r.oid = d.objid)
          when 'pg_attrdef'::regclass then (select c.relnamespace from pg_attrdef a join pg_class c on c.oid = a.adrelid where a.oid = d.objid)
          when 'pg_constraint'::regclass then (select connamespace from pg_constraint where oid = d.objid)
          -- A foreign key's own (internal) triggers are reported as the foreign key.
          when 'pg_trigger'::regclass then (select c.relnamespace from pg_trigger tg join pg_class c on c.oid = tg.tgrelid where tg.oid = d.objid and not tg.tgisinternal)
          when 'pg_proc'::regclass then (select pronamespace from pg_proc where oid = d.objid)
          when 'pg_type'::regclass then (select typnamespace from pg_type where oid = d.objid)
        end as object_ns,
        case d.refclassid
          when 'pg_class'::regclass then (select relnamespace from pg_class where oid = d.refobjid)
          when 'pg_proc'::regclass then (select pronamespace from pg_proc where oid = d.refobjid)
          when 'pg_type'::regclass then (select typnamespace from pg_type where oid = d.refobjid)
          when 'pg_constraint'::regclass then (select connamespace from pg_constraint where oid = d.refobjid)
        end as referenced_ns
      from pg_depend d
    )
    select d.classid::regclass::text as kind,
      pg_describe_object(d.classid, d.objid, d.objsubid) as object,
      pg_describe_object(d.refclassid, d.refobjid, 0) as referenced,
      d.referenced_ns = target.ns as inward,
      (select contype::text from pg_constraint where d.classid = 'pg_constraint'::regclass and oid = d.objid) as contype,
      d.classid = 'pg_class'::regclass and d.objsubid > 0 as column_dependency
    from deps d, target
    where d.object_ns is not null and d.referenced_ns is not null and d.object_ns <> d.referenced_ns
      and (d.object_ns = target.ns or d.referenced_ns = target.ns)
      and d.object_ns not in (select oid from system) and d.referenced_ns not in (select oid from system)
    order by 2, 3
  `.execute(db);
  // One finding per object (a foreign key depends on the other table and on its unique index).
  const byObject = new Map<string, Finding>();
  for (const row of rows) {
    const rule =
      row.kind === 'pg_constraint' ? (row.contype === 'f' ? 'foreign key across schemas' : 'constraint across schemas')
      : row.kind === 'pg_rewrite' ? 'view across schemas'
      : row.kind === 'pg_attrdef' ? 'column default across schemas'
      : row.kind === 'pg_trigger' ? 'trigger across schemas'
      : row.kind === 'pg_proc' ? 'function across schemas'
      : row.column_dependency ? 'column type across schemas'
      : 'dependency across schemas';
    const seen = byObject.get(`${rule}\n${row.object}`);
    if (seen) seen.detail += `, ${row.referenced}`;
    else byObject.set(`${rule}\n${row.object}`, { rule, object: row.object, detail: `${row.inward ? 'another schema depends on this one: ' : ''}depends on ${row.referenced}` });
  }
  return [...byObject.values()];
}

/** PL/pgSQL bodies are opaque to pg_depend: read their source for another schema's name before a dot. */
async function functionsNamingOtherSchemas(db: Kysely<any>, schema: string): Promise<Finding[]> {
  const others = await sql<{ nspname: string }>`
    select nspname from pg_namespace
    where nspname <> ${schema} and nspname <> all(${SYSTEM_SCHEMAS}::text[]) and nspname not like 'pg\_%'
  `.execute(db);
  const functions = await sql<{ name: string; source: string; config: string[] | null }>`
    select p.oid::regprocedure::text as name, p.prosrc as source, p.proconfig as config
    from pg_proc p where p.pronamespace = to_regnamespace(${schema})::oid
  `.execute(db);
  const findings: Finding[] = [];
  for (const fn of functions.rows) {
    for (const { nspname } of others.rows) {
      const escaped = nspname.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      if (new RegExp(`(^|[^\\w$])("${escaped}"|${escaped})\\s*\\.`, 'i').test(fn.source)) {
        findings.push({ rule: 'function names another schema', object: fn.name, detail: `its body refers to ${nspname}.` });
      }
    }
    const searchPath = (fn.config ?? []).find((setting) => setting.startsWith('search_path='));
    if (searchPath !== undefined && searchPath.split('=')[1]!.split(',').map((s) => s.trim().replace(/"/g, '')).some((s) => s !== schema && !SYSTEM_SCHEMAS.includes(s))) {
      findings.push({ rule: 'function names another schema', object: fn.name, detail: `it runs with ${searchPath}` });
    }
  }
  return findings;
}

async function tablesWithoutPrimaryKey(db: Kysely<any>, schema: string): Promise<Finding[]> {
  const { rows } = await sql<{ name: string }>`
    select r.oid::regclass::text as name from pg_class r
    where r.relnamespace = to_regnamespace(${schema})::oid and r.relkind in ('r', 'p')
      and not exists (select 1 from pg_constraint c where c.conrelid = r.oid and c.contype = 'p')
    order by 1
  `.execute(db);
  return rows.map((row) => ({ rule: 'table without a primary key', object: row.name, detail: 'logical replication (citus_schema_move) cannot carry its updates and deletes' }));
}

async function nonBigintKeys(db: Kysely<any>, schema: string): Promise<Finding[]> {
  const { rows } = await sql<{ column: string; constraint: string; kind: string; type: string }>`
    select c.conrelid::regclass::text || '.' || a.attname as column, c.conname as constraint,
      case c.contype when 'p' then 'primary key' else 'foreign key' end as kind,
      format_type(a.atttypid, a.atttypmod) as type
    from pg_constraint c
    join pg_class r on r.oid = c.conrelid
    cross join lateral unnest(c.conkey) as k(attnum)
    join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum
    where r.relnamespace = to_regnamespace(${schema})::oid and c.contype in ('p', 'f') and a.atttypid <> 'bigint'::regtype
    order by 1, 2
  `.execute(db);
  return rows.map((row) => ({ rule: 'key that is not bigint', object: row.column, detail: `${row.kind} ${row.constraint} is ${row.type}` }));
}

/** Everything in `schema` that stands in the way of `citus_schema_distribute`/`citus_schema_move`. */
async function citusBlockers(db: Kysely<any>, schema: string): Promise<Finding[]> {
  const exists = await sql<{ ns: string | null }>`select to_regnamespace(${schema})::text as ns`.execute(db);
  if (exists.rows[0]?.ns == null) throw new Error(`schema ${schema} does not exist`);
  return [
    ...(await crossSchemaDependencies(db, schema)),
    ...(await functionsNamingOtherSchemas(db, schema)),
    ...(await tablesWithoutPrimaryKey(db, schema)),
    ...(await nonBigintKeys(db, schema)),
  ];
}

/**
 * Keys that are not bigint in today's tenant migrations, each on purpose. None blocks Citus (a
 * distributed schema's tables have no shard key; any key type moves), but they break the letter of
 * the bigint rule, so they are listed here, one by one: a new one fails this test.
 */
const KNOWN_NON_BIGINT_KEYS: Record<string, string> = {
  // One-row tables: `id boolean primary key default true check (id)` makes a second row impossible.
  'auth_settings.id': 'boolean',
  'cliniko_connection.id': 'boolean',
  // The session ID is the cookie's `<region>.<schema>.<256 random bits>`, not a number.
  'sessions.id': 'text',
  // Kysely's migration bookkeeping (src/tenancy/migrations.ts creates exactly Kysely's tables).
  'kysely_migration.name': 'character varying(255)',
  'kysely_migration_lock.id': 'character varying(255)',
};

t.test("a migrated clinic schema has nothing that would stop Citus from distributing and moving it", async (t) => {
  const { runtime } = await buildTestApp(t);
  await runtime.tenants.create({ slug: 'citus-ready' });
  const tenant = await runtime.directory.lookup('citus-ready');
  const schema = tenant!.schemaName;
  const db = runtime.databases.control as Kysely<any>;

  const findings = await citusBlockers(db, schema);
  const keys = findings.filter((f) => f.rule === 'key that is not bigint');
  const others = findings.filter((f) => f.rule !== 'key that is not bigint');
  t.same(others, [], 'no cross-schema dependency, no function naming another schema, every table with a primary key');

  const unqualified = (column: string) => column.replace(`${schema}.`, '');
  const found = Object.fromEntries(keys.map((f) => [unqualified(f.object), f.detail.replace(/^.* is /, '')]));
  t.same(found, KNOWN_NON_BIGINT_KEYS, 'every non-bigint key is a known, listed exception');

  // The check looked at something: the schema has tables, keys, triggers and functions.
  const { rows } = await sql<{ tables: number; functions: number; triggers: number; fks: number }>`
    select
      (select count(*)::int from pg_class where relnamespace = to_regnamespace(${schema})::oid and relkind = 'r') as tables,
      (select count(*)::int from pg_proc where pronamespace = to_regnamespace(${schema})::oid) as functions,
      (select count(*)::int from pg_trigger tg join pg_class c on c.oid = tg.tgrelid where c.relnamespace = to_regnamespace(${schema})::oid and not tg.tgisinternal) as triggers,
      (select count(*)::int from pg_constraint where connamespace = to_regnamespace(${schema})::oid and contype = 'f') as fks
  `.execute(db);
  t.ok(rows[0]!.tables >= 8 && rows[0]!.functions >= 3 && rows[0]!.triggers >= 5 && rows[0]!.fks >= 2, `a real clinic schema was checked (${JSON.stringify(rows[0])})`);
});

t.test('the check reports each kind of violation (it cannot pass by finding nothing)', async (t) => {
  const { runtime } = await buildTestApp(t);
  const db = runtime.databases.control as Kysely<any>;
  await sql`create schema citus_probe_other`.execute(db);
  await sql`create table citus_probe_other.shared (id bigint primary key)`.execute(db);
  await sql`create sequence citus_probe_other.counter`.execute(db);
  await sql`create type citus_probe_other.mood as enum ('fine', 'busy')`.execute(db);
  await sql`create function citus_probe_other.touch() returns trigger language plpgsql as $$ begin return new; end $$`.execute(db);

  await sql`create schema citus_probe`.execute(db);
  // What passes: a bigint key, a foreign key and a view inside the schema, a function on its own tables.
  await sql`create table citus_probe.fine (id bigint generated by default as identity primary key)`.execute(db);
  await sql`create table citus_probe.fine_child (id bigint primary key, fine_id bigint references citus_probe.fine (id))`.execute(db);
  await sql`create view citus_probe.fine_view as select id from citus_probe.fine`.execute(db);
  await sql`create function citus_probe.fine_count() returns bigint language plpgsql as $$ begin return (select count(*) from citus_probe.fine); end $$`.execute(db);
  // One of each violation.
  await sql`create table citus_probe.fk_out (id bigint primary key, shared_id bigint references citus_probe_other.shared (id))`.execute(db);
  await sql`create view citus_probe.view_out as select id from citus_probe_other.shared`.execute(db);
  await sql`create materialized view citus_probe.matview_out as select id from citus_probe_other.shared`.execute(db);
  await sql`create table citus_probe.sequence_out (id bigint primary key default nextval('citus_probe_other.counter'))`.execute(db);
  await sql`create table citus_probe.int_key (id integer primary key)`.execute(db);
  await sql`create table citus_probe.int_fk (id bigint primary key, int_key_id integer references citus_probe.int_key (id))`.execute(db);
  await sql`create function citus_probe.plpgsql_out() returns bigint language plpgsql as $$ begin return (select count(*) from citus_probe_other.shared); end $$`.execute(db);
  await sql`create function citus_probe.sql_body_out() returns bigint language sql begin atomic select count(*) from citus_probe_other.shared; end`.execute(db);
  await sql`create function citus_probe.search_path_out() returns bigint language sql set search_path = citus_probe_other as 'select 1::bigint'`.execute(db);
  await sql`create table citus_probe.trigger_out (id bigint primary key)`.execute(db);
  await sql`create trigger touch before insert on citus_probe.trigger_out for each row execute function citus_probe_other.touch()`.execute(db);
  await sql`create table citus_probe.no_key (note text)`.execute(db);
  await sql`create table citus_probe.type_out (id bigint primary key, mood citus_probe_other.mood)`.execute(db);
  // And the other direction: another schema's table and view leaning on this one.
  await sql`create table citus_probe_other.fk_in (id bigint primary key, fine_id bigint references citus_probe.fine (id))`.execute(db);
  await sql`create view citus_probe_other.view_in as select id from citus_probe.fine`.execute(db);

  const findings = await citusBlockers(db, 'citus_probe');
  const reported = (rule: string, object: RegExp) => findings.some((f) => f.rule === rule && (object.test(f.object) || object.test(f.detail)));
  const expected: [string, RegExp][] = [
    ['foreign key across schemas', /fk_out_shared_id_fkey/],
    ['view across schemas', /view citus_probe\.view_out/],
    ['view across schemas', /materialized view citus_probe\.matview_out/],
    ['column default across schemas', /citus_probe\.sequence_out/],
    ['key that is not bigint', /citus_probe\.int_key\.id/],
    ['key that is not bigint', /citus_probe\.int_fk\.int_key_id/],
    ['function names another schema', /plpgsql_out/],
    ['function across schemas', /sql_body_out/],
    ['function names another schema', /search_path_out/],
    ['trigger across schemas', /trigger touch on table citus_probe\.trigger_out/],
    ['table without a primary key', /citus_probe\.no_key/],
    ['column type across schemas', /citus_probe\.type_out/],
    ['foreign key across schemas', /fk_in_fine_id_fkey/],
    ['view across schemas', /view citus_probe_other\.view_in/],
  ];
  for (const [rule, object] of expected) t.ok(reported(rule, object), `reports ${rule}: ${object.source}`);
  const innocent = findings.filter((f) => /\bfine(_child|_view|_count)?\b/.test(f.object) && !/fk_in|view_in/.test(f.detail));
  t.same(innocent, [], 'what stays inside the schema is not reported');
  t.equal(findings.length, expected.length, `nothing else reported: ${JSON.stringify(findings, null, 1)}`);
});
