// No clinic is ever left half-created: each provisioning step is made to fail in turn (the
// service's failAt, and a tenant migration that throws while the schema is built); afterwards no
// tenant row and no schema remain, and the same address can be signed up at once.
import t from 'tap';
import { sql } from 'kysely';
import type { MigrationProvider } from 'kysely/migration';
import { buildTestApp } from '../helpers/app.ts';
import { TEST_AUTH_ENV } from '../helpers/fixtures.ts';
import { tenantMigrations } from '../../src/tenancy/migrations.ts';
import { createSignupService, SIGNUP_STEPS, type SignupStep } from '../../src/signup/service.ts';
import type { Runtime } from '../../src/runtime.ts';
import { FORM, browser, startSignupApp, submitSignup } from './helpers.ts';

async function tenantSchemas(runtime: Runtime): Promise<string[]> {
  const rows = await sql<{ nspname: string }>`select nspname from pg_namespace where nspname like 't\\_%' order by nspname`.execute(runtime.databases.control);
  return rows.rows.map((r) => r.nspname);
}

t.test('each step killed in turn: nothing is left, and the address is free again', async (t) => {
  const { runtime } = await buildTestApp(t, { env: TEST_AUTH_ENV });
  let failing: SignupStep | null = null;
  const signup = createSignupService({
    ...runtime,
    failAt: (step) => {
      if (step === failing) throw new Error(`injected failure at ${step}`);
    },
  });
  for (const step of SIGNUP_STEPS) {
    failing = step;
    await t.rejects(signup.signUp(FORM), /injected failure/, `${step}: the sign-up fails`);
    t.same(await runtime.tenants.list(), [], `${step}: no tenant row`);
    t.same(await tenantSchemas(runtime), [], `${step}: no schema`);
    await t.rejects(runtime.clinics.open('acme-physio', { for: 'visitor' }), { code: 'no_clinic' }, `${step}: nobody is served at the address`);
  }
  failing = null;
  const ok = await signup.signUp(FORM);
  t.equal(ok.ok, true, 'the same address signs up once nothing fails');
  const tenant = await runtime.tenants.find('acme-physio');
  t.equal(tenant.status, 'active');
  t.equal((await tenantSchemas(runtime)).length, 1);
});

t.test('a sign-up that dies between the schema and its admin is not finished by `sidechart migrate`', async (t) => {
  const { runtime } = await buildTestApp(t, { env: TEST_AUTH_ENV });
  // The process "dies" at the admin step: the sign-up stands still there while an operator migrates.
  let atAdmin!: () => void;
  const reached = new Promise<void>((resolve) => (atAdmin = resolve));
  let kill!: (error: Error) => void;
  const dead = new Promise<never>((_resolve, reject) => (kill = reject));
  const signup = createSignupService({
    ...runtime,
    failAt: async (step) => {
      if (step !== 'admin') return;
      atAdmin();
      await dead;
    },
  });
  const pending = signup.signUp(FORM).catch((error: Error) => error);
  await reached;
  const migrated = await runtime.tenants.migrateBehind({ concurrency: 2 });
  t.same(migrated.results.map((r) => r.slug), [], 'migrate leaves the clinic alone');
  t.match(await runtime.tenants.find('acme-physio'), { status: 'provisioning', buildingFrom: 'a sign-up' }, 'an adminless clinic is never made active');
  await t.rejects(runtime.clinics.open('acme-physio', { for: 'visitor' }), { code: 'clinic_provisioning' }, 'and is not served');
  kill(new Error('killed'));
  t.match(await pending, { message: 'killed' });
  t.same(await runtime.tenants.list(), [], 'a failure there (rather than a death) leaves nothing');
});

t.test('the schema build failing half-way: no clinic, and the user is told nothing was kept', async (t) => {
  let broken = true;
  const provider: MigrationProvider = {
    async getMigrations() {
      const migrations = await tenantMigrations().getMigrations();
      return {
        ...migrations,
        '9999_breaks': {
          async up() {
            if (broken) throw new Error('injected: schema build fails after the tables exist');
          },
        },
      };
    },
  };
  const { runtime: breaking, address } = await buildTestApp(t, { listen: true, env: { ...TEST_AUTH_ENV, RATE_LIMIT_SIGN_UP_PER_HOUR: '1000000' }, tenantMigrations: provider });
  const port = new URL(address!).port;
  const http = browser(t);
  const res = await submitSignup(http, `http://localhost:${port}`, FORM);
  t.equal(res.status, 503);
  t.match(res.body, /could not be set up just now, and nothing was kept/);
  t.same(await breaking.tenants.list(), [], 'no tenant row');
  t.same(await tenantSchemas(breaking), [], 'no schema');
  broken = false;
  const again = await submitSignup(http, `http://localhost:${port}`, FORM);
  t.equal(again.status, 303, 'the address is free again');
});

t.test('over HTTP: hashing or the hand-off failing leaves nothing, and the form can be sent again', async (t) => {
  const { runtime, platform, origin, toApp } = await startSignupApp(t);
  const { passwords, handoffs } = runtime;
  const hash = passwords.hash;
  const create = handoffs.create;
  t.teardown(() => {
    passwords.hash = hash;
    handoffs.create = create;
  });
  const http = browser(t);

  passwords.hash = async () => {
    throw new Error('injected: hashing failed');
  };
  const noHash = await submitSignup(http, platform, FORM);
  t.equal(noHash.status, 503, 'hashing failed (before anything exists)');
  t.match(noHash.body, /nothing was kept/);
  passwords.hash = hash;

  // The clinic and its admin exist by the time the hand-off is stored: both must go.
  handoffs.create = async () => {
    throw new Error('injected: hand-off not stored');
  };
  const noHandoff = await submitSignup(http, platform, FORM);
  t.equal(noHandoff.status, 503, 'the hand-off failed (after the clinic and its admin exist)');
  t.same(await runtime.tenants.list(), [], 'no tenant row');
  t.same(await tenantSchemas(runtime), [], 'no schema');
  t.equal((await http.get(`${origin('acme-physio')}/`)).status, 404, 'nobody is served at the address');
  handoffs.create = create;

  const again = await submitSignup(http, platform, FORM);
  t.equal(again.status, 303, 'the address is free again');
  t.equal((await http.get(toApp(again.redirectUrl!))).status, 303);
  t.equal((await http.get(`${origin('acme-physio')}/__test/whoami`)).status, 200, 'and its admin arrives signed in');
});
