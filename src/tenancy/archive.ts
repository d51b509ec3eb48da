// A clinic as one file: `sidechart tenants export` writes it, `tenants import` makes a new clinic from
// it. The file is a gzip-compressed tar, streamed both ways (a clinic is never held in memory):
//
//   manifest.json          format version, the clinic, the schema version its rows fit, and per
//                          table its columns, row count, checksum and sequence positions
//   tables/<table>.copy    the table's rows in COPY text format, parents before children
//
// Everything is read in one REPEATABLE READ READ ONLY transaction, so the file is one consistent
// snapshot while the clinic keeps serving; the manifest's fingerprints are taken in that snapshot
// (snapshot.ts), and an import commits its rows only if they fingerprint the same. The file holds
// health data: it is created 0600, written as FILE.partial and renamed when complete.
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import pg from 'pg';
import tar from 'tar-stream';
import { Type, type Static } from 'typebox';
import { isAppError } from '../infra/errors.ts';
import type { Region } from '../infra/db.ts';
import { shapeOf } from '../infra/schemas.ts';
import { scopeToTenant, type ClinicScope } from './clinic.ts';
import { tenancyErrors } from './errors.ts';
import { migrateTenantSchema, migrateTenantSchemaTo } from './migrations.ts';
import {
  clearSeededRows,
  copyIn,
  copyOut,
  firstDifference,
  fingerprintTables,
  layoutDifference,
  openSnapshot,
  openWriter,
  readLayout,
  readSequences,
  resetSequences,
  schemaVersionOf,
  type CopyProgress,
  type SequencePosition,
} from './snapshot.ts';
import type { TenantService, TenantSummary } from './tenants.ts';

export const ARCHIVE_FORMAT_VERSION = 1;
const MANIFEST = 'manifest.json';
const MANIFEST_MAX_BYTES = 16 * 1024 * 1024;
const TABLE_ENTRY = /^tables\/([A-Za-z0-9_]{1,63})\.copy$/;
const FILE_MODE = 0o600;

const ManifestSchema = Type.Object({
  formatVersion: Type.Literal(ARCHIVE_FORMAT_VERSION),
  slug: Type.String(),
  displayName: Type.String(),
  sourceRegion: Type.String(),
  /** Sealed secrets name the schema they were sealed for (their authenticated data). */
  sourceSchema: Type.String(),
  schemaVersion: Type.String(),
  exportedAt: Type.String(),
  tables: Type.Array(
    Type.Object({
      name: Type.String({ pattern: '^[A-Za-z0-9_]{1,63}$' }),
      columns: Type.Array(Type.String(), { minItems: 1 }),
      rows: Type.Integer({ minimum: 0 }),
      checksum: Type.String({ pattern: '^[0-9]{1,20}$' }),
      sequences: Type.Array(Type.Object({ column: Type.String(), lastValue: Type.Union([Type.String({ pattern: '^-?[0-9]{1,19}$' }), Type.Null()]) })),
    }),
  ),
});
export type ArchiveManifest = Static<typeof ManifestSchema>;
const manifestShape = shapeOf(ManifestSchema);

export interface ExportResult {
  slug: string;
  file: string;
  schemaVersion: string;
  tables: number;
  rows: number;
  bytes: number;
  seconds: number;
}

/**
 * Writes a clinic's rows to `file` (refused if it exists) as one consistent snapshot. Each table is
 * spooled to a private temporary file next to it first: a tar entry's header needs its size.
 */
export async function exportClinicArchive(options: {
  tenants: TenantService;
  regions: ReadonlyMap<string, Region>;
  slug: string;
  file: string;
  onTable?: (p: CopyProgress) => void;
}): Promise<ExportResult> {
  const started = performance.now();
  const tenant = await options.tenants.find(options.slug);
  if (tenant.status !== 'active' && tenant.status !== 'suspended') throw tenancyErrors.clinicNotExportable(tenant.slug, tenant.status);
  const region = options.regions.get(tenant.regionId);
  if (!region) throw tenancyErrors.regionNotConfigured(tenant.slug, tenant.regionId);
  const file = path.resolve(options.file);
  if (await exists(file)) throw tenancyErrors.archiveExists(options.file);
  const partial = `${file}.partial`;
  await rm(partial, { force: true });
  const spool = await mkdtemp(path.join(path.dirname(file), '.sidechart-export-')); // 0700

  const snapshot = await openSnapshot(region.pool);
  try {
    const schemaVersion = await schemaVersionOf(snapshot.client, tenant.schemaName);
    if (schemaVersion === null) throw tenancyErrors.clinicNotExportable(tenant.slug, 'without a migrated schema');
    const layout = await readLayout(snapshot.client, tenant.schemaName);
    const fingerprints = new Map((await fingerprintTables(snapshot.client, tenant.schemaName, layout)).map((f) => [f.table, f]));
    const sequences = await readSequences(snapshot.client, tenant.schemaName);
    const manifest: ArchiveManifest = {
      formatVersion: ARCHIVE_FORMAT_VERSION,
      slug: tenant.slug,
      displayName: tenant.displayName,
      sourceRegion: tenant.regionId,
      sourceSchema: tenant.schemaName,
      schemaVersion,
      exportedAt: new Date().toISOString(),
      tables: layout.map((table) => ({
        name: table.name,
        columns: table.columns,
        rows: fingerprints.get(table.name)!.rows,
        checksum: fingerprints.get(table.name)!.checksum,
        sequences: sequences.filter((s) => s.table === table.name).map((s) => ({ column: s.column, lastValue: s.lastValue })),
      })),
    };

    const pack = tar.pack();
    const written = pipeline(pack, createGzip(), createWriteStream(partial, { flags: 'wx', mode: FILE_MODE }));
    written.catch(() => {}); // awaited below; a failure before then must not go unhandled
    try {
      const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 2));
      await new Promise<void>((resolve, reject) => pack.entry({ name: MANIFEST, size: manifestBytes.length, mode: FILE_MODE }, manifestBytes, (error) => (error ? reject(error) : resolve())));
      let done = 0;
      for (const table of layout) {
        const spooled = path.join(spool, `${table.name}.copy`);
        const out = copyOut(snapshot.client, tenant.schemaName, table);
        await pipeline(out, createWriteStream(spooled, { flags: 'wx', mode: FILE_MODE }));
        const { size } = await stat(spooled);
        await pipeline(createReadStream(spooled), pack.entry({ name: `tables/${table.name}.copy`, size, mode: FILE_MODE }));
        await rm(spooled);
        options.onTable?.({ table: table.name, rows: out.rowCount, done: ++done, total: layout.length });
      }
      pack.finalize();
      await written;
    } catch (error) {
      pack.destroy(error as Error);
      await written.catch(() => {});
      throw error;
    }
    await snapshot.close();
    await chmod(partial, FILE_MODE);
    await rename(partial, file);
    return {
      slug: tenant.slug,
      file,
      schemaVersion,
      tables: layout.length,
      rows: manifest.tables.reduce((sum, t) => sum + t.rows, 0),
      bytes: (await stat(file)).size,
      seconds: (performance.now() - started) / 1000,
    };
  } catch (error) {
    await snapshot.close(error);
    await rm(partial, { force: true });
    throw error;
  } finally {
    await rm(spool, { recursive: true, force: true });
  }
}

export interface ImportResult {
  tenant: TenantSummary;
  /** The clinic the archive was exported from. */
  from: { slug: string; region: string; exportedAt: string };
  /** The version the rows were loaded at, before migrating to the latest. */
  archiveSchemaVersion: string;
  tables: number;
  rows: number;
  seconds: number;
}

/**
 * After the rows are in and the schema migrated to the latest version: what must change because the
 * clinic now lives in another schema (sealed secrets name their schema). Given the new clinic's scope.
 */
export type RebindClinic = (clinic: ClinicScope & { sourceSchema: string }) => Promise<void>;

/**
 * Makes a new clinic from an archive, all or nothing (TenantService.createFrom). The file is read
 * through once to check it is intact, then again to load it: provisioning while
 * its schema is migrated to the archive's version, its rows loaded in one transaction that commits
 * only if they match the manifest's counts and checksums, then migrated to the latest version,
 * rebound, and made active. Any failure leaves no tenant and no schema behind.
 */
export async function importClinicArchive(options: {
  tenants: TenantService;
  file: string;
  slug: string;
  displayName?: string;
  regionId?: string;
  rebind?: RebindClinic;
  onTable?: (p: CopyProgress) => void;
}): Promise<ImportResult> {
  const started = performance.now();
  await checkIntact(options.file);
  const archive = openArchive(options.file);
  try {
    const manifest = await readManifest(archive, options.file);
    let rows = 0;
    const tenant = await options.tenants.createFrom(
      { slug: options.slug, displayName: options.displayName ?? manifest.displayName, ...(options.regionId ? { regionId: options.regionId } : {}) },
      async ({ schemaName, region, migrations }) => {
        if ((await migrations.getMigrations())[manifest.schemaVersion] === undefined) {
          throw tenancyErrors.archiveUnsupported(options.file, `its rows are at schema version ${manifest.schemaVersion}, which this version of Sidechart does not know (an archive from a newer Sidechart needs a newer one to import it)`);
        }
        await migrateTenantSchemaTo(region, schemaName, migrations, manifest.schemaVersion);
        rows = await loadRows({ archive, manifest, file: options.file, pool: region.pool, schemaName, ...(options.onTable ? { onTable: options.onTable } : {}) });
        const version = await migrateTenantSchema(region, schemaName, migrations);
        await options.rebind?.({ db: scopeToTenant(region, schemaName), schemaName, sourceSchema: manifest.sourceSchema });
        return version;
      },
      { buildingFrom: `the archive ${path.basename(options.file)}` },
    );
    return {
      tenant,
      from: { slug: manifest.slug, region: manifest.sourceRegion, exportedAt: manifest.exportedAt },
      archiveSchemaVersion: manifest.schemaVersion,
      tables: manifest.tables.length,
      rows,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    archive.close();
  }
}

type ArchiveEntry = AsyncIterable<Buffer> & { header: tar.Header };

interface OpenArchive {
  next(): Promise<IteratorResult<ArchiveEntry>>;
  close(): void;
}

function openArchive(file: string): OpenArchive {
  const source = createReadStream(file);
  const gunzip = createGunzip();
  const extract = tar.extract();
  source.on('error', (error) => extract.destroy(error));
  gunzip.on('error', (error) => extract.destroy(error));
  source.pipe(gunzip).pipe(extract);
  const entries = (extract as AsyncIterable<ArchiveEntry>)[Symbol.asyncIterator]();
  return {
    next: () => entries.next(),
    close() {
      source.destroy();
      gunzip.destroy();
      extract.destroy();
    },
  };
}

/** The archive's own failures (a missing, truncated or damaged file) become one clear error. */
function unreadable(file: string, error: unknown): Error {
  if (isAppError(error)) return error;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (code === 'ENOENT') return tenancyErrors.archiveUnreadable(file, 'no such file');
  if (code === 'EACCES') return tenancyErrors.archiveUnreadable(file, 'permission denied');
  return tenancyErrors.archiveUnreadable(file, `it is truncated, damaged or not a Sidechart clinic archive (${String(message ?? error)})`);
}

async function nextEntry(archive: OpenArchive, file: string): Promise<ArchiveEntry | null> {
  try {
    const next = await archive.next();
    return next.done ? null : next.value;
  } catch (error) {
    throw unreadable(file, error);
  }
}

/**
 * Reads the whole archive once, keeping nothing: gzip checks its CRC only at the end, so damage
 * would otherwise show as a row the database refuses, or go unnoticed until then. A damaged or
 * truncated file is refused before anything is created.
 */
async function checkIntact(file: string): Promise<void> {
  const archive = openArchive(file);
  try {
    for (let entry = await nextEntry(archive, file); entry !== null; entry = await nextEntry(archive, file)) {
      try {
        for await (const _chunk of entry);
      } catch (error) {
        throw unreadable(file, error);
      }
    }
  } finally {
    archive.close();
  }
}

async function readManifest(archive: OpenArchive, file: string): Promise<ArchiveManifest> {
  const entry = await nextEntry(archive, file);
  if (entry?.header.name !== MANIFEST) throw tenancyErrors.archiveUnreadable(file, `it does not start with ${MANIFEST}`);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of entry) {
      size += (chunk as Buffer).length;
      if (size > MANIFEST_MAX_BYTES) throw tenancyErrors.archiveUnreadable(file, `its ${MANIFEST} is larger than ${MANIFEST_MAX_BYTES} bytes`);
      chunks.push(chunk as Buffer);
    }
  } catch (error) {
    throw unreadable(file, error);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw tenancyErrors.archiveUnreadable(file, `its ${MANIFEST} is not JSON`);
  }
  const format = (value as { formatVersion?: unknown } | null)?.formatVersion;
  if (format !== ARCHIVE_FORMAT_VERSION) {
    throw tenancyErrors.archiveUnsupported(file, `it is in archive format ${JSON.stringify(format ?? null)}, and this version of Sidechart reads format ${ARCHIVE_FORMAT_VERSION}`);
  }
  const problem = manifestShape.problem(value);
  if (problem !== null) throw tenancyErrors.archiveUnreadable(file, `its ${MANIFEST} is not valid (${problem})`);
  return value as ArchiveManifest;
}

/** Loads every table entry into the (migrated, empty) schema in one transaction; returns the rows loaded. */
async function loadRows(options: {
  archive: OpenArchive;
  manifest: ArchiveManifest;
  file: string;
  pool: pg.Pool;
  schemaName: string;
  onTable?: (p: CopyProgress) => void;
}): Promise<number> {
  const { manifest, file, schemaName } = options;
  const writer = await openWriter(options.pool);
  try {
    const layout = await readLayout(writer.client, schemaName);
    const difference = layoutDifference(manifest.tables, layout);
    if (difference) throw tenancyErrors.archiveUnsupported(file, `its tables do not match schema version ${manifest.schemaVersion} (${difference})`);
    await clearSeededRows(writer.client, schemaName, layout);
    const tables = new Map(manifest.tables.map((t) => [t.name, t]));
    const loaded = new Set<string>();
    let rows = 0;
    for (let entry = await nextEntry(options.archive, file); entry !== null; entry = await nextEntry(options.archive, file)) {
      const name = TABLE_ENTRY.exec(entry.header.name)?.[1];
      const table = name === undefined ? undefined : tables.get(name);
      if (!table || loaded.has(table.name)) throw tenancyErrors.archiveUnreadable(file, `unexpected entry "${entry.header.name}"`);
      loaded.add(table.name);
      const count = await loadTable(writer.client, schemaName, table, entry, file);
      rows += count;
      options.onTable?.({ table: table.name, rows: count, done: loaded.size, total: tables.size });
    }
    const missing = manifest.tables.find((t) => !loaded.has(t.name));
    if (missing) throw tenancyErrors.archiveUnreadable(file, `it has no rows entry for table "${missing.name}"`);

    const sequences: SequencePosition[] = manifest.tables.flatMap((t) => t.sequences.map((s) => ({ table: t.name, ...s })));
    await resetSequences(writer.client, schemaName, sequences);
    const actual = await fingerprintTables(writer.client, schemaName, layout);
    const differs = firstDifference(manifest.tables.map((t) => ({ table: t.name, rows: t.rows, checksum: t.checksum })), actual);
    if (differs) throw tenancyErrors.archiveMismatch(differs.table, differs.detail);
    await writer.commit();
    return rows;
  } catch (error) {
    await writer.rollback();
    throw error;
  }
}

async function loadTable(client: pg.ClientBase, schemaName: string, table: ArchiveManifest['tables'][number], entry: ArchiveEntry, file: string): Promise<number> {
  try {
    return await copyIn(client, schemaName, table.name, table.columns, Readable.from(entry));
  } catch (error) {
    // The database refusing a row (a constraint, a malformed value) names the table; anything else
    // is the file itself.
    if (error instanceof pg.DatabaseError) throw tenancyErrors.archiveRowsRefused(table.name, error.message);
    throw unreadable(file, error);
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
