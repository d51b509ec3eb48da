// A clinic onboards itself in a real browser (issue 9), as a new user would: sign up on the
// platform host, arrive signed in as the clinic's admin, connect the (simulated) Cliniko account,
// copy the button URL, click the button on the Cliniko patient screen (another site), see the
// patient and add a note, invite a staff member who accepts in a second browser and gets a 403 on
// the admin area, then export the audit trail as CSV and find those views in it. axe-core checks
// every page on the way (no serious or critical violation); any console error fails the test.
// Screenshots of each step go to .data/e2e-artifacts/ (ignored by git).
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { AxeBuilder } from '@axe-core/playwright';
import type { Page } from 'playwright-core';
import { BROWSER_SKIP_MESSAGE, browserAvailable, launchBrowser } from '../helpers/browser.ts';
import { EXAMPLE_ID, startPatientApp } from '../helpers/patients.ts';
import { freePort } from '../helpers/net.ts';

const ARTIFACTS = path.resolve('.data/e2e-artifacts/onboarding');
const ADMIN_PASSWORD = 'a long admin passphrase 42';
const STAFF_PASSWORD = 'another long passphrase 17';

t.test('sign up, connect Cliniko, click the button, invite staff, export the trail', { skip: browserAvailable() ? false : BROWSER_SKIP_MESSAGE }, async (t) => {
  // The simulator and an app listening on loopback; the clinic `existing` is someone else's.
  // Links built from configuration (the hand-off, the button URL) must name the port it listens on.
  const port = String(await freePort());
  const app = await startPatientApp(t, { slug: 'existing', env: { PORT: port, PUBLIC_PORT: port } });
  const platform = `http://localhost:${app.port}`;
  const clinic = `http://new-physio.localhost:${app.port}`;
  await mkdir(ARTIFACTS, { recursive: true });

  const browser = await launchBrowser();
  t.teardown(() => browser.close());
  const consoleErrors: string[] = [];
  // Pages the journey opens on purpose with an error status (Chromium logs those as console errors).
  const expectedRefusals = new Set<string>();
  const watch = (page: Page, who: string) => {
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      if (/Failed to load resource: the server responded with a status of 403/.test(message.text()) && expectedRefusals.has(page.url())) return;
      consoleErrors.push(`${who}: ${message.text()} (${page.url()})`);
    });
    page.on('pageerror', (error) => consoleErrors.push(`${who}: ${error.message} (${page.url()})`));
  };
  let step = 0;
  /** axe on the page as it is now, and a screenshot. */
  const check = async (page: Page, name: string) => {
    step += 1;
    await page.screenshot({ path: path.join(ARTIFACTS, `${String(step).padStart(2, '0')}-${name}.png`), fullPage: true });
    const { violations } = await new AxeBuilder({ page }).analyze();
    const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    t.same(serious.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`), [], `${name}: no serious or critical accessibility violation`);
  };

  await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: clinic });
  const page = await browser.newPage();
  watch(page, 'admin');

  // 1. The platform host's landing page, then sign-up.
  await page.goto(`${platform}/`);
  await check(page, 'landing');
  await Promise.all([page.waitForURL(`${platform}/signup`), page.click('#set-up-your-clinic')]);
  await check(page, 'signup');
  await page.fill('#clinicName', 'New Physio');
  await page.fill('#slug', 'new-physio');
  await page.check('#region-local');
  await page.fill('#adminName', 'Nora Admin');
  await page.fill('#email', 'nora@new-physio.example');
  await page.fill('#password', ADMIN_PASSWORD);
  await Promise.all([page.waitForURL(`${clinic}/`), page.click('#signup button[type=submit]')]);
  t.match(await page.locator('body').innerText(), /Nora Admin/, 'arrived on the clinic host signed in as the new admin');
  await check(page, 'clinic-home-new');

  // 2. Connect Cliniko from the admin area.
  await page.goto(`${clinic}/admin`);
  await check(page, 'admin-index');
  await page.click('a[href="/admin/cliniko"]');
  await page.waitForURL(`${clinic}/admin/cliniko`);
  await check(page, 'admin-cliniko');
  // The key comes from Cliniko's own settings (My info > Manage API keys), in a tab of its own.
  const cliniko = await browser.newPage();
  watch(cliniko, 'cliniko');
  await cliniko.goto(`${app.simAddress}/settings`);
  const apiKey = (await cliniko.locator('#api-keys code').first().innerText()).trim();
  t.equal(apiKey, app.demo.apiKey, "the simulated Cliniko shows the account's API key");
  await page.fill('#api-key', apiKey);
  await Promise.all([page.waitForURL(`${clinic}/admin/cliniko?done=connected`), page.click('form[action="/admin/cliniko"] button[type=submit]')]);
  t.match(await page.locator('#cliniko-connection').innerText(), /fitzroy-physio\.cliniko\.com/, 'connected to the simulated account');
  await check(page, 'admin-cliniko-connected');

  // 3. The button URL, copied with the copy button.
  await page.goto(`${clinic}/admin/button`);
  await check(page, 'admin-button');
  const buttonUrl = await page.inputValue('#button-url');
  t.equal(buttonUrl, `${clinic}/patients`, 'the URL to paste into Cliniko');
  await page.click('button[data-copy="button-url"]');
  await page.waitForFunction("document.getElementById('button-url-status').textContent !== ''");
  t.equal(await page.evaluate('navigator.clipboard.readText()'), buttonUrl, 'the copy button put it on the clipboard');
  // Pasted into Cliniko's settings (Our clinic > Integrations), from the clipboard.
  await cliniko.goto(`${app.simAddress}/settings`);
  await cliniko.fill('#button-url', '');
  await cliniko.focus('#button-url');
  await cliniko.keyboard.press('Control+V');
  t.equal(await cliniko.inputValue('#button-url'), buttonUrl, 'pasted from the clipboard');
  await Promise.all([cliniko.waitForURL(`${app.simAddress}/settings?saved=1`), cliniko.click('#custom-button button[type=submit]')]);
  t.equal(app.sim.settings.buttonUrl, buttonUrl, "Cliniko's custom button now points at the new clinic");

  // 4. The button on the Cliniko patient screen (another site): straight to the patient.
  await page.goto(`${app.simAddress}/?patient=${EXAMPLE_ID}`);
  await Promise.all([page.waitForURL(`${clinic}/patients?patient_id=${EXAMPLE_ID}`), page.locator('a.custom', { hasText: 'Open in Sidechart' }).click()]);
  t.equal(await page.locator('#patient-name').innerText(), "Ms Aroha Ngata-O'Brien (prefers Ro)", 'the patient, fetched from Cliniko');
  t.match(await page.locator('header').innerText(), /Signed in as Nora Admin/, 'the patient page carries the signed-in chrome too');
  await check(page, 'patient');
  await page.fill('#note-text', 'First note from the onboarding journey.');
  await Promise.all([page.waitForURL(`${clinic}/patients?patient_id=${EXAMPLE_ID}`), page.click('#add-note button[type=submit]')]);
  t.match(await page.locator('#notes').innerText(), /First note from the onboarding journey\./);

  // 5. Invite a staff member; they accept in a browser of their own.
  await page.goto(`${clinic}/admin/staff`);
  await check(page, 'admin-staff');
  await page.fill('#invite-email', 'sam@new-physio.example');
  await page.selectOption('#invite-role', 'staff');
  await Promise.all([page.waitForURL(/\/admin\/staff/), page.click('#invite-form button[type=submit]')]);
  const link = await page.inputValue('#invitation-link');
  t.match(link, new RegExp(`^${clinic}/invitations/accept\\?token=`), 'the invitation link is shown');
  await check(page, 'admin-staff-invited');

  const staffContext = await browser.newContext();
  t.teardown(() => staffContext.close());
  const staff = await staffContext.newPage();
  watch(staff, 'staff');
  await staff.goto(link);
  await check(staff, 'invitation');
  await staff.fill('#name', 'Sam Staff');
  await staff.fill('#password', STAFF_PASSWORD);
  await staff.fill('#password_confirm', STAFF_PASSWORD);
  await Promise.all([staff.waitForURL((url) => url.origin === clinic && !url.pathname.startsWith('/invitations')), staff.click('#accept-invitation button[type=submit]')]);
  t.match(await staff.locator('body').innerText(), /Sam Staff/, 'the invitee is signed in');
  expectedRefusals.add(`${clinic}/admin`);
  const refused = await staff.goto(`${clinic}/admin`);
  t.equal(refused?.status(), 403, 'staff get a 403 on the admin area');
  t.match(await staff.locator('body').innerText(), /Only clinic administrators/);
  await check(staff, 'staff-admin-403');
  const reused = await (await browser.newContext()).newPage();
  await reused.goto(link);
  t.notMatch(await reused.locator('body').innerText(), /Join and sign in/, 'the link works once');

  // 6. The audit trail, exported as CSV, lists those views.
  await page.goto(`${clinic}/admin/audit`);
  await check(page, 'admin-audit');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('a[download]')]);
  const csv = await readFile((await download.path())!, 'utf8');
  const rows = csv.split('\r\n');
  t.match(rows[0], /action/, 'a header row');
  t.ok(rows.some((row) => row.includes(',view,') && row.includes(EXAMPLE_ID) && row.includes('nora@new-physio.example')), 'the admin\'s view of the patient is in the export');
  t.ok(rows.some((row) => row.includes('clinic_created')), 'and the clinic\'s creation');
  t.ok(rows.some((row) => row.includes('cliniko_connected')), 'and the Cliniko connection');
  t.ok(rows.some((row) => row.includes('staff_invited')), 'and the invitation');

  t.same(consoleErrors, [], 'no console error on any page');
});
