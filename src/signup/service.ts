// Signing a clinic up, all or nothing: the password is hashed first (nothing exists yet), then the
// clinic is built (tenants.createFrom: the unique slug decides a race; the schema, then its first
// admin, while it is `provisioning`; any failure there drops both), then the single-use hand-off
// that signs the admin in on the clinic's host (a failure there deletes and purges the clinic at
// once). So no half-made clinic stays and the address is free again; a process killed midway
// leaves the clinic `provisioning` and marked, which `sidechart migrate` does not finish. The steps are named so tests can make each one fail (`failAt`).
import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { PasswordHasher } from '../auth/password/hasher.ts';
import type { Handoffs } from '../auth/sso/platform/handoffs.ts';
import { createUser } from '../auth/users.ts';
import { recordAudit, type RequestOrigin } from '../patients/audit.ts';
import { authErrors } from '../auth/errors.ts';
import type { Clinics } from '../tenancy/clinic.ts';
import type { RegionService } from '../tenancy/regions.ts';
import type { TenantService, TenantSummary } from '../tenancy/tenants.ts';
import { tenancyErrors } from '../tenancy/errors.ts';
import { migrateTenantSchema } from '../tenancy/migrations.ts';
import { suggestSlug, validateClinicForm, validateSignup, type FieldErrors, type SignupInput, type ValidClinicForm } from './form.ts';
import { updateAuthSettings } from '../auth/settings.ts';
import { describeRegion, type RegionChoice } from './regions.ts';

/** Marks a hand-off made by sign-up (handoffs.ts payload): no platform provider has this id. */
export const SIGNUP_PROVIDER_ID = 'sidechart-signup';
export const SIGNUP_ISSUER = 'urn:sidechart:signup';
/** The same, for an admin who signed up with a platform provider (the session says so). */
export const SIGNUP_PLATFORM_ISSUER = 'urn:sidechart:signup:platform';

export type SignupStep = 'hash' | 'tenant' | 'admin' | 'handoff';
export const SIGNUP_STEPS: readonly SignupStep[] = ['hash', 'tenant', 'admin', 'handoff'];

export interface SignupServiceDeps {
  tenants: TenantService;
  regions: RegionService;
  clinics: Clinics;
  passwords: PasswordHasher;
  handoffs: Handoffs;
  /** Tests: called before each step; a throw there is that step failing. */
  failAt?: (step: SignupStep) => void | Promise<void>;
}

export type SignupResult =
  | { ok: true; tenant: TenantSummary; userId: string; handoffToken: string }
  | { ok: false; errors: FieldErrors; suggestion: string };

export function createSignupService(deps: SignupServiceDeps) {
  const { tenants, regions, clinics, passwords, handoffs } = deps;
  const step = async (name: SignupStep) => deps.failAt?.(name);

  async function isTaken(slug: string): Promise<boolean> {
    try {
      await tenants.find(slug);
      return true;
    } catch (error) {
      if ((error as { code?: unknown }).code === tenancyErrors.tenantNotFound.code) return false;
      throw error;
    }
  }

  /** A free address near `slug` (slug-2, slug-3, …), or '' when none of the first few is free. */
  async function freeNear(slug: string): Promise<string> {
    if (slug === '') return '';
    for (let n = 2; n <= 5; n++) {
      const candidate = `${slug.slice(0, 63 - String(n).length - 1).replace(/-+$/, '')}-${n}`;
      if (!(await isTaken(candidate))) return candidate;
    }
    return '';
  }

  const takenMessage = (slug: string, near: string) =>
    `${slug} is already taken.${near === '' ? ' Choose another address.' : ` ${near} is free: it is filled in below, or choose another.`}`;

  /** Regions that accept new clinics and that this instance can reach, with where data lives. */
  async function openRegions(): Promise<RegionChoice[]> {
    const all = await regions.placement();
    return all.filter((r) => r.acceptingTenants && r.configured).map((r) => describeRegion(r.id));
  }

  /** Regions drained by an operator (`sidechart regions drain`): the page says they take no new clinics. */
  async function drainedRegions(): Promise<RegionChoice[]> {
    const all = await regions.placement();
    return all.filter((r) => !r.acceptingTenants && r.configured).map((r) => describeRegion(r.id));
  }

  async function removeClinic(slug: string, log: FastifyBaseLogger | undefined): Promise<void> {
    try {
      await tenants.delete(slug, 0);
      await tenants.purge(slug, { force: true });
    } catch (error) {
      // Left for an operator (deleted or provisioning: never served); logged loudly.
      log?.error({ err: error, slug, event: 'signup_cleanup_failed' }, 'sign-up failed and its clinic could not be removed');
    }
  }

  const service = {
    openRegions,
    drainedRegions,
    suggestSlug,

    async signUp(input: SignupInput, options: { log?: FastifyBaseLogger; origin?: RequestOrigin } = {}): Promise<SignupResult> {
      const open = (await openRegions()).map((r) => r.id);
      const checked = validateSignup(input, open);
      const suggestion = suggestSlug(input.clinicName);
      if (!checked.ok) return { ok: false, errors: checked.errors, suggestion };
      const form = checked.value;
      const taken = await takenProblem(form.slug, suggestion);
      if (taken !== null) return taken;

      await step('hash');
      const passwordHash = await passwords.hash(form.password);
      return provision(form, { email: form.email, passwordHash, identity: null }, options);
    },

    /**
     * The first half of a sign-up whose admin signs in with a platform provider: every field but
     * the e-mail and password checked, and the address free now (checked again when provisioning).
     */
    async checkForProvider(input: Omit<SignupInput, 'email' | 'password'>): Promise<{ ok: true; form: ValidClinicForm } | { ok: false; errors: FieldErrors; suggestion: string }> {
      const open = (await openRegions()).map((r) => r.id);
      const checked = validateClinicForm(input, open);
      const suggestion = suggestSlug(input.clinicName);
      if (!checked.ok) return { ok: false, errors: checked.errors, suggestion };
      const taken = await takenProblem(checked.value.slug, suggestion);
      return taken ?? { ok: true, form: checked.value };
    },

    /**
     * The second half, once the provider has said who the admin is (auth host callback): the
     * clinic, its admin linked to that identity (issuer, subject), the provider enabled for the
     * clinic so the admin can sign in again, all or nothing as for a password sign-up.
     */
    async completeForProvider(
      form: ValidClinicForm,
      identity: { providerId: string; issuer: string; subject: string; email: string | null },
      options: { log?: FastifyBaseLogger; origin?: RequestOrigin } = {},
    ): Promise<SignupResult> {
      const suggestion = suggestSlug(form.clinicName);
      if (identity.email === null) return { ok: false, errors: { email: 'Your account at the provider did not share an e-mail address. Sign up with an e-mail and password instead.' }, suggestion };
      const open = (await openRegions()).map((r) => r.id);
      const checked = validateClinicForm({ ...form, region: form.regionId }, open);
      if (!checked.ok) return { ok: false, errors: checked.errors, suggestion };
      const taken = await takenProblem(form.slug, suggestion);
      if (taken !== null) return taken;
      return provision(checked.value, { email: identity.email, passwordHash: null, identity }, options);
    },
  };
  return service;

  /** The address is taken: the message for its field, with a free one near it when there is one. */
  async function takenProblem(slug: string, suggestion: string): Promise<Extract<SignupResult, { ok: false }> | null> {
    if (!(await isTaken(slug))) return null;
    const near = await freeNear(slug);
    return { ok: false, errors: { slug: takenMessage(slug, near) }, suggestion: near || suggestion };
  }

  async function provision(
    form: ValidClinicForm,
    admin: { email: string; passwordHash: string | null; identity: { providerId: string; issuer: string; subject: string; email: string | null } | null },
    options: { log?: FastifyBaseLogger; origin?: RequestOrigin },
  ): Promise<SignupResult> {
    const suggestion = suggestSlug(form.clinicName);
    await step('tenant');
    const { identity } = admin;
    let tenant: TenantSummary;
    let user: { id: string; email: string; name: string } | null = null;
    try {
      // The clinic is `provisioning` until its schema and its first admin are both there: a process
      // killed in between leaves it marked (tenants show), and `sidechart migrate` does not turn an
      // adminless clinic active.
      tenant = await tenants.createFrom(
        { slug: form.slug, displayName: form.clinicName, regionId: form.regionId },
        async ({ region, schemaName, migrations }) => {
          const version = await migrateTenantSchema(region, schemaName, migrations);
          await step('admin');
          const { db } = await clinics.open(form.slug, { for: 'operator' });
          // The admin, their identity and sign-in method, and the clinic's first audit event (who
          // created it, from where): all or none.
          user = await db.transaction().execute(async (trx) => {
            const created = await createUser(trx, { email: admin.email, name: form.adminName, role: 'admin', passwordHash: admin.passwordHash });
            if (identity !== null) {
              await trx
                .insertInto('user_identities')
                .values({ user_id: created.id, issuer: identity.issuer, subject: identity.subject, email: identity.email, last_used_at: new Date() })
                .execute();
              await updateAuthSettings(trx, { platformProviders: [identity.providerId] });
            }
            await recordAudit(trx, {
              action: 'clinic_created',
              outcome: 'ok',
              userId: created.id,
              patientId: null,
              detail: `signed up as "${form.clinicName}" in region ${form.regionId}${identity === null ? '' : `, admin signed in with ${identity.providerId}`}`,
              origin: options.origin ?? { clientIp: null, userAgent: null, secFetchSite: null, referrer: null, requestId: null },
            });
            return created;
          });
          return version;
        },
        { buildingFrom: 'a sign-up' },
      );
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      // Lost a race for the address: the other sign-up created it between our check and now.
      if (code === tenancyErrors.tenantExists.code) {
        const near = await freeNear(form.slug);
        return { ok: false, errors: { slug: takenMessage(form.slug, near) }, suggestion: near || suggestion };
      }
      if (code === tenancyErrors.regionClosed.code || code === tenancyErrors.unknownRegion.code) {
        return { ok: false, errors: { region: 'That region has just stopped accepting new clinics. Choose another.' }, suggestion };
      }
      // Nothing was kept: createFrom dropped the schema and the control row.
      if (code === authErrors.invalidEmail.code) return { ok: false, errors: { email: 'Enter an e-mail address like name@example.com.' }, suggestion };
      throw error;
    }
    const created: { id: string; email: string; name: string } = user!;

    try {
      await step('handoff');
      const handoffToken = await handoffs.create(tenant.id, {
        attemptId: randomBytes(16).toString('base64url'),
        providerId: SIGNUP_PROVIDER_ID,
        issuer: identity === null ? SIGNUP_ISSUER : SIGNUP_PLATFORM_ISSUER,
        subject: created.id,
        email: created.email,
        emailVerified: false,
        name: created.name || null,
      });
      options.log?.info({ event: 'signup', slug: tenant.slug, region: tenant.regionId, userId: created.id, method: identity === null ? 'password' : 'platform' }, 'clinic signed up');
      return { ok: true, tenant, userId: created.id, handoffToken };
    } catch (error) {
      await removeClinic(tenant.slug, options.log);
      throw error;
    }
  }
}

export type SignupService = ReturnType<typeof createSignupService>;
