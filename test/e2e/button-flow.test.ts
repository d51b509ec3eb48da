// The product's front door in a real browser: on the (simulated) Cliniko patient screen, served
// from another site, click "Open in Sidechart", sign in, and land on that patient with the record
// fetched from Cliniko. The click is a cross-site navigation, as it is from Cliniko.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { createTestDatabase } from '../helpers/db.ts';
import { BROWSER_SKIP_MESSAGE, browserAvailable, launchBrowser } from '../helpers/browser.ts';
import { EXAMPLE_ID, PASSWORD, startPatientApp, upstreamCalls } from '../helpers/patients.ts';
import { freePort } from '../helpers/net.ts';

t.test('click the custom button in Cliniko, sign in, see the patient', { skip: browserAvailable() ? false : BROWSER_SKIP_MESSAGE }, async (t) => {
  const app = await startPatientApp(t);
  // 127.0.0.1 is another site than acme.localhost: the click is cross-site, as from Cliniko.
  const clinikoScreen = `${app.simAddress}/?patient=${EXAMPLE_ID}`;

  const browser = await launchBrowser();
  t.teardown(() => browser.close());
  const page = await browser.newPage();

  await page.goto(clinikoScreen);
  t.equal(await page.locator('h1').first().innerText(), 'Aroha Ngata-O\'Brien (Ro)', 'the Cliniko patient screen');
  const button = page.locator('a.custom', { hasText: 'Open in Sidechart' });
  t.equal(await button.getAttribute('href'), `${app.origin}/patients?patient_id=${EXAMPLE_ID}`);

  await Promise.all([page.waitForURL(`${app.origin}/login`), button.click()]);
  t.equal(upstreamCalls(app.sim, EXAMPLE_ID), 0, 'nothing fetched before sign-in');
  await page.fill('#email', app.user.email);
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL(`${app.origin}/patients?patient_id=${EXAMPLE_ID}`), page.click('#password-sign-in button[type=submit]')]);

  t.equal(await page.locator('#patient-name').innerText(), "Ms Aroha Ngata-O'Brien (prefers Ro)");
  t.equal(await page.locator('#patient-id').innerText(), EXAMPLE_ID);
  t.match(await page.locator('#medicare').innerText(), /2123 45670 1/);
  t.equal(upstreamCalls(app.sim, EXAMPLE_ID), 1, 'fetched from Cliniko once');

  // Add a note from the page.
  await page.fill('#note-text', 'Seen in the browser test.');
  await Promise.all([page.waitForURL(`${app.origin}/patients?patient_id=${EXAMPLE_ID}`), page.click('#add-note button[type=submit]')]);
  t.match(await page.locator('#notes').innerText(), /Sam Carter · .*\nSeen in the browser test\./s);

  // Back to Cliniko, click again: already signed in, straight to the patient, no new fetch.
  await page.goto(clinikoScreen);
  await Promise.all([page.waitForURL(`${app.origin}/patients?patient_id=${EXAMPLE_ID}`), page.locator('a.custom').click()]);
  t.equal(await page.locator('#patient-id').innerText(), EXAMPLE_ID);
  t.equal(upstreamCalls(app.sim, EXAMPLE_ID), 1, 'the second click is served from Sidechart');

  const events = await app.clinic.db.selectFrom('audit_events').select(['action', 'outcome', 'sec_fetch_site']).orderBy('id').execute();
  t.same(events[0], { action: 'view', outcome: 'shown', sec_fetch_site: 'same-origin' }, 'the first click, before sign-in, left no row: the first is the view after sign-in');
  t.match(await app.app.metrics.metrics(), /sidechart_anonymous_patient_requests_total\{reason="anonymous"\} 1/, 'the first click is counted instead');
  t.same(events.at(-1), { action: 'view', outcome: 'shown', sec_fetch_site: 'cross-site' }, 'the last click, from Cliniko, signed in');
  t.equal(events.filter((e) => e.action === 'view').length, 3, 'three views: after sign-in, after the note, the second click');
});

// `npm start` in development, as a developer meets it: the banner names the demo clinic, its
// admin and the fake Cliniko page; a click there opens the demo patient after sign-in.
t.test('npm start: simulator beside the app, demo clinic connected, the button works', { skip: browserAvailable() ? false : BROWSER_SKIP_MESSAGE }, async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'sidechart-dev-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SIDECHART_ENV: 'development',
    DATABASE_URL: await createTestDatabase(t),
    PORT: String(port),
    CLINIKO_SIMULATOR_PORT: String(await freePort()),
    METRICS_PORT: '0',
    LOG_LEVEL: 'warn',
    SIDECHART_DATA_DIR: dataDir,
    PASSWORD_HASH_MEMORY_KIB: '64',
  };
  delete env.CLINIKO_API_BASE;
  delete env.CLINIKO_SIMULATOR;
  delete env.SIDECHART_DEMO;

  const child = spawn(process.execPath, ['src/server.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(async () => {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const banner = await new Promise<string>((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      if (/Try: .*\n/.test(out)) resolve(out);
    });
    child.stderr!.on('data', (chunk) => (err += chunk));
    void exited.then((code) => reject(new Error(`server exited early (${code}): ${err}${out}`)));
  });
  const signIn = /Demo sign-in: (\S+) \/ (\S+)/.exec(banner);
  const fake = /Fake Cliniko: (\S+)/.exec(banner);
  t.ok(signIn, 'the banner prints the demo admin');
  t.equal(fake?.[1], `http://127.0.0.1:${env.CLINIKO_SIMULATOR_PORT}/`, 'and the fake Cliniko page, on another site');
  t.match(banner, new RegExp(`Demo clinic: +http://demo\\.localhost:${port}/`));

  const browser = await launchBrowser();
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  await page.goto(fake![1]!);
  const demoPatient = `http://demo.localhost:${port}/patients?patient_id=${EXAMPLE_ID}`;
  t.equal(await page.locator('a.custom').getAttribute('href'), demoPatient);
  await Promise.all([page.waitForURL(`http://demo.localhost:${port}/login`), page.locator('a.custom').click()]);
  await page.fill('#email', signIn![1]!);
  await page.fill('#password', signIn![2]!);
  await Promise.all([page.waitForURL(demoPatient), page.click('#password-sign-in button[type=submit]')]);
  t.equal(await page.locator('#patient-name').innerText(), "Ms Aroha Ngata-O'Brien (prefers Ro)", 'the demo patient, fetched from the simulator');
  t.notOk(await page.locator('#sync-banner').count(), 'no sync problem');

  child.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM stops app and simulator cleanly');
});
