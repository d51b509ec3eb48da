// `sidechart tenants read-only <slug>` and `sidechart tenants writable <slug>`: the app's side of
// moving a clinic between regions (issue 12). Read-only, the clinic still shows patients and
// refuses every change with a 503 page; every instance hears of it at once (NOTIFY). These
// commands change only that flag: the schema's triggers (tenancy/read-only.ts freezeSchema) are
// the move's business.
import type { Command } from 'commander';
import { READ_ONLY_REASON_MAX, type TenantSummary } from '../tenancy/tenants.ts';
import { report, type CliContext } from './context.ts';

function since(t: TenantSummary): string {
  return t.readOnlySince === null ? '' : ` since ${t.readOnlySince.toISOString()}`;
}

/** Adds the two commands to the `tenants` group. */
export function registerTenantReadOnlyCommands(tenants: Command, context: CliContext): void {
  tenants
    .command('read-only <slug>')
    .description('make a clinic read-only: staff can open patients, every change is refused (503) until `tenants writable`')
    .option('--reason <text>', `shown to staff instead of "while it is being moved" (at most ${READ_ONLY_REASON_MAX} characters)`)
    .option('--json', 'print JSON')
    .action(async (slug: string, opts: { reason?: string; json?: boolean }) => {
      const { tenants: service } = await context.runtime();
      const tenant = await service.setReadOnly(slug, true, opts.reason);
      report(context.io, opts.json, tenant, () =>
        `clinic ${tenant.slug} is read-only${since(tenant)}${tenant.readOnlyReason ? ` (reason: ${tenant.readOnlyReason})` : ''}: patients can be opened, changes are refused`,
      );
    });

  tenants
    .command('writable <slug>')
    .description('end read-only: the clinic takes changes again at once')
    .option('--json', 'print JSON')
    .action(async (slug: string, opts: { json?: boolean }) => {
      const { tenants: service } = await context.runtime();
      const tenant = await service.setReadOnly(slug, false);
      report(context.io, opts.json, tenant, () => `clinic ${tenant.slug} is writable: changes are accepted again`);
    });
}
