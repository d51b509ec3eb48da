// The only file that listens. Loads configuration (one line and exit 1 if it is wrong), builds the
// runtime (databases, services), adds the development extras only when configuration asks for them
// (a dynamic import: production never loads src/dev/), serves, and shuts down gracefully.
import Fastify from 'fastify';
import pino from 'pino';
import { buildApp } from './app.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { loggerOptions } from './infra/log.ts';
import { tenantUrl } from './infra/urls.ts';
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

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    try {
      await app.close();
      await metricsServer.close();
      await development?.close();
      await runtime.close();
      logger.info('stopped');
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
  const lines = [`Sidechart is running (${config.env}).`];
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
