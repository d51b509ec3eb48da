// `sidechart tenants create --from-file FILE`: many clinics at once for SREs. One clinic a line,
// `slug[,name[,region]]` (blank lines and `#` comments skipped; `-` reads standard input). Every
// good line is created even when others are bad; each bad line is reported with its number and the
// reason; a progress bar on a terminal, a summary line, per-line results with --json, exit 1 if any
// line failed.
import { readFile } from 'node:fs/promises';
import cliProgress from 'cli-progress';
import { isAppError } from '../infra/errors.ts';
import type { TenantService } from '../tenancy/tenants.ts';
import type { CliIo } from './context.ts';
import { cliErrors } from './errors.ts';

export interface BulkLine {
  line: number;
  slug: string;
  name?: string;
  region?: string;
}

export type BulkResult =
  | { line: number; slug: string; outcome: 'created'; schemaName: string; regionId: string }
  | { line: number; slug: string; outcome: 'failed'; code: string; error: string };

/** The lines of a bulk file, or why a line cannot be read (pure; tests table-drive it). */
export function parseBulkFile(text: string): Array<BulkLine | { line: number; slug: string; problem: string }> {
  const out: Array<BulkLine | { line: number; slug: string; problem: string }> = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const fields = trimmed.split(',').map((f) => f.trim());
    const [slug = '', name, region] = fields;
    if (fields.length > 3) return out.push({ line, slug, problem: 'expected slug[,name[,region]] (a name cannot contain a comma)' });
    if (slug === '') return out.push({ line, slug, problem: 'no slug before the first comma' });
    out.push({ line, slug, ...(name ? { name } : {}), ...(region ? { region } : {}) });
  });
  return out;
}

export async function readBulkSource(file: string, io: CliIo): Promise<string> {
  if (file === '-') return io.readStdin();
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw cliErrors.unreadableFile(file, (error as NodeJS.ErrnoException).code ?? String(error));
  }
}

export async function bulkCreate(options: {
  tenants: TenantService;
  text: string;
  io: CliIo;
  json: boolean;
  concurrency: number;
}): Promise<{ results: BulkResult[]; created: number; failed: number; seconds: number }> {
  const started = performance.now();
  const parsed = parseBulkFile(options.text);
  const results: BulkResult[] = [];
  const bar = options.io.interactive && !options.json && parsed.length > 0
    ? new cliProgress.SingleBar({ format: 'clinics [{bar}] {value}/{total} {slug}', stream: process.stderr }, cliProgress.Presets.shades_classic)
    : null;
  bar?.start(parsed.length, 0, { slug: '' });
  const done = (result: BulkResult): void => {
    results.push(result);
    bar?.increment({ slug: result.slug });
    if (!bar && !options.json) {
      options.io.out(result.outcome === 'created' ? `line ${result.line}: created ${result.slug} (${result.regionId}, ${result.schemaName})` : `line ${result.line}: FAILED ${result.slug || '(no slug)'}: ${result.error}`);
    }
  };

  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < parsed.length) {
      const entry = parsed[next++]!;
      if ('problem' in entry) {
        done({ line: entry.line, slug: entry.slug, outcome: 'failed', code: 'bad_line', error: entry.problem });
        continue;
      }
      try {
        const tenant = await options.tenants.create({ slug: entry.slug, ...(entry.name ? { displayName: entry.name } : {}), ...(entry.region ? { regionId: entry.region } : {}) });
        done({ line: entry.line, slug: tenant.slug, outcome: 'created', schemaName: tenant.schemaName, regionId: tenant.regionId });
      } catch (error) {
        // One clinic's problem (taken, reserved, unknown region) is reported; the others go on.
        if (!isAppError(error)) throw error;
        done({ line: entry.line, slug: entry.slug, outcome: 'failed', code: error.code, error: error.message });
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, parsed.length)) }, worker));
  } finally {
    bar?.stop();
  }
  results.sort((a, b) => a.line - b.line);
  const failed = results.filter((r) => r.outcome === 'failed').length;
  return { results, created: results.length - failed, failed, seconds: (performance.now() - started) / 1000 };
}
