// Server-rendered pages with Eta; every interpolation is HTML-escaped (autoEscape). Templates live
// next to the domain that owns them (src/<domain>/views/*.eta) and share infra/views/layout.eta.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import type { FastifyReply, FastifyRequest } from 'fastify';

const srcDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const eta = new Eta({ views: srcDir, autoEscape: true, cache: true, defaultExtension: '.eta' });

/** Renders `<domain>/views/<name>` with its data. */
export function render(template: string, data: Record<string, unknown>): string {
  return eta.render(`./${template}`, data);
}

/** True when the client asked for JSON rather than a page (API clients, scripts, tests). */
export function wantsJson(request: FastifyRequest): boolean {
  const accept = request.headers.accept ?? '';
  return accept.includes('application/json') && !accept.includes('text/html');
}

export function sendPage(reply: FastifyReply, template: string, data: Record<string, unknown>, statusCode = 200): FastifyReply {
  return reply.code(statusCode).type('text/html; charset=utf-8').send(render(template, data));
}
