// `sidechart tenants export` and `tenants import`: a clinic to one file and back, as a new clinic
// (tenancy/archive.ts does the work). An import lands in a new schema, and sealed secrets name the
// schema they were sealed for, so the clinic's Cliniko key and OIDC client secret are opened with the
// old schema's context and sealed again for the new one (resealClinicSecrets).
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { apiKeyAad } from '../cliniko/connection.ts';
import { clientSecretAad } from '../auth/sso/settings.ts';
import type { SecretBox } from '../infra/crypto.ts';
import { isAppError } from '../infra/errors.ts';
import { tenantUrl } from '../infra/urls.ts';
import { exportClinicArchive, importClinicArchive, type RebindClinic } from '../tenancy/archive.ts';
import { tenancyErrors } from '../tenancy/errors.ts';
import type { CopyProgress } from '../tenancy/snapshot.ts';
import { report, type CliContext, type CliIo } from './context.ts';

const HEALTH_DATA = `
The archive holds the clinic's health data (patients, notes, the audit trail) and its sealed
secrets. It is written with file mode 0600 (as FILE.partial, renamed when complete): keep it
encrypted at rest and delete it when it is no longer needed. The Cliniko API key and the OIDC
client secret in it are sealed with this deployment's encryption keys, so it can only be imported
into a deployment holding the same keys (SIDECHART_ENCRYPTION_KEYS).`;

/** A progress bar over the tables, on a terminal only (as bulk-create has). */
function tableProgress(io: CliIo, json: boolean | undefined): { onTable?: (p: CopyProgress) => void; stop(): void } {
  if (!io.interactive || json) return { stop() {} };
  const bar = new cliProgress.SingleBar({ format: 'tables [{bar}] {value}/{total} {table}', stream: process.stderr }, cliProgress.Presets.shades_classic);
  let started = false;
  return {
    onTable(p) {
      if (!started) bar.start(p.total, 0, { table: '' });
      started = true;
      bar.update(p.done, { table: `${p.table} (${p.rows} rows)` });
    },
    stop: () => started && bar.stop(),
  };
}

/**
 * Opens each sealed secret of an imported clinic with the context of the schema it came from and
 * seals it again for the clinic's new schema.
 */
export function resealClinicSecrets(box: SecretBox): RebindClinic {
  const reopen = (sealed: string, aad: string, what: string): string => {
    try {
      return box.open(sealed, aad);
    } catch (error) {
      if (isAppError(error)) throw tenancyErrors.archiveSecretsUnreadable(what);
      throw error;
    }
  };
  return (clinic) =>
    clinic.db.transaction().execute(async (trx) => {
      const connection = await trx.selectFrom('cliniko_connection').select(['api_key_sealed']).executeTakeFirst();
      if (connection) {
        const key = reopen(connection.api_key_sealed, apiKeyAad(clinic.sourceSchema), 'Cliniko API key');
        await trx.updateTable('cliniko_connection').set({ api_key_sealed: box.seal(key, apiKeyAad(clinic.schemaName)) }).where('id', '=', true).execute();
      }
      const settings = await trx.selectFrom('auth_settings').select(['oidc_client_secret_sealed']).executeTakeFirst();
      if (settings?.oidc_client_secret_sealed) {
        const secret = reopen(settings.oidc_client_secret_sealed, clientSecretAad(clinic.sourceSchema), 'OIDC client secret');
        await trx.updateTable('auth_settings').set({ oidc_client_secret_sealed: box.seal(secret, clientSecretAad(clinic.schemaName)) }).where('id', '=', true).execute();
      }
    });
}

export function registerTenantArchiveCommands(tenants: Command, context: CliContext): void {
  tenants
    .command('export <slug>')
    .description('write a clinic to a file: every table\'s rows, one consistent snapshot taken while the clinic keeps serving')
    .requiredOption('--out <file>', 'the archive to write (gzip-compressed tar); never overwritten')
    .option('--json', 'print JSON')
    .addHelpText('after', HEALTH_DATA)
    .action(async (slug: string, opts: { out: string; json?: boolean }) => {
      const runtime = await context.runtime();
      const progress = tableProgress(context.io, opts.json);
      let result;
      try {
        result = await exportClinicArchive({
          tenants: runtime.tenants,
          regions: runtime.databases.regions,
          slug,
          file: opts.out,
          ...(progress.onTable ? { onTable: progress.onTable } : {}),
        });
      } finally {
        progress.stop();
      }
      report(context.io, opts.json, result, () =>
        [
          `exported clinic ${result.slug} (schema version ${result.schemaVersion}) to ${result.file}`,
          `  ${result.tables} tables, ${result.rows} rows, ${result.bytes} bytes in ${result.seconds.toFixed(1)} s`,
          '  the file holds health data (mode 0600): keep it encrypted at rest, delete it when done',
        ].join('\n'),
      );
    });

  tenants
    .command('import <file>')
    .description('create a new clinic from an export: all or nothing, its rows checked against the archive\'s counts and checksums')
    .requiredOption('--slug <slug>', 'address of the new clinic (must be free)')
    .option('--region <id>', 'region to place the clinic in (default: DEFAULT_REGION)')
    .option('--name <name>', 'display name (default: the exported clinic\'s)')
    .option('--json', 'print JSON')
    .addHelpText('after', HEALTH_DATA)
    .action(async (file: string, opts: { slug: string; region?: string; name?: string; json?: boolean }) => {
      const runtime = await context.runtime();
      const progress = tableProgress(context.io, opts.json);
      let result;
      try {
        result = await importClinicArchive({
          tenants: runtime.tenants,
          file,
          slug: opts.slug,
          ...(opts.name !== undefined ? { displayName: opts.name } : {}),
          ...(opts.region !== undefined ? { regionId: opts.region } : {}),
          rebind: resealClinicSecrets(runtime.secrets.box),
          ...(progress.onTable ? { onTable: progress.onTable } : {}),
        });
      } finally {
        progress.stop();
      }
      const address = tenantUrl(context.config, result.tenant.slug);
      const { tenant } = result;
      report(context.io, opts.json, { ...result, address }, () =>
        [
          `imported clinic ${tenant.slug} (${tenant.displayName}) from ${file}`,
          `  exported from ${result.from.slug} in region ${result.from.region} at ${result.from.exportedAt}`,
          `  ${result.tables} tables, ${result.rows} rows in ${result.seconds.toFixed(1)} s`,
          `  region:  ${tenant.regionId}`,
          `  schema:  ${tenant.schemaName}, loaded at ${result.archiveSchemaVersion}, now at ${tenant.schemaVersion ?? 'no version'}`,
          `  status:  ${tenant.status}`,
          `  address: ${address}`,
        ].join('\n'),
      );
    });
}
