// `sidechart tenants create --from-file`: the good lines are created, each bad one is reported with
// its line number, and the exit code says that some failed.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { parseBulkFile } from '../../src/cli/bulk-create.ts';
import { buildTestApp, cli } from '../helpers/app.ts';

t.test('parseBulkFile', async (t) => {
  t.same(parseBulkFile('# clinics\n\nacme\n  beta , Beta Physio \ngamma,Gamma,local\n,nameless\na,b,c,d\n'), [
    { line: 3, slug: 'acme' },
    { line: 4, slug: 'beta', name: 'Beta Physio' },
    { line: 5, slug: 'gamma', name: 'Gamma', region: 'local' },
    { line: 6, slug: '', problem: 'no slug before the first comma' },
    { line: 7, slug: 'a', problem: 'expected slug[,name[,region]] (a name cannot contain a comma)' },
  ]);
});

t.test('good lines created, bad lines reported by number, exit 1', async (t) => {
  const { runtime, env } = await buildTestApp(t);
  await runtime.tenants.create({ slug: 'existing' });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidechart-bulk-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'clinics.csv');
  await writeFile(
    file,
    [
      'north-physio,North Physio', // 1
      'Bad_Slug!', //                 2 invalid slug
      'admin,Admin Clinic', //        3 reserved
      'south-physio', //              4
      'north-physio,Again', //        5 duplicate in the file
      'existing', //                  6 exists already
      'west-physio,West,local', //    7
      'east-physio,East,mars', //     8 unknown region
    ].join('\n'),
  );
  const run = await cli(env, ['tenants', 'create', '--from-file', file, '--json']);
  t.equal(run.code, 1, 'some lines failed');
  const report = JSON.parse(run.out) as { created: number; failed: number; results: { line: number; slug: string; outcome: string; code?: string; error?: string }[] };
  t.equal(report.created, 3);
  t.equal(report.failed, 5);
  t.same(report.results.map((r) => [r.line, r.outcome]), [[1, 'created'], [2, 'failed'], [3, 'failed'], [4, 'created'], [5, 'failed'], [6, 'failed'], [7, 'created'], [8, 'failed']]);
  const byLine = new Map(report.results.map((r) => [r.line, r]));
  t.equal(byLine.get(2)?.code, 'invalid_slug');
  t.match(byLine.get(3)?.error, /reserved/);
  t.equal(byLine.get(5)?.code, 'tenant_exists');
  t.equal(byLine.get(6)?.code, 'tenant_exists');
  t.equal(byLine.get(8)?.code, 'unknown_region');
  for (const slug of ['north-physio', 'south-physio', 'west-physio']) t.equal((await runtime.tenants.find(slug)).status, 'active', `${slug} is active`);
  t.equal((await runtime.tenants.find('north-physio')).displayName, 'North Physio', 'the first line of a duplicate wins');

  // Human output from standard input: a line per clinic and the summary line.
  const fromStdin = await cli(env, ['tenants', 'create', '--from-file', '-'], { stdin: 'stdin-one\nstdin-two,Two\n\nadmin\n' });
  t.equal(fromStdin.code, 1);
  t.match(fromStdin.out, /^line 1: created stdin-one/m);
  t.match(fromStdin.out, /^line 4: FAILED admin: /m);
  t.match(fromStdin.out, /^created 2, failed 1 in \d+\.\d s$/m);

  const allGood = await cli(env, ['tenants', 'create', '--from-file', '-'], { stdin: 'fine-one\nfine-two\n' });
  t.equal(allGood.code, 0, allGood.err);
  t.match(allGood.out, /created 2, failed 0 in/);

  const missing = await cli(env, ['tenants', 'create', '--from-file', path.join(dir, 'nope.csv')]);
  t.equal(missing.code, 1);
  t.match(missing.err, /^sidechart: cannot read .*nope\.csv \(ENOENT\)$/m, 'a missing file is one clear line');

  const both = await cli(env, ['tenants', 'create', 'x', '--from-file', file]);
  t.equal(both.code, 2, 'a slug and a file: usage error');
});
