// `sidechart sso ...`: how a clinic's staff sign in with single sign-on. The same functions as the
// admin pages (auth/sso-settings.ts) validate and store the settings; the client secret is read
// from standard input, sealed, and never printed.
import type { Command } from 'commander';
import type { Config } from '../config.ts';
import { cliErrors } from './errors.ts';
import { tenantUrl } from '../infra/urls.ts';
import { oidcRedirectUris } from '../auth/sso/clinic/clinic-host-routes.ts';
import { platformCallbackUris } from '../auth/sso/platform/auth-host-routes.ts';
import type { AuthSettings } from '../auth/settings.ts';
import { getAuthSettings } from '../auth/settings.ts';
import { classifyProviderError } from '../auth/sso/errors.ts';
import { clinicOidcOf, rekeyClinicOidcSecret, updateSsoSettings, type SsoSettingsChange } from '../auth/sso/settings.ts';
import type { OidcAdmit } from '../auth/tables.ts';
import { clinicScope, clinicsNamed, report, type CliContext } from './context.ts';

function list(value: string | undefined): string[] | undefined {
  return value === undefined ? undefined : value.split(',').map((s) => s.trim()).filter(Boolean);
}

function describe(config: Config, slug: string, settings: AuthSettings): string {
  const own = clinicOidcOf(settings);
  return [
    `single sign-on for ${slug}`,
    `  own OIDC provider:   ${own ? `${own.issuer} (client ${own.clientId}, secret sealed)` : 'none'}`,
    ...(own ? oidcRedirectUris(config, slug).map((uri) => `  redirect URI:        ${uri}`) : []),
    `  admit:               ${settings.oidcAdmit === 'domain' ? 'invited users and anyone with a verified e-mail in an allowed domain' : 'invited users only'}`,
    `  allowed domains:     ${settings.allowedEmailDomains.length > 0 ? settings.allowedEmailDomains.join(', ') : 'none'}`,
    `  platform providers:  ${settings.platformProviders.length > 0 ? settings.platformProviders.join(', ') : 'none'}`,
    `  passwords:           ${settings.passwordEnabled ? 'enabled' : 'disabled'}`,
  ].join('\n');
}

function publicView(config: Config, slug: string, settings: AuthSettings) {
  const own = clinicOidcOf(settings);
  // redirectUri: the first base domain's (all one base domain needs); redirectUris: every one.
  const redirectUris = oidcRedirectUris(config, slug);
  return {
    tenant: slug,
    oidc: own ? { issuer: own.issuer, clientId: own.clientId, clientSecret: 'sealed', redirectUri: redirectUris[0], redirectUris } : null,
    admit: settings.oidcAdmit,
    allowedEmailDomains: settings.allowedEmailDomains,
    platformProviders: settings.platformProviders,
    passwordEnabled: settings.passwordEnabled,
  };
}

export function registerSsoCommands(program: Command, context: CliContext): void {
  const sso = program.command('sso').description("a clinic's single sign-on: its own OIDC provider, platform providers, who is admitted");

  const clinic = (slug: string) => clinicScope(context, slug);


  sso
    .command('show <tenant>')
    .description('show the clinic\'s single sign-on settings (never the client secret)')
    .option('--json', 'print JSON')
    .action(async (slug: string, opts: { json?: boolean }) => {
      const { db } = await clinic(slug);
      const settings = await getAuthSettings(db);
      report(context.io, opts.json, publicView(context.config, slug, settings), () => describe(context.config, slug, settings));
    });

  sso
    .command('configure <tenant>')
    .description('change the clinic\'s single sign-on settings; options not given are left as they are')
    .option('--issuer <url>', "the clinic's own OpenID provider (issuer URL); needs --client-id and --client-secret-stdin")
    .option('--client-id <id>', "the client id Sidechart has at the clinic's provider")
    .option('--client-secret-stdin', 'read the client secret from standard input')
    .option('--remove-oidc', "remove the clinic's own provider")
    .option('--admit <mode>', 'who may sign in the first time: invited (users created beforehand) or domain (also anyone with a verified e-mail in an allowed domain)')
    .option('--allowed-domains <list>', 'comma-separated e-mail domains ("" for none)')
    .option('--platform-providers <list>', 'comma-separated platform provider ids the clinic allows ("" for none)')
    .option('--check', "check that the clinic's provider answers discovery before saving")
    .option('--json', 'print JSON')
    .action(async (slug: string, opts: {
      issuer?: string; clientId?: string; clientSecretStdin?: boolean; removeOidc?: boolean; admit?: string;
      allowedDomains?: string; platformProviders?: string; check?: boolean; json?: boolean;
    }) => {
      const change: SsoSettingsChange = {};
      const settingOidc = opts.issuer !== undefined || opts.clientId !== undefined || opts.clientSecretStdin === true;
      if (settingOidc && opts.removeOidc) throw cliErrors.usage('--remove-oidc cannot be combined with --issuer, --client-id or --client-secret-stdin');
      if (settingOidc) {
        if (opts.issuer === undefined || opts.clientId === undefined || opts.clientSecretStdin !== true) {
          throw cliErrors.usage('setting the clinic\'s provider needs --issuer, --client-id and --client-secret-stdin together');
        }
        const clientSecret = (await context.io.readStdin()).replace(/\r?\n$/, '');
        if (clientSecret.trim() === '') throw cliErrors.usage('no client secret on standard input');
        change.clinicOidc = { issuer: opts.issuer, clientId: opts.clientId, clientSecret };
      }
      if (opts.removeOidc) change.clinicOidc = null;
      if (opts.admit !== undefined) change.admit = opts.admit as OidcAdmit; // validated by checkSsoSettingsChange
      const domains = list(opts.allowedDomains);
      if (domains !== undefined) change.allowedEmailDomains = domains;
      const providers = list(opts.platformProviders);
      if (providers !== undefined) change.platformProviders = providers;
      if (Object.keys(change).length === 0) throw cliErrors.usage('nothing to change (see sidechart sso configure --help)');

      const { tenant, db } = await clinic(slug);
      const { config } = context;
      const runtime = await context.runtime();
      if (opts.check && change.clinicOidc) {
        try {
          // Discovered afresh: the clinic's cached configuration (if any) is for the old settings.
          runtime.oidcClients.invalidate(tenant.id);
          await runtime.oidcClients.get(tenant.id, change.clinicOidc);
        } catch (error) {
          const failure = classifyProviderError(error, change.clinicOidc.issuer, 'discovery');
          throw cliErrors.oidcCheckFailed(failure?.message ?? (error instanceof Error ? error.message : String(error)));
        }
      }
      const settings = await updateSsoSettings(db, { config, box: runtime.secrets.box, schemaName: tenant.schemaName }, change);
      report(context.io, opts.json, publicView(config, slug, settings), () =>
        [
          `updated ${describe(config, slug, settings)}`,
          ...(clinicOidcOf(settings) ? oidcRedirectUris(config, slug).map((uri) => `register this redirect URI at the clinic's provider: ${uri}`) : []),
          `sign-in page: ${tenantUrl(config, slug, '/login')}`,
        ].join('\n'),
      );
    });

  sso
    .command('rekey [tenant]')
    .description("re-seal clinics' own OIDC client secrets under the primary encryption key (after adding a new key first in SIDECHART_ENCRYPTION_KEYS)")
    .option('--all', 'every clinic')
    .option('--json', 'print JSON')
    .action(async (slug: string | undefined, opts: { all?: boolean; json?: boolean }) => {
      const slugs = await clinicsNamed(context, slug, opts.all);
      const { box } = (await context.runtime()).secrets;
      const results: { tenant: string; result: string }[] = [];
      for (const each of slugs) results.push({ tenant: each, result: await rekeyClinicOidcSecret(await clinicScope(context, each), box) });
      report(context.io, opts.json, results, () =>
        results.length === 0
          ? 'no clinics'
          : results.map((r) => `${r.tenant}: ${r.result === 'resealed' ? 're-sealed under the primary key' : r.result === 'current' ? 'already current' : 'no client secret stored'}`).join('\n'),
      );
    });

  sso
    .command('providers')
    .description('list the platform providers this Sidechart offers (PLATFORM_OIDC_PROVIDERS)')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const { config } = context;
      const providers = config.platformProviders.map((p) => {
        const redirectUris = platformCallbackUris(config, p.id);
        return { id: p.id, name: p.name, issuer: p.issuer, clientId: p.clientId, redirectUri: redirectUris[0], redirectUris };
      });
      report(context.io, opts.json, providers, () =>
        providers.length === 0
          ? 'no platform providers configured (PLATFORM_OIDC_PROVIDERS)'
          : providers.map((p) => [`${p.id}  ${p.name}  ${p.issuer}`, ...p.redirectUris.map((uri) => `  redirect URI: ${uri}`)].join('\n')).join('\n'),
      );
    });
}
