// A small seeded PRNG (sfc32, seeded through splitmix32) for the fuzz and the soak: the same seed
// gives the same cases on every machine, and case N of a run is derived from (seed, N) alone, so
// one failing case can be replayed without the thousands before it. Not for secrets.

export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max], both included. */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  chance(probability: number): boolean;
  /** `length` characters drawn from `alphabet` (code points). */
  string(length: number, alphabet: string): string;
}

function splitmix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export function createRandom(seed: number): Random {
  const init = splitmix32(seed);
  let a = init();
  let b = init();
  let c = init();
  let d = init();
  const next32 = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t;
  };
  for (let i = 0; i < 12; i++) next32();
  const random: Random = {
    next: () => next32() / 2 ** 32,
    int: (min, max) => min + Math.floor(random.next() * (max - min + 1)),
    pick: (items) => {
      if (items.length === 0) throw new Error('pick from an empty list');
      return items[Math.floor(random.next() * items.length)]!;
    },
    chance: (probability) => random.next() < probability,
    string: (length, alphabet) => {
      const chars = [...alphabet];
      let out = '';
      for (let i = 0; i < length; i++) out += random.pick(chars);
      return out;
    },
  };
  return random;
}

/** The generator of case `index` of a run: independent of every other case. */
export function randomForCase(seed: number, index: number): Random {
  return createRandom((Math.imul(seed >>> 0, 0x27d4eb2d) ^ Math.imul(index + 1, 0x165667b1)) >>> 0);
}

/** A seed from the environment (decimal), or a fresh one. */
export function chooseSeed(raw: string | undefined): number {
  if (raw !== undefined && raw.trim() !== '') {
    if (!/^\d{1,10}$/.test(raw.trim()) || Number(raw) > 0xffffffff) throw new Error(`seed must be a whole number from 0 to ${0xffffffff} (got "${raw}")`);
    return Number(raw);
  }
  return Math.floor(Math.random() * 0xffffffff);
}
