// /admin/sign-in: how the clinic's staff sign in. One form: passwords on or off, the platform
// providers the clinic allows, the clinic's own OpenID provider (issuer, client id, client secret),
// who is admitted the first time and from which e-mail domains. Validation and sealing are the
// CLI's (auth/sso/settings.ts, as `sidechart sso configure`); a new or changed provider is checked
// live by fetching its discovery document (runtime.oidcClients, as `--check`) before anything is
// saved. The client secret is never shown back: an empty field keeps the stored one.
// A configuration under which no admin could sign in any more is refused with the reason
// (adminsWhoCanSignIn, auth/admins.ts: the same rule the staff page applies). The change and its
// audit event (sign_in_settings_changed, naming what changed, never the secret) are written in one
// transaction.
import { adminsWhoCanSignIn, sameIssuer } from '../auth/admins.ts';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config } from '../config.ts';
import { checkIssuerUrl } from '../config.ts';
import { csrfToken } from '../auth/csrf.ts';
import { authErrors } from '../auth/errors.ts';
import { getAuthSettings, updateAuthSettings, type AuthSettings } from '../auth/settings.ts';
import { oidcRedirectUris } from '../auth/sso/clinic/clinic-host-routes.ts';
import type { OidcClients } from '../auth/sso/clinic/clients.ts';
import { classifyProviderError } from '../auth/sso/errors.ts';
import { checkSsoSettingsChange, clientSecretAad, clinicOidcOf, updateSsoSettings, type SsoSettingsChange } from '../auth/sso/settings.ts';
import type { OidcAdmit } from '../auth/tables.ts';
import type { SecretBox } from '../infra/crypto.ts';
import { isAppError } from '../infra/errors.ts';
import { recordAudit, requestOrigin } from '../patients/audit.ts';
import { requireClinic } from '../tenancy/plugin.ts';
import type { TenantDb } from '../tenancy/tenant-database.ts';
import { sendAdminPage } from './sections.ts';

export interface SignInAdminOptions {
  config: Config;
  /** Seals the client secret, and opens the stored one when the field is left empty. */
  box: SecretBox;
  /** The clinics' provider configurations: the live discovery check fills it for the new settings. */
  oidcClients: OidcClients;
}

const Text = (maxLength: number) => Type.Optional(Type.String({ maxLength }));
const SignInBody = Type.Object({
  password_enabled: Text(10),
  // One checkbox checked is a string, several an array (@fastify/formbody).
  platform_providers: Type.Optional(Type.Union([Type.String({ maxLength: 100 }), Type.Array(Type.String({ maxLength: 100 }), { maxItems: 50 })])),
  // Longer than the rules allow, so that a too-long value gets its message next to the field.
  oidc_issuer: Text(2048),
  oidc_client_id: Text(1024),
  oidc_client_secret: Text(4096),
  admit: Text(20),
  allowed_domains: Text(4096),
  _csrf: Text(512),
});
type SignInInput = Static<typeof SignInBody>;

type Field = 'password_enabled' | 'platform_providers' | 'oidc_issuer' | 'oidc_client_id' | 'oidc_client_secret' | 'admit' | 'allowed_domains';
type FieldErrors = Partial<Record<Field | 'form', string>>;

/** What the form shows: the stored settings, or what the admin typed (never a secret). */
interface FormValues {
  passwordEnabled: boolean;
  platformProviders: string[];
  issuer: string;
  clientId: string;
  admit: string;
  allowedDomains: string;
}

function formOf(settings: AuthSettings): FormValues {
  return {
    passwordEnabled: settings.passwordEnabled,
    platformProviders: settings.platformProviders,
    issuer: settings.oidcIssuer ?? '',
    clientId: settings.oidcClientId ?? '',
    admit: settings.oidcAdmit,
    allowedDomains: settings.allowedEmailDomains.join(', '),
  };
}

function formFrom(body: SignInInput): FormValues {
  const providers = body.platform_providers;
  return {
    passwordEnabled: body.password_enabled === 'on',
    platformProviders: providers === undefined ? [] : Array.isArray(providers) ? providers : [providers],
    issuer: (body.oidc_issuer ?? '').trim(),
    clientId: (body.oidc_client_id ?? '').trim(),
    admit: body.admit ?? 'invited',
    allowedDomains: (body.allowed_domains ?? '').trim(),
  };
}

/** The error of a settings check, for the field it is about (checkSsoSettingsChange says which by its wording). */
function checked(check: () => void, field: Field, errors: FieldErrors): void {
  try {
    check();
  } catch (error) {
    if (!isAppError(error) || error.code !== authErrors.invalidSsoSettings.code) throw error;
    const target = field === 'oidc_issuer' && /^The client id/.test(error.message) ? 'oidc_client_id' : field === 'oidc_issuer' && /^The client secret/.test(error.message) ? 'oidc_client_secret' : field;
    errors[target] ??= error.message;
  }
}

function lockOutReason(after: { passwordEnabled: boolean; ownIssuer: string | null; platformProviders: readonly string[] }): string {
  const methods = [after.passwordEnabled ? 'passwords' : null, after.ownIssuer !== null ? `the clinic's own provider (${after.ownIssuer})` : null, ...after.platformProviders].filter((m) => m !== null);
  const left = methods.length === 0 ? 'no way to sign in at all is left' : `only ${methods.join(', ')} would be left`;
  return `Not saved: no administrator could sign in any more (${left}, and no enabled administrator ${after.passwordEnabled ? 'has a password or ' : ''}is linked to one of those sign-in services). Keep passwords on, or have an administrator sign in once with the provider first.`;
}

function list(values: readonly string[]): string {
  return values.length === 0 ? 'none' : values.join(', ');
}

export async function signInAdminRoutes(fastify: FastifyInstance, options: SignInAdminOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { config, box, oidcClients } = options;

  async function sendSignInPage(request: FastifyRequest, reply: FastifyReply, extra: { form?: FormValues; errors?: FieldErrors; notice?: string | null } = {}, statusCode = 200) {
    const { tenant, db } = requireClinic(request);
    const settings = await getAuthSettings(db);
    const own = clinicOidcOf(settings);
    reply.header('cache-control', 'no-store');
    return sendAdminPage(reply, 'sign-in', 'sign-in', {
      title: 'Sign-in',
      form: extra.form ?? formOf(settings),
      errors: extra.errors ?? {},
      notice: extra.notice ?? null,
      hasSecret: own !== null,
      providers: config.platformProviders.map((p) => ({ id: p.id, name: p.name })),
      redirectUris: oidcRedirectUris(config, tenant.slug),
      csrfToken: csrfToken(request, reply),
    }, statusCode);
  }

  app.get('/sign-in', { schema: { querystring: Type.Object({ done: Type.Optional(Type.Union([Type.Literal('saved'), Type.Literal('unchanged')])) }) } }, async (request, reply) => {
    const notice = request.query.done === 'saved' ? 'Saved. The sign-in page uses the new settings now.' : request.query.done === 'unchanged' ? 'Nothing was changed.' : null;
    return sendSignInPage(request, reply, { notice });
  });

  app.post('/sign-in', { schema: { body: SignInBody } }, async (request, reply) => {
    const { tenant, db } = requireClinic(request);
    const actor = request.user;
    if (!actor) throw authErrors.signInRequired();
    const form = formFrom(request.body);
    const secretTyped = (request.body.oidc_client_secret ?? '').trim();
    const before = await getAuthSettings(db);
    const own = clinicOidcOf(before);
    const errors: FieldErrors = {};
    const refuse = (status: number) => sendSignInPage(request, reply, { form, errors }, status);

    // What would change, checked field by field by the rules the CLI uses.
    const change: SsoSettingsChange = {};
    const domains = form.allowedDomains.split(/[\s,;]+/).filter((d) => d !== '');
    checked(() => (change.allowedEmailDomains = checkSsoSettingsChange({ allowedEmailDomains: domains }, config).allowedEmailDomains), 'allowed_domains', errors);
    checked(() => (change.admit = checkSsoSettingsChange({ admit: form.admit as OidcAdmit }, config).admit), 'admit', errors);
    checked(() => (change.platformProviders = checkSsoSettingsChange({ platformProviders: form.platformProviders }, config).platformProviders), 'platform_providers', errors);

    // The clinic's own provider: both fields empty removes it; an empty secret keeps the stored one.
    let clientSecret: string | null = null;
    if (form.issuer === '' && form.clientId === '') {
      if (own !== null) change.clinicOidc = null;
    } else {
      if (form.issuer === '') errors.oidc_issuer = "Enter the issuer URL of the clinic's provider, or clear the client id to remove the provider.";
      else {
        const problem = checkIssuerUrl(form.issuer, config.oidc.allowHttpIssuers);
        if (problem !== null) errors.oidc_issuer = `The issuer ${problem}.`;
      }
      if (form.clientId === '') errors.oidc_client_id = 'Enter the client id the provider gave Sidechart.';
      if (secretTyped !== '') clientSecret = secretTyped;
      else if (own === null) errors.oidc_client_secret = 'Enter the client secret the provider gave Sidechart.';
      else {
        try {
          clientSecret = box.open(own.clientSecretSealed, clientSecretAad(tenant.schemaName));
        } catch {
          errors.oidc_client_secret = 'The stored client secret can no longer be opened with this installation’s keys. Enter it again.';
        }
      }
      const unchanged = own !== null && secretTyped === '' && sameIssuer(own.issuer, form.issuer) && own.clientId === form.clientId;
      if (!unchanged && clientSecret !== null && errors.oidc_issuer === undefined && errors.oidc_client_id === undefined) {
        const next = { issuer: form.issuer, clientId: form.clientId, clientSecret };
        checked(() => (change.clinicOidc = checkSsoSettingsChange({ clinicOidc: next }, config).clinicOidc), 'oidc_issuer', errors);
      }
    }
    if (Object.keys(errors).length > 0) return refuse(422);

    // A new or changed provider must answer discovery before it is saved (afresh: the cache may hold the old one).
    if (change.clinicOidc) {
      oidcClients.invalidate(tenant.id);
      try {
        await oidcClients.get(tenant.id, change.clinicOidc);
      } catch (error) {
        const failure = classifyProviderError(error, change.clinicOidc.issuer, 'discovery');
        if (failure === null) throw error;
        const where = `${change.clinicOidc.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
        errors.oidc_issuer = failure.failure === 'idp_unavailable'
          ? `Sidechart could not reach the provider: nothing answered at ${where}. Check the issuer URL; nothing was saved.`
          : `That address is not an OpenID provider Sidechart can use: ${where} did not return a discovery document for this issuer. Check the issuer URL; nothing was saved.`;
        request.log.info({ event: 'sign_in_settings_refused', reason: failure.failure }, 'clinic OIDC provider discovery failed');
        return refuse(422);
      }
    }

    // Only what differs from the stored settings is written and audited.
    const what: string[] = [];
    if (form.passwordEnabled !== before.passwordEnabled) what.push(`passwords ${form.passwordEnabled ? 'on' : 'off'}`);
    if (change.platformProviders && list(change.platformProviders) !== list(before.platformProviders)) what.push(`platform providers: ${list(before.platformProviders)} -> ${list(change.platformProviders)}`);
    else delete change.platformProviders;
    if (change.admit !== undefined && change.admit !== before.oidcAdmit) what.push(`admit: ${before.oidcAdmit} -> ${change.admit}`);
    else delete change.admit;
    if (change.allowedEmailDomains && list(change.allowedEmailDomains) !== list(before.allowedEmailDomains)) what.push(`allowed domains: ${list(before.allowedEmailDomains)} -> ${list(change.allowedEmailDomains)}`);
    else delete change.allowedEmailDomains;
    if (change.clinicOidc === null) what.push(`own provider removed (was ${own?.issuer})`);
    else if (change.clinicOidc) {
      const parts = [own === null || !sameIssuer(own.issuer, change.clinicOidc.issuer) ? `issuer ${change.clinicOidc.issuer}` : null, own?.clientId !== change.clinicOidc.clientId ? `client id ${change.clinicOidc.clientId}` : null, secretTyped !== '' ? 'new client secret' : null];
      what.push(`own provider: ${parts.filter((p) => p !== null).join(', ')}`);
    }
    if (what.length === 0) return reply.redirect('/admin/sign-in?done=unchanged', 303);

    const after = {
      passwordEnabled: form.passwordEnabled,
      ownIssuer: change.clinicOidc === null ? null : change.clinicOidc?.issuer ?? own?.issuer ?? null,
      platformProviders: change.platformProviders ?? before.platformProviders,
    };
    const issuers = [
      ...(after.ownIssuer !== null ? [after.ownIssuer] : []),
      ...config.platformProviders.filter((p) => after.platformProviders.includes(p.id)).map((p) => p.issuer),
    ];
    const saved = await db.transaction().execute(async (trx) => {
      if ((await adminsWhoCanSignIn(trx, { passwordEnabled: after.passwordEnabled, issuers })) === 0) return false;
      if (form.passwordEnabled !== before.passwordEnabled) await updateAuthSettings(trx, { passwordEnabled: form.passwordEnabled });
      if (Object.keys(change).length > 0) await updateSsoSettings(trx, { config, box, schemaName: tenant.schemaName }, change);
      await recordAudit(trx, { action: 'sign_in_settings_changed', outcome: 'ok', userId: actor.id, patientId: null, detail: what.join('; '), origin: requestOrigin(request) });
      return true;
    });
    if (!saved) {
      request.log.info({ event: 'sign_in_settings_refused', reason: 'lock_out' }, 'sign-in settings would lock every admin out');
      errors.form = lockOutReason(after);
      return refuse(409);
    }
    request.log.info({ event: 'sign_in_settings_changed', by: actor.id }, 'sign-in settings changed');
    return reply.redirect('/admin/sign-in?done=saved', 303);
  });
}
