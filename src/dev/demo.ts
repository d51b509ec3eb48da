// The demo clinic that `npm start` prepares in development, so the button flow works at once: the
// clinic and an admin who can sign in with a password shown once, at the first start. Only the hash
// is stored; a lost password is reset with the CLI.
import { randomBytes } from 'node:crypto';
import type { Runtime } from '../runtime.ts';
import { isAppError } from '../infra/errors.ts';
import { authErrors } from '../auth/errors.ts';
import { createUser } from '../auth/users.ts';
import { tenancyErrors } from '../tenancy/errors.ts';

export const DEMO_SLUG = 'demo';
export const DEMO_ADMIN_EMAIL = 'admin@demo.localhost';

export interface DemoClinic {
  slug: string;
  admin: {
    email: string;
    /** Only when it was created by this start; null afterwards. */
    password: string | null;
    resetCommand: string;
  };
}

function hasCode(error: unknown, code: string): boolean {
  return isAppError(error) && error.code === code;
}

export async function ensureDemo(runtime: Pick<Runtime, 'tenants' | 'clinics' | 'passwords' | 'log'>): Promise<DemoClinic> {
  try {
    await runtime.tenants.create({ slug: DEMO_SLUG, displayName: 'Demo Physio' });
    runtime.log.info({ tenant: DEMO_SLUG }, 'demo clinic created');
  } catch (error) {
    if (!hasCode(error, tenancyErrors.tenantExists.code)) throw error;
  }
  const resetCommand = `npx sidechart users set-password ${DEMO_SLUG} ${DEMO_ADMIN_EMAIL} --password-stdin`;
  const noPassword: DemoClinic = { slug: DEMO_SLUG, admin: { email: DEMO_ADMIN_EMAIL, password: null, resetCommand } };
  let clinic;
  try {
    clinic = await runtime.clinics.open(DEMO_SLUG, { for: 'operator', needsActive: 'the demo admin is created on an active clinic' });
  } catch (error) {
    // Suspended by someone, or its region is not configured: serve what there is, as before.
    if (isAppError(error)) return noPassword;
    throw error;
  }

  const password = randomBytes(12).toString('base64url');
  try {
    await createUser(clinic.db, {
      email: DEMO_ADMIN_EMAIL,
      name: 'Demo Admin',
      role: 'admin',
      passwordHash: await runtime.passwords.hash(password),
    });
    runtime.log.info({ tenant: DEMO_SLUG }, 'demo admin created');
    return { slug: DEMO_SLUG, admin: { email: DEMO_ADMIN_EMAIL, password, resetCommand } };
  } catch (error) {
    if (!hasCode(error, authErrors.userExists.code)) throw error;
    return noPassword;
  }
}
