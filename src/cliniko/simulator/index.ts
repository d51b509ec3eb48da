// The simulator's public entry: the app, its demo data, and the types callers configure it with.
export {
  createClinikoSimulator,
  type ClinikoSimulator,
  type RequestFilter,
  type SimulatorAccountInput,
  type SimulatorOptions,
  type SimulatorRequest,
  type SimulatorSettings,
  type SimulatorStats,
} from './app.ts';
export { DEMO_ACCOUNT_ID, DEMO_API_KEY, DEMO_PATIENT_IDS, DEMO_SHARD, seedDemo, type DemoAccount } from './demo-data.ts';
export type { SimulatorFault, SimulatorFaults, StreamedBodies } from './faults.ts';
export type { SimulatorPatientInput } from './records.ts';
