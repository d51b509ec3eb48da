// The clinic host's sign-in page and sign-out. Signing in itself is done by each method's routes
// (password/, sso/), all through signIn() in sign-in.ts.
import type { FastifyInstance } from 'fastify';
import { requireTenant } from '../../tenancy/plugin.ts';
import { sendLoginPage } from '../sign-in-page.ts';
import { signOut } from './sign-in.ts';

export async function sessionRoutes(app: FastifyInstance): Promise<void> {
  app.addHook('preHandler', requireTenant);

  // A read-only clinic (tenancy/read-only.ts) says at once that signing in is paused.
  app.get('/login', { config: { whileReadOnly: 'sign-in' } }, async (request, reply) => {
    if (request.user) return reply.header('cache-control', 'no-store').redirect('/', 303);
    return sendLoginPage(request, reply);
  });

  app.post('/logout', { config: { whileReadOnly: 'sign-out' } }, async (request, reply) => {
    await signOut(request);
    reply.header('cache-control', 'no-store');
    return reply.redirect('/login', 303);
  });
}
