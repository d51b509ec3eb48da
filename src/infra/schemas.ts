// Checking a JSON shape that did not come through a route (a stored session field, a JSON column,
// a token's claims, a discovery document, a configuration variable) against a TypeBox schema, the
// same schema language the routes declare their params, query, body and responses in. Compiled once.
import type { Static, TSchema } from 'typebox';
import { Compile } from 'typebox/compile';

export interface ShapeCheck<T extends TSchema> {
  /** True when the value has the shape (and narrows it). */
  check(value: unknown): value is Static<T>;
  /** The first problem found, as "<path> <message>", or null when the value has the shape. */
  problem(value: unknown): string | null;
  /** The property the first problem is about (a missing or wrong one), if it is about one. */
  problemField(value: unknown): string | null;
}

export function shapeOf<T extends TSchema>(schema: T): ShapeCheck<T> {
  const validator = Compile(schema);
  return {
    check: (value: unknown): value is Static<T> => validator.Check(value),
    problem(value) {
      if (validator.Check(value)) return null;
      const [first] = validator.Errors(value);
      return first === undefined ? 'is not valid' : `${first.instancePath || '(top)'} ${first.message}`;
    },
    problemField(value) {
      if (validator.Check(value)) return null;
      const [first] = validator.Errors(value);
      if (first === undefined) return null;
      const missing = (first.params as { requiredProperties?: unknown }).requiredProperties;
      if (Array.isArray(missing) && typeof missing[0] === 'string') return missing[0];
      return first.instancePath.split('/')[1] ?? null;
    },
  };
}
