// Cliniko's IDs are 64-bit: a double cannot hold them, so they must never pass through a number.

/**
 * Parses Cliniko JSON keeping every ID a string. Cliniko sends 64-bit IDs as strings already; older
 * shards send small numbers. A number under a key named `id` or `*_id`, and any integer too large
 * for a double, is replaced by its exact source text (JSON.parse source access, Node >= 21).
 */
export function parseClinikoJson(text: string): unknown {
  return JSON.parse(text, function reviver(this: unknown, key: string, value: unknown, context?: { source?: string }) {
    if (typeof value !== 'number' || context?.source === undefined) return value;
    const idKey = key === 'id' || key.endsWith('_id');
    if (idKey || (Number.isInteger(value) && !Number.isSafeInteger(value))) {
      return /^-?\d+$/.test(context.source) ? context.source : value;
    }
    return value;
  });
}
