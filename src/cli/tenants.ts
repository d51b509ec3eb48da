// `sidechart tenants ...` and `sidechart regions ...`: the SRE's lifecycle commands.
import { InvalidArgumentError, type Command } from 'commander';
import { tenantUrl } from '../infra/urls.ts';
import type { TenantSummary } from '../tenancy/tenants.ts';
import { bulkCreate, readBulkSource } from './bulk-create.ts';
import { registerTenantArchiveCommands } from './tenant-archive.ts';
import { registerTenantReadOnlyCommands } from './tenant-read-only.ts';
import { registerTenantMoveCommands } from './tenant-move.ts';
import { report, type CliContext } from './context.ts';
import { cliErrors } from './errors.ts';

function concurrencyOption(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 32) throw new InvalidArgumentError('must be a whole number from 1 to 32');
  return Number(value);
}

function describe(context: CliContext, t: TenantSummary): string {
  return [
    `${t.slug}  (${t.displayName})`,
    `  status:         ${t.status}${t.purgeAfter ? ` (purge after ${t.purgeAfter.toISOString()})` : ''}`,
    `  read-only:      ${t.readOnlySince ? `since ${t.readOnlySince.toISOString()}${t.readOnlyReason ? ` (${t.readOnlyReason})` : ''}` : 'no'}`,
    `  region:         ${t.regionId}`,
    `  schema:         ${t.schemaName} at ${t.schemaVersion ?? 'no version'}`,
    ...(t.migrationError ? [`  last migration error: ${t.migrationError}`] : []),
    ...(t.buildingFrom
      ? [`  being built:    from ${t.buildingFrom} (if that is no longer running, it was interrupted: sidechart tenants delete ${t.slug} && sidechart tenants purge ${t.slug} --force)`]
      : []),
    `  created:        ${t.createdAt.toISOString()}`,
    `  address:        ${tenantUrl(context.config, t.slug)}`,
    `  Cliniko button: ${tenantUrl(context.config, t.slug, '/patients')}`,
  ].join('\n');
}

export function registerTenantCommands(program: Command, context: CliContext): void {
  const tenants = program.command('tenants').description('create, list and change clinics (tenants)');
  registerTenantArchiveCommands(tenants, context);
  registerTenantReadOnlyCommands(tenants, context);
  registerTenantMoveCommands(tenants, context);

  tenants
    .command('create [slug]')
    .description('create a clinic (its address, its schema in a region, status active when built), or many with --from-file')
    .option('--region <id>', 'region to place the clinic in (default: DEFAULT_REGION)')
    .option('--name <name>', 'display name (default: the slug)')
    .option('--from-file <file>', 'create one clinic per line "slug[,name[,region]]" ("-" for standard input)')
    .option('--concurrency <n>', 'with --from-file: clinics created at once', concurrencyOption, 4)
    .option('--json', 'print JSON')
    .action(async (slug: string | undefined, opts: { region?: string; name?: string; fromFile?: string; concurrency: number; json?: boolean }) => {
      if ((slug === undefined) === (opts.fromFile === undefined)) throw cliErrors.usage('name one clinic, or pass --from-file FILE');
      if (opts.fromFile !== undefined && (opts.name !== undefined || opts.region !== undefined)) {
        throw cliErrors.usage('--name and --region belong in the file with --from-file (slug,name,region)');
      }
      const { tenants: service } = await context.runtime();
      if (opts.fromFile !== undefined) {
        const text = await readBulkSource(opts.fromFile, context.io);
        const run = await bulkCreate({ tenants: service, text, io: context.io, json: opts.json === true, concurrency: opts.concurrency });
        const summary = `created ${run.created}, failed ${run.failed} in ${run.seconds.toFixed(1)} s`;
        if (opts.json) context.io.out(JSON.stringify({ created: run.created, failed: run.failed, seconds: run.seconds, results: run.results }, null, 2));
        else {
          // With a progress bar the per-line results were not printed: the failures still are.
          if (context.io.interactive) for (const r of run.results) if (r.outcome === 'failed') context.io.out(`line ${r.line}: FAILED ${r.slug || '(no slug)'}: ${r.error}`);
          context.io.out(summary);
        }
        if (run.failed > 0) throw cliErrors.bulkFailed(run.failed);
        return;
      }
      const tenant = await service.create({ slug: slug!, ...(opts.name ? { displayName: opts.name } : {}), ...(opts.region ? { regionId: opts.region } : {}) });
      report(context.io, opts.json, tenant, () => `created clinic\n${describe(context, tenant)}`);
    });

  tenants
    .command('list')
    .description('list every clinic with its status, region and schema version')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const { tenants: service } = await context.runtime();
      const list = await service.list();
      report(context.io, opts.json, list, () =>
        list.length === 0
          ? 'no clinics yet (sidechart tenants create <slug>)'
          : [
              'SLUG'.padEnd(24) + 'STATUS'.padEnd(14) + 'REGION'.padEnd(10) + 'VERSION',
              ...list.map((t) => t.slug.padEnd(24) + t.status.padEnd(14) + t.regionId.padEnd(10) + (t.schemaVersion ?? '-')),
              `${list.length} clinic(s)`,
            ].join('\n'),
      );
    });

  tenants
    .command('show <slug>')
    .description('show one clinic')
    .option('--json', 'print JSON')
    .action(async (slug: string, opts: { json?: boolean }) => {
      const { tenants: service } = await context.runtime();
      const tenant = await service.find(slug);
      report(context.io, opts.json, tenant, () => describe(context, tenant));
    });

  const transitions = [
    ['suspend', 'stop serving a clinic (403) without touching its data', 'suspended'],
    ['resume', 'serve a suspended clinic again', 'resumed'],
    ['delete', 'remove a clinic: it stops answering at once, its data is kept for the grace period', 'deleted'],
    ['restore', 'bring back a deleted clinic within its grace period (as suspended)', 'restored'],
  ] as const;
  for (const [verb, description, done] of transitions) {
    tenants
      .command(`${verb} <slug>`)
      .description(description)
      .option('--json', 'print JSON')
      .action(async (slug: string, opts: { json?: boolean }) => {
        const { tenants: service } = await context.runtime();
        const tenant = await service[verb](slug);
        report(context.io, opts.json, tenant, () => `${done} clinic ${tenant.slug}: status is now ${tenant.status}`);
      });
  }

  tenants
    .command('purge <slug>')
    .description('drop a deleted clinic\'s schema after its grace period and free the address')
    .option('--force', 'purge before the grace period ends')
    .option('--json', 'print JSON')
    .action(async (slug: string, opts: { force?: boolean; json?: boolean }) => {
      const { tenants: service } = await context.runtime();
      const tenant = await service.purge(slug, { force: opts.force ?? false });
      report(context.io, opts.json, { purged: tenant.slug, schema: tenant.schemaName }, () => `purged clinic ${tenant.slug}: dropped schema ${tenant.schemaName}`);
    });

  const regions = program.command('regions').description('list, add and drain regions (where clinics\' data lives)');
  regions
    .command('list')
    .option('--json', 'print JSON')
    .description('list regions: whether they take new clinics, whether this configuration can reach them, their clinics')
    .action(async (opts: { json?: boolean }) => {
      const runtime = await context.runtime();
      const list = await runtime.regions.list();
      report(context.io, opts.json, list, () =>
        [
          'REGION'.padEnd(12) + 'NEW CLINICS'.padEnd(14) + 'CONFIGURED'.padEnd(12) + 'CLINICS',
          ...list.map((r) => r.id.padEnd(12) + (r.acceptingTenants ? 'accepted' : 'drained').padEnd(14) + (r.configured ? 'yes' : 'NO').padEnd(12) + r.tenants),
        ].join('\n'),
      );
    });
  regions
    .command('add <id>')
    .description('record a region whose connection URL is in the regions file (SIDECHART_REGIONS_FILE) or SIDECHART_REGIONS: checks that it answers and that clinic schemas can be created, then tells running instances')
    .option('--drained', 'record it without placing new clinics there yet (undrain later)')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { drained?: boolean; json?: boolean }) => {
      const runtime = await context.runtime();
      const added = await runtime.regions.add(id, { drained: opts.drained === true });
      report(context.io, opts.json, added, () =>
        [
          `${added.recorded ? 'added' : 'already recorded:'} region ${added.id} (PostgreSQL ${added.serverVersion} answers; clinic schemas can be created)`,
          `  new clinics: ${added.acceptingTenants ? 'accepted' : 'not yet (sidechart regions undrain ' + added.id + ')'}`,
          '  running instances were told (they open its pool without a restart)',
        ].join('\n'),
      );
    });
  for (const [verb, alias, accepting] of [['drain', 'close', false], ['undrain', 'open', true]] as const) {
    regions
      .command(`${verb} <id>`)
      .alias(alias)
      .description(accepting ? 'place new clinics in this region again' : 'stop placing new clinics in this region (its clinics keep working; sign-up says it is not accepting)')
      .action(async (id: string) => {
        const runtime = await context.runtime();
        await (accepting ? runtime.regions.undrain(id) : runtime.regions.drain(id));
        context.io.out(`region ${id}: new clinics ${accepting ? 'accepted' : 'no longer accepted (drained)'}`);
      });
  }
}
