// Copying one clinic schema's rows: the core of `tenants export`/`import` (archive.ts) and of moving a
// clinic between regions. Tables come from the catalog (pg_class, pg_attribute, pg_constraint), so a
// new migration's tables are covered without a change here; Kysely's bookkeeping tables are not
// copied (a target gets its own by being migrated). Rows travel as COPY text streams
// (pg-copy-streams), never held in memory.
//
// A fingerprint (row count and an order-independent checksum per table) is how a copy proves itself:
// the source's is taken inside the snapshot that was copied, the target's inside the transaction
// that wrote it, before it commits. Each row is hashed from its columns in name order, so the same
// rows compare equal in another schema, on another server, or with another physical column order.
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { tenancyErrors } from './errors.ts';

export interface TableFingerprint {
  table: string;
  rows: number;
  checksum: string;
}

/** A table as the catalog describes it. */
export interface TableLayout {
  name: string;
  /** The columns a COPY carries, in the table's own order (generated columns are left out). */
  columns: string[];
  /** Every column, in name order: what a fingerprint hashes. */
  hashedColumns: string[];
}

/** Where a table's identity (or serial) column's sequence stood. */
export interface SequencePosition {
  table: string;
  column: string;
  /** The sequence's last value, or null if it never handed one out. */
  lastValue: string | null;
}

/** Kysely's bookkeeping (migrations.ts): each schema keeps its own, so it is never copied. */
const BOOKKEEPING_TABLES = ['kysely_migration', 'kysely_migration_lock'];

/**
 * The text formats of dates, times, intervals, floats and bytea depend on session settings, and so
 * would COPY text and fingerprints: pinned for the transaction, the same on every server.
 */
const PINNED_FORMATS: ReadonlyArray<readonly [string, string]> = [
  ['TimeZone', 'UTC'],
  ['DateStyle', 'ISO, YMD'],
  ['IntervalStyle', 'postgres'],
  ['extra_float_digits', '1'],
  ['bytea_output', 'hex'],
];

const ident = (name: string) => pg.escapeIdentifier(name);
const qualified = (schema: string, table: string) => `${ident(schema)}.${ident(table)}`;

/** Checksums are sums of 64-bit row hashes modulo 2^64 (a XOR would let two equal rows cancel out). */
const MODULUS = '18446744073709551616';

/** Pins the text formats (and lifts the pool's statement timeout: a big table's COPY takes long) for the current transaction. */
export async function pinTextFormats(client: pg.ClientBase): Promise<void> {
  const settings = [...PINNED_FORMATS, ['statement_timeout', '0'] as const];
  await client.query(
    `select set_config(name, value, true) from unnest($1::text[], $2::text[]) as s(name, value)`,
    [settings.map(([name]) => name), settings.map(([, value]) => value)],
  );
}

/** Opens a REPEATABLE READ READ ONLY transaction: every read after this sees one snapshot. */
export async function openSnapshot(pool: pg.Pool): Promise<{ client: pg.PoolClient; close(error?: unknown): Promise<void> }> {
  const client = await pool.connect();
  try {
    await client.query('begin isolation level repeatable read read only');
    await pinTextFormats(client);
  } catch (error) {
    client.release(true);
    throw error;
  }
  // After a failure the connection may still be sending a COPY the reader gave up on: a read-only
  // snapshot loses nothing by closing it rather than waiting for the rest of the table.
  const end = once(async (how: 'commit' | 'rollback') => (how === 'commit' ? endTransaction(client, how) : client.release(true)));
  return { client, close: (error?: unknown) => end(error === undefined ? 'commit' : 'rollback') };
}

/** Opens a read-write transaction for loading rows. */
export async function openWriter(pool: pg.Pool): Promise<{ client: pg.PoolClient; commit(): Promise<void>; rollback(): Promise<void> }> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    await pinTextFormats(client);
  } catch (error) {
    client.release(true);
    throw error;
  }
  const end = once((how: 'commit' | 'rollback') => endTransaction(client, how));
  return { client, commit: () => end('commit'), rollback: () => end('rollback') };
}

/** A transaction ends once: a rollback after a failed commit (or a second close) does nothing. */
function once(end: (how: 'commit' | 'rollback') => Promise<void>): (how: 'commit' | 'rollback') => Promise<void> {
  let ended = false;
  return async (how) => {
    if (ended) return;
    ended = true;
    await end(how);
  };
}

/**
 * Ends a transaction and returns the client to its pool; a client that cannot end it cleanly (a
 * COPY cut off midway) is destroyed instead, which makes the server roll back.
 */
async function endTransaction(client: pg.PoolClient, how: 'commit' | 'rollback'): Promise<void> {
  try {
    await client.query(how);
    client.release();
  } catch (error) {
    client.release(true);
    if (how === 'commit') throw error;
  }
}

/** The last migration applied to a schema (its own bookkeeping), or null if it has none. */
export async function schemaVersionOf(client: pg.ClientBase, schema: string): Promise<string | null> {
  const exists = await client.query<{ table: string | null }>('select to_regclass($1)::text as table', [`${ident(schema)}.kysely_migration`]);
  if (exists.rows[0]?.table == null) return null;
  const { rows } = await client.query<{ name: string | null }>(`select max(name) as name from ${qualified(schema, 'kysely_migration')}`);
  return rows[0]?.name ?? null;
}

/** The schema's tables, parents before the tables whose foreign keys point at them. */
export async function readLayout(client: pg.ClientBase, schema: string): Promise<TableLayout[]> {
  const tables = await client.query<{ name: string; columns: string[]; hashed_columns: string[] }>(
    `select c.relname::text as name,
            (array_agg(a.attname::text order by a.attnum) filter (where a.attgenerated = ''))::text[] as columns,
            array_agg(a.attname::text order by a.attname::text collate "C")::text[] as hashed_columns
       from pg_class c
       join pg_namespace n on n.oid = c.relnamespace
       join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
      where n.nspname = $1 and c.relkind in ('r', 'p') and not c.relispartition and c.relname::text <> all($2::text[])
      group by c.relname`,
    [schema, BOOKKEEPING_TABLES],
  );
  const references = await client.query<{ child: string; parent: string }>(
    `select distinct child.relname::text as child, parent.relname::text as parent
       from pg_constraint k
       join pg_class child on child.oid = k.conrelid
       join pg_class parent on parent.oid = k.confrelid
       join pg_namespace n on n.oid = child.relnamespace
      where k.contype = 'f' and n.nspname = $1 and parent.relnamespace = child.relnamespace and child.oid <> parent.oid`,
    [schema],
  );
  const byName = new Map(tables.rows.map((t) => [t.name, { name: t.name, columns: t.columns ?? [], hashedColumns: t.hashed_columns }]));
  const parents = new Map<string, Set<string>>([...byName.keys()].map((name) => [name, new Set<string>()]));
  for (const { child, parent } of references.rows) if (byName.has(parent)) parents.get(child)?.add(parent);

  // Kahn's algorithm, names in order at each step so the order is stable.
  const ordered: TableLayout[] = [];
  const placed = new Set<string>();
  while (placed.size < byName.size) {
    const ready = [...byName.keys()].filter((name) => !placed.has(name) && [...parents.get(name)!].every((p) => placed.has(p))).sort();
    if (ready.length === 0) {
      const cycle = [...byName.keys()].filter((name) => !placed.has(name)).sort();
      throw new Error(`foreign keys form a cycle between tables ${cycle.join(', ')} of ${schema}; rows cannot be copied in order`);
    }
    for (const name of ready) {
      placed.add(name);
      ordered.push(byName.get(name)!);
    }
  }
  return ordered;
}

/** Where each identity or serial column's sequence stands. */
export async function readSequences(client: pg.ClientBase, schema: string): Promise<SequencePosition[]> {
  const { rows } = await client.query<{ table: string; column: string; last_value: string | null }>(
    `select c.relname::text as table, a.attname::text as column, pg_sequence_last_value(s.seq::regclass)::text as last_value
       from pg_class c
       join pg_namespace n on n.oid = c.relnamespace
       join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
       cross join lateral (select pg_get_serial_sequence(format('%I.%I', n.nspname, c.relname), a.attname) as seq) s
      where n.nspname = $1 and c.relkind in ('r', 'p') and not c.relispartition and c.relname::text <> all($2::text[]) and s.seq is not null
      order by 1, 2`,
    [schema, BOOKKEEPING_TABLES],
  );
  return rows.map((r) => ({ table: r.table, column: r.column, lastValue: r.last_value }));
}

/**
 * Sets each identity or serial sequence of the target past both the largest value copied and where
 * the source's sequence stood: an ID the source handed out and then deleted (a removed user, whom
 * audit rows still name) is never handed out again.
 */
export async function resetSequences(client: pg.ClientBase, schema: string, source: readonly SequencePosition[]): Promise<void> {
  const sourceAt = new Map(source.map((s) => [`${s.table}.${s.column}`, s.lastValue]));
  for (const target of await readSequences(client, schema)) {
    const { rows } = await client.query<{ max: string | null; seq: string }>(
      `select max(${ident(target.column)})::text as max, pg_get_serial_sequence($1, $2) as seq from ${qualified(schema, target.table)}`,
      [qualified(schema, target.table), target.column],
    );
    const candidates = [rows[0]?.max, sourceAt.get(`${target.table}.${target.column}`)].filter((v): v is string => v != null).map(BigInt);
    if (candidates.length === 0) continue;
    const next = candidates.reduce((a, b) => (a > b ? a : b));
    if (next < 1n) continue;
    await client.query('select setval($1::regclass, $2::bigint, true)', [rows[0]!.seq, next.toString()]);
  }
}

/**
 * Makes a freshly migrated schema ready for copied rows. Migrations may seed rows (0002 inserts the
 * clinic's auth_settings row); the copied rows replace them. A row is the migrations' own when it
 * was written in the same transaction as a migration's bookkeeping row and not changed since (its
 * xmin is one of theirs); any other row means the target is not a fresh schema, and is refused.
 */
export async function clearSeededRows(client: pg.ClientBase, schema: string, layout: readonly TableLayout[]): Promise<void> {
  const seeded: TableLayout[] = [];
  for (const table of layout) {
    const { rows } = await client.query<{ seeded: boolean }>(
      `select xmin::text in (select xmin::text from ${qualified(schema, 'kysely_migration')}) as seeded from ${qualified(schema, table.name)}`,
    );
    if (rows.some((row) => !row.seeded)) throw tenancyErrors.copyTargetNotEmpty(schema, table.name);
    if (rows.length > 0) seeded.push(table);
  }
  for (const table of seeded.reverse()) await client.query(`delete from ${qualified(schema, table.name)}`);
}

/** COPY statements for one table's rows (the same column list both ways). */
export function copyOutStatement(schema: string, table: TableLayout): string {
  return `copy (select ${table.columns.map(ident).join(', ')} from ${qualified(schema, table.name)}) to stdout`;
}

export function copyInStatement(schema: string, table: string, columns: readonly string[]): string {
  return `copy ${qualified(schema, table)} (${columns.map(ident).join(', ')}) from stdin`;
}

/** Streams a table's rows out as COPY text (the caller holds the snapshot). */
export function copyOut(client: pg.ClientBase, schema: string, table: TableLayout): Readable & { rowCount: number } {
  return client.query(copyTo(copyOutStatement(schema, table)));
}

/** Loads COPY text into a table; resolves to the number of rows written. */
export async function copyIn(client: pg.ClientBase, schema: string, table: string, columns: readonly string[], rows: Readable): Promise<number> {
  const sink = client.query(copyFrom(copyInStatement(schema, table, columns)));
  await pipeline(rows, sink);
  return sink.rowCount;
}

/** Fingerprints on a client whose formats are already pinned (inside openSnapshot/openWriter). */
export async function fingerprintTables(client: pg.ClientBase, schema: string, layout: readonly TableLayout[]): Promise<TableFingerprint[]> {
  const out: TableFingerprint[] = [];
  for (const table of [...layout].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const row = table.hashedColumns.length === 0 ? `''` : `row(${table.hashedColumns.map(ident).join(', ')})::text`;
    const { rows } = await client.query<{ rows: string; checksum: string }>(
      `select count(*)::text as rows,
              mod(mod(coalesce(sum(hashtextextended(${row}, 0)::numeric), 0), ${MODULUS}) + ${MODULUS}, ${MODULUS})::text as checksum
         from ${qualified(schema, table.name)}`,
    );
    out.push({ table: table.name, rows: Number(rows[0]!.rows), checksum: rows[0]!.checksum });
  }
  return out;
}

/**
 * Row count and an order-independent checksum per table (by name), the bookkeeping tables left
 * out. The same rows give the same fingerprint in any schema on any server. Read in one snapshot;
 * on a client already inside a transaction, inside it (under a savepoint that undoes the pinned
 * formats afterwards).
 */
export async function fingerprintSchema(client: pg.ClientBase | pg.Pool, schema: string): Promise<TableFingerprint[]> {
  if (client instanceof pg.Pool) {
    const snapshot = await openSnapshot(client);
    let result: TableFingerprint[];
    try {
      result = await fingerprintTables(snapshot.client, schema, await readLayout(snapshot.client, schema));
    } catch (error) {
      await snapshot.close(error);
      throw error;
    }
    await snapshot.close();
    return result;
  }
  let savepoint = true;
  try {
    await client.query('savepoint sidechart_fingerprint');
  } catch (error) {
    if ((error as { code?: unknown }).code !== '25P01') throw error; // no transaction: open one
    savepoint = false;
    await client.query('begin isolation level repeatable read read only');
  }
  try {
    await pinTextFormats(client);
    const result = await fingerprintTables(client, schema, await readLayout(client, schema));
    await client.query(savepoint ? 'rollback to savepoint sidechart_fingerprint' : 'commit');
    if (savepoint) await client.query('release savepoint sidechart_fingerprint');
    return result;
  } catch (error) {
    await client.query(savepoint ? 'rollback to savepoint sidechart_fingerprint' : 'rollback').catch(() => {});
    throw error;
  }
}

/** The first table whose fingerprint differs, with what differs; null when all agree. */
export function firstDifference(expected: readonly TableFingerprint[], actual: readonly TableFingerprint[]): { table: string; detail: string } | null {
  const found = new Map(actual.map((f) => [f.table, f]));
  for (const want of expected) {
    const got = found.get(want.table);
    if (!got) return { table: want.table, detail: 'table missing' };
    if (got.rows !== want.rows) return { table: want.table, detail: `${got.rows} rows, expected ${want.rows}` };
    if (got.checksum !== want.checksum) return { table: want.table, detail: `same ${got.rows} rows, different contents` };
  }
  const extra = actual.find((f) => !expected.some((e) => e.table === f.table));
  return extra ? { table: extra.table, detail: 'table not expected' } : null;
}

/** What differs between two layouts' tables and columns (as sets), or null. */
export function layoutDifference(source: readonly { name: string; columns: readonly string[] }[], target: readonly { name: string; columns: readonly string[] }[]): string | null {
  const targetByName = new Map(target.map((t) => [t.name, t]));
  for (const table of source) {
    const other = targetByName.get(table.name);
    if (!other) return `no table "${table.name}" in the target`;
    const a = [...table.columns].sort().join(', ');
    const b = [...other.columns].sort().join(', ');
    if (a !== b) return `table "${table.name}" has columns (${a}) in the source and (${b}) in the target`;
  }
  const extra = target.find((t) => !source.some((s) => s.name === t.name));
  return extra ? `table "${extra.name}" only in the target` : null;
}

export interface CopyProgress {
  table: string;
  rows: number;
  done: number;
  total: number;
}

/**
 * Copies every row of every table from the source schema to an existing, empty target schema at the
 * same migration version (same server or another; "empty": holding only rows its migrations seeded,
 * which the copied ones replace), in foreign-key order, with COPY streams. The
 * source is read in one REPEATABLE READ READ ONLY transaction (a consistent snapshot while the clinic
 * keeps serving), the target written in one transaction, its sequences set past what was copied;
 * it commits only if the target's fingerprints equal the source snapshot's. Returns them.
 */
export async function copySchemaRows(options: {
  source: pg.Pool;
  sourceSchema: string;
  target: pg.Pool;
  targetSchema: string;
  onTable?: (p: CopyProgress) => void;
  /**
   * Runs once the source snapshot is taken and before any row is read: a move releases here the
   * lock it held on the tables still written while read-only, so the snapshot has every row
   * written before it and every later row has a larger id (move.ts).
   */
  onSnapshot?: () => Promise<void>;
}): Promise<TableFingerprint[]> {
  const snapshot = await openSnapshot(options.source);
  if (options.onSnapshot) {
    try {
      await options.onSnapshot();
    } catch (error) {
      await snapshot.close(error);
      throw error;
    }
  }
  let writer: Awaited<ReturnType<typeof openWriter>> | null = null;
  try {
    writer = await openWriter(options.target);
    const [sourceVersion, targetVersion] = [await schemaVersionOf(snapshot.client, options.sourceSchema), await schemaVersionOf(writer.client, options.targetSchema)];
    if (sourceVersion === null || sourceVersion !== targetVersion) {
      throw tenancyErrors.copyVersionMismatch(sourceVersion ?? 'no version', targetVersion ?? 'no version');
    }
    const layout = await readLayout(snapshot.client, options.sourceSchema);
    const targetLayout = await readLayout(writer.client, options.targetSchema);
    const difference = layoutDifference(layout, targetLayout);
    if (difference) throw tenancyErrors.copyTablesDiffer(difference);
    await clearSeededRows(writer.client, options.targetSchema, targetLayout);

    const expected = await fingerprintTables(snapshot.client, options.sourceSchema, layout);
    const sequences = await readSequences(snapshot.client, options.sourceSchema);
    let done = 0;
    for (const table of layout) {
      const rows = await copyIn(writer.client, options.targetSchema, table.name, table.columns, copyOut(snapshot.client, options.sourceSchema, table));
      options.onTable?.({ table: table.name, rows, done: ++done, total: layout.length });
    }
    await resetSequences(writer.client, options.targetSchema, sequences);
    const actual = await fingerprintTables(writer.client, options.targetSchema, targetLayout);
    const differs = firstDifference(expected, actual);
    if (differs) throw tenancyErrors.copyMismatch(differs.table, differs.detail);
    await writer.commit();
    await snapshot.close();
    return expected;
  } catch (error) {
    await writer?.rollback();
    await snapshot.close(error);
    throw error;
  }
}
