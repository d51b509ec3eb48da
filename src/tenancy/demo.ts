// The demo clinic that `npm start` prepares in development, so the button flow works at once.
import type { Logger } from 'pino';
import type { Runtime } from '../infra/runtime.ts';
import { AppError } from '../infra/errors.ts';

export const DEMO_SLUG = 'demo';

export async function ensureDemo(runtime: Runtime, log: Pick<Logger, 'info'>): Promise<{ slug: string }> {
  try {
    await runtime.tenants.create({ slug: DEMO_SLUG, displayName: 'Demo Physio' });
    log.info({ tenant: DEMO_SLUG }, 'demo clinic created');
  } catch (error) {
    if (!(error instanceof AppError && error.code === 'tenant_exists')) throw error;
  }
  return { slug: DEMO_SLUG };
}
