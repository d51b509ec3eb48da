// Which Cliniko shard (and so which API host) an API key belongs to. Cliniko encodes the shard as the
// key's suffix after its last '-'; keys from before shards existed have no suffix and live on au1.
// Pure functions: no I/O, and no reason string ever repeats any part of the key (it is a secret).

export type ShardResult = { ok: true; shard: string } | { ok: false; reason: string };

/** Two letters then one or two digits: au1, uk2, eu1, and shards Cliniko may add later. */
export const SHARD_PATTERN = /^[a-z]{2}[0-9]{1,2}$/;

/** Shard of the keys that carry no suffix (issued before Cliniko had several shards). */
export const LEGACY_SHARD = 'au1';

/** Real keys are well under this; anything longer is a paste accident or an attack. */
export const MAX_API_KEY_LENGTH = 200;

export function isValidShard(shard: string): boolean {
  return SHARD_PATTERN.test(shard);
}

/** Reads the shard from an API key, rejecting anything that cannot be a Cliniko key. Never throws. */
export function shardFromApiKey(key: string): ShardResult {
  if (typeof key !== 'string' || key === '') return fail('The API key is empty.');
  if (key.length > MAX_API_KEY_LENGTH) return fail(`The API key is longer than ${MAX_API_KEY_LENGTH} characters.`);
  if (/\s/.test(key)) return fail('The API key contains spaces or line breaks; paste it without them.');
  if (/[\u0000-\u001f\u007f]/.test(key)) return fail('The API key contains control characters.');
  // The key travels in an HTTP Basic header: only visible ASCII can be sent as is.
  if (!/^[\x21-\x7e]+$/.test(key)) return fail('The API key contains characters a Cliniko API key never has.');

  const dash = key.lastIndexOf('-');
  if (dash === -1) return { ok: true, shard: LEGACY_SHARD };
  if (dash === 0) return fail('The API key has a shard suffix but nothing before it.');
  const shard = key.slice(dash + 1);
  if (!isValidShard(shard)) {
    return fail('The API key does not end with a valid shard suffix (such as "-au2" or "-uk1").');
  }
  return { ok: true, shard };
}

/**
 * The API base URL for a shard, from a template such as `https://api.{shard}.cliniko.com/v1`
 * (the simulator uses `http://api.{shard}.cliniko.localhost:<port>/v1`). Throws on a bad shard or
 * template: both come from our own code or configuration, so that is a programming error.
 */
export function apiBaseForShard(template: string, shard: string): string {
  if (!isValidShard(shard)) throw new Error('apiBaseForShard: invalid shard');
  if (!template.includes('{shard}')) throw new Error('apiBaseForShard: the template must contain {shard}');
  const base = template.replaceAll('{shard}', shard).replace(/\/+$/, '');
  const url = new URL(base); // throws on a malformed template
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('apiBaseForShard: the template must be an http(s) URL');
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new Error('apiBaseForShard: the template must not carry a query, fragment or credentials');
  }
  return base;
}

function fail(reason: string): ShardResult {
  return { ok: false, reason };
}
