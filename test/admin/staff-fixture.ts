// Shared by test/admin/staff*.test.ts and test/auth/invitations.test.ts: an app listening on
// loopback with the Staff routes under /admin and the invitation page (registered here unless
// the app already registers them), clinic `acme` with an admin signed in, a real SMTP server on
// loopback (smtp-server) collecting what the app sends, and small readers of the trail.
import type { FastifyInstance } from 'fastify';
import { SMTPServer } from 'smtp-server';
import type { AddressInfo } from 'node:net';
import { staffRoutes } from '../../src/admin/staff-routes.ts';
import { invitationRoutes, INVITATION_PATH } from '../../src/auth/invitations.ts';
import type { Runtime } from '../../src/runtime.ts';
import type { TenantDb } from '../../src/tenancy/tenant-database.ts';
import { buildTestApp } from '../helpers/app.ts';
import { addUser, client, csrfTokenIn, registerEchoRoutes, signInWithPassword, tenantDb, TEST_AUTH_ENV } from '../helpers/fixtures.ts';
import type { HttpClient } from '../helpers/http-client.ts';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
}

/** A real SMTP server on 127.0.0.1 (no TLS, no auth). Recipients containing "bounce" are refused. */
export async function startSmtpServer(t: Teardown) {
  const received: ReceivedMail[] = [];
  const waiting: (() => void)[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onRcptTo(address, _session, callback) {
      if (address.address.includes('bounce')) return callback(new Error('550 no such mailbox'));
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        received.push({
          from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        for (const wake of waiting.splice(0)) wake();
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return {
    port: (server.server.address() as AddressInfo).port,
    received,
    /** Resolves once `count` messages have arrived (no sleeping). */
    async messages(count: number): Promise<ReceivedMail[]> {
      while (received.length < count) await new Promise<void>((resolve) => waiting.push(resolve));
      return received;
    },
  };
}

/** Quoted-printable soft line breaks removed, so a long link reads whole. */
export function mailText(raw: string): string {
  return raw.replace(/=\r?\n/g, '').replace(/=3D/g, '=');
}

async function registerStaffRoutes(app: FastifyInstance, runtime: Runtime): Promise<void> {
  if (!app.hasRoute({ method: 'GET', url: '/admin/staff' })) {
    await app.register(staffRoutes, { prefix: '/admin', config: runtime.config, mailer: runtime.mailer });
  }
  if (!app.hasRoute({ method: 'GET', url: INVITATION_PATH })) {
    await app.register(invitationRoutes, { hasher: runtime.passwords });
  }
  registerEchoRoutes(app);
}

export const ADMIN_EMAIL = 'ann@acme.example';

export interface StaffApp {
  runtime: Runtime;
  port: string;
  origin(slug: string): string;
  db: TenantDb;
  /** The admin's browser, signed in at acme. */
  admin: HttpClient;
  adminId: string;
  newClient(): HttpClient;
  /** A browser signed in at acme as that user. */
  signedIn(email: string): Promise<HttpClient>;
  /** A link the app built (on PUBLIC_PORT, 3000 by default) pointed at the test's socket instead. */
  local(link: string): string;
  /** The Staff page and a CSRF token from it, for the admin's browser. */
  staffPage(): Promise<{ body: string; status: number; token: string }>;
}

export async function startStaffApp(t: Teardown, options: { env?: Record<string, string> } = {}): Promise<StaffApp> {
  const testApp = await buildTestApp(t, { listen: true, env: { ...TEST_AUTH_ENV, ...options.env }, extend: registerStaffRoutes });
  const { runtime } = testApp;
  const port = new URL(testApp.address!).port;
  const origin = (slug: string) => `http://${slug}.localhost:${port}`;
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  const adminUser = await addUser(runtime, 'acme', { email: ADMIN_EMAIL, role: 'admin', name: 'Ann Admin' });
  const db = await tenantDb(runtime, 'acme');
  const newClient = () => client({}, t);
  const signedIn = async (email: string) => {
    const http = newClient();
    const response = await signInWithPassword(http, origin('acme'), email);
    if (response.status !== 303) throw new Error(`sign-in of ${email} failed: ${response.status}`);
    return http;
  };
  const admin = await signedIn(ADMIN_EMAIL);
  return {
    runtime,
    port,
    origin,
    db,
    admin,
    adminId: adminUser.id,
    newClient,
    signedIn,
    local(link) {
      const url = new URL(link);
      url.port = port;
      return url.href;
    },
    async staffPage() {
      const page = await admin.get(`${origin('acme')}/admin/staff`);
      return { body: page.body, status: page.status, token: csrfTokenIn(page) };
    },
  };
}

/** The clinic's audit events of these actions, oldest first. */
export async function auditOf(db: TenantDb, ...actions: string[]) {
  const rows = await db.selectFrom('audit_events').select(['action', 'user_id', 'detail', 'outcome', 'occurred_at']).orderBy('id').execute();
  return rows.filter((r) => actions.length === 0 || actions.includes(r.action));
}

/** The invitation link shown on the page after inviting. */
export function linkIn(body: string): string {
  const match = /id="invitation-link"[^>]*value="([^"]+)"/.exec(body);
  if (!match) throw new Error(`no invitation link in ${body.slice(0, 400)}`);
  return match[1]!.replaceAll('&amp;', '&');
}
