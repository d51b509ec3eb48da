// Set-up shared by the admin tests: the patient test app (clinic `acme` connected to the simulated
// Cliniko, staff user Sam signed in as `http`) plus an administrator, Ada, signed in as `admin`.
import type { HttpClient } from '../helpers/http-client.ts';
import { addUser } from '../helpers/fixtures.ts';
import { signIn, startPatientApp, type PatientTestApp, type PatientTestOptions } from '../helpers/patients.ts';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface AdminTestApp extends PatientTestApp {
  /** A client signed in as the clinic's admin. */
  admin: HttpClient;
  adminUser: { id: string; email: string; name: string };
}

export async function startAdminApp(t: Teardown, options: PatientTestOptions = {}): Promise<AdminTestApp> {
  const app = await startPatientApp(t, options);
  const created = await addUser(app.runtime, app.slug, { email: 'ada@acme.example', name: 'Ada Admin', role: 'admin' });
  const admin = app.newClient();
  const signedIn = await signIn(admin, app.origin, created.email);
  if (signedIn.status !== 303) throw new Error(`admin sign-in failed: ${signedIn.status}`);
  return { ...app, admin, adminUser: { id: created.id, email: created.email, name: created.name } };
}
