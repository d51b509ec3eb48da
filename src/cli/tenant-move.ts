// `sidechart tenants move <slug> --to <region>` (issue 12, point 4): moves a clinic's schema and
// data to another region (tenancy/move.ts), printing each step; `--resume` and `--rollback` finish
// or undo one that was interrupted. A progress bar over the tables while copying (only on a
// terminal), `--json` for scripts.
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import type { MoveOptions, MoveStep } from '../tenancy/move.ts';
import { report, type CliContext } from './context.ts';
import { cliErrors } from './errors.ts';

export function registerTenantMoveCommands(tenants: Command, context: CliContext): void {
  tenants
    .command('move <slug>')
    .description(
      'move a clinic to another region: read-only meanwhile (a banner; changes refused; sessions kept), rows copied and checked per table, ' +
        'the directory switched, then the old schema dropped; --resume or --rollback an interrupted move',
    )
    .option('--to <region>', 'the region to move the clinic to')
    .option('--resume', 'finish a move that was interrupted, from its last completed step')
    .option('--rollback', 'undo a move that was interrupted before its switch: the clinic stays where it was, writable')
    .option('--json', 'print JSON (steps are not printed)')
    .action(async (slug: string, opts: { to?: string; resume?: boolean; rollback?: boolean; json?: boolean }) => {
      const modes = [opts.to !== undefined, opts.resume === true, opts.rollback === true].filter(Boolean).length;
      if (modes !== 1) throw cliErrors.usage('give exactly one of --to <region>, --resume or --rollback');
      const { mover } = await context.runtime();
      const { io } = context;
      const print = (step: MoveStep, detail: string) => {
        if (!opts.json) io.out(`${step.padEnd(11)} ${detail}`);
      };
      if (opts.rollback) {
        const result = await mover.rollback(slug, { onStep: print });
        if (opts.json) io.out(JSON.stringify(result, null, 2));
        return;
      }
      const bar = io.interactive && !opts.json ? new cliProgress.SingleBar({ format: 'tables [{bar}] {value}/{total} {table}', stream: process.stderr }, cliProgress.Presets.shades_classic) : null;
      const options: MoveOptions = {
        onStep: (step, detail) => {
          bar?.stop();
          print(step, detail);
        },
        onTable: ({ table, done, total }) => {
          if (done === 1) bar?.start(total, 0, { table });
          bar?.update(done, { table });
        },
      };
      try {
        const result = opts.resume ? await mover.resume(slug, options) : await mover.move(slug, opts.to!, options);
        report(io, opts.json, result, () =>
          [
            `moved ${result.slug} from ${result.from} to ${result.to} in ${result.seconds.toFixed(1)} s`,
            ...result.tables.map((t) => `  ${t.table.padEnd(24)} ${String(t.rows).padStart(9)} rows  checksum ${t.checksum}`),
          ].join('\n'),
        );
      } catch (error) {
        bar?.stop();
        const pending = await mover.pending(slug).catch(() => undefined);
        if (pending) io.err(`the move stopped after step "${pending.phase}": run \`sidechart tenants move ${slug} --resume\`${pending.phase === 'switched' ? '' : ` or \`--rollback\``}`);
        throw error;
      }
    });
}
