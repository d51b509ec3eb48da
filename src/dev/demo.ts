// The demo clinic that `npm start` prepares in development, so the button flow works at once: the
// clinic and an admin who can sign in with a password shown once, at the first start. Only the hash
// is stored; a lost password is reset with the CLI.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Runtime } from '../runtime.ts';
import { AppError } from '../infra/errors.ts';
import { createPasswordHasher } from '../auth/password/hasher.ts';
import { createUser } from '../auth/users.ts';
import { scopeToTenant } from '../tenancy/clinic.ts';

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

export async function ensureDemo(runtime: Runtime, log: Pick<Logger, 'info'>): Promise<DemoClinic> {
  try {
    await runtime.tenants.create({ slug: DEMO_SLUG, displayName: 'Demo Physio' });
    log.info({ tenant: DEMO_SLUG }, 'demo clinic created');
  } catch (error) {
    if (!(error instanceof AppError && error.code === 'tenant_exists')) throw error;
  }
  const resetCommand = `npx sidechart users set-password ${DEMO_SLUG} ${DEMO_ADMIN_EMAIL} --password-stdin`;
  const tenant = await runtime.tenants.find(DEMO_SLUG);
  const region = runtime.databases.regions.get(tenant.regionId);
  if (tenant.status !== 'active' || !region) return { slug: DEMO_SLUG, admin: { email: DEMO_ADMIN_EMAIL, password: null, resetCommand } };

  const password = randomBytes(12).toString('base64url');
  const hasher = createPasswordHasher({ memoryKib: runtime.config.auth.passwordHashMemoryKib });
  try {
    await createUser(scopeToTenant(region, tenant.schemaName), {
      email: DEMO_ADMIN_EMAIL,
      name: 'Demo Admin',
      role: 'admin',
      passwordHash: await hasher.hash(password),
    });
    log.info({ tenant: DEMO_SLUG }, 'demo admin created');
    return { slug: DEMO_SLUG, admin: { email: DEMO_ADMIN_EMAIL, password, resetCommand } };
  } catch (error) {
    if (!(error instanceof AppError && error.code === 'user_exists')) throw error;
    return { slug: DEMO_SLUG, admin: { email: DEMO_ADMIN_EMAIL, password: null, resetCommand } };
  }
}
