// docker-compose.yml and infra/ cannot be run here (no Docker engine, no cluster), so check what can
// be checked offline: they parse, and the environment they give the app is one the app accepts.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config.ts';

t.test('docker-compose.yml gives the app a valid production configuration', async (t) => {
  const compose = parse(readFileSync('docker-compose.yml', 'utf8'));
  t.same(Object.keys(compose.services).sort(), ['app', 'pgbouncer', 'postgres']);
  const env = compose.services.app.environment as Record<string, string>;
  const config = loadConfig(env);
  t.equal(config.env, 'production');
  t.match(config.databaseUrl!, /@pgbouncer:/, 'queries go through PgBouncer');
  t.match(config.controlListenUrl!, /@postgres:/, 'LISTEN bypasses PgBouncer');
  t.equal(compose.services.pgbouncer.environment.POOL_MODE, 'transaction');
  t.equal(compose.services.app.build.dockerfile, 'infra/docker/Dockerfile');
  t.ok(readFileSync('infra/docker/Dockerfile', 'utf8').includes('CMD ["node", "src/server.ts"]'));
});

t.test('the k8s region deployment parses and its config map is accepted with the listed secrets', async (t) => {
  const docs = parseAllDocuments(readFileSync('infra/k8s/region-deployment.yaml', 'utf8')).map((d) => d.toJS());
  t.same(docs.map((d) => d.kind), ['Deployment', 'ConfigMap', 'Service', 'Ingress']);
  const deployment = docs[0];
  const probes = deployment.spec.template.spec.containers[0];
  t.equal(probes.readinessProbe.httpGet.path, '/readyz');
  t.equal(probes.livenessProbe.httpGet.path, '/healthz');
  const configMap = docs[1].data as Record<string, string>;
  const config = loadConfig({
    ...configMap,
    DATABASE_URL: 'postgres://sidechart@pgbouncer:6432/sidechart',
    SESSION_SECRET: 'x'.repeat(48),
    SIDECHART_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
  });
  t.same(config.baseDomains, ['sidechart.app']);
  const ingress = docs[3];
  t.same(ingress.spec.tls[0].hosts, ['sidechart.app', '*.sidechart.app'], 'wildcard certificate for the base domain');
});

t.test('the PgBouncer config runs in transaction mode', async (t) => {
  const ini = readFileSync('infra/pgbouncer/pgbouncer.ini', 'utf8');
  t.match(ini, /^pool_mode = transaction$/m);
  t.match(ini, /^ignore_startup_parameters = .*statement_timeout/m);
  t.match(ini, /^max_prepared_statements = [1-9][0-9]*$/m, 'named prepared statements (DB_PREPARED_STATEMENTS) survive transaction pooling');
});
