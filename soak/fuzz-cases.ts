// The fuzz's cases (soak/fuzz.ts runs and checks them): raw HTTP/1.1 requests against look-alike
// clinics (clinics.ts) with signed-in browsers, built from (seed, case number) alone (random.ts),
// so one case is replayed without the others. Families:
//   host     Host headers: case, ports, dots, IP literals, reserved and look-alike labels, raw bytes,
//            none, two of them, absolute-form targets naming another clinic, X-Forwarded-Host
//   patient  `patient_id`: out of range, not canonical, not digits, repeated, nested, encoded
//   path     methods and paths: traversal, encodings, scheme-relative, oversized, the SSO routes
//   cookie   session cookies: another clinic's, tossed under the same name (a sibling's
//            `Domain=` cookie), tampered, oversized, hundreds, malformed
//   form     POST bodies: oversized, wrong types, JSON where a form is expected, unicode and
//            invalid encodings, framing (chunked, sizes), notes with and without their token
//   inject   header injection: CR/LF in values and in what gets echoed into Location or cookies,
//            obs-fold, NUL, smuggling framing, header floods
// Each case says which clinics the answer may show: those the request legitimately names.
import { PATIENT_IDS, type SignedInClinic } from './clinics.ts';
import { randomForCase, type Random } from './random.ts';

export interface FuzzTarget {
  port: number;
  baseDomain: string;
  /** The session cookie's name (sessionCookieSettings). */
  sessionCookieName: string;
  /** At least two signed-in clinics; more make cross-clinic cases more varied. */
  clinics: readonly SignedInClinic[];
}

export type Family = 'host' | 'patient' | 'path' | 'cookie' | 'form' | 'inject';

type HeaderLine = [string, string | Buffer];

interface Draft {
  method: string;
  target: string | Buffer;
  version?: string;
  headers: HeaderLine[];
  body?: string | Buffer;
  /** `auto` (default) adds Content-Length for a body; `as-is` sends exactly the headers given. */
  framing?: 'auto' | 'as-is';
  /** Line ending (a bare LF is a case of its own). */
  eol?: string;
  /** The Connection header added last (default `close`: one request per exchange); null adds none. */
  connection?: string | null;
}

interface Spec {
  label: string;
  draft: Draft;
  /** Clinics whose data the answer may show: those the request legitimately names. */
  allowed: string[];
  /** The server may drop the connection without answering (CONNECT, HTTP/2 preface, oversized). */
  mayClose?: boolean;
}

export interface FuzzCase {
  index: number;
  family: Family;
  label: string;
  method: string;
  bytes: Buffer;
  allowed: string[];
  mayClose: boolean;
}

/** What injection cases try to add to the answer: a header, and a cookie by that name. */
export const INJECTED_HEADER = 'x-injected';
export const INJECTED_COOKIE = 'injected';

interface Ctx {
  r: Random;
  t: FuzzTarget;
  /** The clinic the request is for. */
  a: SignedInClinic;
  /** Another clinic. */
  b: SignedInClinic;
  host(clinic: SignedInClinic, port?: boolean): string;
  heldId(): string;
}

function sessionValue(t: FuzzTarget, clinic: SignedInClinic): string {
  const cookie = clinic.cookies.find((c) => c.name === t.sessionCookieName);
  if (!cookie) throw new Error(`${clinic.slug} has no ${t.sessionCookieName} cookie: not signed in`);
  return cookie.value;
}

/** The cookies of `a`'s signed-in browser (mostly), of a visitor (none), or of another clinic's browser. */
function someCookie(c: Ctx): HeaderLine[] {
  const roll = c.r.next();
  if (roll < 0.6) return [['Cookie', c.a.cookie]];
  if (roll < 0.8) return [];
  return [['Cookie', c.b.cookie]];
}

function get(target: string | Buffer, hostValue: string | Buffer | null, extra: HeaderLine[] = []): Draft {
  return { method: 'GET', target, headers: [...(hostValue === null ? [] : [['Host', hostValue] as HeaderLine]), ...extra] };
}

const CYRILLIC: Record<string, string> = { a: 'а', c: 'с', e: 'е', i: 'і', o: 'о', p: 'р', s: 'ѕ', x: 'х', y: 'у' };

/** The slug with one character swapped for a look-alike (always different from the slug). */
function lookalike(slug: string, r: Random): string {
  const fullwidth = (ch: string) => String.fromCodePoint(ch.codePointAt(0)! + 0xfee0);
  return r.pick([
    () => (/[aceiopsxy]/.test(slug) ? slug.replace(/[aceiopsxy]/, (ch) => CYRILLIC[ch]!) : fullwidth(slug[0]!) + slug.slice(1)),
    () => fullwidth(slug[0]!) + slug.slice(1),
    () => `${slug}\u0301`,
    () => `${slug[0]}\u200b${slug.slice(1)}`,
    () => (slug.includes('-') ? slug.replace('-', '\u2010') : `${slug}\u00ad`),
  ])();
}

const COMMON_PATHS = (c: Ctx) => ['/', '/login', `/patients?patient_id=${c.heldId()}`, '/assets/sidechart.css', '/healthz', '/nope'];

function hostCase(c: Ctx): Spec {
  const { r, a, b } = c;
  const port = c.t.port;
  const base = c.t.baseDomain;
  const path = r.pick(COMMON_PATHS(c));
  const cookie = someCookie(c);
  const own = [a.slug];
  const none: string[] = [];
  const variants: (() => Spec)[] = [
    () => ({ label: 'host: as a browser sends it', draft: get(path, c.host(a), cookie), allowed: own }),
    () => ({ label: 'host: upper case', draft: get(path, c.host(a).toUpperCase(), cookie), allowed: own }),
    () => ({ label: 'host: no port', draft: get(path, c.host(a, false), cookie), allowed: own }),
    () => {
      const bad = r.pick([':99999', ':abc', ':', ':0', ':-1', `:${port}:${port}`, ':+80', ': 80', ':0x50']);
      return { label: `host: port "${bad}"`, draft: get(path, `${c.host(a, false)}${bad}`, cookie), allowed: own };
    },
    () => ({ label: 'host: trailing dot', draft: get(path, `${a.slug}.${base}.:${port}`, cookie), allowed: own }),
    () => ({ label: 'host: whitespace around it', draft: get(path, ` \t${c.host(a)}\t `, cookie), allowed: own }),
    () => {
      const bad = r.pick([
        `.${a.slug}.${base}`,
        `${a.slug}..${base}`,
        `x.${a.slug}.${base}`,
        `${a.slug}.${base}.evil.example`,
        `${a.slug}.${base}evil`,
        `${a.slug}-.${base}`,
        `-${a.slug}.${base}`,
        `${a.slug.replace('-', '_')}.${base}`,
        `${a.slug}%2e${base}`,
        `%${Buffer.from(a.slug[0]!).toString('hex')}${a.slug.slice(1)}.${base}`,
        `user@${a.slug}.${base}`,
        `${a.slug}.${base}/x`,
        `${a.slug}.${base}#`,
        `${a.slug}.${base}?`,
        `${a.slug}.${base}\\`,
        `xn--${a.slug}-9ta.${base}`,
        `${a.slug}--x.${base}`,
        `${'a'.repeat(64)}.${base}`,
        `${'a.'.repeat(150)}${base}`,
        `${a.slug}.${base}, ${b.slug}.${base}`,
        `${a.slug}.${base} ${b.slug}.${base}`,
      ]);
      return { label: `host: malformed "${bad.slice(0, 40)}"`, draft: get(path, `${bad}:${port}`, cookie), allowed: none };
    },
    () => ({ label: 'host: unicode look-alike', draft: get(path, Buffer.from(`${lookalike(a.slug, r)}.${base}:${port}`, 'utf8'), cookie), allowed: none }),
    () => {
      const other = r.pick([base, `www.${base}`, 'auth.' + base, 'admin.' + base, 'api.' + base, 'evil.example', '127.0.0.1', '[::1]', '0', '2130706433', 'localhost.localdomain', '_', '*']);
      return { label: `host: not a clinic (${other})`, draft: get(path, `${other}:${port}`, cookie), allowed: none };
    },
    () => ({ label: 'host: empty', draft: get(path, '', cookie), allowed: none }),
    () => ({ label: 'host: missing', draft: get(path, null, cookie), allowed: none }),
    () => ({ label: 'host: raw control or high bytes', draft: get(path, Buffer.concat([Buffer.from(a.slug), Buffer.from([r.pick([0x00, 0x01, 0x7f, 0xff, 0x0b])]), Buffer.from(`.${base}:${port}`)]), cookie), allowed: none }),
    () => ({ label: 'host: two headers, two clinics', draft: { method: 'GET', target: path, headers: [['Host', c.host(a)], ['Host', c.host(b)], ...cookie] }, allowed: none }),
    () => ({ label: 'host: two headers, same clinic', draft: { method: 'GET', target: path, headers: [['Host', c.host(a)], ['host', c.host(a)], ...cookie] }, allowed: own }),
    () => ({ label: 'host: absolute-form target names another clinic', draft: get(`http://${c.host(b)}${path}`, c.host(a), cookie), allowed: [b.slug] }),
    () => ({ label: 'host: absolute-form https, upper case', draft: get(`HTTPS://${c.host(b).toUpperCase()}${path}`, c.host(a), cookie), allowed: [b.slug] }),
    () => ({ label: 'host: absolute-form with userinfo', draft: get(`http://${c.host(a, false)}@${c.host(b)}${path}`, c.host(a), cookie), allowed: [b.slug] }),
    () => ({ label: 'host: absolute-form without a path', draft: get(`http://${c.host(b)}`, c.host(a), cookie), allowed: [b.slug] }),
    () => {
      const target = r.pick([`ftp://${c.host(b)}${path}`, `http://evil.example${path}`, `http://${c.host(b)}:99999${path}`, `http://[::1${path}`, `http://127.0.0.1:${port}${path}`, `//${c.host(b)}${path}`]);
      return { label: `host: unusable absolute target "${target.slice(0, 40)}"`, draft: get(target, c.host(a), cookie), allowed: target.startsWith('//') ? own : none };
    },
    () => ({ label: 'host: absolute-form target and no Host', draft: get(`http://${c.host(b)}${path}`, null, cookie), allowed: [b.slug] }),
    () => {
      const forwarded = r.pick([c.host(b), 'evil.example', `${c.host(b)}, ${c.host(a)}`, '']);
      return { label: 'host: X-Forwarded-Host from an untrusted peer', draft: get(path, c.host(a), [['X-Forwarded-Host', forwarded], ['X-Forwarded-Proto', r.pick(['https', 'javascript', 'http'])], ...cookie]), allowed: own };
    },
  ];
  return r.pick(variants)();
}

const DIGITS_ELSEWHERE = ['١٢٣', '１２３', '۱', '߁', '𝟏𝟐'];

function patientCase(c: Ctx): Spec {
  const { r } = c;
  const held = c.heldId();
  const value = (): string =>
    r.pick([
      held,
      String(r.int(2, 999_999)), // well formed, not held: the "not connected" page
      '',
      '0',
      '-1',
      '+1',
      `0${held}`,
      ` ${held}`,
      `${held} `,
      `${held}.0`,
      '1e3',
      '0x10',
      'Infinity',
      'NaN',
      'null',
      'undefined',
      'true',
      '9223372036854775808',
      '18446744073709551616',
      '9'.repeat(r.int(20, 400)),
      r.pick(DIGITS_ELSEWHERE),
      `${held}%00`,
      '%00',
      `${held}%0d%0aSet-Cookie:%20${INJECTED_COOKIE}=1`,
      `${held}%0d%0a${INJECTED_HEADER}:%201`,
      '%',
      '%zz',
      '%%32',
      `${held};1`,
      `${held},1`,
      `${held}&`,
      '%F0%9F%98%80',
      '%ED%A0%80',
      '%C0%B1',
      `<script>alert(1)</script>`,
      "' or 1=1 --",
      r.string(r.int(1, 40), '0123456789%+-.e ,;&=#[]{}"\'\\/<>abcxyz'),
    ]);
  const query = r.pick([
    () => `patient_id=${value()}`,
    () => `patient_id=${value()}&patient_id=${value()}`,
    () => `patient_id[]=${held}`,
    () => `patient_id[0]=${held}`,
    () => `patient_id[a]=${held}`,
    () => `patient_id.x=${held}`,
    () => `__proto__[patient_id]=${held}`,
    () => `constructor[prototype][patient_id]=${held}&patient_id=${held}`,
    () => 'patient_id',
    () => `PATIENT_ID=${held}`,
    () => `patient%5Fid=${held}`,
    () => `patient_id%00=${held}`,
    () => `&&&=&=&patient_id=${value()}&`,
    () => `patient_id=${held}&x=${'y'.repeat(r.int(100, 6000))}`,
    () => Array.from({ length: r.int(50, 1500) }, (_, i) => `k${i}=${i}`).join('&') + `&patient_id=${held}`,
    () => `patient_id=${value()}#fragment`,
  ])();
  const path = r.pick(['/patients', '/patients', '/patients', '/patients/', '/PATIENTS', '//patients', '/patients;', '/patients%3F']);
  const cookie = someCookie(c);
  const method = r.pick(['GET', 'GET', 'GET', 'HEAD']);
  return {
    label: `patient_id: ${path}?${query.slice(0, 60)}`,
    draft: { method, target: `${path}?${query}`, headers: [['Host', c.host(c.a)], ['Sec-Fetch-Site', r.pick(['cross-site', 'none', 'same-origin'])], ...cookie] },
    allowed: [c.a.slug],
  };
}

function pathCase(c: Ctx): Spec {
  const { r, a, b } = c;
  const path = r.pick<string | Buffer>([
    '/',
    '//',
    '///evil.example/',
    '//evil.example/login',
    '/\\evil.example',
    '/%2f%2fevil.example',
    '/%5c%5cevil.example',
    '/..',
    '/../../etc/passwd',
    '/%2e%2e/%2e%2e/etc/passwd',
    '/..%2f..%2fpackage.json',
    '/patients/../login',
    '/login/',
    '/LOGIN',
    '/login%00',
    '/login;jsessionid=1',
    '/login?',
    '/login?return_to=//evil.example',
    '/login?next=https://evil.example&return_to=https:evil.example',
    '/login/oidc',
    '/login/oidc/callback?code=x&state=y',
    '/login/oidc/callback?iss=https://evil.example&state=x&code=y',
    '/login/oidc/callback?error=access_denied&state=' + 'x'.repeat(r.int(1, 3000)),
    '/login/sso/complete?token=' + r.string(r.int(0, 200), 'abcdefABCDEF0123456789-_.'),
    '/login/sso/complete?token=' + 'x'.repeat(5000),
    '/login/sso/complete?token=' + r.pick(['%00', 'a%00b', '%ED%A0%80', '%FF']),
    `/login/oidc/callback?state=${r.pick(['%00', '%FF', 'x'])}&code=%00&iss=%00`,
    `/sso/google/start?tenant=${r.pick(['%00', a.slug, '%FF'])}&attempt=%00`,
    '/login/sso/google',
    '/login/sso/%00',
    '/login/sso/' + 'a'.repeat(300),
    `/sso/google/start?tenant=${a.slug}&attempt=x`,
    '/sso/google/callback?state=x&code=y',
    `/patients/${c.heldId()}/notes`,
    '/patients/1/notes/',
    '/assets/../server.ts',
    '/assets/%2e%2e/app.ts',
    '/assets/sidechart.css?x=1',
    '/assets/sidechart.css/..',
    '/healthz',
    '/readyz',
    '/readyz?verbose=1',
    '/metrics',
    '/favicon.ico',
    '/logout',
    `/${'a'.repeat(r.int(100, 6000))}`,
    `/${'a/'.repeat(r.int(100, 3000))}`,
    '/%',
    '/%zz',
    '/%c0%af',
    '/%ff',
    '/😀',
    Buffer.from('/\u00e9\u0000x', 'latin1'),
    Buffer.from([0x2f, 0xff, 0xfe]),
    '/\u007f',
    '*',
    `http://${c.host(a)}/login`,
    `/login#${b.slug}`,
  ]);
  const method = r.pick(['GET', 'GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND', 'get', 'FOO', 'SEARCH', 'QUERY']);
  const cookie = someCookie(c);
  const extra: HeaderLine[] = method === 'GET' || method === 'HEAD' || method === 'get' || method === 'OPTIONS' ? [] : [['Content-Length', '0']];
  return { label: `path: ${method} ${String(path).slice(0, 60)}`, draft: { method, target: path, headers: [['Host', c.host(a)], ...cookie, ...extra] }, allowed: [a.slug] };
}

function cookieCase(c: Ctx): Spec {
  const { r, a, b, t } = c;
  const name = t.sessionCookieName;
  const own = sessionValue(t, a);
  const other = sessionValue(t, b);
  const rest = a.cookies.filter((k) => k.name !== name).map((k) => `${k.name}=${k.value}`);
  const decoded = decodeURIComponent(own);
  const dot = decoded.lastIndexOf('.');
  const [ownId, ownSignature] = [decoded.slice(0, dot), decoded.slice(dot + 1)];
  const otherSignature = decodeURIComponent(other).slice(decodeURIComponent(other).lastIndexOf('.') + 1);
  const enc = encodeURIComponent;
  const variants: [string, () => string | string[]][] = [
    ['another clinic\'s session', () => `${name}=${other}`],
    ['tossed Domain cookie of another clinic, sent first', () => [`${name}=${other}`, `${name}=${own}`, ...rest].join('; ')],
    ['duplicated session name, own first', () => [`${name}=${own}`, `${name}=${other}`, ...rest].join('; ')],
    ['duplicated session name, same value', () => `${name}=${own}; ${name}=${own}`],
    ['own id, another clinic\'s signature', () => `${name}=${enc(`${ownId}.${otherSignature}`)}`],
    ['own id, tampered signature', () => `${name}=${enc(`${ownId}.${ownSignature.split('').reverse().join('')}`)}`],
    ['own id, no signature', () => `${name}=${enc(ownId)}`],
    ['well-formed id never issued', () => `${name}=${enc(`${ownId.slice(0, ownId.lastIndexOf('.') + 1)}${'A'.repeat(43)}.${ownSignature}`)}`],
    ['another clinic\'s id under this clinic\'s schema', () => `${name}=${enc(`${ownId.slice(0, ownId.lastIndexOf('.'))}.${decodeURIComponent(other).split('.')[2] ?? ''}.${otherSignature}`)}`],
    ['session value doubly encoded', () => `${name}=${enc(own)}`],
    ['session value truncated', () => `${name}=${own.slice(0, r.int(0, own.length - 1))}`],
    ['session value extended', () => `${name}=${own}${r.string(r.int(1, 20), 'aZ09._-%')}`],
    ['oversized cookie', () => `${name}=${own}; big=${'x'.repeat(r.int(4_000, 20_000))}`],
    ['hundreds of cookies', () => [...Array.from({ length: r.int(100, 900) }, (_, i) => `c${i}=${i}`), `${name}=${own}`].join('; ')],
    ['hundreds of session cookies', () => Array.from({ length: r.int(50, 400) }, (_, i) => `${name}=${i % 2 ? own : other}`).join('; ')],
    ['several Cookie headers', () => [`${name}=${other}`, `${name}=${own}`, ...rest]],
    ['no value', () => name],
    ['empty value', () => `${name}=`],
    ['quoted value', () => `${name}="${own}"`],
    ['bad percent-encoding', () => `${name}=${r.pick(['%', '%zz', '%ED%A0%80', '%00', '%0d%0a'])}${own}`],
    ['prefixed names', () => `__Host-${name}=${own}; __Secure-${name}=${other}`],
    ['return and CSRF cookies of another clinic', () => [...b.cookies.filter((k) => k.name !== name).map((k) => `${k.name}=${k.value}`), `${name}=${own}`].join('; ')],
    ['garbage return and CSRF cookies', () => `${name}=${own}; ${name}-return=${r.string(r.int(0, 200), 'a:.%0d')}; ${name}-csrf=${r.string(r.int(0, 80), 'abc.%')}`],
    ['unicode value', () => `${name}=${own}; x=\u00e9\u00ff`],
    ['separators only', () => r.pick([';', '; ; ;', '=', '==;==', `;${name};`])],
  ];
  const [label, make] = r.pick(variants);
  const value = make();
  const cookies: HeaderLine[] = (Array.isArray(value) ? value : [value]).map((v) => ['Cookie', Buffer.from(v, 'utf8')]);
  const path = r.pick(['/', '/login', `/patients?patient_id=${c.heldId()}`, `/patients?patient_id=${c.heldId()}`]);
  const method = r.pick(['GET', 'GET', 'HEAD']);
  const bytes = cookies.reduce((n, [, v]) => n + v.length, 0);
  return {
    label: `cookie: ${label}`,
    draft: { method, target: path, headers: [['Host', c.host(a)], ['Sec-Fetch-Site', r.pick(['cross-site', 'none'])], ...cookies] },
    allowed: [a.slug],
    mayClose: bytes > 15_000,
  };
}

/** A value for a form field: unicode, invalid encodings, control characters, sizes. */
function hostileText(r: Random): string {
  return r.pick([
    () => 'Übersetzung — ناقش 日本語 🧑🏽‍⚕️',
    () => '\u202egnp.exe',
    () => 'a\u0000b',
    () => '\u0000',
    () => 'e\u0301\u0301\u0301',
    () => '\ud800',
    () => '<img src=x onerror=alert(1)>',
    () => '"; DROP TABLE patients; --',
    () => '\r\n\t ',
    () => 'x'.repeat(r.int(1, 400)),
    () => r.string(r.int(1, 60), 'aé中😀\u0000\u0008\u001b\u2028"<>&\'\\'),
  ])();
}

/** Percent-encodes the UTF-8 bytes of `text` (a lone surrogate becomes U+FFFD, as a browser sends it). */
function formEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) out += /[A-Za-z0-9*._-]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** Raw urlencoded fragments that no browser sends. */
function rawFormValue(r: Random): string {
  return r.pick(['%', '%zz', '%00', '%ED%A0%80', '%C0%AF', '%FF%FE', '%F0%9F%98', '+%2B+', '%0d%0a', '&', '==', formEncode(hostileText(r))]);
}

function loginBody(c: Ctx, token: string | null): { body: string | Buffer; type: string; label: string } {
  const { r } = c;
  const csrf = token === null ? [] : [`_csrf=${encodeURIComponent(token)}`];
  const field = () => formEncode(hostileText(r));
  return r.pick([
    () => ({ label: 'wrong password', type: 'application/x-www-form-urlencoded', body: [`email=${encodeURIComponent(c.a.email)}`, 'password=wrong', ...csrf].join('&') }),
    () => ({ label: 'unicode fields', type: 'application/x-www-form-urlencoded', body: [`email=${field()}`, `password=${field()}`, ...csrf].join('&') }),
    () => ({ label: 'NUL in the e-mail', type: 'application/x-www-form-urlencoded', body: [`email=${r.pick(['a%00@b.example', '%00', `${encodeURIComponent(c.a.email)}%00`])}`, 'password=x', ...csrf].join('&') }),
    () => ({ label: 'raw encodings', type: 'application/x-www-form-urlencoded', body: [`email=${rawFormValue(r)}`, `password=${rawFormValue(r)}`, ...csrf].join('&') }),
    () => ({ label: 'long fields', type: 'application/x-www-form-urlencoded', body: [`email=${'e'.repeat(r.int(250, 2000))}@x.example`, `password=${'p'.repeat(r.int(100, 5000))}`, ...csrf].join('&') }),
    () => ({ label: 'repeated fields', type: 'application/x-www-form-urlencoded', body: ['email=a@b.example', 'email=c@d.example', 'password=x', 'password=y', ...csrf, ...csrf].join('&') }),
    () => ({ label: 'nested and prototype fields', type: 'application/x-www-form-urlencoded', body: ['email[]=a', 'password[x]=y', '__proto__[admin]=1', 'constructor[prototype][x]=1', ...csrf].join('&') }),
    () => ({ label: 'missing fields', type: 'application/x-www-form-urlencoded', body: csrf.join('&') }),
    () => ({ label: 'empty body', type: 'application/x-www-form-urlencoded', body: '' }),
    () => ({ label: 'raw high bytes', type: 'application/x-www-form-urlencoded', body: Buffer.concat([Buffer.from('email='), Buffer.from([0xff, 0xfe, 0xc0, 0xaf]), Buffer.from(`@x&password=1&${csrf.join('&')}`)]) }),
    () => ({ label: 'JSON with wrong types', type: 'application/json', body: JSON.stringify({ email: r.pick([1, true, null, ['a'], { $ne: null }, 1e308]), password: r.pick([2, [], {}, null]), ...(token ? { _csrf: token } : {}) }) }),
    () => ({ label: 'JSON not an object', type: 'application/json', body: r.pick(['null', '[]', '"x"', '1e999', 'true', '{', '{"email":', '\ufeff{}', '{"email":"\\u0000","password":"\\ud800"}', '{"__proto__":{"admin":true},"email":"a@b.example","password":"x"}']) }),
    () => ({ label: 'JSON nested deep', type: 'application/json', body: `${'['.repeat(r.int(1000, 20_000))}${']'.repeat(r.int(0, 1000))}` }),
    () => ({ label: 'JSON with duplicate keys', type: 'application/json', body: `{"email":"a@b.example","email":{"x":1},"password":"x"${token ? `,"_csrf":"${token}"` : ''}}` }),
    () => ({ label: 'wrong content type', type: r.pick(['text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/octet-stream', '*/*', '']), body: `email=a@b.example&password=x&${csrf.join('&')}` }),
    () => ({ label: 'content type with odd parameters', type: r.pick(['application/x-www-form-urlencoded; charset=utf-16', 'application/json; charset=latin1', 'APPLICATION/X-WWW-FORM-URLENCODED', 'application/x-www-form-urlencoded, application/json', 'application/x-www-form-urlencoded;;;', 'application/json; boundary="']), body: `email=a@b.example&password=x&${csrf.join('&')}` }),
    () => ({ label: 'multipart body', type: 'multipart/form-data; boundary=----x', body: '------x\r\nContent-Disposition: form-data; name="email"\r\n\r\na@b.example\r\n------x--\r\n' }),
  ])();
}

function formCase(c: Ctx): Spec {
  const { r, a } = c;
  const roll = r.next();
  if (roll < 0.45) {
    // The sign-in form, as a visitor who loaded it (or not).
    const withForm = r.chance(0.6);
    const { body, type, label } = loginBody(c, withForm ? a.visitor.csrfToken : null);
    const headers: HeaderLine[] = [['Host', c.host(a)], ['Content-Type', type], ...(withForm ? ([['Cookie', a.visitor.cookie]] as HeaderLine[]) : []), ['Sec-Fetch-Site', r.pick(['same-origin', 'none', 'same-origin'])]];
    return framed(c, { label: `form: POST /login, ${label}${withForm ? '' : ', no form token'}`, draft: { method: 'POST', target: '/login', headers, body }, allowed: [a.slug] });
  }
  if (roll < 0.85) {
    // A note, from the signed-in browser with the page's token (mostly).
    const id = r.pick([c.heldId(), c.heldId(), '2', '0', '-1', '1e3', '%2F..%2F', `${'9'.repeat(30)}`, formEncode(hostileText(r)), 'a'.repeat(60)]);
    const tokenWhere = r.pick(['body', 'body', 'header', 'none', 'other clinic']);
    const token = tokenWhere === 'other clinic' ? c.b.csrfToken : a.csrfToken;
    const text = r.pick([
      () => `text=${formEncode(hostileText(r))}`,
      () => `text=${rawFormValue(r)}`,
      () => `text=${'n'.repeat(r.pick([5_001, 40_001, 70_000]))}`,
      () => 'text=',
      () => 'text=a&text=b',
      () => 'text[x]=1',
      () => '',
    ])();
    const json = r.chance(0.15);
    const body = json
      ? JSON.stringify({ text: r.pick<unknown>([hostileText(r), 1, null, ['a'], { a: 1 }]), ...(tokenWhere === 'body' ? { _csrf: token } : {}) })
      : [text, ...(tokenWhere === 'body' || tokenWhere === 'other clinic' ? [`_csrf=${encodeURIComponent(token)}`] : [])].filter(Boolean).join('&');
    const cookie = r.chance(0.9) ? a.cookie : c.b.cookie;
    const headers: HeaderLine[] = [
      ['Host', c.host(a)],
      ['Content-Type', json ? 'application/json' : 'application/x-www-form-urlencoded'],
      ['Cookie', cookie],
      ['Sec-Fetch-Site', r.pick(['same-origin', 'same-origin', 'none', 'cross-site', 'same-site'])],
      ...(tokenWhere === 'header' ? ([['X-CSRF-Token', token]] as HeaderLine[]) : []),
    ];
    return framed(c, { label: `form: note on ${id.slice(0, 30)}, token ${tokenWhere}${json ? ', JSON' : ''}`, draft: { method: 'POST', target: `/patients/${id}/notes`, headers, body }, allowed: [a.slug] });
  }
  // Sign-out and other unsafe requests without a token that fits (a valid one would sign out).
  const target = r.pick(['/logout', '/logout', '/', '/login', `/patients?patient_id=${c.heldId()}`]);
  const method = r.pick(['POST', 'POST', 'PUT', 'DELETE', 'PATCH']);
  const token = r.pick(['', c.b.csrfToken, 'x'.repeat(r.int(1, 600)), a.visitor.csrfToken]);
  return framed(c, {
    label: `form: ${method} ${target} with a token that does not fit`,
    draft: { method, target, headers: [['Host', c.host(a)], ['Content-Type', 'application/x-www-form-urlencoded'], ['Cookie', a.cookie]], body: `_csrf=${encodeURIComponent(token)}` },
    allowed: [a.slug],
  });
}

/** Sometimes sends a form's body chunked, oversized, or with sizes that disagree. */
function framed(c: Ctx, spec: Spec): Spec {
  const { r } = c;
  const body = Buffer.from(spec.draft.body ?? '');
  const roll = r.next();
  if (roll < 0.7) return spec;
  if (roll < 0.8) {
    const chunks: Buffer[] = [];
    for (let at = 0; at < body.length; at += 7) {
      const part = body.subarray(at, at + 7);
      chunks.push(Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n'));
    }
    chunks.push(Buffer.from('0\r\n\r\n'));
    return { ...spec, label: `${spec.label}, chunked`, draft: { ...spec.draft, framing: 'as-is', headers: [...spec.draft.headers, ['Transfer-Encoding', 'chunked']], body: Buffer.concat(chunks) } };
  }
  if (roll < 0.87) {
    const big = Buffer.concat([body, Buffer.from(`&pad=${'p'.repeat(r.int(65_000, 200_000))}`)]);
    return { ...spec, label: `${spec.label}, oversized body`, draft: { ...spec.draft, body: big }, mayClose: true };
  }
  if (roll < 0.94) {
    // Declares more than the body limit: answered (413) without reading it.
    return { ...spec, label: `${spec.label}, huge Content-Length`, draft: { ...spec.draft, framing: 'as-is', headers: [...spec.draft.headers, ['Content-Length', String(r.pick([10_000_000, 2 ** 53, 1e21]))]] }, mayClose: true };
  }
  return {
    ...spec,
    label: `${spec.label}, Content-Length and Transfer-Encoding`,
    draft: { ...spec.draft, framing: 'as-is', headers: [...spec.draft.headers, ['Content-Length', String(body.length)], ['Transfer-Encoding', 'chunked']] },
    mayClose: true,
  };
}

function injectCase(c: Ctx): Spec {
  const { r, a } = c;
  const path = r.pick([`/patients?patient_id=${c.heldId()}`, '/login', '/']);
  const cookie = someCookie(c);
  const host: HeaderLine = ['Host', c.host(a)];
  const own = [a.slug];
  const variants: (() => Spec)[] = [
    () => ({ label: 'inject: CRLF echoed from the query', draft: get(`/patients?patient_id=${c.heldId()}&x=%0d%0aSet-Cookie:%20${INJECTED_COOKIE}=1%0d%0a${INJECTED_HEADER}:%201`, c.host(a), cookie), allowed: own }),
    () => ({ label: 'inject: CRLF in the path', draft: get(`/login%0d%0a${INJECTED_HEADER}:%201`, c.host(a), cookie), allowed: own }),
    () => ({ label: 'inject: raw CR in a value', draft: { method: 'GET', target: path, headers: [host, ['X-Note', Buffer.from(`a\r${INJECTED_HEADER}: 1`)], ...cookie] }, allowed: own }),
    () => ({ label: 'inject: raw LF in a value', draft: { method: 'GET', target: path, headers: [host, ['User-Agent', Buffer.from(`a\n${INJECTED_HEADER}: 1`)], ...cookie] }, allowed: own }),
    () => ({ label: 'inject: NUL in a value', draft: { method: 'GET', target: path, headers: [host, ['Referer', Buffer.from('https://a.example/\u0000x', 'latin1')], ...cookie] }, allowed: own }),
    () => ({ label: 'inject: obs-fold continuation', draft: { method: 'GET', target: path, headers: [host, ['X-Folded', Buffer.from(`a\r\n ${INJECTED_HEADER}: 1`)], ...cookie] }, allowed: own }),
    () => ({ label: 'inject: bare LF line endings', draft: { ...get(path, c.host(a), cookie), eol: '\n' }, allowed: own }),
    () => ({ label: 'inject: header name with a space', draft: { method: 'GET', target: path, headers: [host, ['X Bad', '1'], ...cookie] }, allowed: own }),
    () => ({ label: 'inject: empty header name', draft: { method: 'GET', target: path, headers: [host, ['', '1'], ...cookie] }, allowed: own }),
    () => ({ label: 'inject: Transfer-Encoding on a GET', draft: { method: 'GET', target: path, framing: 'as-is', headers: [host, ['Transfer-Encoding', r.pick(['chunked', 'xchunked', 'chunked, identity', 'identity'])], ...cookie], body: '0\r\n\r\n' }, allowed: own, mayClose: true }),
    () => ({ label: 'inject: two Content-Length values', draft: { method: 'POST', target: '/login', framing: 'as-is', headers: [host, ['Content-Length', '1'], ['Content-Length', '2'], ...cookie], body: 'ab' }, allowed: own, mayClose: true }),
    () => ({ label: 'inject: Content-Length not a number', draft: { method: 'GET', target: path, framing: 'as-is', headers: [host, ['Content-Length', r.pick(['-1', 'abc', '1, 2', '0x10', ' '])], ...cookie] }, allowed: own, mayClose: true }),
    () => {
      // Kept alive, with a second request for another clinic right behind it: the first answer is checked.
      const second = encode({ method: 'GET', target: `/patients?patient_id=${c.heldId()}`, headers: [['Host', c.host(c.b)], ['Cookie', c.b.cookie]] });
      return { label: 'inject: pipelined second request for another clinic', draft: { method: 'GET', target: path, headers: [host, ...cookie], body: second, framing: 'as-is', connection: 'keep-alive' }, allowed: own };
    },
    () => ({ label: 'inject: header flood', draft: { method: 'GET', target: path, headers: [host, ...Array.from({ length: r.int(100, 3000) }, (_, i): HeaderLine => [`X-H${i}`, 'v']), ...cookie] }, allowed: own, mayClose: true }),
    () => ({ label: 'inject: one huge header', draft: { method: 'GET', target: path, headers: [host, ['X-Big', 'b'.repeat(r.int(8_000, 40_000))], ...cookie] }, allowed: own, mayClose: true }),
    () => ({ label: 'inject: huge User-Agent and Referer (audited)', draft: { method: 'GET', target: `/patients?patient_id=${c.heldId()}`, headers: [host, ['User-Agent', 'u'.repeat(r.int(600, 6000))], ['Referer', `https://evil.example/${'r'.repeat(r.int(1000, 6000))}`], ['Cookie', a.cookie]] }, allowed: own }),
    () => ({ label: 'inject: Sec-Fetch-Site twice', draft: { method: 'POST', target: '/logout', headers: [host, ['Sec-Fetch-Site', 'same-origin'], ['Sec-Fetch-Site', 'cross-site'], ['Cookie', a.cookie], ['Content-Type', 'application/x-www-form-urlencoded']], body: '' }, allowed: own }),
    () => ({ label: 'inject: Expect 100-continue', draft: { method: 'POST', target: '/login', headers: [host, ['Expect', r.pick(['100-continue', '200-ok', 'x'])], ['Content-Type', 'application/x-www-form-urlencoded'], ['Cookie', a.visitor.cookie]], body: `email=a%40b.example&password=x&_csrf=${encodeURIComponent(a.visitor.csrfToken)}` }, allowed: own }),
    () => ({ label: 'inject: Upgrade to websocket', draft: { method: 'GET', target: path, headers: [host, ['Upgrade', 'websocket'], ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='], ['Sec-WebSocket-Version', '13'], ...cookie] }, allowed: own, mayClose: true }),
    () => ({ label: 'inject: X-Forwarded-For and Proto spoofing', draft: { method: 'GET', target: path, headers: [host, ['X-Forwarded-For', r.pick(['1.2.3.4', '::1, 10.0.0.1', 'x'.repeat(300), '999.1.1.1'])], ['X-Forwarded-Proto', 'https'], ['X-Real-IP', '1.1.1.1'], ...cookie] }, allowed: own }),
    () => ({ label: 'inject: Accept-Encoding and Range oddities', draft: { method: 'GET', target: r.pick(['/assets/sidechart.css', path]), headers: [host, ['Accept-Encoding', r.pick(['gzip;q=2', '*;q=-1', 'br, x'.repeat(100)])], ['Range', r.pick(['bytes=0-0', 'bytes=-1', 'bytes=9999999-', 'x'])], ['If-None-Match', '*'], ...cookie] }, allowed: own }),
    () => {
      const version = r.pick(['HTTP/1.0', 'HTTP/1.2', 'HTTP/2.0', 'HTTP/0.9', 'HTTP/9.9', 'HTTPS/1.1', 'http/1.1']);
      return { label: `inject: request line version ${version}`, draft: { ...get(path, c.host(a), cookie), version }, allowed: own, mayClose: true };
    },
    () => ({ label: 'inject: CONNECT', draft: { method: 'CONNECT', target: `${c.host(a)}`, headers: [host] }, allowed: own, mayClose: true }),
    () => ({ label: 'inject: HTTP/2 preface', draft: { method: 'PRI', target: '*', version: 'HTTP/2.0', headers: [], body: 'SM\r\n\r\n', framing: 'as-is', connection: null }, allowed: [], mayClose: true }),
  ];
  return r.pick(variants)();
}

const FAMILIES: { family: Family; weight: number; make: (c: Ctx) => Spec }[] = [
  { family: 'host', weight: 20, make: hostCase },
  { family: 'patient', weight: 20, make: patientCase },
  { family: 'path', weight: 15, make: pathCase },
  { family: 'cookie', weight: 17, make: cookieCase },
  { family: 'form', weight: 18, make: formCase },
  { family: 'inject', weight: 10, make: injectCase },
];
const TOTAL_WEIGHT = FAMILIES.reduce((n, f) => n + f.weight, 0);

function encode(draft: Draft): Buffer {
  const eol = draft.eol ?? '\r\n';
  const parts: Buffer[] = [];
  const text = (s: string | Buffer) => (typeof s === 'string' ? Buffer.from(s, 'utf8') : s);
  parts.push(Buffer.from(`${draft.method} `), text(draft.target), Buffer.from(` ${draft.version ?? 'HTTP/1.1'}${eol}`));
  const body = draft.body === undefined ? undefined : text(draft.body);
  const lines: HeaderLine[] = [...draft.headers];
  if (draft.framing !== 'as-is' && body !== undefined) lines.push(['Content-Length', String(body.length)]);
  const connection = draft.connection === undefined ? 'close' : draft.connection;
  if (connection !== null) lines.push(['Connection', connection]);
  for (const [name, value] of lines) parts.push(Buffer.from(`${name}: `), text(value), Buffer.from(eol));
  parts.push(Buffer.from(eol));
  if (body !== undefined) parts.push(body);
  return Buffer.concat(parts);
}

/** Case `index` of the run seeded `seed` against `target`. */
export function buildCase(target: FuzzTarget, seed: number, index: number): FuzzCase {
  if (target.clinics.length < 2) throw new Error('the fuzz needs at least two signed-in clinics');
  const r = randomForCase(seed, index);
  const a = r.pick(target.clinics);
  const b = r.pick(target.clinics.filter((x) => x !== a));
  const ctx: Ctx = {
    r,
    t: target,
    a,
    b,
    host: (clinic, port = true) => `${clinic.slug}.${target.baseDomain}${port ? `:${target.port}` : ''}`,
    heldId: () => r.pick(PATIENT_IDS),
  };
  let roll = r.next() * TOTAL_WEIGHT;
  const family = FAMILIES.find((f) => (roll -= f.weight) < 0) ?? FAMILIES[0]!;
  const spec = family.make(ctx);
  // A quarter of everything asks for JSON: the error answers have two shapes.
  if (!spec.draft.headers.some(([n]) => n.toLowerCase() === 'accept') && r.chance(0.25)) spec.draft.headers.push(['Accept', r.pick(['application/json', 'application/json, text/html', '*/*', 'text/html'])]);
  return {
    index,
    family: family.family,
    label: spec.label,
    method: spec.draft.method,
    bytes: encode(spec.draft),
    allowed: spec.allowed,
    mayClose: spec.mayClose === true,
  };
}
