// `sidechart cliniko ...`: a clinic's Cliniko connection. The API key is read from standard input
// only (never an argument: it would land in shell history and the process list), verified with
// Cliniko, sealed, and never printed. The admin page calls the same functions (cliniko/connection.ts).
import type { Command } from 'commander';
import { clinikoStatus, connectCliniko, disconnectCliniko, rekeyCliniko, type ConnectionSummary } from '../cliniko/connection.ts';
import type { SecretBox } from '../infra/crypto.ts';
import { cliErrors } from './errors.ts';
import { clinicScope, clinicsNamed, report, type CliContext } from './context.ts';

function describe(slug: string, c: ConnectionSummary): string {
  const account = [c.accountName, c.accountSubdomain ? `${c.accountSubdomain}.cliniko.com` : null].filter(Boolean).join(', ');
  return [
    `clinic ${slug} is connected to Cliniko`,
    `  account:    ${account || '(no name)'} (id ${c.accountId})`,
    `  shard:      ${c.shard}`,
    `  key owner:  ${c.clinikoUserName ?? 'unknown'}${c.clinikoUserId ? ` (Cliniko user ${c.clinikoUserId})` : ''}`,
    `  connected:  ${c.connectedAt.toISOString()} by ${c.connectedBy}`,
    `  key:        ${c.keyReadable ? `sealed ${c.keySealedAt.toISOString()}${c.keyNeedsRotation ? ', under an old encryption key (run: sidechart cliniko rekey)' : ''}` : 'CANNOT BE OPENED with the configured encryption keys: connect again'}`,
  ].join('\n');
}

function publicView(slug: string, c: ConnectionSummary | null) {
  return c === null ? { tenant: slug, connected: false } : { tenant: slug, connected: true, ...c };
}

export function registerClinikoCommands(program: Command, context: CliContext): void {
  const cliniko = program.command('cliniko').description("a clinic's Cliniko connection (API key stored encrypted)");
  const secretBox = async (): Promise<SecretBox> => (await context.runtime()).secrets.box;

  const clinic = (slug: string) => clinicScope(context, slug);


  cliniko
    .command('connect <tenant>')
    .description('verify a Cliniko API key with Cliniko and store it (encrypted) for the clinic')
    .option('--key-stdin', 'read the API key from standard input')
    .option('--json', 'print JSON')
    .action(async (slug: string, opts: { keyStdin?: boolean; json?: boolean }) => {
      if (!opts.keyStdin) {
        throw cliErrors.usage('pass the API key on standard input with --key-stdin (e.g. `sidechart cliniko connect acme --key-stdin < key.txt`)');
      }
      const apiKey = (await context.io.readStdin()).trim();
      if (apiKey === '') throw cliErrors.noKey();
      const scope = await clinic(slug);
      const { cliniko: client, secrets } = await context.runtime();
      const summary = await connectCliniko(scope, { apiKey, connectedBy: 'cli', client, box: secrets.box, apiBase: context.config.cliniko.apiBase });
      report(context.io, opts.json, publicView(slug, summary), () => describe(slug, summary));
    });

  cliniko
    .command('status <tenant>')
    .description("show the clinic's Cliniko account (never the key)")
    .option('--json', 'print JSON')
    .action(async (slug: string, opts: { json?: boolean }) => {
      const summary = await clinikoStatus(await clinic(slug), await secretBox());
      report(context.io, opts.json, publicView(slug, summary), () =>
        summary === null ? `clinic ${slug} is not connected to Cliniko (sidechart cliniko connect ${slug} --key-stdin)` : describe(slug, summary),
      );
    });

  cliniko
    .command('disconnect <tenant>')
    .description("forget the clinic's Cliniko API key (held patient records stay)")
    .option('--json', 'print JSON')
    .action(async (slug: string, opts: { json?: boolean }) => {
      const removed = await disconnectCliniko(await clinic(slug));
      report(context.io, opts.json, { tenant: slug, disconnected: removed }, () =>
        removed ? `clinic ${slug} is no longer connected to Cliniko` : `clinic ${slug} was not connected to Cliniko`,
      );
    });

  cliniko
    .command('rekey [tenant]')
    .description('re-seal stored API keys under the primary encryption key (after adding a new key first in SIDECHART_ENCRYPTION_KEYS)')
    .option('--all', 'every clinic')
    .option('--json', 'print JSON')
    .action(async (slug: string | undefined, opts: { all?: boolean; json?: boolean }) => {
      const slugs = await clinicsNamed(context, slug, opts.all);
      const results: { tenant: string; result: string }[] = [];
      for (const each of slugs) results.push({ tenant: each, result: await rekeyCliniko(await clinic(each), await secretBox()) });
      report(context.io, opts.json, results, () =>
        results.length === 0 ? 'no clinics' : results.map((r) => `${r.tenant}: ${r.result === 'resealed' ? 're-sealed under the primary key' : r.result === 'current' ? 'already current' : 'not connected'}`).join('\n'),
      );
    });
}
