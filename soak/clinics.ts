// Look-alike clinics for the soak and the fuzz: every clinic holds the same Cliniko patient IDs,
// under names that differ only by a marker naming the clinic (`Q-<slug>-Q`, also in the clinic's
// display name, which every page of the clinic shows). A response naming another clinic's marker
// is that clinic's data, wherever in the body or headers it appears. Each clinic has a staff user
// signed in with a password over real HTTP, as a browser would be.
import type { Runtime } from '../src/runtime.ts';
import { savePatient } from '../src/patients/sync.ts';
import { addUser, csrfTokenIn, openClinic, signInWithPassword } from '../test/helpers/fixtures.ts';
import { createHttpClient } from '../test/helpers/http-client.ts';

/** The same IDs in every clinic: the smallest, a typical and the largest Cliniko ID. */
export const PATIENT_IDS: readonly string[] = ['1', '836447129235883061', '836447129235883062', '9223372036854775807'];
const SURNAMES = ['Robin', 'Ash', 'Kai', 'Sam', 'Jo', 'Alex', 'Noor'];

export function clinicMarker(slug: string): string {
  return `Q-${slug}-Q`;
}

const MARKER = /Q-([a-z0-9](?:[a-z0-9-]*?[a-z0-9])?)-Q/g;

/** Slugs of the clinics whose marker appears in `text`, other than `own` ones. */
export function foreignClinics(text: string, own: readonly string[], known: ReadonlySet<string>): string[] {
  const found = new Set<string>();
  for (const match of text.matchAll(MARKER)) {
    const slug = match[1]!;
    if (known.has(slug) && !own.includes(slug)) found.add(slug);
  }
  return [...found];
}

export interface SeededClinic {
  slug: string;
  displayName: string;
  email: string;
  /** Patient name by Cliniko ID, as the patient page shows it. */
  patients: Map<string, string>;
}

export interface SignedInClinic extends SeededClinic {
  /** The Cookie header of the signed-in browser (session and CSRF cookies). */
  cookie: string;
  cookies: { name: string; value: string }[];
  /** The CSRF token of the patient page's note form, good with `cookie`. */
  csrfToken: string;
  /** A visitor who has seen the sign-in form: its Cookie header and the form's token. */
  visitor: { cookie: string; csrfToken: string };
}

async function inBatches<T, R>(items: readonly T[], concurrency: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await work(items[index]!, index);
      }
    }),
  );
  return results;
}

/** Creates `count` clinics `<prefix>-<n>` with a staff user and the look-alike patients (held, fresh). */
export async function seedLookalikeClinics(runtime: Runtime, options: { count: number; prefix: string }): Promise<SeededClinic[]> {
  const slugs = Array.from({ length: options.count }, (_, i) => `${options.prefix}-${i}`);
  // A few at a time, as operators' bulk creation does: provisioning is one migration per schema.
  return inBatches(slugs, 4, async (slug, index) => {
    const displayName = `Clinic ${clinicMarker(slug)}`;
    await runtime.tenants.create({ slug, displayName });
    const clinic = await openClinic(runtime, slug);
    const email = `staff@${slug}.example`;
    await addUser(runtime, slug, { email, name: 'Staff Member' });
    const patients = new Map<string, string>();
    for (const [k, id] of PATIENT_IDS.entries()) {
      // The marker in the first name: routes that return only first names show it too.
      const first = clinicMarker(slug);
      const last = SURNAMES[(index + k) % SURNAMES.length]!;
      await savePatient(clinic, { id, first_name: first, last_name: last }, new Date());
      patients.set(id, `${first} ${last}`);
    }
    return { slug, displayName, email, patients };
  });
}

/** Signs each clinic's staff user in at `origin(slug)` and reads a patient page's CSRF token. */
export async function signInClinics(clinics: readonly SeededClinic[], origin: (slug: string) => string): Promise<SignedInClinic[]> {
  return inBatches(clinics, 4, async (clinic) => {
    const base = origin(clinic.slug);
    const http = createHttpClient();
    const visitorHttp = createHttpClient();
    try {
      const signedIn = await signInWithPassword(http, base, clinic.email);
      if (signedIn.status !== 303) throw new Error(`sign-in at ${clinic.slug} answered ${signedIn.status}: ${signedIn.body.slice(0, 200)}`);
      const page = await http.get(`${base}/patients?patient_id=${PATIENT_IDS[0]}`);
      if (page.status !== 200) throw new Error(`the patient page at ${clinic.slug} answered ${page.status}: ${page.body.slice(0, 200)}`);
      const form = await visitorHttp.get(`${base}/login`);
      const hostname = new URL(base).hostname;
      return {
        ...clinic,
        cookie: http.cookieHeader(`${base}/`),
        cookies: http.cookies(hostname).map(({ name, value }) => ({ name, value })),
        csrfToken: csrfTokenIn(page),
        visitor: { cookie: visitorHttp.cookieHeader(`${base}/`), csrfToken: csrfTokenIn(form) },
      };
    } finally {
      await http.close();
      await visitorHttp.close();
    }
  });
}

/** Patient views audited as shown, per clinic. */
export async function auditedViews(runtime: Runtime, slugs: readonly string[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const slug of slugs) {
    const { db } = await openClinic(runtime, slug);
    const row = await db
      .selectFrom('audit_events')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('action', '=', 'view')
      .where('outcome', '=', 'shown')
      .executeTakeFirstOrThrow();
    counts.set(slug, Number(row.n));
  }
  return counts;
}

/** Audit events gained between two auditedViews() readings, over all clinics. */
export function auditedSince(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): number {
  let gained = 0;
  for (const [slug, n] of after) gained += n - (before.get(slug) ?? 0);
  return gained;
}
