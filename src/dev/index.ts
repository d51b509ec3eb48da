// Everything `npm start` adds in development, loaded by server.ts only when configuration says so
// (a dynamic import), so a production process never loads the simulator or the demo seeding.
import type { Runtime } from '../runtime.ts';
import { startDevCliniko, type DevSimulator } from './cliniko.ts';
import { ensureDemo, type DemoClinic } from './demo.ts';

export interface Development {
  demo: DemoClinic | null;
  simulator: DevSimulator | null;
  close(): Promise<void>;
}

export async function startDevelopment(runtime: Runtime): Promise<Development> {
  const demo = runtime.config.demo ? await ensureDemo(runtime) : null;
  const simulator = runtime.config.cliniko.simulator ? await startDevCliniko(runtime, demo?.slug ?? null) : null;
  return { demo, simulator, close: async () => simulator?.close() };
}
