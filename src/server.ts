// The only file that listens. Loads configuration (one line and exit 1 if it is wrong), builds the
// runtime (databases, services), adds the development extras only when configuration asks for them
// (a dynamic import: production never loads src/dev/), serves, and shuts down gracefully.
//
// SIGTERM (or SIGINT): new connections are refused at once; requests already begun run to their end
// (their audit events committed), each with `Connection: close`; a request arriving on a connection
// that was still open gets a 503 (readiness included); then the pools close and the process exits
// 0. Whatever is still running after SHUTDOWN_GRACE_MS is abandoned with an error line and exit 1.
import Fastify from 'fastify';
import pino from 'pino';
import { buildApp } from './app.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { loggerOptions } from './infra/log.ts';
import { originFor, tenantUrl } from './infra/urls.ts';
import { trackConnections } from './infra/drain.ts';
import { regionStatusRoutes } from './infra/health.ts';
import { createRuntime } from './runtime.ts';

function configOrExit(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`sidechart: configuration error: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

const config = configOrExit();
const logger = pino(loggerOptions(config.logLevel) as pino.LoggerOptions);

try {
  const runtime = await createRuntime({ config, log: logger, applicationName: 'sidechart-app', listen: true, migrate: true });
  const development = config.demo || config.cliniko.simulator ? await (await import('./dev/index.ts')).startDevelopment(runtime) : null;
  const app = await buildApp({ runtime, loggerInstance: logger });

  // Metrics on their own port, so clinic hosts never expose them.
  const metricsServer = Fastify({ logger: false });
  metricsServer.get('/metrics', async (_request, reply) => reply.type(app.metrics.contentType).send(await app.metrics.metrics()));
  // Which region is down and since when: for operators only, never on the public port.
  await metricsServer.register(regionStatusRoutes, { databases: runtime.databases, serves: runtime.serves });
  const requests = trackConnections(app.server);
  const scrapes = trackConnections(metricsServer.server);

  // When a change made elsewhere (another instance, the CLI) took effect here: a sign-out, a
  // disabled user, a suspended clinic. Debug level: one line per change.
  runtime.sessionCache.events.on('dropped', (reason: string) => logger.debug({ event: 'auth_change_applied', reason }, 'session cache: change applied'));
  runtime.directory.events.on('invalidated', (slug: string | undefined) => logger.debug({ event: 'tenant_change_applied', slug: slug ?? null }, 'tenant directory: change applied'));

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    const graceMs = config.shutdownGraceMs;
    logger.info({ event: 'shutdown', signal, graceMs, inFlight: requests.inFlight }, 'shutting down: refusing new requests, finishing those in flight');
    // Not unref'd: the process ends by one of the two exits, never by running out of work half-closed.
    const deadline = setTimeout(() => {
      logger.error({ event: 'shutdown_deadline', graceMs, inFlight: requests.inFlight }, 'shutdown: requests still in flight after SHUTDOWN_GRACE_MS; exiting without them');
      process.exit(1);
    }, graceMs);
    requests.start();
    scrapes.start();
    try {
      await app.close(); // stops listening, waits for requests in flight, then background refreshes
      await metricsServer.close();
      await development?.close();
      await runtime.close();
      clearTimeout(deadline);
      logger.info({ event: 'stopped' }, 'stopped');
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  await app.listen({ port: config.port, host: config.listenHost });
  if (config.metricsPort !== 0) await metricsServer.listen({ port: config.metricsPort, host: config.metricsHost });
  const lines = [`Sidechart is running (${config.env}).`, `  Sign up:      ${originFor(config, null)}/signup  (a clinic of your own, as a new user would)`];
  const demo = development?.demo ?? null;
  const simulator = development?.simulator ?? null;
  if (demo) {
    lines.push(`  Demo clinic:  ${tenantUrl(config, demo.slug)}`);
    if (demo.admin.password !== null) {
      lines.push(`  Demo sign-in: ${demo.admin.email} / ${demo.admin.password}  (shown this once; only its hash is stored)`);
    } else {
      lines.push(`  Demo sign-in: ${demo.admin.email} (the password was shown at the first start; to reset it:`);
      lines.push(`                ${demo.admin.resetCommand})`);
    }
  }
  if (simulator) {
    lines.push(`  Fake Cliniko: ${simulator.pageUrl}  (a patient screen with the "Open in Sidechart" button)`);
    if (demo) lines.push(`  Try:          ${tenantUrl(config, demo.slug, `/patients?patient_id=${simulator.demo.patientIds.example}`)}`);
  }
  process.stdout.write(`\n${lines.join('\n')}\n\n`);
} catch (error) {
  logger.error({ err: error }, 'failed to start');
  process.stderr.write(`sidechart: failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
