// Moving a clinic to another region (a data-residency request; issue 12, point 4), one recorded
// step at a time (control.tenant_moves), so that a move stopped anywhere is resumed or rolled back
// by one command and never leaves the clinic split between regions or writable in two places:
//
//   started    the move is recorded.
//   read_only  the clinic is read-only on every instance at once (setReadOnly: NOTIFY; a banner,
//              changes refused with a clear page, sessions kept) and its source schema refuses
//              writes at the database too (freezeSchema: triggers, which wait for writes in
//              flight). Patient views still write their audit event there.
//   copied     the target region has the schema at the same migration version and every row,
//              checked per table by row count and checksum (snapshot.ts, one transaction on each
//              side; audit inserts held back until the snapshot is taken, so every later audit
//              event has a larger id than the copied ones); the target's audit ids are moved past
//              the source's, so the audit events of views made meanwhile keep theirs.
//   switched   under a lock that holds back the source's audit inserts, the audit events written
//              since the copy are carried over, and the directory points at the target region (one
//              control transaction, NOTIFY): every instance now opens the clinic there.
//   (done)     the source schema is dropped (only now, after the switch) in the same source
//              transaction that held the lock, the clinic is writable again, the record is deleted.
//
// Resume runs from the recorded step (each step can run twice). Rollback is possible until the
// switch: the target schema is dropped, the source thawed, the clinic writable where it was.
import { sql } from 'kysely';
import type { MigrationProvider } from 'kysely/migration';
import type pg from 'pg';
import type { ControlDb, MovePhase, Region } from '../infra/db.ts';
import { notifyTenantChanged } from './directory.ts';
import { tenancyErrors } from './errors.ts';
import { latestVersion, migrateTenantSchemaTo } from './migrations.ts';
import { freezeSchema, thawSchema } from './read-only.ts';
import { copySchemaRows, type CopyProgress, type TableFingerprint } from './snapshot.ts';
import type { TenantService, TenantSummary } from './tenants.ts';

/** How far the target's audit ids jump past the source's at the copy: room for the views made while read-only. */
const AUDIT_ID_GAP = 1_000_000_000n;

export type MoveStep = MovePhase | 'done' | 'rolled_back';

export interface MoveResult {
  slug: string;
  from: string;
  to: string;
  schema: string;
  /** Per table, as verified in the target (empty when resumed past the copy). */
  tables: TableFingerprint[];
  /** Audit events written while read-only, carried over at the switch. */
  lateAuditEvents: number;
  seconds: number;
}

export interface MoveOptions {
  onStep?: (step: MoveStep, detail: string) => void;
  onTable?: (progress: CopyProgress) => void;
  /** Tests: called before each step; a throw there is the process dying at that point. */
  failAt?: (step: MovePhase | 'drop_source') => void | Promise<void>;
}

export interface MoveDeps {
  control: ControlDb;
  controlPool: pg.Pool;
  regions: ReadonlyMap<string, Region>;
  tenants: TenantService;
  provider: MigrationProvider;
}

export function createClinicMover(deps: MoveDeps) {
  const { control } = deps;

  function regionOf(id: string): Region {
    const region = deps.regions.get(id);
    if (!region) throw tenancyErrors.regionNotHere(id);
    return region;
  }

  async function record(tenantId: string) {
    return control.selectFrom('control.tenant_moves').selectAll().where('tenant_id', '=', tenantId).executeTakeFirst();
  }

  async function setPhase(tenantId: string, phase: MovePhase, extra: { copied_audit_id?: string | null } = {}): Promise<void> {
    await control.updateTable('control.tenant_moves').set({ phase, updated_at: new Date(), ...extra }).where('tenant_id', '=', tenantId).execute();
  }

  async function schemaExists(region: Region, schema: string): Promise<boolean> {
    const found = await sql<{ n: string }>`select count(*) as n from pg_namespace where nspname = ${schema}`.execute(region.db);
    return found.rows[0]!.n !== '0';
  }

  /**
   * Carries the source's audit events written since the copy over to the target (ids kept; run
   * twice, the second finds them there), with the source's audit inserts held back by `lock`.
   */
  async function carryLateAudit(source: pg.PoolClient, target: Region, schema: string, afterId: string): Promise<number> {
    const table = `${pgIdent(schema)}.audit_events`;
    const late = await source.query(`select * from ${table} where id > $1 order by id`, [afterId]);
    if (late.rows.length === 0) return 0;
    const columns = Object.keys(late.rows[0] as object);
    await target.db.transaction().execute(async (trx) => {
      for (const row of late.rows as Record<string, unknown>[]) {
        await sql`insert into ${sql.id(schema, 'audit_events')} (${sql.join(columns.map((c) => sql.id(c)))})
                  values (${sql.join(columns.map((c) => row[c]))}) on conflict (id) do nothing`.execute(trx);
      }
    });
    return late.rows.length;
  }

  async function run(tenant: TenantSummary, from: string, to: string, options: MoveOptions): Promise<MoveResult> {
    const started = performance.now();
    const step = (name: MoveStep, detail: string) => options.onStep?.(name, detail);
    const source = regionOf(from);
    const target = regionOf(to);
    const schema = tenant.schemaName;
    let tables: TableFingerprint[] = [];
    let lateAuditEvents = 0;

    for (let move = await record(tenant.id); move !== undefined; move = await record(tenant.id)) {
      switch (move.phase) {
        case 'started': {
          await options.failAt?.('started');
          await deps.tenants.setReadOnly(tenant.slug, true, `moving to region ${to}`);
          await freezeSchema(source.db, schema);
          await setPhase(tenant.id, 'read_only');
          step('read_only', `${tenant.slug} is read-only on every instance; its schema in ${from} refuses writes`);
          break;
        }
        case 'read_only': {
          await options.failAt?.('read_only');
          // A copy that was interrupted left a partial schema behind: start it again.
          await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(target.db);
          const version = tenant.schemaVersion;
          if (version === null) throw tenancyErrors.clinicNotActive(tenant.slug, tenant.status, 'it has no schema version to copy');
          await migrateTenantSchemaTo(target, schema, deps.provider, version);
          // Audit inserts are the one write a frozen schema takes. Held back (SHARE conflicts with
          // inserts, and waits for those in flight) until the copy's snapshot is taken, so that
          // the snapshot holds every audit event with an id up to the largest it holds, and every
          // later one has a larger id: the switch carries exactly those over.
          const barrier = await source.pool.connect();
          let released = false;
          const release = async (how: 'commit' | 'rollback') => {
            if (released) return;
            released = true;
            await barrier.query(how).catch(() => {});
            barrier.release();
          };
          try {
            await barrier.query('begin');
            await barrier.query(`lock table ${pgIdent(schema)}.audit_events in share mode`);
            tables = await copySchemaRows({
              source: source.pool,
              sourceSchema: schema,
              target: target.pool,
              targetSchema: schema,
              onSnapshot: () => release('commit'),
              ...(options.onTable ? { onTable: options.onTable } : {}),
            });
          } finally {
            await release('rollback');
          }
          const copied = await sql<{ id: string }>`select coalesce(max(id), 0)::text as id from ${sql.id(schema, 'audit_events')}`.execute(target.db);
          const copiedAuditId = copied.rows[0]!.id;
          await sql`select setval(pg_get_serial_sequence(${`${schema}.audit_events`}, 'id'), ${(BigInt(copiedAuditId) + AUDIT_ID_GAP).toString()}::bigint)`.execute(target.db);
          await setPhase(tenant.id, 'copied', { copied_audit_id: copiedAuditId });
          step('copied', `${tables.length} tables, ${tables.reduce((n, t) => n + t.rows, 0)} rows copied to ${to}; counts and checksums match`);
          break;
        }
        case 'copied':
        case 'switched': {
          await options.failAt?.(move.phase);
          const client = await source.pool.connect();
          try {
            await client.query('begin');
            if (await schemaExists(source, schema)) {
              // Holds back audit inserts into the source (instances that have not heard of the switch
              // yet) until the schema is gone; they then fail and their page is retried.
              await client.query(`lock table ${pgIdent(schema)}.audit_events in exclusive mode`);
              lateAuditEvents += await carryLateAudit(client, target, schema, move.copied_audit_id ?? '0');
            }
            if (move.phase === 'copied') {
              await control.transaction().execute(async (trx) => {
                await trx.updateTable('control.tenants').set({ region_id: to, updated_at: new Date() }).where('id', '=', tenant.id).execute();
                await trx.updateTable('control.tenant_moves').set({ phase: 'switched', updated_at: new Date() }).where('tenant_id', '=', tenant.id).execute();
              });
              await notifyTenantChanged(deps.controlPool, tenant.slug);
              step('switched', `the directory sends ${tenant.slug} to ${to}${lateAuditEvents > 0 ? ` (${lateAuditEvents} audit events written meanwhile carried over)` : ''}`);
            }
            await options.failAt?.('drop_source');
            await client.query(`drop schema if exists ${pgIdent(schema)} cascade`);
            await client.query('commit');
          } catch (error) {
            await client.query('rollback').catch(() => {});
            throw error;
          } finally {
            client.release();
          }
          await deps.tenants.setReadOnly(tenant.slug, false);
          await control.deleteFrom('control.tenant_moves').where('tenant_id', '=', tenant.id).execute();
          step('done', `${from} schema ${schema} dropped; ${tenant.slug} is writable again, in ${to}`);
          break;
        }
      }
    }
    return { slug: tenant.slug, from, to, schema, tables, lateAuditEvents, seconds: (performance.now() - started) / 1000 };
  }

  return {
    /** Moves a clinic to another region (see the top of this file). */
    async move(slug: string, to: string, options: MoveOptions = {}): Promise<MoveResult> {
      const tenant = await deps.tenants.find(slug);
      const pending = await record(tenant.id);
      if (pending) throw tenancyErrors.moveUnderWay(slug, pending.from_region, pending.to_region, pending.phase);
      if (tenant.status !== 'active' && tenant.status !== 'suspended') throw tenancyErrors.clinicNotActive(slug, tenant.status, 'only an active or suspended clinic can be moved');
      if (tenant.regionId === to) throw tenancyErrors.alreadyInRegion(slug, to);
      regionOf(tenant.regionId);
      regionOf(to);
      const row = await control.selectFrom('control.regions').select('accepting_tenants').where('id', '=', to).executeTakeFirst();
      if (!row) throw tenancyErrors.unknownRegion(to);
      if (!row.accepting_tenants) throw tenancyErrors.regionClosed(to);
      const latest = await latestVersion(deps.provider);
      if (tenant.schemaVersion !== latest) throw tenancyErrors.moveNeedsMigration(slug, tenant.schemaVersion ?? 'no version', latest ?? 'none');
      await control.insertInto('control.tenant_moves').values({ tenant_id: tenant.id, from_region: tenant.regionId, to_region: to, phase: 'started', copied_audit_id: null }).execute();
      options.onStep?.('started', `moving ${slug} from ${tenant.regionId} to ${to}`);
      return run(tenant, tenant.regionId, to, options);
    },

    /** Carries an interrupted move on from its last completed step. */
    async resume(slug: string, options: MoveOptions = {}): Promise<MoveResult> {
      const tenant = await deps.tenants.find(slug);
      const pending = await record(tenant.id);
      if (!pending) throw tenancyErrors.noMoveUnderWay(slug);
      options.onStep?.(pending.phase, `resuming the move of ${slug} from ${pending.from_region} to ${pending.to_region} after step "${pending.phase}"`);
      return run(tenant, pending.from_region, pending.to_region, options);
    },

    /** Undoes an interrupted move that has not switched yet: the clinic stays, writable, where it was. */
    async rollback(slug: string, options: Pick<MoveOptions, 'onStep'> = {}): Promise<{ slug: string; region: string }> {
      const tenant = await deps.tenants.find(slug);
      const pending = await record(tenant.id);
      if (!pending) throw tenancyErrors.noMoveUnderWay(slug);
      if (pending.phase === 'switched') throw tenancyErrors.moveSwitched(slug, pending.to_region);
      await sql`drop schema if exists ${sql.id(tenant.schemaName)} cascade`.execute(regionOf(pending.to_region).db);
      await thawSchema(regionOf(pending.from_region).db, tenant.schemaName);
      await deps.tenants.setReadOnly(slug, false);
      await control.deleteFrom('control.tenant_moves').where('tenant_id', '=', tenant.id).execute();
      options.onStep?.('rolled_back', `${slug} stays in ${pending.from_region}, writable; nothing is left in ${pending.to_region}`);
      return { slug, region: pending.from_region };
    },

    /** The move under way for a clinic, if any. */
    async pending(slug: string) {
      return record((await deps.tenants.find(slug)).id);
    },
  };
}

function pgIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export type ClinicMover = ReturnType<typeof createClinicMover>;
