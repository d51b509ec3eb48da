// Loaded with `node --import` into a server a test starts: appends the URL of every module the
// process resolves under src/dev/ to the file named by RECORD_DEV_MODULES (Node's in-thread
// module hooks, so nothing else changes in how modules load).
import { appendFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const out = process.env.RECORD_DEV_MODULES;
registerHooks({
  resolve(specifier, context, nextResolve) {
    const result = nextResolve(specifier, context);
    if (out && result.url.includes('/src/dev/')) appendFileSync(out, `${result.url}\n`);
    return result;
  },
});
