// The product's front door in a real browser: on the (simulated) Cliniko patient screen, served
// from another site, click "Open in Sidechart", sign in, and land on that patient with the record
// fetched from Cliniko. The click is a cross-site navigation, as it is from Cliniko.
import t from 'tap';
import { BROWSER_SKIP_MESSAGE, browserAvailable, launchBrowser } from '../helpers/browser.ts';
import { EXAMPLE_ID, PASSWORD, startPatientApp, upstreamCalls } from '../patients/fixture.ts';

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
  t.same(events[0], { action: 'denied', outcome: 'anonymous', sec_fetch_site: 'cross-site' }, 'the first click, from another site, before sign-in');
  t.same(events.at(-1), { action: 'view', outcome: 'shown', sec_fetch_site: 'cross-site' }, 'the last click, from Cliniko, signed in');
  t.equal(events.filter((e) => e.action === 'view').length, 3, 'three views: after sign-in, after the note, the second click');
});
