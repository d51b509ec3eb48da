#!/usr/bin/env node
// The package's bin. The CLI is TypeScript run by Node 24's type stripping; the machine's own Node
// may be older, so re-run with the Node that the project installs (the `node` npm package).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const entry = path.join(root, 'src/cli/main.ts');
const major = Number(process.versions.node.split('.')[0]);
const projectNode = path.join(root, 'node_modules/.bin/node');
const node = major >= 24 ? process.execPath : existsSync(projectNode) ? projectNode : null;
if (node === null) {
  process.stderr.write('sidechart: needs Node 24 or later; run `npm install` to get it\n');
  process.exit(1);
}
const result = spawnSync(node, [entry, ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(result.status ?? 1);
