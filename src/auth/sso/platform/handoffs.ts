// The hand-off from the auth host to a clinic's host (platform providers): after the auth host has
// validated the ID token it stores who signed in, for which tenant and which login attempt, and
// sends the browser to the clinic with a token that is
//   - signed (a `handoff` JWS from sso-tokens.ts, so junk is refused without a query),
//   - short-lived (HANDOFF_TTL_SECONDS, checked in the JWS and by the database clock),
//   - single-use (consumed by one conditional UPDATE; a second use finds nothing),
//   - useless if stolen: its random id is stored only as a SHA-256, and the clinic's host accepts
//     it only for its own tenant and for the login attempt kept in the browser's own session.
import { createHash, randomBytes } from 'node:crypto';
import { sql, type ColumnType } from 'kysely';
import { Type, type Static } from 'typebox';
import { shapeOf } from '../../../infra/schemas.ts';
import type { ControlDb } from '../../../infra/db.ts';
import { stringClaim, type SsoTokens } from '../tokens.ts';

export const HANDOFF_TTL_SECONDS = 60;

const Text = Type.String({ minLength: 1 });

/** Who the identity provider said signed in, and for which login attempt (stored as JSON). */
const HandoffPayloadSchema = Type.Object({
  attemptId: Text,
  providerId: Text,
  issuer: Text,
  subject: Text,
  email: Type.Union([Type.String(), Type.Null()]),
  emailVerified: Type.Boolean(),
  name: Type.Union([Type.String(), Type.Null()]),
});
const handoffPayload = shapeOf(HandoffPayloadSchema);

export type HandoffPayload = Static<typeof HandoffPayloadSchema>;

export interface HandoffsTable {
  id_hash: string;
  tenant_id: ColumnType<string, string, never>;
  payload: ColumnType<unknown, string, never>;
  created_at: ColumnType<Date, never, never>;
  expires_at: ColumnType<Date, ReturnType<typeof sql>, never>;
  used_at: ColumnType<Date | null, never, ReturnType<typeof sql>>;
}

type HandoffDatabase = {
  'control.handoffs': HandoffsTable;
};

export interface ConsumedHandoff {
  tenantId: string;
  payload: HandoffPayload;
}

function hashId(id: string): string {
  return createHash('sha256').update(id, 'utf8').digest('hex');
}

/** The stored payload, or null when the row holds anything else (another version, tampering). */
function parsePayload(value: unknown): HandoffPayload | null {
  if (!handoffPayload.check(value)) return null;
  const { attemptId, providerId, issuer, subject, email, emailVerified, name } = value;
  return { attemptId, providerId, issuer, subject, email: email || null, emailVerified, name: name || null };
}

export function createHandoffs(options: { control: ControlDb; tokens: SsoTokens; ttlSeconds?: number }) {
  const db = options.control.withTables<HandoffDatabase>();
  const ttl = options.ttlSeconds ?? HANDOFF_TTL_SECONDS;

  return {
    /** Stores the hand-off and returns the token to put in the tenant host's URL. */
    async create(tenantId: string, payload: HandoffPayload): Promise<string> {
      const id = randomBytes(32).toString('base64url');
      await db
        .insertInto('control.handoffs')
        .values({
          id_hash: hashId(id),
          tenant_id: tenantId,
          payload: JSON.stringify(payload),
          expires_at: sql`now() + make_interval(secs => ${ttl})`,
        })
        .execute();
      // Sweep what expired a while ago; the index keeps this cheap.
      await db.deleteFrom('control.handoffs').where('expires_at', '<', sql<Date>`now() - interval '1 hour'`).execute();
      return options.tokens.sign('handoff', { jti: id, tid: tenantId }, ttl);
    },

    /**
     * Consumes a token: the stored hand-off, or null when the token is forged, expired, or already
     * used. Presenting it anywhere uses it up (a stolen token tried on another clinic is burnt).
     */
    async consume(token: unknown): Promise<ConsumedHandoff | null> {
      const claims = await options.tokens.verify('handoff', token);
      if (claims === null) return null;
      const id = stringClaim(claims, 'jti');
      const tokenTenant = stringClaim(claims, 'tid');
      if (id === null || tokenTenant === null) return null;
      const row = await db
        .updateTable('control.handoffs')
        .set({ used_at: sql`now()` })
        .where('id_hash', '=', hashId(id))
        .where('used_at', 'is', null)
        .where('expires_at', '>', sql<Date>`now()`)
        .returning(['tenant_id', 'payload'])
        .executeTakeFirst();
      if (row === undefined || row.tenant_id !== tokenTenant) return null;
      const payload = parsePayload(row.payload);
      return payload === null ? null : { tenantId: row.tenant_id, payload };
    },
  };
}

export type Handoffs = ReturnType<typeof createHandoffs>;
