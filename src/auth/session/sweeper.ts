// Expired sessions are deleted by a periodic job, not only when someone signs in (a clinic nobody
// signs in to would keep its expired rows forever). Bounded: each tick visits at most
// `clinicsPerTick` clinics, in order of their IDs and round the list over successive ticks, and
// deletes at most `rowsPerClinic` rows in each; one tick at a time. Every instance that serves
// requests runs one; two sweeping the same clinic only delete the same rows twice over.
import { sql } from 'kysely';
import type { ControlDb } from '../../infra/db.ts';
import type { Clinics } from '../../tenancy/clinic.ts';

export interface SessionSweeperOptions {
  control: ControlDb;
  clinics: Pick<Clinics, 'scopeAt'>;
  log: { warn(details: object, message: string): void };
  intervalMs: number;
  clinicsPerTick: number;
  rowsPerClinic: number;
}

export interface SweepResult {
  clinics: number;
  deleted: number;
}

export function createSessionSweeper(options: SessionSweeperOptions) {
  /** The last clinic ID visited: the next tick starts after it. */
  let cursor = '0';
  let running: Promise<SweepResult> | null = null;
  let timer: NodeJS.Timeout | undefined;

  async function sweep(): Promise<SweepResult> {
    const tenants = await options.control
      .selectFrom('control.tenants')
      .select(['id', 'region_id', 'schema_name'])
      .where('status', 'in', ['active', 'suspended'])
      // A read-only clinic (moving between regions) takes no deletes; swept once writable again.
      .where('read_only_since', 'is', null)
      .where(sql<boolean>`id > ${cursor}::bigint`)
      .orderBy('id')
      .limit(options.clinicsPerTick)
      .execute();
    // Round the list: after the last clinic, start again from the first.
    cursor = tenants.length < options.clinicsPerTick ? '0' : tenants.at(-1)!.id;
    let deleted = 0;
    for (const tenant of tenants) {
      const scope = options.clinics.scopeAt({ regionId: tenant.region_id, schemaName: tenant.schema_name });
      if (!scope) continue; // a region this instance has no pool for
      try {
        const result = await scope.db
          .deleteFrom('sessions')
          .where('id', 'in', (eb) => eb.selectFrom('sessions').select('id').where('expires_at', '<=', sql<Date>`now()`).limit(options.rowsPerClinic))
          .executeTakeFirst();
        deleted += Number(result.numDeletedRows);
      } catch (error) {
        options.log.warn({ err: error, schema: tenant.schema_name }, 'expired session sweep failed for a clinic');
      }
    }
    return { clinics: tenants.length, deleted };
  }

  return {
    /** One sweep now (the timer calls it; tests call it directly). Never overlaps another. */
    tick(): Promise<SweepResult> {
      running ??= sweep().finally(() => {
        running = null;
      });
      return running;
    },
    start(): void {
      timer = setInterval(() => {
        void this.tick().catch((error: unknown) => options.log.warn({ err: error }, 'expired session sweep failed'));
      }, options.intervalMs);
      timer.unref();
    },
    async stop(): Promise<void> {
      clearInterval(timer);
      await running?.catch(() => {});
    },
  };
}

export type SessionSweeper = ReturnType<typeof createSessionSweeper>;
