// /admin/cliniko: the clinic's Cliniko connection. The admin pastes an API key; it is verified live
// on the shard its suffix names (cliniko/connection.ts, the same function `sidechart cliniko
// connect` calls), then sealed. A key Cliniko refuses, a key that cannot name a shard, and Cliniko
// not answering each get their own explanation next to the field, with the status that fits (422
// for the key, 429 / 502 for Cliniko); the key itself is never echoed back, logged or stored in
// the clear. Connecting and disconnecting are audit events written in the same transaction as the
// change (cliniko_connected, cliniko_disconnected: both or neither).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { csrfToken } from '../auth/csrf.ts';
import { authErrors } from '../auth/errors.ts';
import { clinikoStatus, connectCliniko, disconnectCliniko, type ConnectionSummary } from '../cliniko/connection.ts';
import type { ClinikoClient } from '../cliniko/client/client.ts';
import { MAX_API_KEY_LENGTH } from '../cliniko/shard.ts';
import type { SecretBox } from '../infra/crypto.ts';
import { isAppError } from '../infra/errors.ts';
import { recordAudit, requestOrigin } from '../patients/audit.ts';
import { requireClinic } from '../tenancy/plugin.ts';
import type { TenantDb } from '../tenancy/tenant-database.ts';
import { sendAdminPage } from './sections.ts';

export interface ClinikoAdminOptions {
  client: ClinikoClient;
  box: SecretBox;
  /** CLINIKO_API_BASE (names the host in messages). */
  apiBase: string;
}

const ConnectBody = Type.Object({
  // Longer than any key, so that a too-long paste gets its own message rather than a schema error.
  api_key: Type.String({ maxLength: MAX_API_KEY_LENGTH * 4 }),
  _csrf: Type.Optional(Type.String({ maxLength: 512 })),
});
/** connectionErrors (cliniko/errors.ts): the key (422), Cliniko's rate limit (429), Cliniko not answering (502). */
const SHOWN_ON_THE_FORM = new Set([422, 429, 502]);
const DisconnectBody = Type.Object({ _csrf: Type.Optional(Type.String({ maxLength: 512 })) });

function connectionView(c: ConnectionSummary | null) {
  if (c === null) return null;
  const when = (d: Date) => d.toISOString().replace('T', ' ').slice(0, 16);
  return {
    accountName: c.accountName,
    accountHost: c.accountSubdomain ? `${c.accountSubdomain}.cliniko.com` : null,
    accountId: c.accountId,
    shard: c.shard,
    keyOwner: c.clinikoUserName,
    connectedAt: when(c.connectedAt),
    connectedBy: c.connectedBy,
    keyReadable: c.keyReadable,
    keyNeedsRotation: c.keyNeedsRotation,
  };
}

function adminOf(request: FastifyRequest) {
  if (!request.user) throw authErrors.signInRequired();
  return request.user;
}

async function audit(request: FastifyRequest, db: TenantDb, action: 'cliniko_connected' | 'cliniko_disconnected', detail: string): Promise<void> {
  await recordAudit(db, { action, outcome: 'ok', detail, userId: adminOf(request).id, patientId: null, origin: requestOrigin(request) });
}

export async function clinikoAdminRoutes(fastify: FastifyInstance, options: ClinikoAdminOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  async function sendClinikoPage(request: FastifyRequest, reply: FastifyReply, extra: { error?: string | null; notice?: string | null } = {}, statusCode = 200) {
    const clinic = requireClinic(request);
    const connection = connectionView(await clinikoStatus(clinic, options.box));
    return sendAdminPage(reply, 'cliniko', 'cliniko', { title: 'Cliniko', connection, error: extra.error ?? null, notice: extra.notice ?? null, csrfToken: csrfToken(request, reply) }, statusCode);
  }

  app.get('/cliniko', { schema: { querystring: Type.Object({ done: Type.Optional(Type.String({ maxLength: 20 })) }) } }, async (request, reply) => {
    const notice = request.query.done === 'connected' ? 'Connected. The button now opens patients from this Cliniko account.' : request.query.done === 'disconnected' ? 'Disconnected. Patients already held stay readable; no new ones are fetched.' : null;
    return sendClinikoPage(request, reply, { notice });
  });

  app.post('/cliniko', { schema: { body: ConnectBody } }, async (request, reply) => {
    const clinic = requireClinic(request);
    const apiKey = request.body.api_key.trim();
    if (apiKey === '') return sendClinikoPage(request, reply, { error: 'Paste the API key from Cliniko (My info > Manage API keys).' }, 422);
    if (apiKey.length > MAX_API_KEY_LENGTH) return sendClinikoPage(request, reply, { error: `That is ${apiKey.length} characters long; a Cliniko API key is shorter. Copy just the key.` }, 422);
    try {
      await connectCliniko(clinic, {
        apiKey,
        connectedBy: adminOf(request).email,
        client: options.client,
        box: options.box,
        apiBase: options.apiBase,
        alsoInTransaction: (trx, s) => audit(request, trx, 'cliniko_connected', `Cliniko account ${s.accountName ?? s.accountId} (id ${s.accountId}), shard ${s.shard}`),
      });
    } catch (error) {
      // Refusals worded for the admin (never containing the key); anything else is the app's 500/503.
      if (isAppError(error) && SHOWN_ON_THE_FORM.has(error.statusCode)) {
        request.log.info({ event: 'cliniko_connect_refused', code: error.code }, 'Cliniko connection refused');
        return sendClinikoPage(request, reply, { error: error.message }, error.statusCode);
      }
      throw error;
    }
    return reply.redirect('/admin/cliniko?done=connected', 303);
  });

  app.post('/cliniko/disconnect', { schema: { body: DisconnectBody } }, async (request, reply) => {
    const clinic = requireClinic(request);
    await disconnectCliniko(clinic, (trx) => audit(request, trx, 'cliniko_disconnected', 'API key forgotten'));
    return reply.redirect('/admin/cliniko?done=disconnected', 303);
  });
}
