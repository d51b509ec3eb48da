// "Did this load write anything?": a row count and a checksum of every table in some schemas, taken
// before and after, compared. Inserts, updates and deletes all change the checksum; the row counts
// say how many rows came or went. Meant for the small databases of the bench (it reads every row).
import pg from 'pg';

export type TableChecksums = Map<string, { rows: number; md5: string }>;

export interface TableChange {
  table: string;
  /** Rows added (negative: removed); 0 with a changed checksum means rows were updated. */
  rows: number;
}

export async function tableChecksums(pool: pg.Pool, schemas: string[]): Promise<TableChecksums> {
  const tables = await pool.query<{ schema: string; name: string }>(
    `select table_schema as schema, table_name as name from information_schema.tables
      where table_schema = any($1) and table_type = 'BASE TABLE' order by 1, 2`,
    [schemas],
  );
  const sums: TableChecksums = new Map();
  for (const { schema, name } of tables.rows) {
    // Identifiers cannot be parameters; escapeIdentifier quotes them.
    const table = `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(name)}`;
    const { rows } = await pool.query<{ rows: number; md5: string }>(
      `select count(*)::int as rows, md5(coalesce(string_agg(t::text, ',' order by t::text), '')) as md5 from ${table} t`,
    );
    sums.set(`${schema}.${name}`, rows[0]!);
  }
  return sums;
}

/** Tables that differ between two snapshots (a table created or dropped in between counts too). */
export function changedTables(before: TableChecksums, after: TableChecksums): TableChange[] {
  const changes: TableChange[] = [];
  for (const table of new Set([...before.keys(), ...after.keys()])) {
    const a = before.get(table);
    const b = after.get(table);
    if (a?.md5 !== b?.md5) changes.push({ table, rows: (b?.rows ?? 0) - (a?.rows ?? 0) });
  }
  return changes;
}
