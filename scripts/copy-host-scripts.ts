// Part of the build: the host scripts sit beside the compiled procedure modules that import them, so the
// workflow bundler and Node's loader find them where tsc put the JavaScript.
import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

const HOST_SCRIPT = /\.(sh|py)$/;

for (const f of readdirSync('workflows', { recursive: true, encoding: 'utf8' })) {
  if (!HOST_SCRIPT.test(f)) continue;
  const to = join('build', 'workflows', f);
  mkdirSync(dirname(to), { recursive: true });
  cpSync(join('workflows', f), to, { preserveTimestamps: true });
}
