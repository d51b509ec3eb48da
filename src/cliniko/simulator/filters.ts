// The query string of GET /v1/patients: Cliniko's `q[]=field:operator value` filters and paging.
// Pure: the routes only pass `request.query` in.
import type { ClinikoPatient } from '../types.ts';
import { isSet } from './records.ts';

/** A parsed querystring, as Fastify hands it over. */
export type Query = Record<string, string | string[] | undefined>;

export interface Filter {
  field: string;
  test(patient: ClinikoPatient): boolean;
}

const DATE_FIELDS = new Set(['created_at', 'updated_at', 'archived_at', 'deleted_at', 'merged_at']);
const TEXT_FIELDS = new Set(['first_name', 'last_name', 'email', 'old_reference_id']);

/** `q[]=field:operator value` filters; undefined if any is malformed or unsupported. */
export function parseFilters(query: Query | undefined): Filter[] | undefined {
  const filters: Filter[] = [];
  for (const raw of queryValues(query, 'q[]')) {
    const match = /^([a-z_0-9]+):(!=|>=|<=|~~|=|>|<|~|\*|\?)(.*)$/.exec(raw);
    if (match === null) return undefined;
    const [, field = '', op = '', value = ''] = match;
    const filter = buildFilter(field, op, value);
    if (filter === undefined) return undefined;
    filters.push(filter);
  }
  return filters;
}

/** Every value of a repeatable parameter such as `q[]`. */
export function queryValues(query: Query | undefined, key: string): string[] {
  const value = query?.[key];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** `page` and `per_page`: the fallback when absent, undefined when not a positive integer. */
export function positiveInteger(value: string | string[] | undefined, fallback: number): number | undefined {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !/^[1-9][0-9]{0,5}$/.test(value)) return undefined;
  return Number(value);
}

/** Numeric order of decimal ID strings, without Number(): BigInt keeps 64-bit values exact. */
export function compareIds(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x === y ? 0 : x > y ? 1 : -1;
}

function buildFilter(field: string, op: string, value: string): Filter | undefined {
  if (field === 'id') {
    if (!/^\d+$/.test(value) || !['=', '!=', '>', '>=', '<', '<='].includes(op)) return undefined;
    return { field, test: (p) => compares(compareIds(p.id, value), op) };
  }
  if (DATE_FIELDS.has(field)) {
    if (op === '*') return { field, test: () => true };
    if (op === '?') return { field, test: (p) => !isSet(p[field]) };
    const at = Date.parse(value);
    if (Number.isNaN(at) || !['=', '!=', '>', '>=', '<', '<='].includes(op)) return undefined;
    return {
      field,
      test: (p) => {
        const own = p[field];
        return typeof own === 'string' && own !== '' && compares(Math.sign(Date.parse(own) - at), op);
      },
    };
  }
  if (TEXT_FIELDS.has(field)) {
    const wanted = value.toLowerCase();
    const text = (p: ClinikoPatient): string => String(p[field] ?? '').toLowerCase();
    if (op === '=') return { field, test: (p) => text(p) === wanted };
    if (op === '!=') return { field, test: (p) => text(p) !== wanted };
    if (op === '~') return { field, test: (p) => text(p).includes(wanted) };
    if (op === '~~') {
      const pattern = new RegExp(`^${wanted.split('%').map(escapeRegExp).join('.*')}$`, 's');
      return { field, test: (p) => pattern.test(text(p)) };
    }
  }
  return undefined;
}

function compares(sign: number, op: string): boolean {
  switch (op) {
    case '=': return sign === 0;
    case '!=': return sign !== 0;
    case '>': return sign > 0;
    case '>=': return sign >= 0;
    case '<': return sign < 0;
    case '<=': return sign <= 0;
    default: return false;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
