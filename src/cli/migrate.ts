// `sidechart migrate`: the control plane, then every tenant behind the latest version, in parallel
// with a bound, a progress bar on a terminal, a per-tenant result and a summary. Re-running resumes:
// only tenants still behind (or failed) are touched.
import { InvalidArgumentError, type Command } from 'commander';
import cliProgress from 'cli-progress';
import type { TenantMigrationResult } from '../tenancy/migrations.ts';
import { cliErrors } from './errors.ts';
import type { CliContext } from './context.ts';

function concurrency(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 64) throw new InvalidArgumentError('must be a whole number from 1 to 64');
  return Number(value);
}

export function registerMigrateCommand(program: Command, context: CliContext): void {
  program
    .command('migrate')
    .description('migrate the control plane and every clinic schema')
    .option('--concurrency <n>', 'clinics migrated at once in each region', concurrency, 4)
    .option('--json', 'print JSON')
    .action(async (opts: { concurrency: number; json?: boolean }) => {
      const runtime = await context.runtime(); // migrates the control plane on open
      const { io } = context;
      let bar: cliProgress.SingleBar | null = null;
      const { latest, results } = await runtime.tenants.migrateBehind({
        concurrency: opts.concurrency,
        onStart: (total) => {
          if (io.interactive && !opts.json && total > 0) {
            bar = new cliProgress.SingleBar({ format: 'tenants [{bar}] {value}/{total} {slug}', stream: process.stderr }, cliProgress.Presets.shades_classic);
            bar.start(total, 0, { slug: '' });
          }
        },
        onResult: (result: TenantMigrationResult) => {
          const current = bar as cliProgress.SingleBar | null;
          if (current) current.increment({ slug: result.slug });
          else if (!opts.json) io.out(`${result.outcome === 'migrated' ? 'ok    ' : 'FAILED'} ${result.slug} (${result.schemaName})${result.error ? `: ${result.error}` : ''}`);
        },
      });
      (bar as cliProgress.SingleBar | null)?.stop();
      const failed = results.filter((r) => r.outcome === 'failed');
      const summary = { latest, migrated: results.length - failed.length, failed: failed.length, results };
      if (opts.json) io.out(JSON.stringify(summary, null, 2));
      else {
        for (const f of failed) if (bar) io.out(`FAILED ${f.slug}: ${f.error}`);
        io.out(
          results.length === 0
            ? `control plane up to date; every clinic is at ${latest ?? 'no version'} (nothing to do)`
            : `migrated ${summary.migrated} clinic(s) to ${latest}, ${failed.length} failed${failed.length ? ' (run again to retry them)' : ''}`,
        );
      }
      if (failed.length > 0) throw cliErrors.migrationFailed(failed.length);
    });
}
