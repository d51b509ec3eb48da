// The deployment material (infra/docker/Dockerfile, infra/k8s, docker-compose.yml) cannot be run
// here: no Docker engine, no cluster, no kustomize binary in Debian. So it is checked offline:
// every YAML file parses; each region's overlay is built the way kustomize would build it (a small
// resolver below, for exactly the kustomization features this repository uses, refusing any other)
// and the result is held to what production needs (probes, non-root, resources, disruption budgets,
// selectors that select, a wildcard certificate, PgBouncer in transaction mode); and the environment
// each manifest and compose service gives the app is fed to loadConfig, with every variable name
// checked against those src/config.ts reads, so a misspelt variable fails here, not at 3 a.m.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config.ts';

type Json = Record<string, any>;

const K8S = 'infra/k8s';
const OVERLAYS = path.join(K8S, 'overlays');
const REGIONS = readdirSync(OVERLAYS).filter((name) => statSync(path.join(OVERLAYS, name)).isDirectory()).sort();
/** Secrets that come from the secret manager, never from git (listed in base/kustomization.yaml). */
const EXTERNAL_SECRETS = ['sidechart-secrets', 'sidechart-regions', 'pgbouncer-userlist', 'sidechart-wildcard-tls', 'sidechart-internal-tls'];
/** Stand-ins for the secret values, so that loadConfig sees a complete production environment. */
const SECRET_ENV: Record<string, string> = {
  SESSION_SECRET: 'x'.repeat(48),
  SIDECHART_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
};
/**
 * Variables being added to src/config.ts in the same change (issue 12): accepted here until
 * config.ts reads them, after which they are simply among the names it reads.
 */
const PENDING_VARIABLES = ['REGION', 'SIDECHART_REGIONS_FILE', 'REGION_FORWARD_URLS'];

/** Kubernetes reads YAML 1.1 (sigs.k8s.io/yaml: `0440` is octal); Compose reads YAML 1.2 with merge keys. */
function yamlDocs(file: string): Json[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'), file.startsWith(K8S) ? { version: '1.1' } : { merge: true });
  const list = Array.isArray(docs) ? docs : [];
  for (const doc of list) {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
  }
  return list.map((doc) => doc.toJS() as Json).filter((doc) => doc !== null);
}

function filesUnder(dir: string, suffix: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(full, suffix) : entry.name.endsWith(suffix) ? [full] : [];
  });
}

/** Every environment variable name src/config.ts mentions (it reads each by its quoted name). */
function variablesConfigReads(): Set<string> {
  const source = readFileSync('src/config.ts', 'utf8');
  return new Set([...source.matchAll(/'([A-Z][A-Z0-9_]{2,})'/g)].map((m) => m[1]!));
}

function unknownVariables(env: Record<string, string>): string[] {
  const known = variablesConfigReads();
  return Object.keys(env).filter((name) => !known.has(name) && !PENDING_VARIABLES.includes(name));
}

// ---------------------------------------------------------------------------------------------
// A kustomize build for the features this repository's kustomizations use. Anything else in a
// kustomization.yaml is refused, so the check can never quietly ignore what kustomize would do.

const KUSTOMIZATION_FIELDS = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'configMapGenerator', 'patches', 'images']);
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'ClusterIssuer', 'IngressClass', 'PriorityClass', 'StorageClass']);

interface Built {
  resources: Json[];
  /** Files the build read, relative to the repository root. */
  files: Set<string>;
}

function id(resource: Json): string {
  return `${resource.kind}/${resource.metadata?.name}`;
}

function find(resources: Json[], kind: string, name: string): Json | undefined {
  return resources.find((r) => r.kind === kind && r.metadata?.name === name);
}

/** Strategic merge as kustomize does it for the fields used here: maps merge, lists of named items merge by name, other lists are replaced. */
function strategicMerge(target: any, patch: any): any {
  if (Array.isArray(patch)) {
    const named = (list: unknown[]) => list.every((item) => typeof item === 'object' && item !== null && typeof (item as Json).name === 'string');
    if (!Array.isArray(target) || !named(patch) || !named(target)) return structuredClone(patch);
    const merged = target.map((item) => structuredClone(item));
    for (const item of patch) {
      const index = merged.findIndex((existing: Json) => existing.name === item.name);
      if (index < 0) merged.push(structuredClone(item));
      else merged[index] = strategicMerge(merged[index], item);
    }
    return merged;
  }
  if (typeof patch === 'object' && patch !== null) {
    if ('$patch' in patch) throw new Error('$patch directives are not supported by this check');
    const merged: Json = typeof target === 'object' && target !== null && !Array.isArray(target) ? structuredClone(target) : {};
    for (const [key, value] of Object.entries(patch)) merged[key] = value === null ? undefined : strategicMerge(merged[key], value);
    return merged;
  }
  return patch;
}

function generateConfigMap(dir: string, spec: Json, files: Set<string>): Json {
  const data: Record<string, string> = {};
  for (const literal of spec.literals ?? []) {
    const eq = String(literal).indexOf('=');
    if (eq <= 0) throw new Error(`${dir}: configMapGenerator ${spec.name}: literal "${literal}" is not KEY=value`);
    data[String(literal).slice(0, eq)] = String(literal).slice(eq + 1);
  }
  for (const entry of spec.files ?? []) {
    const [key, file] = String(entry).includes('=') ? String(entry).split('=', 2) as [string, string] : [path.basename(String(entry)), String(entry)];
    const full = path.join(dir, file);
    if (!existsSync(full)) throw new Error(`${dir}: configMapGenerator ${spec.name}: ${file} does not exist`);
    files.add(full);
    data[key] = readFileSync(full, 'utf8');
  }
  for (const key of Object.keys(spec)) {
    if (!['name', 'behavior', 'literals', 'files'].includes(key)) throw new Error(`${dir}: configMapGenerator ${spec.name}: "${key}" is not supported by this check`);
  }
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: spec.name }, data };
}

function kustomizeBuild(dir: string): Built {
  const file = path.join(dir, 'kustomization.yaml');
  if (!existsSync(file)) throw new Error(`${dir} has no kustomization.yaml`);
  const [k] = yamlDocs(file);
  if (!k) throw new Error(`${file} is empty`);
  for (const key of Object.keys(k)) {
    if (!KUSTOMIZATION_FIELDS.has(key)) throw new Error(`${file}: "${key}" is not supported by this check (extend kustomizeBuild in ${import.meta.filename})`);
  }
  const files = new Set([file]);
  let resources: Json[] = [];

  for (const entry of (k.resources ?? []) as string[]) {
    const full = path.join(dir, entry);
    if (!existsSync(full)) throw new Error(`${file}: resource ${entry} does not exist`);
    if (statSync(full).isDirectory()) {
      const inner = kustomizeBuild(full);
      resources.push(...inner.resources);
      for (const f of inner.files) files.add(f);
    } else {
      files.add(full);
      resources.push(...yamlDocs(full));
    }
  }

  for (const spec of (k.configMapGenerator ?? []) as Json[]) {
    const generated = generateConfigMap(dir, spec, files);
    const existing = find(resources, 'ConfigMap', spec.name);
    const behavior = spec.behavior ?? 'create';
    if (behavior === 'create') {
      if (existing) throw new Error(`${file}: ConfigMap ${spec.name} already exists (use behavior: merge)`);
      resources.push(generated);
    } else if (behavior === 'merge' || behavior === 'replace') {
      if (!existing) throw new Error(`${file}: configMapGenerator ${spec.name} (${behavior}) has nothing to ${behavior}`);
      existing.data = behavior === 'merge' ? { ...existing.data, ...generated.data } : generated.data;
    } else {
      throw new Error(`${file}: configMapGenerator ${spec.name}: unknown behavior ${behavior}`);
    }
  }

  for (const patch of (k.patches ?? []) as Json[]) {
    if (typeof patch.path !== 'string' || patch.patch !== undefined) throw new Error(`${file}: only patches with a path are supported by this check`);
    const full = path.join(dir, patch.path);
    if (!existsSync(full)) throw new Error(`${file}: patch ${patch.path} does not exist`);
    files.add(full);
    for (const body of yamlDocs(full)) {
      const kind = patch.target?.kind ?? body.kind;
      const name = patch.target?.name ?? body.metadata?.name;
      const index = resources.findIndex((r) => r.kind === kind && r.metadata?.name === name);
      if (index < 0) throw new Error(`${file}: patch ${patch.path} targets ${kind}/${name}, which the build does not have`);
      if (body.apiVersion !== undefined && body.apiVersion !== resources[index]!.apiVersion) {
        throw new Error(`${file}: patch ${patch.path} is for ${body.apiVersion}, ${kind}/${name} is ${resources[index]!.apiVersion}`);
      }
      resources[index] = strategicMerge(resources[index], body);
    }
  }

  for (const image of (k.images ?? []) as Json[]) {
    let used = false;
    for (const container of resources.flatMap(podContainers)) {
      if (container.image === image.name || String(container.image).startsWith(`${image.name}:`)) {
        container.image = `${image.newName ?? image.name}:${image.newTag ?? 'latest'}`;
        used = true;
      }
    }
    if (!used) throw new Error(`${file}: image ${image.name} is used by no container`);
  }

  if (k.namespace !== undefined) {
    resources = resources.map((r) => (CLUSTER_SCOPED.has(r.kind) ? r : { ...r, metadata: { ...r.metadata, namespace: k.namespace } }));
  }
  return { resources, files };
}

function podSpec(resource: Json): Json | undefined {
  return resource.kind === 'Deployment' || resource.kind === 'StatefulSet' || resource.kind === 'DaemonSet' ? resource.spec?.template?.spec : undefined;
}

function podContainers(resource: Json): Json[] {
  const spec = podSpec(resource);
  return spec ? [...(spec.initContainers ?? []), ...(spec.containers ?? [])] : [];
}

function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([key, value]) => labels?.[key] === value);
}

/** A small INI reader for PgBouncer's files: sections, key = value, ; comments, %include lines. */
function readIni(text: string): { sections: Map<string, Map<string, string>>; includes: string[]; beforeFirstSection: Map<string, string> } {
  const sections = new Map<string, Map<string, string>>();
  const beforeFirstSection = new Map<string, string>();
  const includes: string[] = [];
  let current: Map<string, string> = beforeFirstSection;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith(';') || line.startsWith('#')) continue;
    if (line.startsWith('%include ')) {
      includes.push(line.slice('%include '.length).trim());
      continue;
    }
    const section = /^\[(\w+)\]$/.exec(line);
    if (section) {
      current = sections.get(section[1]!) ?? new Map();
      sections.set(section[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) throw new Error(`not an INI line: ${line}`);
    current.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return { sections, includes, beforeFirstSection };
}

/** Host of each entry in PgBouncer's [databases] section. */
function pgbouncerTargets(databasesIni: string): Map<string, string> {
  const databases = readIni(databasesIni).sections.get('databases') ?? new Map<string, string>();
  return new Map([...databases].map(([name, conn]) => [name, /(?:^|\s)host=(\S+)/.exec(conn)?.[1] ?? '']));
}

const builds = new Map(REGIONS.map((region) => [region, kustomizeBuild(path.join(OVERLAYS, region))]));

function appDeployment(resources: Json[]): Json {
  const deployment = resources.find((r) => r.kind === 'Deployment' && podContainers(r).some((c) => String(c.image).includes('/sidechart:')));
  if (!deployment) throw new Error('no Deployment runs the sidechart image');
  return deployment;
}

/** The environment the app container gets: its ConfigMaps, plain env entries and the secret stand-ins. */
function appEnvironment(resources: Json[], container: Json): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef) Object.assign(env, find(resources, 'ConfigMap', source.configMapRef.name)?.data ?? {});
  }
  for (const entry of container.env ?? []) if (typeof entry.value === 'string') env[entry.name] = entry.value;
  return env;
}

// ---------------------------------------------------------------------------------------------

t.test('every YAML file under infra/k8s parses, names its kind, and is used by a kustomization', async (t) => {
  const yamlFiles = filesUnder(K8S, '.yaml');
  t.ok(yamlFiles.length > 10, `found ${yamlFiles.length} files`);
  for (const file of yamlFiles) {
    const docs = yamlDocs(file);
    t.ok(docs.length > 0, `${file} has a document`);
    for (const doc of docs) t.ok(typeof doc.apiVersion === 'string' && typeof doc.kind === 'string', `${file}: apiVersion and kind`);
  }
  t.notOk(existsSync(path.join(K8S, 'region-deployment.yaml')), 'the single-file manifest is gone (base + overlays replace it)');
  t.same(REGIONS, ['au', 'eu'], 'two example regions');
  const used = new Set([...builds.values()].flatMap((b) => [...b.files]));
  for (const file of filesUnder(K8S, '')) {
    if (path.basename(file) === 'kustomization.yaml' || file.endsWith('.md')) continue;
    t.ok(used.has(file), `${file} is part of some region's build`);
  }
});

t.test('the resolver refuses what it does not understand (so the overlay checks cannot pass by ignoring things)', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sidechart-kustomize-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'd.yaml'), 'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: a }\nspec: { template: { spec: { containers: [{ name: c, image: x }] } } }\n');
  writeFileSync(path.join(dir, 'p.yaml'), 'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: b }\nspec: { replicas: 2 }\n');
  const build = (kustomization: string) => {
    writeFileSync(path.join(dir, 'kustomization.yaml'), kustomization);
    return () => kustomizeBuild(dir);
  };
  t.throws(build('resources: [d.yaml, missing.yaml]\n'), /missing\.yaml does not exist/);
  t.throws(build('resources: [d.yaml]\npatches: [{ path: p.yaml }]\n'), /targets Deployment\/b, which the build does not have/);
  t.throws(build('resources: [d.yaml]\ncommonLabels: { a: b }\n'), /"commonLabels" is not supported/);
  t.throws(build('resources: [d.yaml]\nconfigMapGenerator: [{ name: c, behavior: merge, literals: [A=1] }]\n'), /has nothing to merge/);
  t.throws(build('resources: [d.yaml]\nimages: [{ name: y, newTag: "1" }]\n'), /used by no container/);
  const ok = build('namespace: n\nresources: [d.yaml]\nimages: [{ name: x, newName: r/x, newTag: "2" }]\n')();
  t.equal(podContainers(ok.resources[0]!)[0]!.image, 'r/x:2');
  t.equal(ok.resources[0]!.metadata.namespace, 'n');
});

for (const region of REGIONS) {
  t.test(`overlay ${region}: the built manifests hold to what production needs`, async (t) => {
    const { resources } = builds.get(region)!;
    const kinds = (kind: string) => resources.filter((r) => r.kind === kind);
    t.same(
      [...new Set(resources.map((r) => r.kind))].sort(),
      ['ConfigMap', 'Deployment', 'Ingress', 'Namespace', 'PodDisruptionBudget', 'Service'],
    );
    const names = resources.map(id);
    t.same(names.filter((name, i) => names.indexOf(name) !== i), [], 'no resource twice');

    // Namespace: one per region, everything in it.
    const namespace = `sidechart-${region}`;
    t.same(kinds('Namespace').map((n) => n.metadata.name), [namespace]);
    for (const r of resources) if (r.kind !== 'Namespace') t.equal(r.metadata.namespace, namespace, `${id(r)} is in ${namespace}`);

    const configMaps = new Set(kinds('ConfigMap').map((c) => c.metadata.name));
    const deployments = kinds('Deployment');
    t.same(deployments.map((d) => d.metadata.name).sort(), ['pgbouncer', 'sidechart']);
    for (const deployment of deployments) {
      const spec = podSpec(deployment)!;
      const labels = deployment.spec.template.metadata.labels;
      t.ok(selects(deployment.spec.selector.matchLabels, labels), `${id(deployment)}: its selector selects its own pods`);
      t.ok(spec.securityContext?.runAsNonRoot === true && spec.securityContext.runAsUser > 0, `${id(deployment)}: runs as a non-root user`);
      t.ok(deployment.spec.replicas >= 2, `${id(deployment)}: at least two replicas`);
      for (const container of spec.containers) {
        const where = `${id(deployment)} container ${container.name}`;
        t.ok(container.resources?.requests?.cpu && container.resources?.requests?.memory, `${where}: cpu and memory requests`);
        t.ok(container.resources?.limits?.memory, `${where}: a memory limit`);
        t.ok(container.livenessProbe && container.readinessProbe, `${where}: liveness and readiness probes`);
        t.equal(container.securityContext?.allowPrivilegeEscalation, false, `${where}: no privilege escalation`);
        t.same(container.securityContext?.capabilities?.drop, ['ALL'], `${where}: no capabilities`);
        t.match(String(container.image), /^[\w.-]+(\/[\w.-]+)+:[\w.-]+$/, `${where}: image ${container.image} names a registry path and a tag`);
        // Every named probe port is a port of the container.
        const ports = new Set((container.ports ?? []).map((p: Json) => p.name));
        for (const probe of [container.livenessProbe, container.readinessProbe, container.startupProbe].filter(Boolean)) {
          const port = probe.httpGet?.port ?? probe.tcpSocket?.port;
          t.ok(typeof port === 'number' || ports.has(port), `${where}: probe port ${port} is declared`);
        }
        // Every ConfigMap and Secret it uses exists or comes from the secret manager.
        for (const source of container.envFrom ?? []) {
          if (source.configMapRef) t.ok(configMaps.has(source.configMapRef.name), `${where}: ConfigMap ${source.configMapRef.name} exists`);
          if (source.secretRef) t.ok(EXTERNAL_SECRETS.includes(source.secretRef.name), `${where}: Secret ${source.secretRef.name} is a documented one`);
        }
        for (const mount of container.volumeMounts ?? []) {
          t.ok(spec.volumes.some((v: Json) => v.name === mount.name), `${where}: volume ${mount.name} exists`);
        }
      }
      for (const volume of spec.volumes ?? []) {
        if (volume.configMap) t.ok(configMaps.has(volume.configMap.name), `${id(deployment)}: ConfigMap ${volume.configMap.name} exists`);
        if (volume.secret) {
          t.ok(EXTERNAL_SECRETS.includes(volume.secret.secretName), `${id(deployment)}: Secret ${volume.secret.secretName} is a documented one`);
          // Files not readable by others must be readable by the pod's group, or the non-root process cannot read them.
          const mode = volume.secret.defaultMode ?? 0o644;
          if ((mode & 0o004) === 0) t.ok((mode & 0o040) !== 0 && spec.securityContext.fsGroup > 0, `${id(deployment)}: Secret ${volume.secret.secretName} is readable through fsGroup`);
        }
      }
      // A disruption budget covers it.
      const budgets = kinds('PodDisruptionBudget').filter((pdb) => selects(pdb.spec.selector.matchLabels, labels));
      t.equal(budgets.length, 1, `${id(deployment)}: one PodDisruptionBudget selects its pods`);
      t.ok(budgets[0]?.spec.maxUnavailable === 1 || budgets[0]?.spec.minAvailable >= 1, `${id(deployment)}: the budget leaves pods serving`);
    }
    for (const pdb of kinds('PodDisruptionBudget')) {
      t.ok(deployments.some((d) => selects(pdb.spec.selector.matchLabels, d.spec.template.metadata.labels)), `${id(pdb)} selects some pods`);
    }
    t.equal(new Set(deployments.map((d) => JSON.stringify(d.spec.selector.matchLabels))).size, deployments.length, 'no two Deployments share a selector');

    // Services: the selector selects exactly one Deployment's pods, and target ports are its container ports.
    for (const service of kinds('Service')) {
      const targets = deployments.filter((d) => selects(service.spec.selector, d.spec.template.metadata.labels));
      t.equal(targets.length, 1, `${id(service)} selects one Deployment's pods`);
      const ports = new Set(podContainers(targets[0] ?? {}).flatMap((c) => (c.ports ?? []).map((p: Json) => p.name)));
      for (const port of service.spec.ports) t.ok(ports.has(port.targetPort), `${id(service)}: target port ${port.targetPort} is a container port`);
    }

    // The app: the overlay's size applied, probes on the right paths, its env accepted by loadConfig,
    // the regions file mounted.
    const app = appDeployment(resources);
    const container = podSpec(app)!.containers[0];
    const [size] = yamlDocs(path.join(OVERLAYS, region, 'app-size.yaml'));
    t.equal(app.spec.replicas, size!.spec.replicas, "the overlay's replicas");
    t.same(container.resources, size!.spec.template.spec.containers[0].resources, "the overlay's resources");
    t.ok(container.ports.length === 2 && container.envFrom.length === 2, 'the patch merged into the base container, not over it');
    t.equal(container.livenessProbe.httpGet.path, '/healthz');
    t.equal(container.readinessProbe.httpGet.path, '/readyz');
    t.equal(container.startupProbe?.httpGet?.path ?? '/healthz', '/healthz', 'startup probe (if any) on liveness, not readiness');
    const env = appEnvironment(resources, container);
    t.same(unknownVariables(env), [], 'every variable is one src/config.ts reads');
    t.equal(env.REGION, region, 'REGION is the overlay\'s region');
    t.equal(env.SIDECHART_ENV, 'production');
    const httpPort = container.ports.find((p: Json) => p.name === 'http');
    const metricsPort = container.ports.find((p: Json) => p.name === 'metrics');
    t.equal(String(httpPort.containerPort), env.PORT, 'the http port is PORT');
    t.equal(String(metricsPort.containerPort), env.METRICS_PORT, 'the metrics port is METRICS_PORT');
    t.ok(podSpec(app)!.terminationGracePeriodSeconds * 1000 > Number(env.SHUTDOWN_GRACE_MS), 'Kubernetes waits longer than the app drains');
    const regionsFile = env.SIDECHART_REGIONS_FILE!;
    const regionsMount = container.volumeMounts.find((m: Json) => regionsFile.startsWith(`${m.mountPath}/`));
    t.ok(regionsMount, 'SIDECHART_REGIONS_FILE is inside a mounted volume');
    const regionsVolume = podSpec(app)!.volumes.find((v: Json) => v.name === regionsMount?.name);
    t.equal(regionsVolume?.secret?.secretName, 'sidechart-regions', 'the regions file comes from a Secret');
    t.equal(container.securityContext.readOnlyRootFilesystem, true);

    // The environment as production would have it, with the secrets' stand-ins and a regions file.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sidechart-regions-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'regions');
    writeFileSync(file, REGIONS.map((r) => `${r}=postgres://sidechart:x@${r === region ? 'pgbouncer:6432' : `${r}-primary.db.sidechart.internal:5432`}/sidechart`).join('\n') + '\n');
    const config = loadConfig({
      ...env,
      ...SECRET_ENV,
      DATABASE_URL: 'postgres://sidechart:x@pgbouncer:6432/control',
      CONTROL_LISTEN_URL: 'postgres://sidechart:x@eu-primary.db.sidechart.internal:5432/control',
      SIDECHART_REGIONS_FILE: file,
    });
    t.equal(config.env, 'production');
    t.equal(config.publicScheme, 'https');
    t.equal(config.region, region, 'the instance serves its overlay\'s region');
    t.same(config.regions.map((r) => r.id).sort(), REGIONS, 'every region from the regions file');
    t.same([...config.regionForwardUrls.keys()].sort(), REGIONS.filter((r) => r !== region));

    // Forwarding: every other region, never itself, each at the host its internal ingress serves.
    const forwards = new Map((env.REGION_FORWARD_URLS ?? '').split(',').filter(Boolean).map((entry) => {
      const eq = entry.indexOf('=');
      return [entry.slice(0, eq), new URL(entry.slice(eq + 1))] as const;
    }));
    t.same([...forwards.keys()].sort(), REGIONS.filter((r) => r !== region), 'REGION_FORWARD_URLS names every other region');
    for (const [other, url] of forwards) {
      t.equal(url.protocol, 'https:', `forwarding to ${other} is over TLS`);
      const internal = find(builds.get(other)!.resources, 'Ingress', 'sidechart-internal');
      t.ok(internal?.spec.tls.some((tls: Json) => tls.hosts.includes(url.hostname)), `${other}'s internal ingress has a certificate for ${url.hostname}`);
    }

    // Ingresses: the public one has the wildcard certificate of every base domain and routes to the app.
    const appService = kinds('Service').find((s) => selects(s.spec.selector, app.spec.template.metadata.labels))!;
    for (const ingress of kinds('Ingress')) {
      t.ok(ingress.spec.ingressClassName, `${id(ingress)}: an ingress class`);
      t.ok(ingress.spec.tls?.length > 0, `${id(ingress)}: TLS`);
      const backends = [ingress.spec.defaultBackend, ...(ingress.spec.rules ?? []).flatMap((r: Json) => r.http.paths.map((p: Json) => p.backend))].filter(Boolean);
      t.ok(backends.length > 0, `${id(ingress)}: routes somewhere`);
      for (const backend of backends) {
        t.equal(backend.service.name, appService.metadata.name, `${id(ingress)} routes to the app`);
        t.equal(backend.service.port.name, 'http');
      }
    }
    const publicIngress = find(resources, 'Ingress', 'sidechart')!;
    for (const domain of config.baseDomains) {
      const hosts = publicIngress.spec.tls.flatMap((tls: Json) => tls.hosts);
      t.ok(hosts.includes(domain) && hosts.includes(`*.${domain}`), `wildcard certificate for ${domain}`);
      const ruleHosts = publicIngress.spec.rules.map((r: Json) => r.host);
      t.ok(ruleHosts.includes(domain) && ruleHosts.includes(`*.${domain}`), `rules for ${domain} and *.${domain}`);
    }

    // PgBouncer: transaction mode, the region's own servers, its listen port the Service's.
    const pgbouncerConfig = find(resources, 'ConfigMap', 'pgbouncer-config')!.data as Record<string, string>;
    const ini = readIni(pgbouncerConfig['pgbouncer.ini']!);
    const settings = ini.sections.get('pgbouncer')!;
    t.equal(settings.get('pool_mode'), 'transaction');
    t.match(settings.get('ignore_startup_parameters'), /statement_timeout/);
    t.ok(Number(settings.get('max_prepared_statements')) > 0, 'named prepared statements survive transaction pooling');
    const pgbouncer = find(resources, 'Deployment', 'pgbouncer')!;
    const pgContainer = podSpec(pgbouncer)!.containers[0];
    const configMount = pgContainer.volumeMounts.find((m: Json) => podSpec(pgbouncer)!.volumes.find((v: Json) => v.name === m.name)?.configMap?.name === 'pgbouncer-config');
    t.same(pgContainer.command.slice(-1), [`${configMount.mountPath}/pgbouncer.ini`], 'PgBouncer runs the mounted pgbouncer.ini');
    t.same(ini.includes, [`${configMount.mountPath}/databases.ini`], 'pgbouncer.ini includes the mounted databases.ini');
    const authFile = settings.get('auth_file')!;
    const authMount = pgContainer.volumeMounts.find((m: Json) => authFile.startsWith(`${m.mountPath}/`));
    t.equal(podSpec(pgbouncer)!.volumes.find((v: Json) => v.name === authMount?.name)?.secret?.secretName, 'pgbouncer-userlist', 'auth_file comes from a Secret');
    const databases = readIni(pgbouncerConfig['databases.ini']!);
    t.equal(databases.beforeFirstSection.get('server_tls_sslmode'), 'require', 'servers reached over TLS');
    const targets = pgbouncerTargets(pgbouncerConfig['databases.ini']!);
    t.same([...targets.keys()].sort(), ['control', 'sidechart']);
    t.ok(targets.get('sidechart')!.startsWith(`${region}-`), `the sidechart database is region ${region}'s server (${targets.get('sidechart')})`);
    for (const host of targets.values()) t.notMatch(host, /\.invalid$/, 'the overlay replaced the placeholder servers');
    const pgService = find(resources, 'Service', 'pgbouncer')!;
    const pgPort = pgContainer.ports.find((p: Json) => p.name === pgService.spec.ports[0].targetPort);
    t.equal(String(pgPort.containerPort), settings.get('listen_port'), 'the Service reaches the port PgBouncer listens on');
  });
}

t.test('the overlays differ where regions differ', async (t) => {
  const envs = REGIONS.map((region) => appEnvironment(builds.get(region)!.resources, podSpec(appDeployment(builds.get(region)!.resources))!.containers[0]));
  t.equal(new Set(envs.map((env) => env.REGION)).size, REGIONS.length, 'each overlay its own REGION');
  const hosts = REGIONS.map((region) => pgbouncerTargets(find(builds.get(region)!.resources, 'ConfigMap', 'pgbouncer-config')!.data['databases.ini']));
  t.equal(new Set(hosts.map((h) => h.get('sidechart'))).size, REGIONS.length, "each region's PgBouncer in front of its own server");
  t.equal(new Set(hosts.map((h) => h.get('control'))).size, 1, 'one control plane for all');
});

// ---------------------------------------------------------------------------------------------

t.test('docker-compose.yml: two regions, each behind its PgBouncer, every service checked for health', async (t) => {
  const [compose] = yamlDocs('docker-compose.yml') as [Json];
  const services = compose.services as Record<string, Json>;
  t.same(Object.keys(services).sort(), ['app-au', 'app-eu', 'pgbouncer-au', 'pgbouncer-eu', 'postgres-au', 'postgres-eu']);
  for (const [name, service] of Object.entries(services)) {
    t.ok(Array.isArray(service.healthcheck?.test) && service.healthcheck.test.length > 1, `${name} has a healthcheck`);
    for (const [dependency, condition] of Object.entries((service.depends_on ?? {}) as Record<string, Json>)) {
      t.ok(services[dependency], `${name} depends on an existing service ${dependency}`);
      t.equal(condition.condition, 'service_healthy', `${name} waits for ${dependency} to be healthy`);
    }
  }
  const configs = compose.configs as Record<string, Json>;
  const configText = (source: string): string => {
    const config = configs[source]!;
    if (typeof config.content === 'string') return config.content;
    t.ok(existsSync(config.file), `config ${source}: ${config.file} exists`);
    return readFileSync(config.file, 'utf8');
  };
  const mounted = (service: Json, target: string): string | undefined => {
    const entry = (service.configs ?? []).find((c: Json) => c.target === target);
    return entry ? configText(entry.source) : undefined;
  };
  const host = (url: string) => new URL(url).hostname;

  for (const region of ['eu', 'au']) {
    const pgbouncer = services[`pgbouncer-${region}`]!;
    const ini = mounted(pgbouncer, '/etc/pgbouncer/pgbouncer.ini')!;
    t.equal(ini, readFileSync('infra/k8s/base/pgbouncer/pgbouncer.ini', 'utf8'), `pgbouncer-${region} uses the same settings as Kubernetes`);
    t.equal(readIni(ini).sections.get('pgbouncer')!.get('pool_mode'), 'transaction');
    t.same([...pgbouncer.entrypoint, ...pgbouncer.command].slice(-1), ['/etc/pgbouncer/pgbouncer.ini']);
    const targets = pgbouncerTargets(mounted(pgbouncer, '/etc/pgbouncer/databases.ini')!);
    t.equal(targets.get('sidechart'), `postgres-${region}`, `pgbouncer-${region} pools region ${region}'s server`);
    t.equal(targets.get('control'), 'postgres-eu', 'and the control plane, on postgres-eu');
    t.ok(mounted(pgbouncer, readIni(ini).sections.get('pgbouncer')!.get('auth_file')!), 'its auth_file is mounted');

    const app = services[`app-${region}`]!;
    t.equal(app.build.dockerfile, 'infra/docker/Dockerfile');
    const env = app.environment as Record<string, string>;
    t.same(unknownVariables(env), [], `app-${region}: every variable is one src/config.ts reads`);
    t.equal(env.REGION, region);
    t.equal(host(env.DATABASE_URL!), `pgbouncer-${region}`, 'queries to the control plane go through the region\'s PgBouncer');
    t.equal(host(env.CONTROL_LISTEN_URL!), 'postgres-eu', 'LISTEN bypasses PgBouncer');
    const regionsFile = mounted(app, env.SIDECHART_REGIONS_FILE!);
    t.ok(regionsFile, 'SIDECHART_REGIONS_FILE is mounted');
    const regions = new Map(regionsFile!.trim().split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
    t.same([...regions.keys()].sort(), ['au', 'eu']);
    for (const [id, url] of regions) t.equal(host(url), `pgbouncer-${id}`, `region ${id} through its PgBouncer`);
    // Forwarding must be https:// in production, and the local stack has no TLS between containers.
    t.equal(env.REGION_FORWARD_URLS, undefined, 'no forwarding in the local stack');

    const dir = mkdtempSync(path.join(os.tmpdir(), 'sidechart-compose-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(path.join(dir, 'regions'), regionsFile!);
    const config = loadConfig({ ...env, SIDECHART_REGIONS_FILE: path.join(dir, 'regions') });
    t.equal(config.env, 'production');
    t.same(config.regions.map((r) => r.id).sort(), ['au', 'eu'], 'the regions file is read');
    t.same(config.baseDomains, ['localhost']);
  }
  t.not(services['app-eu']!.ports[0], services['app-au']!.ports[0], 'the two apps on different host ports');
});

// ---------------------------------------------------------------------------------------------

t.test('the Dockerfile: multi-stage, production dependencies only, non-root, health-checked', async (t) => {
  const dockerfile = readFileSync('infra/docker/Dockerfile', 'utf8');
  const lines = dockerfile.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const stages: string[][] = [];
  for (const line of lines) {
    if (/^FROM\s/i.test(line)) stages.push([]);
    stages.at(-1)?.push(line);
  }
  t.ok(stages.length >= 2, 'multi-stage');
  const args = Object.fromEntries(lines.filter((l) => /^ARG\s+\w+=/.test(l)).map((l) => l.slice(4).split('=', 2)));
  const base = (from: string) => from.split(/\s+/)[1]!.replace(/^\$\{(\w+)\}$/, (_, name: string) => args[name] ?? '');
  const final = stages.at(-1)!;
  t.match(base(final[0]!), /^node:24[.-]/, 'the final stage is on Node 24');
  const install = lines.find((l) => /npm ci\b/.test(l));
  t.match(install, /--omit=dev/, 'npm ci --omit=dev');
  t.ok(final.some((l) => /^COPY --from=\w+ \/app\/node_modules/.test(l)) || final.some((l) => /npm ci .*--omit=dev/.test(l)), 'the final stage has the production node_modules');
  const user = final.filter((l) => /^USER\s/.test(l)).at(-1);
  t.ok(user && !/^USER\s+(root|0)(:|$)/.test(user), `runs as a non-root user (${user})`);
  t.match(user, /^USER\s+\d+(:\d+)?$/, 'numeric, so runAsNonRoot can verify it');
  const exposed = final.filter((l) => /^EXPOSE\s/.test(l)).flatMap((l) => l.split(/\s+/).slice(1));
  t.ok(exposed.includes('3000') && exposed.includes('9464'), 'exposes the app and metrics ports');
  const healthcheck = final.find((l) => /^HEALTHCHECK\s/.test(l));
  t.match(healthcheck, /\/healthz/);
  t.notMatch(healthcheck, /curl|wget/, 'no curl in slim images: node fetches');
  t.ok(dockerfile.includes('CMD ["node", "src/server.ts"]'));
  for (const copied of ['src', 'migrations', 'bin']) t.ok(final.some((l) => new RegExp(`^COPY ${copied} `).test(l)), `copies ${copied}/`);
});

t.test('everything src/ imports at run time survives npm ci --omit=dev', async (t) => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
  const dependencies = new Set(Object.keys(pkg.dependencies));
  const builtins = new Set(builtinModules);
  const missing: string[] = [];
  for (const file of [...filesUnder('src', '.ts'), ...filesUnder('migrations', '.ts')]) {
    const source = readFileSync(file, 'utf8');
    // Static imports and re-exports (type-only ones are erased), side-effect imports, dynamic imports.
    const specifiers = [
      ...[...source.matchAll(/^\s*(?:import|export)\s+(?!type\s)[^;]*?\sfrom\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]!),
      ...[...source.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]!),
      ...[...source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]!),
    ];
    for (const specifier of specifiers) {
      if (specifier.startsWith('.') || specifier.startsWith('node:') || builtins.has(specifier)) continue;
      const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
      if (!dependencies.has(name)) missing.push(`${file}: ${specifier}`);
    }
  }
  t.same(missing, [], 'imported packages are in "dependencies", not devDependencies');
  t.ok(dependencies.has('node'), 'the `node` package brings the Node 24 that runs src/server.ts');
  t.equal(pkg.allowScripts?.node, true, "npm runs the `node` package's install script");
  t.equal(pkg.allowScripts?.argon2, true, "and argon2's");
});
