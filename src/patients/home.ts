// The clinic's home page (`/` on a clinic's host; tenancy/site-routes.ts routes it here). Visitors
// who are not signed in get the clinic's name and nothing else (no query, no row written); a
// signed-in user also gets the patients they and the clinic opened recently and a search over the
// patients Sidechart holds (recent.ts: bounded queries, two or three per page).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static } from '@fastify/type-provider-typebox';
import { sendPage } from '../infra/html.ts';
import { requireClinic } from '../tenancy/plugin.ts';
import { patientUrl } from './routes.ts';
import { openedAgo, parseSearch, recentlyOpened, searchPatients, SEARCH_MAX_CHARS, type PatientListItem, type SearchResult } from './recent.ts';

// Generous: the search's own limit (SEARCH_MAX_CHARS) gets a message next to the field.
export const HomeQuery = Type.Object({ q: Type.Optional(Type.String({ maxLength: 4096 })) });

/** The route (tenancy/site-routes.ts) checks the query against HomeQuery before this runs. */
export async function clinicHome(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const query = request.query as Static<typeof HomeQuery>;
  const { tenant, db } = requireClinic(request);
  const base = { title: tenant.displayName, clinicName: tenant.displayName };
  if (!request.user) return sendPage(reply, 'patients/views/home', { ...base, home: null });

  const search = parseSearch(query.q);
  const [mine, clinic, results] = await Promise.all([
    recentlyOpened(db, { userId: request.user.id }),
    recentlyOpened(db),
    search.kind === 'search' ? searchPatients(db, search) : Promise.resolve(null),
  ]);
  const now = new Date();
  const recent = (list: typeof mine) => list.map((p) => ({ ...p, href: patientUrl(p.id), ago: openedAgo(p.openedAt, now) }));
  const linked = (result: SearchResult | null) =>
    result && { more: result.more, patients: result.patients.map((p: PatientListItem) => ({ ...p, href: patientUrl(p.id) })) };
  // Patient names: never cached, whatever a proxy or the browser's back button would like.
  reply.header('cache-control', 'no-store');
  return sendPage(reply, 'patients/views/home', {
    ...base,
    home: {
      query: search.kind === 'none' ? '' : search.text,
      problem: search.kind === 'invalid' ? search.reason : null,
      maxChars: SEARCH_MAX_CHARS,
      results: linked(results),
      mine: recent(mine),
      clinic: recent(clinic),
    },
  });
}
