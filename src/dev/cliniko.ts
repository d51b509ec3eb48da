// Development wiring of the Cliniko simulator (never in production: config refuses it): `npm start`
// runs it beside the app with the demo account, its imitation of Cliniko's patient screen served
// on 127.0.0.1 (another site than the clinic's *.localhost host, so the button click is cross-site
// as in real life), and connects the demo clinic to it. The app reaches the simulator only because
// configuration says so (config.cliniko.apiBase points at it when CLINIKO_SIMULATOR is on).
import type { Config } from '../config.ts';
import type { SecretBox } from '../infra/crypto.ts';
import type { Runtime } from '../runtime.ts';
import { isAppError } from '../infra/errors.ts';
import { tenantUrl } from '../infra/urls.ts';
import type { ClinicScope } from '../tenancy/clinic.ts';
import type { ClinikoClient } from '../cliniko/client/client.ts';
import { clinikoStatus, connectCliniko, type ConnectionSummary } from '../cliniko/connection.ts';
import { createClinikoSimulator, seedDemo, type ClinikoSimulator, type DemoAccount } from '../cliniko/simulator/index.ts';

export interface DevSimulator {
  simulator: ClinikoSimulator;
  demo: DemoAccount;
  /** The imitation Cliniko patient screen with the "Open in Sidechart" button. */
  pageUrl: string;
  close(): Promise<void>;
}

/** Starts the simulator on CLINIKO_SIMULATOR_PORT with the demo account; its button opens `clinicSlug`. */
export async function startDevSimulator(config: Config, clinicSlug: string): Promise<DevSimulator> {
  if (!config.cliniko.simulator) throw new Error('startDevSimulator: CLINIKO_SIMULATOR is off');
  const simulator = createClinikoSimulator({ buttonUrl: tenantUrl(config, clinicSlug, '/patients') });
  const demo = seedDemo(simulator);
  await simulator.listen({ port: config.cliniko.simulatorPort, host: '127.0.0.1' });
  return {
    simulator,
    demo,
    pageUrl: `http://127.0.0.1:${config.cliniko.simulatorPort}/`,
    close: () => simulator.close(),
  };
}

/**
 * Connects the demo clinic to the simulator's demo account, through the same code an admin uses,
 * unless it already has a working connection. Returns the connection and whether it was made now.
 */
export async function connectDemoClinic(
  clinic: ClinicScope,
  options: { client: ClinikoClient; box: SecretBox; apiKey: string; apiBase: string },
): Promise<{ connection: ConnectionSummary; created: boolean }> {
  const existing = await clinikoStatus(clinic, options.box);
  if (existing !== null && existing.keyReadable) return { connection: existing, created: false };
  const connection = await connectCliniko(clinic, { apiKey: options.apiKey, connectedBy: 'development simulator', client: options.client, box: options.box, apiBase: options.apiBase });
  return { connection, created: true };
}

/**
 * `npm start` in development: the simulator on its port and, when there is a demo clinic, that
 * clinic connected to the simulator's demo account. The caller closes the result on shutdown.
 */
export async function startDevCliniko(runtime: Pick<Runtime, 'config' | 'clinics' | 'cliniko' | 'secrets' | 'log'>, demoSlug: string | null): Promise<DevSimulator> {
  const { config } = runtime;
  const dev = await startDevSimulator(config, demoSlug ?? 'demo');
  try {
    if (demoSlug !== null) {
      // A demo clinic someone suspended is left alone; a database problem stops the start.
      const clinic = await runtime.clinics.open(demoSlug, { for: 'operator', needsActive: 'only an active clinic is connected' }).catch((error: unknown) => {
        if (isAppError(error) && error.statusCode < 500) return null;
        throw error;
      });
      if (clinic !== null) {
        const { created } = await connectDemoClinic(clinic, { client: runtime.cliniko, box: runtime.secrets.box, apiKey: dev.demo.apiKey, apiBase: config.cliniko.apiBase });
        if (created) runtime.log.info({ tenant: clinic.tenant.slug }, 'demo clinic connected to the Cliniko simulator');
      }
    }
  } catch (error) {
    await dev.close();
    throw error;
  }
  return dev;
}
